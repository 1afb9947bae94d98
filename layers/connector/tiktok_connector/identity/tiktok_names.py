"""TikTok's names for our id types: the customer-file ``calculate_type`` (and header name) and the
partner API's ``id_schema``. Unsupported combinations (e-mail + MD5, names in audiences) raise
``ValueError``."""

from __future__ import annotations

from typing import Final

from tiktok_connector.identity.vocabulary import HashAlg, IdType

# The customer-file calculate type of a file that mixes id types (contract CF-06).
MULTIPLE_TYPES: Final = "MULTIPLE_TYPES"

_CUSTOMER_FILE_TYPES: Final = {  # contract: CF-02
    (IdType.EMAIL, HashAlg.SHA256): "EMAIL_SHA256",
    (IdType.PHONE, HashAlg.SHA256): "PHONE_SHA256",
    (IdType.IDFA, HashAlg.SHA256): "IDFA_SHA256",
    (IdType.IDFA, HashAlg.MD5): "IDFA_MD5",
    (IdType.GAID, HashAlg.SHA256): "GAID_SHA256",
    (IdType.GAID, HashAlg.MD5): "GAID_MD5",
    # TikTok's upload enum: MAID_* are aliases of FIRST_* (IDFA or GAID, mixed line by line).
    (IdType.MAID, HashAlg.SHA256): "MAID_SHA256",
    (IdType.MAID, HashAlg.MD5): "MAID_MD5",
}

_SEGMENT_ID_SCHEMAS: Final = {  # contract: PA-04
    (IdType.EMAIL, HashAlg.SHA256): "EMAIL_SHA256",
    (IdType.PHONE, HashAlg.SHA256): "PHONE_SHA256",
    (IdType.IDFA, HashAlg.SHA256): "IDFA_SHA256",
    (IdType.IDFA, HashAlg.MD5): "IDFA_MD5",
    # The segment API calls Android ids AAID; GAID_* are customer-file names only.
    (IdType.GAID, HashAlg.SHA256): "AAID_SHA256",
    (IdType.GAID, HashAlg.MD5): "AAID_MD5",
}


def customer_file_type(id_type: IdType | str, alg: HashAlg | str = HashAlg.SHA256) -> str:
    """Customer-file ``calculate_type`` (and header name) for one id type and algorithm."""
    key = (IdType(id_type), HashAlg(alg))
    try:
        return _CUSTOMER_FILE_TYPES[key]
    except KeyError:
        raise ValueError(f"customer files have no type for {key[0]} hashed with {key[1]}") from None


def segment_id_schema(id_type: IdType | str, alg: HashAlg | str = HashAlg.SHA256) -> str:
    """Partner (segment) API ``id_schema`` entry; ``ValueError`` for a MAID of unknown platform."""
    key = (IdType(id_type), HashAlg(alg))
    try:
        return _SEGMENT_ID_SCHEMAS[key]
    except KeyError:
        if key[0] is IdType.MAID:
            raise ValueError(
                "the segment API needs the MAID platform (IDFA or GAID/AAID); "
                "declare the column as idfa or gaid"
            ) from None
        raise ValueError(f"the segment API has no id_schema for {key[0]} with {key[1]}") from None
