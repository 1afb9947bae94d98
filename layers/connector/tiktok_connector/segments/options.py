"""Per-file options (S3 object metadata): checked, hinted and echoed.

Keys are matched ignoring case, ``_`` for ``-`` and the ``x-amz-meta-`` prefix. Every key that is
not an option is kept as *unknown* with a "did you mean" (``region`` → ``phone-region``) and the
report warns about it; keys that file-sync tools write for themselves (``mtime``, ``md5chksum``…)
are listed without a warning. A value that is not valid refuses the file with a sentence that
names the value expected (``UK`` → "did you mean GB?"), because reading phones in the wrong
region or hashing MAIDs the wrong way would put wrong people in the audience.

:meth:`FileOptions.echo` is the report's ``options`` section: every option with the value applied,
which of them came from the file's metadata, and the unknown keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from tiktok_connector.segments import encoding
from tiktok_connector.segments.headers import classify_header, fold_header
from tiktok_connector.segments.keys import AudienceApi, InvalidSegmentFile

ID_TYPES = ("email", "phone", "idfa", "gaid", "maid")
HASH_ALGS = ("sha256", "md5")
IGNORE = "ignore"
OPTIONS = (
    "audience-api", "retention-days", "phone-region", "id-type", "maid-hash", "encoding", "columns",
)  # fmt: skip
# What people call the options instead (checked before spelling distance).
_KEY_HINTS = {
    "region": "phone-region", "country": "phone-region", "phone-country": "phone-region",
    "default-region": "phone-region", "country-code": "phone-region", "locale": "phone-region",
    "api": "audience-api", "audience-type": "audience-api", "type": "id-type",
    "idtype": "id-type", "identifier-type": "id-type", "id": "id-type",
    "retention": "retention-days", "ttl": "retention-days", "days": "retention-days",
    "charset": "encoding", "codepage": "encoding", "code-page": "encoding",
    "hash": "maid-hash", "column": "columns", "mapping": "columns", "column-map": "columns",
    "map": "columns", "headers": "columns", "fields": "columns",
}  # fmt: skip
# Keys file-sync tools (s3cmd, rclone, s3fs) store on every object: not meant for us.
SYNC_TOOL_KEYS = frozenset({
    "mtime", "atime", "ctime", "btime", "md5chksum", "s3cmd-attrs", "uid", "gid", "mode", "uname",
    "gname",
})  # fmt: skip
# Region codes people write that are not ISO 3166 alpha-2.
_REGION_HINTS = {
    "UK": "GB", "EN": "GB", "ENG": "GB", "GBR": "GB", "USA": "US", "DEU": "DE", "GER": "DE",
    "FRA": "FR", "ESP": "ES", "SP": "ES", "ITA": "IT", "NLD": "NL", "HOL": "NL", "PRT": "PT",
    "POR": "PT", "AUT": "AT", "CHE": "CH", "SUI": "CH", "BEL": "BE", "IRL": "IE", "SWE": "SE",
    "DNK": "DK", "NOR": "NO", "FIN": "FI", "POL": "PL", "CAN": "CA", "AUS": "AU", "MEX": "MX",
    "BRA": "BR", "JPN": "JP", "KOR": "KR", "EL": "GR", "GRC": "GR",
}  # fmt: skip
_API_HINTS = {
    "customer-file": "file", "customer_file": "file", "customer": "file", "dmp": "file",
    "files": "file", "partner": "segment", "segments": "segment", "streaming": "segment",
}  # fmt: skip


class FileOptions(NamedTuple):
    """Per-file options from S3 object metadata (defaults applied).

    ``columns`` maps header names (as written in the metadata) to an id type spec (``email``,
    ``phone_sha256``, ``idfa_md5``…, or ``ignore``). ``given`` names the options the metadata
    set; ``unknown`` holds ``(key, hint)`` for every other metadata key.
    """

    api: AudienceApi = AudienceApi.FILE
    retention_days: int | None = None
    phone_region: str = "US"
    id_type: str | None = None  # header-less files: email, phone, idfa, gaid, maid
    maid_hash: str = "sha256"
    encoding: str | None = None
    columns: tuple[tuple[str, str], ...] = ()
    given: tuple[str, ...] = ()
    unknown: tuple[tuple[str, str], ...] = ()

    def column_map(self) -> dict[str, str]:
        """``columns`` keyed by folded header name (how headers are matched)."""
        return {fold_header(name): spec for name, spec in self.columns}

    def echo(self) -> dict[str, Any]:
        """The report's ``options`` section."""
        return {
            "applied": {
                "audience-api": str(self.api),
                "retention-days": self.retention_days,
                "phone-region": self.phone_region,
                "id-type": self.id_type,
                "maid-hash": self.maid_hash,
                "encoding": self.encoding,
                "columns": ";".join(f"{n}={s}" for n, s in self.columns) or None,
            },
            "from_metadata": list(self.given),
            "unknown": [
                {"key": key, "hint": hint} if hint else {"key": key} for key, hint in self.unknown
            ],
        }

    def warnings(self) -> list[tuple[str, str]]:
        """``(code, sentence)`` for each unknown key that is not a sync tool's."""
        out = []
        for key, hint in self.unknown:
            if key in SYNC_TOOL_KEYS:
                continue
            sentence = f"metadata {key!r} is not an option of this connector and was ignored"
            out.append(("unknown_option", f"{sentence}; {hint}" if hint else sentence))
        return out


def _normal_key(key: str) -> str:
    return key.strip().lower().replace("_", "-").removeprefix("x-amz-meta-")


def _decoded(value: str) -> str:
    """A metadata value; RFC 2047 encoded words (how SDKs send non-ASCII metadata) decoded."""
    value = value.strip()
    if value.startswith("=?") and value.endswith("?="):
        from email.header import decode_header, make_header

        try:
            return str(make_header(decode_header(value))).strip()
        except (ValueError, LookupError):
            return value
    return value


def _close(value: str, choices: list[str]) -> list[str]:
    import difflib  # only a misspelt option pays for the import

    return difflib.get_close_matches(value, choices, n=1, cutoff=0.6)


def _did_you_mean(value: str, choices: tuple[str, ...] | list[str]) -> str:
    close = _close(value, list(choices))
    return f"; did you mean {close[0]}?" if close else ""


def _key_hint(key: str) -> str:
    if key in SYNC_TOOL_KEYS:
        return "written by file-sync tools, not meant for this connector"
    if key in _KEY_HINTS:
        return f"did you mean {_KEY_HINTS[key]}?"
    names = {**{o: o for o in OPTIONS}, **_KEY_HINTS}  # misspelt options and misspelt synonyms
    close = _close(key, list(names))
    return f"did you mean {names[close[0]]}?" if close else f"options are {', '.join(OPTIONS)}"


def parse_options(metadata: Mapping[str, str], *, default_phone_region: str = "US") -> FileOptions:
    """Check the file's S3 object metadata into :class:`FileOptions` (see module docs)."""
    values: dict[str, str] = {}
    unknown: list[tuple[str, str]] = []
    for raw_key, raw_value in metadata.items():
        key = _normal_key(raw_key)
        if key in OPTIONS:
            values.setdefault(key, _decoded(raw_value))
        else:
            unknown.append((key, _key_hint(key)))
    given = tuple(k for k in OPTIONS if values.get(k))

    api = _api(values.get("audience-api"))
    retention = _retention(values.get("retention-days"))
    region = _region(values.get("phone-region") or default_phone_region)
    id_type = _id_type(values.get("id-type"))
    maid_hash = _maid_hash(values.get("maid-hash"))
    text_encoding = _encoding(values.get("encoding"))
    columns = _columns(values.get("columns"))
    if api is AudienceApi.SEGMENT and id_type == "maid":
        raise InvalidSegmentFile(
            "invalid_option",
            "the partner (segment) API needs the MAID platform: use id-type idfa or gaid",
        )
    return FileOptions(
        api, retention, region, id_type, maid_hash, text_encoding, columns, given, tuple(unknown)
    )


def _api(raw: str | None) -> AudienceApi:
    value = (raw or "file").lower()
    try:
        return AudienceApi(value)
    except ValueError:
        hint = _API_HINTS.get(value)
        hint_text = f"; did you mean {hint}?" if hint else ""
        raise InvalidSegmentFile(
            "invalid_option",
            f"metadata audience-api {raw!r} is not 'file' (customer-file audience) or 'segment' "
            f"(partner audience){hint_text}",
        ) from None


def _retention(raw: str | None) -> int | None:
    if not raw:
        return None
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 365:
        return int(raw)
    raise InvalidSegmentFile(
        "invalid_option",
        f"metadata retention-days {raw!r} is not a whole number of days from 1 to 365",
    )


def _region(raw: str) -> str:
    region = raw.strip().upper()
    if _is_region(region):
        return region
    hint = _REGION_HINTS.get(region)
    hint_text = f"; did you mean {hint}?" if hint else ""
    raise InvalidSegmentFile(
        "invalid_option",
        f"metadata phone-region {raw!r} is not a two-letter ISO region code (e.g. US, GB, DE)"
        f"{hint_text}",
    )


def _id_type(raw: str | None) -> str | None:
    if not raw:
        return None
    value = raw.lower()
    if value in ID_TYPES:
        return value
    guess = classify_header(raw)
    hint = f"; did you mean {guess[0]}?" if guess else _did_you_mean(value, ID_TYPES)
    raise InvalidSegmentFile(
        "invalid_option", f"metadata id-type {raw!r} is not one of {', '.join(ID_TYPES)}{hint}"
    )


def _maid_hash(raw: str | None) -> str:
    value = (raw or "sha256").lower()
    if value in HASH_ALGS:
        return value
    folded = value.replace("-", "").replace("_", "")
    hint = f"; did you mean {folded}?" if folded in HASH_ALGS else ""
    raise InvalidSegmentFile(
        "invalid_option", f"metadata maid-hash {raw!r} is not 'sha256' or 'md5'{hint}"
    )


def _encoding(raw: str | None) -> str | None:
    if not raw:
        return None
    name = encoding.canonical(raw)
    if name is not None:
        return name
    hint = encoding.HINTS.get(raw.strip().lower())
    hint_text = f"; did you mean {hint}?" if hint else ""
    raise InvalidSegmentFile(
        "invalid_option",
        f"metadata encoding {raw!r} is not one this connector reads (utf-8, cp1252, latin-1, "
        f"utf-16, iso-8859-15, cp1250, cp1251, mac-roman){hint_text}",
    )


def _columns(raw: str | None) -> tuple[tuple[str, str], ...]:
    """``"Kontakt=email;Mobil=phone"`` → ``(("Kontakt", "email"), ("Mobil", "phone"))``."""
    if not raw:
        return ()
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for part in raw.replace(",", ";").split(";"):
        if not part.strip():
            continue
        name, sep, spec_raw = part.rpartition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidSegmentFile(
                "invalid_option",
                f"metadata columns takes name=type pairs separated by ';' (e.g. "
                f"Kontakt=email;Mobil=phone), not {part.strip()!r}",
            )
        spec = column_spec(spec_raw)
        if fold_header(name) in seen:
            raise InvalidSegmentFile(
                "invalid_option", f"metadata columns names the column {name!r} twice"
            )
        seen.add(fold_header(name))
        pairs.append((name, spec))
    return tuple(pairs)


def column_spec(raw: str) -> str:
    """Check one id type spec of the ``columns`` option: ``email``, ``phone_sha256``,
    ``idfa_md5``…, or ``ignore``."""
    spec = raw.strip().lower().replace("-", "_")
    if spec == IGNORE or spec in ID_TYPES:
        return spec
    base, _, alg = spec.rpartition("_")
    if (
        base in ID_TYPES
        and alg in HASH_ALGS
        and (alg == "sha256" or base not in ("email", "phone"))
    ):
        return spec
    guess = classify_header(raw)
    if guess is not None:
        hint = f"; did you mean {guess[0]}{'_' + guess[1] if guess[1] else ''}?"
    else:
        hint = ""
    raise InvalidSegmentFile(
        "invalid_option",
        f"metadata columns: {raw.strip()!r} is not an id type (email, phone, idfa, gaid, maid, "
        f"a hashed one such as email_sha256 or idfa_md5, or ignore){hint}",
    )


def _is_region(region: str) -> bool:
    import phonenumbers  # imported here: only files that name a region pay for it at cold start

    return region in phonenumbers.SUPPORTED_REGIONS
