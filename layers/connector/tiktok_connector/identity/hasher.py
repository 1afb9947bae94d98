"""``Hasher``: normalize-and-hash one column or field, built once, called per value (or per
batch with ``hasher.many``); ``hash_identifier`` for one-off values."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from tiktok_connector.identity.email import email_functions
from tiktok_connector.identity.hashes import (
    Digests,
    HashFn,
    LinesFn,
    ManyFn,
    declared_hashed_functions,
    many_of,
)
from tiktok_connector.identity.maid import maid_functions
from tiktok_connector.identity.phone import check_region, phone_functions
from tiktok_connector.identity.text import normalize_location, text_functions
from tiktok_connector.identity.vocabulary import (
    DEFAULT_PHONE_REGION,
    MAID_TYPES,
    UNHASHED_TYPES,
    HashAlg,
    IdType,
    Rejected,
    Surface,
)


def _build_hash_function(
    id_type: IdType,
    alg: HashAlg,
    surface: Surface,
    phone_region: str,
    declared_hashed: bool,
) -> tuple[HashFn, ManyFn, LinesFn | None]:
    """One specialised closure per column, its batch form, and its block form where the type
    has one: everything is bound once, nothing is built per value."""
    if id_type in UNHASHED_TYPES:
        if declared_hashed:
            raise ValueError(f"{id_type} is sent unhashed; it cannot be a hashed column")
        return normalize_location, many_of(normalize_location), None
    digests = Digests(alg)
    if declared_hashed:
        return (*declared_hashed_functions(digests), None)
    if id_type is IdType.EMAIL:
        return email_functions(digests, surface)
    if id_type in MAID_TYPES:
        return (*maid_functions(digests), None)
    if id_type is IdType.PHONE:
        return (*phone_functions(digests, surface, phone_region), None)
    return (*text_functions(id_type, digests), None)


class Hasher(functools.partial[str | Rejected]):
    """Normalize-and-hash one column or field: ``Hasher(IdType.EMAIL)(" A@B.co ") -> "<hex>"``.

    A ``functools.partial`` around a closure specialised for the id type: calling it costs
    what calling a plain function costs (a Python ``__call__`` would add ~100 ns per value).
    See the package docstring for the rules.
    """

    id_type: IdType
    alg: HashAlg
    surface: Surface
    phone_region: str
    declared_hashed: bool
    many: Callable[[Iterable[str]], list[str | Rejected]]
    """``hasher.many(values)``: the results of ``[hasher(v) for v in values]``, faster."""
    lines: LinesFn | None
    """``hasher.lines(text, count)``: the hashes of the ``count`` lines of ``text`` (joined as
    read) when every line takes the type's fast path, else ``None``; ``None`` itself for types
    without a block form (e-mail has one)."""

    def __new__(
        cls,
        id_type: IdType | str,
        *,
        alg: HashAlg | str = HashAlg.SHA256,
        surface: Surface | str = Surface.CUSTOMER_FILE,
        phone_region: str = DEFAULT_PHONE_REGION,
        declared_hashed: bool = False,
    ) -> Hasher:
        id_type, alg, surface = IdType(id_type), HashAlg(alg), Surface(surface)
        region = check_region(phone_region)
        fn, many, lines = _build_hash_function(id_type, alg, surface, region, declared_hashed)
        self = super().__new__(cls, fn)
        self.many, self.lines = many, lines
        self.id_type, self.alg, self.surface = id_type, alg, surface
        self.phone_region, self.declared_hashed = region, declared_hashed
        return self

    @property
    def hashes(self) -> bool:
        """False for city/state/country, whose normalized value is sent as is."""
        return self.id_type not in UNHASHED_TYPES

    def __repr__(self) -> str:
        return (
            f"Hasher({self.id_type.value!r}, alg={self.alg.value!r}, "
            f"surface={self.surface.value!r}, phone_region={self.phone_region!r}, "
            f"declared_hashed={self.declared_hashed})"
        )


@functools.lru_cache(maxsize=256)
def _cached_hasher(
    id_type: IdType | str,
    alg: HashAlg | str,
    surface: Surface | str,
    phone_region: str,
    declared_hashed: bool,
) -> Hasher:
    return Hasher(
        id_type,
        alg=alg,
        surface=surface,
        phone_region=phone_region,
        declared_hashed=declared_hashed,
    )


def hash_identifier(
    id_type: IdType | str,
    value: str,
    *,
    alg: HashAlg | str = HashAlg.SHA256,
    surface: Surface | str = Surface.CUSTOMER_FILE,
    phone_region: str = DEFAULT_PHONE_REGION,
    declared_hashed: bool = False,
) -> str | Rejected:
    """Normalize and hash one value (a cached ``Hasher``; build your own for loops)."""
    hasher = _cached_hasher(id_type, alg, surface, phone_region, declared_hashed)
    return hasher(value)
