"""Sync: the difference between the last synced membership of an audience and a new complete file.

Pure logic plus S3 I/O through a passed-in client; no TikTok, no registry, no queues (the job
pipeline wires those: docs/sync.md). Modules, in the order data flows:

* :mod:`.records` — a member as 33 bytes (digest + type code), member types per audience API,
  prefix partitions, the errors (:class:`~.records.SyncDataError` and subclasses).
* :mod:`.recordfile` — the one file format: records grouped by partition behind an index, read
  with ranged GETs.
* :mod:`.runs` — :class:`~.runs.RunWriter`: ingest's chunk lines → run parts per byte range.
* :mod:`.diff` — plan, per-group diff, finish: new snapshot segments, added and removed records,
  counts per member type.
* :mod:`.snapshot` — where generations live, the manifest, the 1,000-member check, cleanup.
* :mod:`.changes` — added/removed records → chunk files in ingest's format for the upload path.
"""
