"""Which columns of a segment file hold identifiers, and how each becomes a chunk column.

A column is read as an identifier when the ``columns`` option maps its name to an id type, or
else when its header names one (:mod:`.headers`: aliases in seven languages, declared hashes).
The ``columns`` option can also say ``ignore``. Other columns are ignored, and the report says so
for each (:func:`describe_columns`); one whose values look like identifiers gets a warning.

JSON Lines files have no header: each object is read by its own keys. The chunk columns of a job
are fixed when ingest plans it (byte ranges are processed independently and every chunk of a job
has the same header), so they are the union of the identifier keys of the objects in the file's
first 64 KiB, and of the keys the ``columns`` option names. A later object's key of a type
outside that union is counted as a rejected identifier (``column_not_planned``) and the report
warns; ``columns`` is how to plan such a key in advance.

A file without a header has one id per line: typed by the ``id-type`` metadata, or else line by
line by shape (DESIGN §3.7: an ``@`` → email, a UUID → MAID of unknown platform, otherwise
phone); such a file gets the three chunk columns email, phone and MAID.

The result is a :class:`ColumnPlan`, JSON-serialisable because it travels on the job item to the
invocations that process the other byte ranges.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from tiktok_connector.contract.job import AUTO
from tiktok_connector.identity import MULTIPLE_TYPES, HashAlg, IdType, customer_file_type
from tiktok_connector.segments.headers import classify_header, fold_header
from tiktok_connector.segments.keys import AudienceApi, InvalidSegmentFile
from tiktok_connector.segments.options import IGNORE, FileOptions

# TikTok allows each header at most 3 times in one MULTIPLE_TYPES file (reference §3.2).
MAX_COLUMNS_PER_TYPE = 3
MAX_DESCRIBED = 200  # columns listed in a report (a wider file lists the first ones and a count)
MAX_COLUMN_WARNINGS = 10
_NAME_CHARS = 100  # a header name longer than this is cut in the report
_EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE_LIKE = re.compile(r"(?:\+|00)[0-9][0-9 ()./-]{6,20}|[0-9(][0-9 ()./-]{6,20}[0-9]")
_UUID_LIKE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_HASH_LIKE = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{64}")


@dataclass(frozen=True, slots=True)
class SourceColumn:
    """One identifier column of the input.

    ``index`` (delimited files) or ``field`` (JSONL) says where the value is; ``label`` is what
    the rejects file names it; ``slot`` is its chunk column, or for ``id_type == "auto"`` the
    slots of email, phone and MAID in that order. ``by`` says what made it an identifier column:
    ``name`` (its header), ``option`` (the ``columns`` or ``id-type`` metadata) or ``shape``.
    """

    label: str
    id_type: str
    alg: str
    declared_hashed: bool
    slots: tuple[int, ...]
    index: int | None = None
    field: str | None = None
    by: str = "name"


class ColumnPlan(NamedTuple):
    """How to read a file and what its chunk files look like.

    ``mapping`` (folded name → id type spec, from the ``columns`` option) and ``maid_hash`` let a
    JSONL range classify keys the head did not show; ``encoding`` is
    :meth:`~tiktok_connector.segments.encoding.TextEncoding.as_dict` (None: strict UTF-8).
    """

    format: str  # "csv" (any delimiter) or "jsonl"
    delimiter: str
    compressed: bool
    header: bool
    sources: tuple[SourceColumn, ...]
    columns: tuple[str, ...]  # chunk header: TikTok customer-file column names
    calculate_type: str
    mapping: tuple[tuple[str, str], ...] = ()
    maid_hash: str = "sha256"
    encoding: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the job item (``from_dict`` reads it back)."""
        data = self._asdict()
        data["sources"] = tuple(asdict(source) for source in self.sources)
        data["encoding"] = dict(self.encoding) if self.encoding is not None else None
        return data

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
            mapping=tuple((str(n), str(t)) for n, t in data.get("mapping") or ()),
            maid_hash=data.get("maid_hash") or "sha256",
            encoding=data.get("encoding"),
        )


class KeySpec(NamedTuple):
    """How one JSONL key is read: its id type and hash, and the chunk column it fills."""

    id_type: str
    alg: str
    declared_hashed: bool
    column: str
    by: str


def _alg_for(id_type: str, declared: str | None, maid_hash: str) -> str:
    if id_type in ("email", "phone"):
        return "sha256"  # TikTok takes emails and phones as SHA-256 only
    return declared or maid_hash


def tiktok_column(id_type: str, alg: str) -> str:
    """The customer-file column name of an id type and hash (``EMAIL_SHA256``, ``MAID_MD5``…)."""
    return str(customer_file_type(IdType(id_type), HashAlg(alg)))


def resolve_column(name: str, mapping: Mapping[str, str]) -> tuple[str, str | None, str] | None:
    """``(id_type, declared_alg, by)`` of a column or key name, or None when it is not read.

    ``mapping`` is :meth:`FileOptions.column_map`; it wins over the name.
    """
    spec = mapping.get(fold_header(name)) if mapping else None
    if spec is not None:
        if spec == IGNORE:
            return None
        id_type, _, alg = spec.partition("_")
        return id_type, alg or None, "option"
    found = classify_header(name)
    if found is None:
        return None
    return found[0], found[1], "name"


def read_as(name: str, mapping: Mapping[str, str], maid_hash: str) -> KeySpec | None:
    """How a column or key named ``name`` is read (None: it is not)."""
    found = resolve_column(name, mapping)
    if found is None:
        return None
    id_type, declared, by = found
    alg = _alg_for(id_type, declared, maid_hash)
    return KeySpec(id_type, alg, declared is not None, tiktok_column(id_type, alg), by)


def _looks_like_identifier(value: str) -> bool:
    return "@" in value or any(ch.isdigit() for ch in value)


def _finish(
    fmt: str,
    delimiter: str,
    compressed: bool,
    header: bool,
    sources: list[SourceColumn],
    columns: list[str],
    options: FileOptions,
) -> ColumnPlan:
    calc = columns[0] if len(columns) == 1 else MULTIPLE_TYPES
    mapping = tuple(options.column_map().items())
    return ColumnPlan(
        fmt, delimiter, compressed, header, tuple(sources), tuple(columns), calc, mapping,
        options.maid_hash,
    )  # fmt: skip


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
        alg = _alg_for(options.id_type, None, options.maid_hash)
        source = SourceColumn("1", options.id_type, alg, False, (0,), index=0, by="option")
        return _finish(
            fmt, delimiter, compressed, False, [source], [tiktok_column(source.id_type, alg)],
            options,
        )  # fmt: skip
    maid_alg = options.maid_hash
    columns = [tiktok_column("email", "sha256"), tiktok_column("phone", "sha256")]
    if options.api is AudienceApi.FILE:  # the partner API cannot take platform-less MAIDs
        columns.append(tiktok_column("maid", maid_alg))
    slots = tuple(range(len(columns)))
    source = SourceColumn("1", AUTO, maid_alg, False, slots, index=0, by="shape")
    return _finish(fmt, delimiter, compressed, False, [source], columns, options)


def _check_column(name: str, id_type: str, options: FileOptions) -> None:
    if options.api is AudienceApi.SEGMENT and id_type == "maid":
        raise InvalidSegmentFile(
            "invalid_column",
            f"column {name.strip()!r} holds MAIDs of unknown platform; the partner (segment) "
            "API needs idfa or gaid columns",
        )


def _check_count(column: str, count: int, options: FileOptions) -> None:
    limit = 1 if options.api is AudienceApi.SEGMENT else MAX_COLUMNS_PER_TYPE
    if count > limit:
        raise InvalidSegmentFile(
            "too_many_columns",
            f"more than {limit} column(s) hold {column} values; TikTok takes at most "
            f"{limit} per file for this audience API",
        )


def plan_columns(
    first_row: list[str] | dict[str, Any],
    *,
    fmt: str,
    delimiter: str,
    compressed: bool,
    options: FileOptions,
    more_rows: Sequence[dict[str, Any]] = (),
) -> ColumnPlan:
    """Decide the plan from the file's first non-blank row (a CSV row or a JSONL object);
    ``more_rows`` are the other JSONL objects of the file's head (their keys join the plan)."""
    if isinstance(first_row, dict):
        return _keyed_plan([first_row, *more_rows], fmt=fmt, compressed=compressed, options=options)
    mapping = options.column_map()
    sources: list[SourceColumn] = []
    columns: list[str] = []
    per_name: dict[str, int] = {}
    for position, name in enumerate(first_row):
        spec = read_as(name, mapping, options.maid_hash)
        if spec is None:
            continue
        _check_column(name, spec.id_type, options)
        per_name[spec.column] = per_name.get(spec.column, 0) + 1
        _check_count(spec.column, per_name[spec.column], options)
        sources.append(
            SourceColumn(
                name.strip(), spec.id_type, spec.alg, spec.declared_hashed, (len(columns),),
                index=position, by=spec.by,
            )
        )  # fmt: skip
        columns.append(spec.column)
    if sources:
        return _finish(fmt, delimiter, compressed, True, sources, columns, options)
    non_empty = [c for c in first_row if c.strip()]
    if len(non_empty) == 1 and (options.id_type or _looks_like_identifier(non_empty[0])):
        return headerless_plan(fmt, delimiter, compressed, options)
    raise InvalidSegmentFile(
        "no_id_column",
        "no column header names an identifier (e.g. email, Email Address, E-Mail, Telefon, "
        "phone_number, mobile, idfa, gaid, maid, email_sha256, phone_md5…); name the columns "
        "with metadata columns (e.g. columns=Kontakt=email;Mobil=phone)",
    )


def _keyed_plan(
    objects: Sequence[dict[str, Any]], *, fmt: str, compressed: bool, options: FileOptions
) -> ColumnPlan:
    """A JSONL plan: the union of the identifier keys of ``objects`` and of the keys the
    ``columns`` option names (see module docs)."""
    mapping = options.column_map()
    specs: dict[str, KeySpec] = {}  # identifier key → how it is read, in first-seen order
    slots_needed: dict[str, int] = {}  # chunk column → most keys of it in one object
    named = [{name: None for name, spec in options.columns if spec != IGNORE}]
    for obj in [*objects, *named]:
        in_object: dict[str, int] = {}
        for raw_key in obj:
            key = str(raw_key)
            spec = specs.get(key) or read_as(key, mapping, options.maid_hash)
            if spec is None:
                continue
            _check_column(key, spec.id_type, options)
            specs.setdefault(key, spec)
            in_object[spec.column] = in_object.get(spec.column, 0) + 1
        for column, n in in_object.items():
            _check_count(column, n, options)
            slots_needed[column] = max(slots_needed.get(column, 0), n)
    if not slots_needed:
        raise InvalidSegmentFile(
            "no_id_column",
            "no key of the file's first JSON objects names an identifier (e.g. email, phone, "
            "idfa, gaid, maid, email_sha256); name them with metadata columns (e.g. "
            "columns=contact=email)",
        )
    columns: list[str] = []
    slots_of: dict[str, tuple[int, ...]] = {}
    for spec in specs.values():  # chunk columns in the order their first key was seen
        if spec.column not in slots_of:
            start = len(columns)
            columns.extend([spec.column] * slots_needed[spec.column])
            slots_of[spec.column] = tuple(range(start, len(columns)))
    sources = [
        SourceColumn(
            key, s.id_type, s.alg, s.declared_hashed, slots_of[s.column], field=key, by=s.by
        )
        for key, s in specs.items()
    ]
    return _finish(fmt, "", compressed, False, sources, columns, options)


# ----------------------------------------------------------------------------- the report


def _looks_like(values: Iterable[str]) -> str | None:
    """What most of ``values`` look like (``email``, ``phone``, ``maid``, ``hash``), or None."""
    counts: dict[str, int] = {}
    total = 0
    for raw in values:
        value = raw.strip()
        if not value:
            continue
        total += 1
        if _EMAIL_LIKE.fullmatch(value):
            kind = "email"
        elif _UUID_LIKE.fullmatch(value):
            kind = "maid"
        elif _HASH_LIKE.fullmatch(value):
            kind = "hash"
        elif _PHONE_LIKE.fullmatch(value) and not value.isdigit():
            kind = "phone"  # a bare digit run is as often a customer number or a zip code
        else:
            continue
        counts[kind] = counts.get(kind, 0) + 1
    if not total:
        return None
    kind, n = max(counts.items(), key=lambda kv: kv[1], default=("", 0))
    return kind if n * 5 >= total * 3 else None  # at least 60 % of the values


_LOOKS_LIKE_WORDS = {
    "email": ("email addresses", "email"),
    "phone": ("phone numbers", "phone"),
    "maid": ("mobile ad ids", "maid"),
    "hash": ("hashed identifiers", "email_sha256"),
}


def describe_columns(
    names: Sequence[str],
    plan: ColumnPlan,
    options: FileOptions,
    sample: Mapping[str, Sequence[str]] | None = None,
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The report's ``columns`` section and the warnings about columns.

    ``names`` are the header cells (CSV) or the keys seen in the head (JSONL); ``sample`` maps a
    name to some of its values (for the "looks like identifiers" check; values never leave this
    function). Header-less files are described as one column typed by option or by shape.
    """
    warnings: list[tuple[str, str]] = []
    entries: list[dict[str, Any]] = []
    if not plan.header and plan.format == "csv":
        only = plan.sources[0]
        entry: dict[str, Any] = {"position": 1, "name": None, "by": only.by}
        if only.id_type == AUTO:
            types = "email, phone" + (" or maid" if len(only.slots) > 2 else "")
            entry["read_as"] = f"{types}, by each line's shape"
        else:
            entry["read_as"] = only.id_type
        entries.append(entry)
        if options.columns:
            warnings.append(
                (
                    "columns_option_unused",
                    "metadata columns was not used: the file has no header row to match "
                    "(one identifier per line)",
                )
            )
        return entries, warnings

    keyed = plan.format == "jsonl"
    by_index = {s.index: s for s in plan.sources if s.index is not None}
    by_field = {s.field: s for s in plan.sources if s.field is not None}
    folded_names = {fold_header(n) for n in names}
    for position, name in enumerate(names):
        src: SourceColumn | None = by_field.get(name) if keyed else by_index.get(position)
        entry = {"name": name.strip()[:_NAME_CHARS]}
        if not keyed:
            entry = {"position": position + 1, **entry}
        if src is None:
            entry["read_as"] = "ignored"
            looks = _looks_like((sample or {}).get(name, ()))
            forced = dict(plan.mapping).get(fold_header(name)) == IGNORE
            if forced:
                entry["by"] = "option"
            elif looks is not None and name.strip():
                what, example = _LOOKS_LIKE_WORDS[looks]
                warnings.append(
                    (
                        "unused_identifier_column",
                        f"column {name.strip()[:_NAME_CHARS]!r} was not read, but its values look "
                        f"like {what}; to read it, name it in metadata columns (e.g. "
                        f"columns={name.strip()[:_NAME_CHARS]}={example})",
                    )
                )
        else:
            entry["read_as"] = src.id_type
            if src.declared_hashed:
                entry["hashed"] = src.alg
            entry["by"] = src.by
        entries.append(entry)
    for name, _spec in options.columns:
        if fold_header(name) not in folded_names and not keyed:
            warnings.append(
                (
                    "columns_option_unmatched",
                    f"metadata columns names {name!r}, but the file has no such column",
                )
            )
    if options.id_type:
        warnings.append(
            (
                "id_type_option_unused",
                f"metadata id-type {options.id_type} was not used: it types files without a "
                "header row, and this file's columns are read by their names",
            )
        )
    unused = [w for w in warnings if w[0] == "unused_identifier_column"]
    if len(unused) > MAX_COLUMN_WARNINGS:  # the job item (400 KB) holds them: keep it bounded
        more = len(unused) - MAX_COLUMN_WARNINGS
        keep = set(map(id, unused[:MAX_COLUMN_WARNINGS]))
        warnings = [w for w in warnings if w[0] != "unused_identifier_column" or id(w) in keep]
        warnings.append(
            ("unused_identifier_column", f"{more} more ignored columns look like identifiers")
        )
    if len(entries) > MAX_DESCRIBED:
        more = len(entries) - MAX_DESCRIBED
        entries = [*entries[:MAX_DESCRIBED], {"more_columns": more}]
    return entries, warnings
