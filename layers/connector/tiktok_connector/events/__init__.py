"""Event forwarding: mParticle batches and TikTok-shaped events from SQS to TikTok's Events API.

Read top-down: :mod:`.forwarder` (one SQS batch: parse, map, group, send, per-message outcomes) →
:mod:`.mapping` (mParticle → Events 2.0; with :mod:`.catalog`, :mod:`.values`, :mod:`.identities`,
:mod:`.properties`, :mod:`.pixel` for legacy pixel items) and :mod:`.tiktok_shape` (already
TikTok-shaped events) → :mod:`.sending` (requests, in flight, token refetch) → :mod:`.results`
(counts, metrics). Around them: :mod:`.messages` (SQS in, failure reasons), :mod:`.connections`
(connection settings from Secrets Manager), :mod:`.dead_letters` (the events DLQ),
:mod:`.settings`, :mod:`.mparticle` (input models).
"""
