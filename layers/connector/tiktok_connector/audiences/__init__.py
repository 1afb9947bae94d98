"""Audience upload (issue 5): chunk jobs become TikTok custom audiences, exactly once.

* :mod:`.settings` — ``UploadSettings`` (the audience-upload function's environment).
* :mod:`.registry` — ``AudienceRegistry``: (advertiser, api, audience name) → audience id, race-free.
* :mod:`.api` — ``AudienceApi``: TikTok calls with per-advertiser tokens, pacing and the deadline.
* :mod:`.customer_file` — the Customer File (DMP) operations: upload, create, update.
* :mod:`.partner` — the partner (segment) operations: create audience, add/delete mappings.
* :mod:`.file_format` — customer files in TikTok's format; the shape every file of an audience has.
* :mod:`.waiting` — TikTok states that pass (processing, not ready yet), waited out.
* :mod:`.upload` — ``AudienceUploader``: one SQS record in, chunk upload, fan-in and finalize.
"""
