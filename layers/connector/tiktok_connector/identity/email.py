"""E-mail addresses: the check, the audience ``+tag`` rule (contract ID-02), and the e-mail
hasher with its batch fast path (the ingest hot path)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable

from tiktok_connector.identity.hashes import Digests, HashFn, LinesFn, ManyFn
from tiktok_connector.identity.vocabulary import (
    EMPTY,
    HASH_TYPE_MISMATCH,
    INVALID_EMAIL,
    Rejected,
    Surface,
)

# The common case in one C call: printable ASCII without space or "@" around a single "@",
# and a dot inside the domain. Whatever it refuses gets the full check (is_email).
ASCII_EMAIL = re.compile(r"[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+").fullmatch


# The batch patterns are compiled on first use (a handler that never hashes an e-mail batch,
# e.g. the event forwarder, does not pay for them at import).
@functools.cache
def ascii_email_lines() -> Callable[[str], re.Match[str] | None]:
    """``fullmatch`` of the per-value check on a whole batch joined with "\n", in one C call.
    Atomic per line: a line that fails cannot make the scan backtrack into the lines before it."""
    return re.compile(
        r"(?>[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+)(?:\n(?>[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+))*+"
    ).fullmatch


@functools.cache
def ascii_email_block() -> tuple[
    Callable[[bytes], re.Match[bytes] | None], Callable[[bytes, bytes], bytes]
]:
    """``(check, drop_tags)`` for a block of lines as bytes (each ending in "\n").

    ``check`` (``fullmatch``): every line one address of the per-value check with only ASCII
    blanks around it (what strip() would remove). Lines with anything else (inner blanks, other
    whitespace, non-ASCII, a second "@", blank lines) fail it.
    ``drop_tags`` (``sub``, called with ``b"@"``): the audience "+tag" (contract ID-02) of every
    address at once — from the local part's first "+" up to its "@", never across a blank, a
    line end or another "@"."""
    # The check runs on the block with every address character but "." turned into "a" (one
    # C call), where a pattern without any backtracking says the same as the per-value check:
    # the domain's first character, then up to its first later ".", then one character or more.
    shape = bytes(
        ord("a") if (33 <= c <= 63 or 65 <= c <= 126) and c != ord(".") else c for c in range(256)
    )
    blank = rb"[ \t\v\f\r]*+"
    pattern = re.compile(rb"(?:" + blank + rb"[a.]++@[a.]a*+\.[a.]++" + blank + rb"\n)*+").fullmatch

    def check(block: bytes) -> re.Match[bytes] | None:
        return pattern(block.translate(shape))

    return check, re.compile(rb"\+[!-?A-~]*@").sub


def is_email(s: str) -> bool:
    """Exactly one ``@`` with something before it, a dot inside the domain (not at either end
    of it), no whitespace or control/invisible characters. ``s`` is trimmed and lower-cased.

    Agrees with ``ASCII_EMAIL`` on every string that one accepts.
    """
    at = s.find("@")
    return (
        at > 0
        and s.find(".", at + 2, -1) > 0
        and s.find("@", at + 1) < 0
        and " " not in s
        and s.isprintable()  # no other whitespace, controls, zero-width chars or surrogates
    )


def drop_plus_tag(email: str) -> str:
    """``name+tag@domain`` → ``name@domain`` (``""`` when nothing is left before the ``+``).

    ``email`` is a checked address: exactly one ``@``. Dots stay (contract ID-02)."""
    local, _, domain = email.partition("@")
    local = local.partition("+")[0]
    return f"{local}@{domain}" if local else ""


def normalize_email(value: str, *, audience: bool = False) -> str | Rejected:
    """Trim and lower-case an email; ``Rejected`` if it is not an address.

    ``audience=True`` (customer files and partner audiences) also drops ``+`` and what follows
    it up to ``@``, TikTok's audience e-mail rule (contract ID-02). The Events API uses
    ``audience=False``.
    """
    s = value.strip().lower()
    if not s:
        return EMPTY
    if not is_email(s):
        return INVALID_EMAIL
    if audience and "+" in s:  # contract: ID-02
        s = drop_plus_tag(s)
        if not s:
            return INVALID_EMAIL
    return s


def email_functions(digests: Digests, surface: Surface) -> tuple[HashFn, ManyFn, LinesFn]:
    """The e-mail hasher of one column: per value, its batch form, and its block form."""
    digest = digests.digest
    own_len, own_hex = digests.own_len, digests.own_hex
    other_len, other_hex = digests.other_len, digests.other_hex
    empty, mismatch, invalid = EMPTY, HASH_TYPE_MISMATCH, INVALID_EMAIL
    ascii_email, check, drop_tag = ASCII_EMAIL, is_email, drop_plus_tag
    # Audiences drop "+tag"; the Events API keeps trim + lower-case only.
    audience = surface is not Surface.EVENTS  # contract: ID-02, EV-06

    def email(value: str) -> str | Rejected:
        s = value.strip().lower()
        # Address checks first: they are the common case, and a hash (no "@") fails them.
        # The ASCII regex answers most addresses in one call; is_email handles the rest.
        if ascii_email(s) is not None or check(s):
            if audience and "+" in s:
                s = drop_tag(s)
                if not s:
                    return invalid
            # is_email refused surrogates (not printable): encode() cannot fail here.
            return digest(s.encode()).hexdigest()
        if not s:
            return empty
        n = len(s)
        if n == own_len and own_hex(s) is not None:
            return s
        if n == other_len and other_hex(s) is not None:
            return mismatch
        return invalid

    return email, _many_emails(email, digests, audience), _email_lines(digests, audience)


def _many_emails(email: HashFn, digests: Digests, audience: bool) -> ManyFn:
    """The batch form of ``email``: the same results, without a Python step per clean value."""
    digest = digests.digest
    ascii_email = ASCII_EMAIL
    strip, lower, encode = str.strip, str.lower, str.encode
    hexdigest = type(digest(b"")).hexdigest
    # A value holding ``tag`` goes through email() even when it looks clean: for audiences
    # "+" (email() applies the "+tag" rule); for the Events API a line end, which no clean
    # address holds, so there it never diverts one.
    tag = "+" if audience else "\n"

    def many_emails(values: Iterable[str]) -> list[str | Rejected]:
        # strip/lower run in C over the batch. A batch of clean ASCII addresses only (the
        # common file) is checked in one regex call and hashed without a Python step per
        # value; otherwise clean addresses are hashed inline (email's own first branch) and
        # everything else goes through email itself.
        lowered = list(map(lower, map(strip, values)))
        joined = "\n".join(lowered)
        if (
            lowered
            and joined.count("\n") == len(lowered) - 1  # no value holds a line end itself
            and (not audience or "+" not in joined)
            and ascii_email_lines()(joined) is not None
        ):
            return list(map(hexdigest, map(digest, map(encode, lowered))))
        return [
            digest(s.encode()).hexdigest()
            if tag not in s and ascii_email(s) is not None
            else email(s)
            for s in lowered
        ]

    return many_emails


def _email_lines(digests: Digests, audience: bool) -> LinesFn:
    """The block form: the hashes of the ``count`` lines of ``text`` (lines as read, each ending
    in a line end but maybe the last) when every line is one clean ASCII address, else ``None``
    (the caller then uses the batch form). The same hashes ``email`` gives line by line, worked
    on the block's bytes: lower case and the "+tag" rule on the whole block (ASCII only: no
    line's case or tag depends on another), the check in one regex call, ``bytes.split()`` for
    the trimmed addresses (its whitespace is exactly the blanks the check allows)."""
    digest = digests.digest
    hexdigest = type(digest(b"")).hexdigest

    def email_lines(text: str, count: int) -> list[str] | None:
        if not text.isascii():
            return None
        block_check, plus_tag = ascii_email_block()
        block = text.encode("ascii").lower()
        if block[-1:] != b"\n":
            block += b"\n"
        if audience and b"+" in block:
            block = plus_tag(b"@", block)
        if block_check(block) is None:
            return None
        found = block.split()  # one address a line, blanks only around it (checked above)
        if len(found) != count:
            return None
        return list(map(hexdigest, map(digest, found)))

    return email_lines
