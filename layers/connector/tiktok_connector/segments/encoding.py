"""How a segment file's bytes become text: which encoding it is in, and reading it that way.

The encoding is chosen once per file from its head (the first 64 KiB ingest reads to plan the
file), in this order:

1. a byte order mark: UTF-8, UTF-16 little- or big-endian (UTF-32 is refused with a sentence);
2. the ``encoding`` metadata option (:data:`SUPPORTED`);
3. UTF-16 without a byte order mark, told by NUL bytes in every other position; any other NUL
   byte means binary content, refused;
4. valid UTF-8 (plain ASCII included);
5. otherwise charset-normalizer's best guess. Several code pages often decode a sample equally
   well (a German export reads the same in cp1250 and cp1252); cp1252, what Windows Excel
   writes in Western Europe and the Americas, is chosen whenever it is one of them. When
   charset-normalizer cannot tell at all, cp1252 is assumed and the report warns.

Decoding is a streaming codec inside :class:`io.TextIOWrapper` (see :mod:`.reader`), so UTF-8
files keep the C-speed fast path. A file read as UTF-8 because its head was (step 4) is read
leniently: the head is only 64 KiB, and a Windows export whose first accented name comes later
would otherwise be refused at that line. A byte that is not UTF-8 is then read as cp1252 and
counted (:func:`counting_substitutions`), and the report warns. Every other choice is strict: a
byte that does not decode fails the job, and :func:`locate_undecodable` names its line and byte.

UTF-16 files are read as one byte range: their line ends are two bytes wide, and byte ranges are
split at single ``\\n`` bytes.
"""

from __future__ import annotations

import codecs
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from tiktok_connector.segments.keys import InvalidSegmentFile

UTF8 = "utf-8"
CP1252 = "cp1252"
# The `encoding` option: accepted spellings (any name Python's codecs know for these) → the name
# the report shows. Python's canonical names are the keys (``codecs.lookup(x).name``).
SUPPORTED: dict[str, str] = {
    "utf-8": "utf-8", "utf-8-sig": "utf-8", "ascii": "utf-8",
    "utf-16": "utf-16", "utf-16-le": "utf-16-le", "utf-16-be": "utf-16-be",
    "cp1252": "cp1252", "iso8859-1": "latin-1", "iso8859-15": "iso-8859-15",
    "cp1250": "cp1250", "cp1251": "cp1251", "mac-roman": "mac-roman",
}  # fmt: skip
# Other names people use for them, for the "did you mean" of a refused value.
HINTS = {"ansi": "cp1252", "windows": "cp1252", "excel": "cp1252", "unicode": "utf-16",
         "latin": "latin-1", "western": "cp1252", "iso-8859": "latin-1"}  # fmt: skip
FALLBACK_ERRORS = "tiktok-connector-read-as-cp1252"
DETECT_BYTES = 64 * 1024
FEW_BYTES = 16  # fewer bytes outside ASCII than this in the head: too little to detect from
_NOT_GUESSED = ["utf_16", "utf_16_be", "utf_16_le", "utf_32", "utf_32_be", "utf_32_le", "utf_7"]
_UTF32 = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)  # checked before UTF-16: FF FE 00 00
_BOMS = (
    (codecs.BOM_UTF8, "utf-8", "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16"),
)


class TextEncoding(NamedTuple):
    """How a file is decoded.

    ``name`` is what the report shows; ``how`` says why it was chosen (``bom``, ``option``,
    ``utf-8`` — the head was valid UTF-8 —, ``detected``, or ``assumed``: cp1252 when detection
    could not tell); ``codec`` is the Python codec of
    the file's first range (``utf-8-sig`` and ``utf-16`` also drop the byte order mark);
    ``lenient`` — bytes that are not UTF-8 are read as cp1252 and counted.
    """

    name: str = UTF8
    how: str = "utf-8"
    codec: str = "utf-8-sig"
    lenient: bool = False

    @property
    def single_range(self) -> bool:
        """True when the file cannot be split into byte ranges (UTF-16)."""
        return self.name.startswith("utf-16")

    @property
    def errors(self) -> str:
        """The ``errors`` argument of the decoder."""
        return FALLBACK_ERRORS if self.lenient else "strict"

    def codec_for(self, *, first_range: bool) -> str:
        """The codec of a range: only the first one can start with a byte order mark."""
        if self.codec == "utf-8-sig" and not first_range:
            return UTF8
        return self.codec

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "how": self.how, "codec": self.codec, "lenient": self.lenient}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TextEncoding:
        """The stored encoding; a plan stored before encodings were chosen reads as UTF-8."""
        if not data:
            return STRICT_UTF8
        return cls(str(data["name"]), str(data["how"]), str(data["codec"]), bool(data["lenient"]))

    def report(self) -> dict[str, str]:
        """The report's ``encoding`` section."""
        return {"name": self.name, "how": self.how}


STRICT_UTF8 = TextEncoding()


def canonical(value: str) -> str | None:
    """The report name of an ``encoding`` option value, or None when it is not supported."""
    try:
        name = codecs.lookup(value.strip()).name
    except LookupError:
        return None
    return SUPPORTED.get(name)


def choose_encoding(
    head: bytes, *, declared: str | None, whole: bool
) -> tuple[TextEncoding, list[tuple[str, str]]]:
    """The encoding of a file whose first bytes are ``head`` (``whole``: that is all of it).

    ``declared`` is the ``encoding`` option (a report name from :func:`canonical`). Returns the
    encoding and warnings ``(code, sentence)``; raises :class:`InvalidSegmentFile` when the file
    is not text or cannot be decoded.
    """
    warnings: list[tuple[str, str]] = []
    if head.startswith(_UTF32):
        raise InvalidSegmentFile(
            "unsupported_encoding", "the file is UTF-32 encoded; save it as UTF-8 (CSV UTF-8)"
        )
    for bom, name, codec in _BOMS:
        if head.startswith(bom):
            if declared and declared != name and not name.startswith(declared):
                warnings.append(
                    (
                        "encoding_option_overridden",
                        f"the file starts with a {name.upper()} byte order mark, so it was read "
                        f"as {name}, not as {declared} (metadata encoding)",
                    )
                )
            return TextEncoding(name, "bom", codec), warnings
    if declared:
        if declared == "utf-16":
            declared = _utf16_order(head) or "utf-16-le"  # no BOM: Windows writes little-endian
        codec = "utf-8-sig" if declared == UTF8 else declared
        return TextEncoding(declared, "option", codec), warnings
    if b"\x00" in head:
        order = _utf16_order(head)
        if order is None:
            raise InvalidSegmentFile(
                "binary_file",
                "the file contains binary data, not text (if it is UTF-16 without a byte order "
                "mark, set metadata encoding=utf-16)",
            )
        return TextEncoding(order, "detected", order), warnings
    bad = _first_bad_utf8(head, whole=whole)
    if bad is None:
        return TextEncoding(UTF8, "utf-8", "utf-8-sig", lenient=True), warnings
    detected = _detect(head[:DETECT_BYTES])
    if detected is not None:
        return TextEncoding(detected, "detected", detected), warnings
    line = head[:bad].count(b"\n") + 1
    if not _decodes(head, CP1252):
        raise InvalidSegmentFile(
            "undecodable",
            f"the file is not UTF-8 (line {line}, byte offset {bad} is not) and its encoding "
            "could not be told; save it as UTF-8 (CSV UTF-8) or set metadata encoding "
            "(utf-8, cp1252, latin-1 or utf-16)",
        )
    warnings.append(
        (
            "encoding_assumed",
            f"the file is not UTF-8 (line {line}, byte offset {bad} is not) and its encoding "
            "could not be told for sure; it was read as cp1252, what Windows Excel writes. If "
            "names or addresses with accents look wrong, set metadata encoding",
        )
    )
    return TextEncoding(CP1252, "assumed", CP1252), warnings


def _decodes(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def _first_bad_utf8(head: bytes, *, whole: bool) -> int | None:
    """Offset of the first byte of ``head`` that is not UTF-8 (a cut sequence at the end of a
    partial head is fine), or None."""
    try:
        codecs.getincrementaldecoder(UTF8)("strict").decode(head, final=whole)
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def _utf16_order(head: bytes) -> str | None:
    """``utf-16-le`` / ``-be`` when NUL bytes sit in every other position (text of mostly
    Latin characters), else None."""
    sample = head[: 4096 - 4096 % 2]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    odd_nuls, even_nuls = odd.count(0), even.count(0)
    if odd_nuls >= len(odd) * 0.3 and even_nuls <= len(even) * 0.02:
        return "utf-16-le"
    if even_nuls >= len(even) * 0.3 and odd_nuls <= len(odd) * 0.02:
        return "utf-16-be"
    return None


def _detect(sample: bytes) -> str | None:
    """charset-normalizer's reading of ``sample`` as a Python codec name, or None.

    cp1252 — by far the most common source of such files: Windows Excel in Western Europe and
    the Americas — wins whenever the evidence does not clearly point elsewhere. When cp1252
    reads the sample as letters and ordinary punctuation (:func:`_plausible_cp1252`), another
    code page must also fit a language clearly better (charset-normalizer's coherence), and
    with fewer than ``FEW_BYTES`` bytes outside ASCII nothing else is considered: a few accented
    names fit many code pages (``µA`` is a valid Big5 character). Otherwise cp1252 is kept when
    it reads the sample as cleanly as the best guess (a German export reads the same in cp1250
    and cp1252)."""
    plausible = _plausible_cp1252(sample)
    if plausible and sum(b >= 0x80 for b in sample) < FEW_BYTES:
        return CP1252
    from charset_normalizer import from_bytes  # only non-UTF-8 files pay for the import

    # UTF-16/32 are told by their byte order mark or their NUL bytes, never guessed from text
    matches = list(from_bytes(sample, cp_exclusion=_NOT_GUESSED))
    if not matches:
        return CP1252 if plausible else None
    best = matches[0]
    ours = next((m for m in matches if CP1252 in (m.encoding, *m.could_be_from_charset)), None)
    if ours is best:
        return CP1252
    if plausible:
        clearly_better = best.coherence > (ours.coherence if ours else 0.0) + 0.1
        return codecs.lookup(best.encoding).name if clearly_better else CP1252
    if (
        ours is not None
        and ours.chaos <= best.chaos + 0.01
        and ours.coherence >= best.coherence - 0.05
    ):
        return CP1252
    return codecs.lookup(best.encoding).name


_PUNCTUATION = frozenset("€„“”‘’‚–—…°§µ²³·«»¡¿×÷£¥¢©®™\xa0")


def _plausible_cp1252(sample: bytes) -> bool:
    """True when ``sample`` read as cp1252 has only letters and ordinary punctuation outside
    ASCII (what names and notes in Western European languages have)."""
    try:
        text = sample.decode(CP1252)
    except UnicodeDecodeError:
        return False
    return all(
        ch < "\x80" or ch in _PUNCTUATION or unicodedata.category(ch).startswith("L") for ch in text
    )


# ---------------------------------------------------------------------------- lenient UTF-8

_CP1252_TABLE = [
    bytes([b]).decode(CP1252, "ignore") or chr(b)  # 5 bytes cp1252 leaves undefined: as latin-1
    for b in range(256)
]
_tally = threading.local()


def _read_as_cp1252(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: a byte that is not UTF-8 is read as its cp1252 character."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    counter = getattr(_tally, "counter", None)
    if counter is not None:
        counter[0] += len(bad)
    return "".join(_CP1252_TABLE[b] for b in bad), exc.end


codecs.register_error(FALLBACK_ERRORS, _read_as_cp1252)


@contextmanager
def counting_substitutions() -> Iterator[list[int]]:
    """Count (in ``counter[0]``) the bytes lenient decoding reads as cp1252 in this thread."""
    previous = getattr(_tally, "counter", None)
    counter = [0]
    _tally.counter = counter
    try:
        yield counter
    finally:
        _tally.counter = previous


# ---------------------------------------------------------------------------- strict failures


def locate_undecodable(blocks: Iterable[bytes], encoding: TextEncoding) -> tuple[int, int] | None:
    """``(line, byte)`` of the first byte of ``blocks`` that ``encoding`` cannot decode: line
    counted from 1, byte offset from 0, both relative to the first block. None when all decode."""
    decoder = codecs.getincrementaldecoder(encoding.codec)("strict")
    line, offset = 1, 0
    for block in blocks:
        pending = len(decoder.getstate()[0])
        try:
            text = decoder.decode(block)
        except UnicodeDecodeError as exc:
            valid = exc.object[: exc.start].decode(encoding.name, "replace")
            return line + valid.count("\n"), offset - pending + exc.start
        line += text.count("\n")
        offset += len(block)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return line, offset - len(exc.object) + exc.start
    return None
