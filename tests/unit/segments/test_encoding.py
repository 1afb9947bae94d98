"""Choosing a file's encoding, reading it in that encoding, refusing formats we do not read.

Files are built the way the tools write them: Python's ``csv`` with the Excel dialect (CRLF) and
the encodings Windows Excel saves ("CSV (Comma delimited)" is cp1252 with ``;`` in German
locales, "CSV UTF-8" has a BOM, "Unicode Text" is UTF-16 LE with a BOM and tabs), openpyxl for
a real XLSX workbook.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiktok_connector.segments.encoding import (
    STRICT_UTF8,
    TextEncoding,
    choose_encoding,
    locate_undecodable,
)
from tiktok_connector.segments.formats import refuse_unsupported
from tiktok_connector.segments.keys import InvalidSegmentFile
from tiktok_connector.segments.planning import sniff_head
from tiktok_connector.segments.reader import open_text

GERMAN_ROWS = [
    ["Kundennummer", "Name", "E-Mail-Adresse", "Telefon"],
    ["1001", "Jürgen Müller", "juergen.mueller@example.de", "030 1234567"],
    ["1002", "Anna Weiß", "anna.weiss@example.de", "+49 30 7654321"],
    ["1003", "Zoë Ärger", "zoe@example.de", ""],
]


def excel_csv(rows: list[list[str]], encoding: str, delimiter: str = ";") -> bytes:
    """What Excel's CSV export writes: CRLF, the given delimiter, the given encoding."""
    out = io.StringIO(newline="")
    csv.writer(out, dialect="excel", delimiter=delimiter).writerows(rows)
    return out.getvalue().encode(encoding)


def test_windows_excel_csv_is_detected_as_cp1252() -> None:
    data = excel_csv(GERMAN_ROWS, "cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # what refused the whole file before
    encoding, notes = choose_encoding(data, declared=None, whole=True)
    assert (encoding.name, encoding.how, encoding.lenient) == ("cp1252", "detected", False)
    assert notes == []
    head = sniff_head(data, filename="kunden.csv", size=len(data))
    assert head.first_line == "Kundennummer;Name;E-Mail-Adresse;Telefon\r\n"
    assert "Jürgen Müller" in head.lines[1]


@pytest.mark.parametrize(
    ("data", "name", "how", "codec"),
    [
        (codecs.BOM_UTF8 + "E-Mail\r\nzoë@x.de\r\n".encode(), "utf-8", "bom", "utf-8-sig"),
        ("E-Mail\tName\r\nz@x.de\tZoë\r\n".encode("utf-16"), "utf-16-le", "bom", "utf-16"),
        (codecs.BOM_UTF16_BE + "E-Mail\n".encode("utf-16-be"), "utf-16-be", "bom", "utf-16"),
        ("E-Mail\r\nz@x.de\r\n".encode("utf-16-le"), "utf-16-le", "detected", "utf-16-le"),
        ("E-Mail\r\nz@x.de\r\n".encode("utf-16-be"), "utf-16-be", "detected", "utf-16-be"),
        (b"email\na@b.co\n", "utf-8", "utf-8", "utf-8-sig"),
        ("E-Mail\nzoë@x.de\n".encode(), "utf-8", "utf-8", "utf-8-sig"),
    ],
)
def test_bom_and_utf_detection(data: bytes, name: str, how: str, codec: str) -> None:
    encoding, _ = choose_encoding(data, declared=None, whole=True)
    assert (encoding.name, encoding.how, encoding.codec) == (name, how, codec)
    assert encoding.single_range == name.startswith("utf-16")


def test_symbol_soup_that_cannot_be_told_is_read_as_cp1252_with_a_warning() -> None:
    data = "Name;Notiz\r\n0;0¢£§…º²˜¢£§…º²˜¢£§…º²˜\r\n".encode("cp1252")
    encoding, notes = choose_encoding(data, declared=None, whole=True)
    assert (encoding.name, encoding.how) == ("cp1252", "assumed")
    assert [code for code, _ in notes] == ["encoding_assumed"]
    assert "line 2, byte offset 15" in notes[0][1]


def test_the_option_decides_when_there_is_no_bom() -> None:
    data = excel_csv(GERMAN_ROWS, "latin-1")
    encoding, _ = choose_encoding(data, declared="latin-1", whole=True)
    assert (encoding.name, encoding.how, encoding.lenient) == ("latin-1", "option", False)
    utf16, _ = choose_encoding("a\n".encode("utf-16-be"), declared="utf-16", whole=True)
    assert utf16.name == "utf-16-be"


def test_a_bom_wins_over_the_option_and_says_so() -> None:
    data = codecs.BOM_UTF8 + b"email\n"
    encoding, notes = choose_encoding(data, declared="cp1252", whole=True)
    assert encoding.name == "utf-8"
    assert [code for code, _ in notes] == ["encoding_option_overridden"]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ("email\n".encode("utf-32"), "unsupported_encoding"),
        (b"email\x00\x00\x00\x01\x02\x03garbage", "binary_file"),
    ],
)
def test_what_is_not_text_is_refused(data: bytes, code: str) -> None:
    with pytest.raises(InvalidSegmentFile) as err:
        choose_encoding(data, declared=None, whole=True)
    assert err.value.code == code


def test_a_declared_encoding_that_does_not_fit_names_the_line_and_byte() -> None:
    data = b"email\r\na@b.co\r\n\xff@x.co\r\n"
    with pytest.raises(InvalidSegmentFile) as err:
        sniff_head(data, filename="a.csv", size=len(data), declared_encoding="utf-8")
    assert err.value.code == "undecodable"
    assert "line 3 (byte offset 15)" in err.value.message


@pytest.mark.parametrize("block", [1, 2, 5, 4096])
def test_locate_undecodable_across_blocks(block: int) -> None:
    data = "email\nzoë@x.de\n".encode() + b"a\n\xe9\n"
    blocks = [data[i : i + block] for i in range(0, len(data), block)]
    assert locate_undecodable(blocks, STRICT_UTF8) == (4, len(data) - 2)
    utf16 = TextEncoding("utf-16-le", "bom", "utf-16")
    bad = "ab\ncd\n".encode("utf-16") + b"\x00\xd8" + "x\n".encode("utf-16-le")  # lone surrogate
    blocks = [bad[i : i + block] for i in range(0, len(bad), block)]
    assert locate_undecodable(blocks, utf16) == (3, 14)
    assert locate_undecodable([b"fine\n"], STRICT_UTF8) is None


# names as people have them (Western European, with their accents)
FIRST = [
    "Jürgen",
    "Anna",
    "Zoë",
    "François",
    "José",
    "Björn",
    "Søren",
    "Chloé",
    "Hélène",
    "Joël",
    "Ines",
    "Mário",
    "Ångel",
    "Núria",
    "Gößl",
    "Ólafur",
    "Renée",
    "Noël",
    "Paul",
]
LAST = [
    "Müller",
    "Weiß",
    "Lefèvre",
    "Muñoz",
    "Ångström",
    "Çelik",
    "Dœuvre",
    "Smith",
    "Brontë",
    "Gonçalves",
    "De Vries",
    "Nuñez",
    "Kühn",
    "Öztürk",
    "García",
    "Élodie",
]
names = st.builds(
    lambda f, last: f"{f} {last}", st.sampled_from(FIRST), st.sampled_from(LAST)
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(names, names), min_size=1, max_size=20),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
    delimiter=st.sampled_from([";", ",", "\t"]),
    block=st.integers(min_value=1, max_value=97),
)
def test_excel_like_files_read_back_exactly(
    rows: list[tuple[str, str]], encoding: str, delimiter: str, block: int
) -> None:
    table = [["Name", "E-Mail"], *[[name, f"p{i}@example.com"] for i, (name, _) in enumerate(rows)]]
    data = excel_csv(table, encoding, delimiter)
    head = sniff_head(data, filename="export.csv", size=len(data))
    if encoding in ("utf-8", "utf-8-sig"):
        assert head.encoding.name == "utf-8"
    elif encoding == "utf-16":
        assert head.encoding.name == "utf-16-le"
    if head.encoding.name not in ("utf-8", "utf-16-le"):  # detected: must read back the same
        assert head.encoding.name == "cp1252"
    blocks = [data[i : i + block] for i in range(0, len(data), block)]
    text = open_text(blocks, compressed=False, encoding=head.encoding)
    assert list(csv.reader(text, delimiter=delimiter)) == table


def _xlsx() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["E-Mail", "Telefon"])
    sheet.append(["a@b.co", "030 1234567"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("emails.csv", "email\na@b.co\n")
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("list.xlsx", _xlsx(), "an Excel workbook (XLSX): save it from Excel as 'CSV UTF-8"),
        ("list.csv", _xlsx(), "an Excel workbook (XLSX)"),  # told by content, not by name
        ("list.zip", _zip(), "a ZIP archive: unpack it"),
        ("l.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "Excel 97-2003 workbook"),
        ("l.parquet", b"PAR1\x15\x04\x15\x10\x15\x14L\x15\x02" + bytes(40), "a Parquet file"),
        ("l.csv.bz2", b"BZh91AY&SY\x00\x01", "a bzip2 archive"),
    ],
)
def test_formats_we_do_not_read_are_named_with_what_to_send(
    name: str, data: bytes, says: str
) -> None:
    with pytest.raises(InvalidSegmentFile) as err:
        sniff_head(data, filename=name, size=len(data))
    assert err.value.code == "unsupported_format"
    assert says in err.value.message


def test_text_that_starts_like_a_magic_number_is_still_text() -> None:
    refuse_unsupported(b"PAR1,email\r\nx,a@b.co\r\n", filename="a.csv")
    refuse_unsupported(b"ORCID;E-Mail\n", filename="a.csv")
