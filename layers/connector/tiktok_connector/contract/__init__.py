"""The data path's contract: what ingest and upload hand each other, as models both import.

* :mod:`.messages` — the work queues' messages: ``range`` (ranges queue), ``chunk`` and
  ``finalize`` (chunk queue; upload also puts them back with a delay while it waits for TikTok),
  each queue's union discriminated on ``type``.
* :mod:`.queues` — each queue's SQS record model (``SqsRecordModel`` with a typed body) and the
  batch processor both SQS handlers parse with: a body that is not one of its queue's messages
  fails its record with a reason.
* :mod:`.job` — the jobs-table item (:class:`~.job.JobItem`) in its DynamoDB attribute layout.
* :mod:`.report` — ``reports/<job_id>.json`` (:class:`~.report.JobReport`).

Nothing here imports the rest of the layer (but :mod:`tiktok_connector.observability`): ingest (``segments``) and upload (``audiences``) import
the contract, never each other's internals. docs/architecture.md ("Contract") has the tables.
"""
