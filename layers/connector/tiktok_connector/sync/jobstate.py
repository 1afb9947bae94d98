"""A sync job's record on its job item (``sync``; contract.job.SyncRecord): conditional writes.

Kept apart from :class:`~tiktok_connector.segments.jobs.JobStore` (which owns the rest of the
item) so that the jobs module stays one reason to change; both write the same table.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tiktok_connector.contract.job import RUNNING, JobItem, SyncChunk, SyncGroup, ddb_values


class SyncJobs:
    """The ``sync`` attribute of jobs-table items (``dynamodb``: a low-level boto3 client)."""

    def __init__(self, table: str, *, dynamodb: Any) -> None:
        self._table = table
        self._ddb = dynamodb

    def planned(
        self,
        job_id: str,
        *,
        bits: int,
        base: str | None,
        groups_total: int,
        uncertain: tuple[str, ...] | list[str] = (),
    ) -> bool:
        """Record the plan (once: a redelivered plan finds it recorded and returns False)."""
        record: dict[str, Any] = {
            "bits": bits,
            "base": base,
            "uncertain": list(uncertain),
            "groups_total": groups_total,
            "groups": {},
        }
        return (
            self._update(
                job_id,
                "SET #sync = :record",
                {":record": record},
                "attribute_not_exists(#sync) AND #status = :running",
            )
            is not None
        )

    def record_group(self, job_id: str, group: int, *, added: int, removed: int) -> JobItem | None:
        """Record one group's counts; the new item, or None when it was already recorded (a
        redelivery) or the job ended."""
        counts = SyncGroup(added=added, removed=removed).model_dump(mode="json")
        return self._update(
            job_id,
            "SET #sync.#groups.#g = :counts",
            {":counts": counts},
            "attribute_not_exists(#sync.#groups.#g) AND #status = :running",
            {"#g": str(group)},
        )

    def record_changes(
        self,
        job_id: str,
        *,
        changes: dict[str, dict[str, int]],
        members: int,
        chunks_total: int,
        remove_chunks: list[SyncChunk],
    ) -> JobItem | None:
        """The finished diff: changes per member type, members after the sync, the chunks the
        upload will find (``chunks_total``), the partner remove chunks held back. Once."""
        return self._update(
            job_id,
            "SET #sync.changes = :changes, #sync.members = :members, "
            "#sync.remove_chunks = :removes, chunks_total = :chunks",
            {
                ":changes": changes,
                ":members": members,
                ":removes": [c.model_dump(mode="json") for c in remove_chunks],
                ":chunks": chunks_total,
            },
            "attribute_not_exists(#sync.changes) AND #status = :running",
        )

    def mark_removes_sent(self, job_id: str) -> bool:
        """Claim sending a partner sync's remove chunks (True for exactly one caller)."""
        return (
            self._update(
                job_id,
                "SET #sync.removes_sent = :yes",
                {":yes": True},
                "attribute_exists(#sync) AND attribute_not_exists(#sync.removes_sent) "
                "AND #status = :running",
            )
            is not None
        )

    def _update(
        self,
        job_id: str,
        expression: str,
        values: dict[str, Any],
        condition: str,
        names: dict[str, str] | None = None,
    ) -> JobItem | None:
        all_names = {"#sync": "sync", "#groups": "groups", "#status": "status", **(names or {})}
        used = {k: v for k, v in all_names.items() if k in expression or k in condition}
        try:
            resp = self._ddb.update_item(
                TableName=self._table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=used,
                ExpressionAttributeValues=ddb_values({**values, ":running": RUNNING}),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return JobItem.from_ddb(resp["Attributes"])
