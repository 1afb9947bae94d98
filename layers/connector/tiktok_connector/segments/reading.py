"""What ingest learned reading a file, for the report: encoding, columns, options, warnings.

DESIGN §6b adds these report keys to §3.7's fixed ones (which stay as they are):

* ``encoding`` — ``{"name", "how"}``: the encoding the file was read in and why
  (``bom``, ``option``, ``utf-8``, ``detected``), see :mod:`.encoding`;
* ``columns`` — each header (or JSONL key of the file's head) with what it was read as:
  an id type (and ``hashed`` when declared pre-hashed) and ``by`` (``name``, ``option``,
  ``shape``), or ``ignored``;
* ``options`` — every option with the value applied, the ones the metadata set, unknown keys;
* ``warnings`` — ``[{"code", "message"}]``, things a person should look at although the job ran.

Planning stores the first three and its own warnings on the job item (attribute ``reading``).
Ranges count what they find while reading (``RangeStats.findings``, summed over ranges), and
:func:`report_sections` turns those counts into more warnings when the report is rendered:

* ``substituted_bytes`` — bytes that were not UTF-8 in a file read as UTF-8, read as cp1252;
* ``invalid_phones`` — phone values rejected as ``invalid_phone``: when they are most of the
  phones and no ``phone-region`` was given, the report says which region was assumed;
* ``unplanned:<key>`` — JSONL values under a key whose type the job's columns do not hold.

The report status ``succeeded_with_warnings`` is rendered from these, never stored: the job item
stays ``succeeded`` (every conditional write on the item tests ``status``, and the upload side
finishes jobs as ``succeeded``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tiktok_connector.contract.job import IdentifierCounts, JobItem, Reading, ReportWarning
from tiktok_connector.contract.report import SUCCEEDED_WITH_WARNINGS, ReportStatus

SUBSTITUTED_BYTES = "substituted_bytes"
INVALID_PHONES = "invalid_phones"
UNPLANNED = "unplanned:"
OTHER_KEYS = "(other keys)"
MAX_UNPLANNED_KEYS = 10  # distinct keys counted by name per range; the rest are counted together


def reading_item(
    *,
    encoding: Mapping[str, Any] | None = None,
    columns: list[dict[str, Any]] | None = None,
    options: Mapping[str, Any] | None = None,
    warnings: Sequence[tuple[str, str]] = (),
) -> Reading:
    """The job item's ``reading`` attribute."""
    return Reading(
        encoding=dict(encoding) if encoding else None,
        columns=list(columns or []),
        options=dict(options) if options else None,
        warnings=[ReportWarning(code=c, message=m) for c, m in warnings],
    )


def count_unplanned(findings: dict[str, int], key: str) -> None:
    """Count one JSONL value under an unplanned ``key`` (a bounded number of distinct keys)."""
    name = UNPLANNED + key
    if (
        name not in findings
        and sum(k.startswith(UNPLANNED) for k in findings) >= MAX_UNPLANNED_KEYS
    ):
        name = UNPLANNED + OTHER_KEYS
    findings[name] = findings.get(name, 0) + 1


def _found_warnings(
    item: JobItem, findings: Mapping[str, int], phones: IdentifierCounts | None
) -> list[ReportWarning]:
    out: list[ReportWarning] = []
    substituted = findings.get(SUBSTITUTED_BYTES, 0)
    if substituted:
        out.append(
            ReportWarning(
                code="not_utf8_bytes",
                message=f"{substituted} byte(s) were not UTF-8 and were read as cp1252 "
                "characters (the file's first 64 KiB was valid UTF-8); if the file was saved by "
                "Windows Excel, set metadata encoding=cp1252 so it is read that way throughout",
            )
        )
    invalid = findings.get(INVALID_PHONES, 0)
    options = (item.reading.options if item.reading else None) or {}
    region_given = "phone-region" in (options.get("from_metadata") or [])
    total = phones.accepted + phones.rejected if phones else 0
    if invalid and invalid * 2 > total and options and not region_given:
        region = item.phone_region or "US"
        out.append(
            ReportWarning(
                code="phone_region_assumed",
                message=f"{invalid} of {total} phone numbers were rejected as invalid_phone "
                f"when read as {region} numbers ({region} is the default region, assumed because "
                "the file sets no phone-region); if they are from another country, set metadata "
                "phone-region (e.g. phone-region=GB) and upload the file again",
            )
        )
    for name, n in sorted(findings.items()):
        if name.startswith(UNPLANNED):
            key = name[len(UNPLANNED) :]
            columns = ", ".join(item.columns)
            out.append(
                ReportWarning(
                    code="column_not_planned",
                    message=f"{n} value(s) under key {key!r} were not read: the job's columns "
                    f"({columns}) were fixed from the identifier keys in the file's first 64 KiB; "
                    "name every identifier key in metadata columns (e.g. columns=email=email;"
                    "phone=phone) or put a row with each key near the top of the file",
                )
            )
    return out


def report_sections(
    item: JobItem, *, findings: Mapping[str, int], phones: IdentifierCounts | None
) -> Reading:
    """The report keys this module adds (see module docs): the item's reading, with the
    warnings rendered from the ranges' summed ``findings`` (and ``phones`` counts) added."""
    reading = item.reading or Reading()
    found = _found_warnings(item, findings, phones)
    return reading.model_copy(update={"warnings": [*reading.warnings, *found]})


def report_status(status: ReportStatus, warnings: Sequence[ReportWarning]) -> ReportStatus:
    """The report's status: ``succeeded_with_warnings`` for a succeeded job with warnings."""
    if status == "succeeded" and warnings:
        return SUCCEEDED_WITH_WARNINGS
    return status
