"""Which columns of a segment file hold identifiers, and how each becomes a chunk column.

Header names are matched after folding case and punctuation (``Email Address`` →
``email_address``). Aliases cover what CRM, warehouse and spreadsheet exports call the ids;
a ``_sha256`` / ``_md5`` suffix (or ``hashed_`` prefix / ``_hash`` suffix) declares the column
pre-hashed, and TikTok's own template names (``EMAIL_SHA256``, ``MAID_MD5``, ``AAID_SHA256``…)
are understood. Other columns are ignored.

A file without a header has one id per line: typed by the ``id-type`` metadata, or else line by
line by shape (DESIGN §3.7: an ``@`` → email, a UUID → MAID of unknown platform, otherwise
phone); such a file gets the three chunk columns email, phone and MAID.

The result is a :class:`ColumnPlan`, JSON-serialisable because it travels on the job item to the
invocations that process the other byte ranges.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from tiktok_connector.identity import MULTIPLE_TYPES, HashAlg, IdType, customer_file_type
from tiktok_connector.segments.keys import AudienceApi, FileOptions, InvalidSegmentFile

AUTO = "auto"  # header-less line typed by its shape
_BASE_ALIASES: dict[str, tuple[str, ...]] = {
    "email": (
        "email", "e_mail", "email_address", "emailaddress", "e_mail_address", "email_addr",
        "mail", "user_email", "customer_email", "contact_email", "primary_email", "emails",
    ),
    "phone": (
        "phone", "phone_number", "phonenumber", "phone_no", "phone_num", "mobile",
        "mobile_number", "mobile_phone", "mobilephone", "mobile_no", "cell", "cell_phone",
        "cellphone", "telephone", "tel", "msisdn", "phone_e164", "phones",
    ),
    "idfa": ("idfa", "ios_idfa", "apple_idfa", "ios_ad_id", "ios_advertising_id"),
    "gaid": (
        "gaid", "aaid", "adid", "google_ad_id", "google_advertising_id", "android_ad_id",
        "android_advertising_id",
    ),
    "maid": (
        "maid", "mobile_ad_id", "mobile_advertising_id", "advertising_id", "ad_id", "ifa",
        "device_ad_id", "first",
    ),
}  # fmt: skip
ALIASES: dict[str, str] = {a: t for t, names in _BASE_ALIASES.items() for a in names}
_FOLD = re.compile(r"[^0-9a-z]+")
# TikTok allows each header at most 3 times in one MULTIPLE_TYPES file (reference §3.2).
MAX_COLUMNS_PER_TYPE = 3


@dataclass(frozen=True, slots=True)
class SourceColumn:
    """One identifier column of the input.

    ``index`` (delimited files) or ``field`` (JSONL) says where the value is; ``label`` is what
    the rejects file names it; ``slot`` is its chunk column, or for ``id_type == "auto"`` the
    slots of email, phone and MAID in that order.
    """

    label: str
    id_type: str
    alg: str
    declared_hashed: bool
    slots: tuple[int, ...]
    index: int | None = None
    field: str | None = None


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """How to read a file and what its chunk files look like."""

    format: str  # "csv" (any delimiter) or "jsonl"
    delimiter: str
    compressed: bool
    header: bool
    sources: tuple[SourceColumn, ...]
    columns: tuple[str, ...]  # chunk header: TikTok customer-file column names
    calculate_type: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnPlan:
        sources = tuple(
            SourceColumn(**{**s, "slots": tuple(s["slots"])}) for s in data.get("sources", ())
        )
        return cls(
            format=data["format"],
            delimiter=data["delimiter"],
            compressed=bool(data["compressed"]),
            header=bool(data["header"]),
            sources=sources,
            columns=tuple(data["columns"]),
            calculate_type=data["calculate_type"],
        )


def fold_header(name: str) -> str:
    """``" Email Address "`` → ``"email_address"``."""
    return _FOLD.sub("_", name.strip().strip("\ufeff").lower()).strip("_")


def classify_header(name: str) -> tuple[str, str | None] | None:
    """``(id_type, declared_alg)`` of a header name, or None when it holds no identifier.

    ``declared_alg`` is ``"sha256"`` / ``"md5"`` for declared-hashed columns, ``""`` for a
    column declared hashed without naming the algorithm, and None for raw columns.
    """
    folded = fold_header(name)
    if not folded:
        return None
    if folded in ALIASES:
        return ALIASES[folded], None
    for suffix, alg in (("_sha256", "sha256"), ("_sha_256", "sha256"), ("_md5", "md5")):
        if folded.endswith(suffix):
            base = folded[: -len(suffix)]
            if base in ALIASES:
                return ALIASES[base], alg
    for prefix, alg in (("sha256_", "sha256"), ("md5_", "md5"), ("hashed_", "")):
        if folded.startswith(prefix):
            base = folded[len(prefix) :]
            if base in ALIASES:
                return ALIASES[base], alg
    for suffix in ("_hash", "_hashed"):
        if folded.endswith(suffix) and folded[: -len(suffix)] in ALIASES:
            return ALIASES[folded[: -len(suffix)]], ""
    return None


def _alg_for(id_type: str, declared: str | None, options: FileOptions) -> str:
    if id_type in ("email", "phone"):
        return "sha256"  # TikTok takes emails and phones as SHA-256 only
    return declared or options.maid_hash


def tiktok_column(id_type: str, alg: str) -> str:
    """The customer-file column name of an id type and hash (``EMAIL_SHA256``, ``MAID_MD5``…)."""
    return str(customer_file_type(IdType(id_type), HashAlg(alg)))


def _looks_like_identifier(value: str) -> bool:
    return "@" in value or any(ch.isdigit() for ch in value)


def _finish(
    fmt: str,
    delimiter: str,
    compressed: bool,
    header: bool,
    sources: list[SourceColumn],
    columns: list[str],
) -> ColumnPlan:
    calc = columns[0] if len(columns) == 1 else MULTIPLE_TYPES
    return ColumnPlan(fmt, delimiter, compressed, header, tuple(sources), tuple(columns), calc)


def headerless_plan(
    fmt: str, delimiter: str, compressed: bool, options: FileOptions, *, width: int = 1
) -> ColumnPlan:
    """The plan of a file with one id per line and no header row."""
    if width > 1:
        raise InvalidSegmentFile(
            "no_id_column",
            "no header row names an identifier column (e.g. email, phone, idfa, gaid, maid, "
            "email_sha256); a file without a header must hold one identifier per line",
        )
    if options.id_type:
        alg = _alg_for(options.id_type, None, options)
        source = SourceColumn("1", options.id_type, alg, False, (0,), index=0)
        return _finish(
            fmt, delimiter, compressed, False, [source], [tiktok_column(source.id_type, alg)]
        )
    maid_alg = options.maid_hash
    columns = [tiktok_column("email", "sha256"), tiktok_column("phone", "sha256")]
    if options.api is AudienceApi.FILE:  # the partner API cannot take platform-less MAIDs
        columns.append(tiktok_column("maid", maid_alg))
    slots = tuple(range(len(columns)))
    source = SourceColumn("1", AUTO, maid_alg, False, slots, index=0)
    return _finish(fmt, delimiter, compressed, False, [source], columns)


def plan_columns(
    first_row: list[str] | dict[str, Any],
    *,
    fmt: str,
    delimiter: str,
    compressed: bool,
    options: FileOptions,
) -> ColumnPlan:
    """Decide the plan from the file's first non-blank row (a CSV row or a JSONL object)."""
    if isinstance(first_row, dict):
        names = [str(k) for k in first_row]
        keyed = True
    else:
        names = list(first_row)
        keyed = False
    sources: list[SourceColumn] = []
    columns: list[str] = []
    per_name: dict[str, int] = {}
    for position, name in enumerate(names):
        found = classify_header(name)
        if found is None:
            continue
        id_type, declared = found
        if options.api is AudienceApi.SEGMENT and id_type == "maid":
            raise InvalidSegmentFile(
                "invalid_column",
                f"column {name.strip()!r} holds MAIDs of unknown platform; the partner (segment) "
                "API needs idfa or gaid columns",
            )
        alg = _alg_for(id_type, declared, options)
        column = tiktok_column(id_type, alg)
        per_name[column] = per_name.get(column, 0) + 1
        limit = 1 if options.api is AudienceApi.SEGMENT else MAX_COLUMNS_PER_TYPE
        if per_name[column] > limit:
            raise InvalidSegmentFile(
                "too_many_columns",
                f"more than {limit} column(s) hold {column} values; TikTok takes at most "
                f"{limit} per file for this audience API",
            )
        sources.append(
            SourceColumn(
                label=name.strip(),
                id_type=id_type,
                alg=alg,
                declared_hashed=declared is not None,
                slots=(len(columns),),
                index=None if keyed else position,
                field=name if keyed else None,
            )
        )
        columns.append(column)
    if sources:  # a JSONL file has no header line: its first object is a row
        return _finish(fmt, delimiter, compressed, not keyed, sources, columns)
    if keyed:
        raise InvalidSegmentFile(
            "no_id_column",
            "no field of the first JSON object names an identifier (e.g. email, phone, idfa, "
            "gaid, maid, email_sha256)",
        )
    non_empty = [c for c in names if c.strip()]
    if len(non_empty) == 1 and (options.id_type or _looks_like_identifier(non_empty[0])):
        return headerless_plan(fmt, delimiter, compressed, options)
    raise InvalidSegmentFile(
        "no_id_column",
        "no column header names an identifier (e.g. email, Email Address, phone, phone_number, "
        "mobile, idfa, gaid, maid, email_sha256, phone_md5…)",
    )
