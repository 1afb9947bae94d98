"""Identifier normalization and hashing: the one place every audience row and event goes through.

DESIGN §3.2 and §3.7 are the spec; tiktok-api-reference.md §6 holds TikTok's own rules
(docs/tiktok-contract.md, ``ID-*``). Every public name is importable from this package; the
modules, each importing only the ones before it:

    ``vocabulary``    the enums, ``Rejected`` and one ``Rejected`` instance per reason
    ``hashes``        digests, hash detection, the declared-hashed column, ``many_of``
    ``email``         the address check, the audience ``+tag`` rule, the e-mail hasher and its
                      batch fast path (the ingest hot path)
    ``phone``         E.164 fast paths and ``phonenumbers``, the phone hasher
    ``maid``          mobile ad ids, typing a line by its shape
    ``text``          external id, names, zip, city/state/country
    ``hasher``        ``Hasher`` (dispatches to the type's hasher), ``hash_identifier``
    ``tiktok_names``  TikTok's names for our types (customer-file types, partner id_schema)

Vocabulary
    ``IdType``   email, phone, idfa, gaid, maid (MAID of unknown platform), external_id,
                 first_name, last_name, zip, city, state, country.
    ``HashAlg``  sha256, md5 (lower-case hex output, UTF-8 input, no salt).
    ``Surface``  events (Events API), segment_api (partner audiences), customer_file
                 (``/dmp/custom_audience/file/upload/``). It decides the phone format and
                 whether e-mails get the audience ``+tag`` rule.
    ``Reason``   machine-readable rejection reasons that reports count (``empty``,
                 ``invalid_email``, ``invalid_phone``, ``invalid_maid``, ``zeroed_maid``,
                 ``not_a_hash``, ``hash_type_mismatch``, ``invalid_text``).
    ``Rejected`` the value a normalizer returns instead of raising for ordinary bad data.

Normalizers (each ``(value: str, ...) -> str | Rejected``; none raises for any ``str`` input)
    ``normalize_email(value, *, audience=False)``
        trim, lower-case; exactly one ``@``, a non-empty local part, a domain with a dot, no
        whitespace or control characters inside. ``audience=True`` also drops ``+`` and what
        follows it up to ``@`` (TikTok's customer-file e-mail rule, used for customer files and
        partner audiences; contract ID-02); dots stay. The Events API keeps trim + lower-case.
    ``normalize_phone(value, *, region="US", surface=Surface.EVENTS)``
        accepted when ``phonenumbers`` parses it with a country code (from the number or the
        default ``region``) and ``is_possible_number`` holds. Output ``+E.164`` for the
        events and segment surfaces, digits-only E.164 for customer files. Common shapes
        (``+E.164``, US-style national digits, a plain IDD such as ``011``, any of these with
        `` ()-.`` formatting or an ``x``/``ext`` extension) take string fast paths that give
        exactly the library's answer (tests compare them); the rest go through the library.
        A bare digit string may be E.164 without its ``+`` (TikTok's customer-file format;
        the ``phone`` module says when it is read so).
    ``normalize_maid(value)``      any UUID version, 8-4-4-4-12 hex → trimmed, lower-cased;
                                   the all-zero id → ``zeroed_maid``.
    ``normalize_external_id(value)``   trimmed, case kept.
    ``normalize_name(value)``      lower-cased, all whitespace removed (first/last name).
    ``normalize_zip(value)``       lower-cased, whitespace and dashes removed (``10001-4356`` →
                                   ``100014356``).
    ``normalize_location(value)``  lower-cased, only letters and digits kept (city/state/country).
    A value that is blank (or normalizes to nothing) is ``Rejected("empty")``.

Hashing
    ``sha256_hex(s)``, ``md5_hex(s)``: lower-case hex of the UTF-8 bytes (raise
    ``UnicodeEncodeError`` on lone surrogates; ``Hasher`` turns that into ``invalid_text``).
    ``is_sha256_hex(s)`` / ``is_md5_hex(s)``: anchored 64 / 32 hex chars, any case, after strip.

``Hasher(id_type, *, alg=SHA256, surface=CUSTOMER_FILE, phone_region="US",
declared_hashed=False)``
    Built once per column or field; ``hasher(value) -> str | Rejected`` on the hot path.
    - blank → ``empty``;
    - already a hash of ``alg`` (trimmed, anchored) → passed through lower-cased, never
      hashed twice;
    - a hash of the other algorithm → ``hash_type_mismatch`` (except for ``external_id``,
      where such a value is an ordinary raw id, e.g. a dash-less UUID, and is hashed);
    - ``declared_hashed=True`` (an ``email_sha256`` column …) and not a hash → ``not_a_hash``;
    - otherwise normalized, then hashed; city/state/country are normalized and NOT hashed.
    - e-mails on the audience surfaces (customer file, segment API) get the audience rule
      (``+tag`` dropped); on the events surface trim + lower-case only.
    ``Hasher`` is a ``functools.partial`` so the per-value call stays on the C call path; the
    tightest loops may bind ``hasher.func`` (the bare closure) instead, and
    ``hasher.many(values) -> list[str | Rejected]`` does a whole column batch at once (same
    results as calling per value, about as fast as binding ``.func``); e-mail hashers also have
    ``hasher.lines(text, count) -> list[str] | None``, the block form: the hashes of ``count``
    lines joined as read when every line is a clean ASCII address (``None``: use ``many``).
``hash_identifier(id_type, value, **same kwargs)``: one-off convenience over a cached Hasher.

TikTok type names
    ``customer_file_type(id_type, alg)`` → ``calculate_type`` and the customer-file header name:
        EMAIL_SHA256, PHONE_SHA256, IDFA_SHA256/MD5, GAID_SHA256/MD5, MAID_SHA256/MD5 (mixed or
        unknown-platform MAIDs; TikTok's alias of FIRST_*). ``MULTIPLE_TYPES`` for mixed files.
    ``segment_id_schema(id_type, alg)`` → partner ``id_schema``: EMAIL_SHA256, PHONE_SHA256,
        IDFA_SHA256/MD5, AAID_SHA256/MD5 (GAID). A MAID of unknown platform raises
        ``ValueError``: the segment API has no mixed type, the caller must decide the platform.
    Unsupported combinations (e.g. email + MD5, names in audiences) raise ``ValueError``.
    ``id_type_by_shape(value)``: DESIGN §3.7's typing of a header-less TXT line (``@`` → email,
    UUID → maid, otherwise phone).
"""

from tiktok_connector.identity.email import normalize_email
from tiktok_connector.identity.hasher import Hasher, hash_identifier
from tiktok_connector.identity.hashes import is_md5_hex, is_sha256_hex, md5_hex, sha256_hex
from tiktok_connector.identity.maid import id_type_by_shape, normalize_maid
from tiktok_connector.identity.phone import normalize_phone
from tiktok_connector.identity.text import (
    normalize_external_id,
    normalize_location,
    normalize_name,
    normalize_zip,
)
from tiktok_connector.identity.tiktok_names import (
    MULTIPLE_TYPES,
    customer_file_type,
    segment_id_schema,
)
from tiktok_connector.identity.vocabulary import (
    DEFAULT_PHONE_REGION,
    MAID_TYPES,
    UNHASHED_TYPES,
    HashAlg,
    IdType,
    Reason,
    Rejected,
    Surface,
)

__all__ = [
    "DEFAULT_PHONE_REGION",
    "MAID_TYPES",
    "MULTIPLE_TYPES",
    "UNHASHED_TYPES",
    "HashAlg",
    "Hasher",
    "IdType",
    "Reason",
    "Rejected",
    "Surface",
    "customer_file_type",
    "hash_identifier",
    "id_type_by_shape",
    "is_md5_hex",
    "is_sha256_hex",
    "md5_hex",
    "normalize_email",
    "normalize_external_id",
    "normalize_location",
    "normalize_maid",
    "normalize_name",
    "normalize_phone",
    "normalize_zip",
    "segment_id_schema",
    "sha256_hex",
]
