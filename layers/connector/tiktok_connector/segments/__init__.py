"""Segment files in S3 → chunk files of hashes, chunk messages and a job report (issue 4).

Modules: ``keys`` (key and metadata parsing), ``columns`` (header detection), ``reader``
(streaming formats and byte ranges), ``chunks`` (chunk writer and dedupe), ``rejects``,
``jobs`` (the job item shared with audience upload, and the report), ``ingest`` (orchestration).
"""
