"""Event forwarding: mParticle batches and TikTok-shaped events from SQS to TikTok's Events API.

Modules: :mod:`.settings` (connection and function settings), :mod:`.mparticle` (input models),
:mod:`.mapping` (mParticle → Events 2.0 / legacy pixel batch), :mod:`.tiktok_shape` (validation of
already-TikTok-shaped events), :mod:`.forwarder` (grouping, sending, per-message outcomes).
"""
