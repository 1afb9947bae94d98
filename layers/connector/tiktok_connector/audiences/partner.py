"""Partner (segment / "Streaming") audiences: ``/segment/audience/`` and ``/segment/mapping/``.

Reference §4. A mapping request carries an ``id_schema`` (the id type of each position) and
``batch_data`` rows that are positionally aligned with it: every row has one entry per schema
position, ``{"id": <hash>, "audience_ids": [...]}`` or ``{}`` where the user lacks that type.
Android advertising ids go out as ``AAID_*`` (``GAID_*`` are customer-file names only).

Mapping ``add`` and ``delete`` are set operations at TikTok, so sending a chunk's rows again after
a crash changes nothing: the partner path is idempotent per chunk.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from functools import cache

from tiktok_connector.audiences.api import AudienceApi
from tiktok_connector.audiences.waiting import PARTNER_NOT_READY, TikTokNotReady
from tiktok_connector.identity import HashAlg, IdType, customer_file_type, segment_id_schema
from tiktok_connector.tiktok import Code, PermanentTikTokError

AUDIENCE_PATH = "segment/audience"  # contract: PA-01
MAPPING_PATH = "segment/mapping"  # contract: PA-03

# Our job actions → the mapping API's action (contract PA-03).
MAPPING_ACTIONS = {"create": "add", "append": "add", "replace": "add", "remove": "delete"}
# Mapping refusals that, just after our own create, mean "not ready yet" (contract PA-07).
NOT_READY_CODES = frozenset({Code.NO_PERMISSION, Code.PARAM_ERROR, Code.NOT_EXIST})


class UnsupportedColumnError(ValueError):
    """A chunk column has no partner-API id type (e.g. MAIDs of unknown platform)."""

    def __init__(self, column: str, reason: str) -> None:
        self.column = column
        super().__init__(
            f"column {column[:40]} cannot go to the partner (segment) API: {reason}. "
            "Declare MAID columns as IDFA or GAID, or use the customer-file API "
            "(metadata audience-api: file)"
        )


@cache
def _column_types() -> dict[str, tuple[IdType, HashAlg]]:
    """Customer-file column name → (id type, algorithm), from the identity vocabulary."""
    out: dict[str, tuple[IdType, HashAlg]] = {}
    for id_type in IdType:
        for alg in HashAlg:
            try:
                name = customer_file_type(id_type, alg)
            except ValueError:
                continue
            out[name] = (id_type, alg)
            # MAID_* and FIRST_* are the same upload type (reference §3.2).
            for a, b in (("MAID_", "FIRST_"), ("FIRST_", "MAID_")):
                if name.startswith(a):
                    out[b + name[len(a) :]] = (id_type, alg)
    return out


def id_schema_name(column: str) -> str:
    """The ``id_schema`` name of a chunk column (a customer-file column name): GAID → AAID."""
    name = column.strip().upper()
    kind = _column_types().get(name)
    if kind is None:
        raise UnsupportedColumnError(column, f"unknown id column {column[:40]!r}")
    try:
        return segment_id_schema(*kind)
    except ValueError as exc:
        raise UnsupportedColumnError(column, str(exc)) from None


def id_schema(columns: Sequence[str]) -> list[str]:
    """The ``id_schema`` of a chunk with these header columns (order kept)."""
    return [id_schema_name(c) for c in columns]


def read_chunk(content: bytes) -> tuple[list[str], Iterator[list[str]]]:
    """Split a chunk file into its header columns and its rows (lists of hashes, ``""`` where
    the row lacks a type)."""
    reader = csv.reader(io.StringIO(content.decode("utf-8")))
    header = next(reader, [])
    width = len(header)
    rows = (row + [""] * (width - len(row)) for row in reader if any(row))
    return header, rows


def mapping_rows(rows: Iterator[list[str]], audience_id: str) -> Iterator[list[dict[str, object]]]:
    """``batch_data`` rows: one entry per schema position, ``{}`` where the value is missing."""
    for row in rows:
        yield [({"id": value, "audience_ids": [audience_id]} if value else {}) for value in row]


def batches(
    rows: Iterator[list[dict[str, object]]], size: int
) -> Iterator[list[list[dict[str, object]]]]:
    """Rows cut into lists of at most ``size``."""
    batch: list[list[dict[str, object]]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def create_partner_audience(
    api: AudienceApi, advertiser_id: str, name: str, *, retry: bool = True
) -> tuple[str, str]:
    """Create a partner audience. Returns ``(audience_id, request_id)``.

    TikTok allows duplicate names here and every create makes a new audience (reference §4.1),
    so callers guard it (see ``retry`` in :func:`.customer_file.create_audience`).
    """
    response = api.call(
        "POST",
        AUDIENCE_PATH,
        advertiser_id,
        json={"advertiser_id": advertiser_id, "action": "create", "custom_audience_name": name},
        retry=retry,
    )
    audience_id = response.data.get("audience_id")
    if not audience_id:
        raise ValueError("TikTok's segment/audience answer has no data.audience_id")
    return str(audience_id), response.request_id


def send_chunk(
    api: AudienceApi,
    advertiser_id: str,
    *,
    audience_id: str,
    content: bytes,
    action: str,
    batch_size: int,
) -> tuple[int, list[str]]:
    """Map every row of a chunk file into ``audience_id`` (``add`` or ``delete``).

    Returns ``(rows sent, request ids)``. The mapping endpoint has its own, much higher QPS
    (reference §2.3), so it is not paced with the DMP endpoints.
    """
    header, rows = read_chunk(content)
    schema = id_schema(header)
    sent = 0
    request_ids: list[str] = []
    for batch in batches(mapping_rows(rows, audience_id), batch_size):
        response = api.call(
            "POST",
            MAPPING_PATH,
            advertiser_id,
            json={
                "advertiser_ids": [advertiser_id],
                "action": action,
                "id_schema": schema,
                "batch_data": batch,
            },
            paced=False,
        )
        sent += len(batch)
        request_ids.append(response.request_id)
    return sent, request_ids


def not_ready(
    exc: PermanentTikTokError,
    *,
    audience_id: str,
    created_at: float | None,
    window: float,
    now: float,
) -> TikTokNotReady | None:
    """A mapping refusal read as "the audience is not ready yet" (contract TM-03, PA-07): a
    refusal code TikTok may give, within ``window`` seconds of our own create of the audience
    (``created_at``, None when we did not create it). None: the refusal is what it says."""
    if exc.code not in NOT_READY_CODES or created_at is None or now >= created_at + window:
        return None
    return TikTokNotReady(
        PARTNER_NOT_READY,
        f"partner audience {audience_id} was created moments ago and TikTok does not take "
        f"mappings into it yet (code {exc.code}); the job tries again later.",
        audience_id=audience_id,
        request_id=exc.request_id,
        code=exc.code,
        gives_up_at=created_at + window,
    )
