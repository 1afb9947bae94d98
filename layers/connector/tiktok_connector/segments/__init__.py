"""Segment files in S3 → chunk files of hashes, chunk messages and a job report (issue 4).

Entry: ``ingest`` (orchestration); the modules in the order they run are in docs/architecture.md
("Segment ingest, top-down"). Shared with the upload side: ``jobs`` (``JobStore``, the job table's
conditional writes) and ``report`` (the report rendered from the item); the item, the messages
and the report themselves are ``tiktok_connector.contract``'s.
"""
