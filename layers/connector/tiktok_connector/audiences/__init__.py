"""Audience upload (issue 5): chunk jobs become TikTok custom audiences, exactly once.

Top-down from the handler (docs/architecture.md, "Audience upload, top-down"):

* :mod:`.upload` — ``AudienceUploader``: one chunk-queue message in, every outcome; the wiring.
* :mod:`.chunk_upload` — one chunk to TikTok (upload or mapping) and marked done.
* :mod:`.finalize` — the fan-in: the job's single create/update, by the worker that claims it.
* :mod:`.creating` — an audience created exactly once; a job's files applied to it.
* :mod:`.failures` — record outcomes and the sentences job failures carry.
* :mod:`.job` — ``UploadJob``: a job item with what its key named, checked.
* :mod:`.outcome` — what one record came to, and its counts.

Below them:

* :mod:`.customer_file` — the Customer File (DMP) operations: upload, create, update.
* :mod:`.partner` — the partner (segment) operations: create audience, add/delete mappings.
* :mod:`.file_format` — customer files in TikTok's format; the shape every file of an audience has.
* :mod:`.registry` — ``AudienceRegistry``: (advertiser, api, audience name) → audience id, race-free.
* :mod:`.api` — ``AudienceApi``: TikTok calls with per-advertiser tokens, pacing and the deadline.
* :mod:`.waiting` — TikTok states that pass (processing, not ready yet), waited out.
* :mod:`.settings` — ``UploadSettings`` (the audience-upload function's environment).
"""
