"""Document readers on the real sample documents (USPTO ZIPs and US/EP/WO PDFs), and on broken inputs."""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
import struct
import zipfile
import zlib
from functools import cache
from pathlib import Path

import pytest
from PIL import Image

from core.errors import ReadError
from core.types import Patent
from core.vocab import KINDS, VIEWS
from ingest.base import Document, decode_image
from ingest.discover import discover
from ingest.read import read_document


def _data_dir() -> Path:
    env = os.environ.get("PATFIG_SAMPLE_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared/data/patents"


DATA = _data_dir()
USPTO = sorted((DATA / "uspto").glob("*.ZIP")) if DATA.exists() else []
PDFS = sorted((DATA / "pdf").glob("*.pdf")) if DATA.exists() else []
needs_data = pytest.mark.skipif(not DATA.exists(), reason=f"sample data missing: {DATA}")


@cache
def patent(name: str) -> Patent:
    """Read a sample document once per test session (by file name) and keep its Patent."""
    folder = "uspto" if name.upper().endswith(".ZIP") else "pdf"
    path = DATA / folder / name
    if not path.exists():
        pytest.skip(f"sample document missing: {path}")
    with read_document(path) as doc:
        return doc.patent


def by_name(name: str) -> Path:
    return next(p for p in USPTO + PDFS if p.name == name)


# ------------------------------------------------------------------ every sample document


@needs_data
@pytest.mark.parametrize("path", USPTO + PDFS, ids=lambda p: p.stem)
def test_every_sample_document_reads(path: Path):
    p = patent(path.name)
    assert p.patent_id == p.office + p.number
    assert p.office in ("US", "EP", "WO")
    assert p.kind and p.title and p.source == str(path)
    assert len(p.sheets) >= 1
    assert [s.sheet_no for s in p.sheets] == list(range(1, len(p.sheets) + 1))
    assert p.figures, "every sample document has a brief description of its drawings"
    assert all(f.view in VIEWS and f.kind in KINDS for f in p.figures)
    assert p.claims and p.description
    assert p.pub_date is None or 19000101 < p.pub_date < 21000101
    for num, sign in p.refsigns.items():
        assert sign.numeral == num and sign.paragraphs


def test_the_sample_set_is_there():
    if not DATA.exists():
        pytest.skip(f"sample data missing: {DATA}")
    assert len(USPTO) == 9 and len(PDFS) == 33


# ------------------------------------------------------------------ USPTO ICE XML


@needs_data
def test_uspto_grant_us12448135():
    p = patent("US12448135-20251021.ZIP")
    assert (p.patent_id, p.office, p.number, p.kind, p.doc_type) == ("US12448135", "US", "12448135", "B2", "utility")
    assert p.title == "Hydrogen-solar integrated energy system and method for aircraft"
    assert (p.pub_date, p.filing_date) == (20251021, 20241104)
    assert p.priority_numbers == ["US18936958", "US63547158"]
    assert p.cpc[0] == "B64D27/353" and "H01M2250/20" in p.cpc
    assert p.ipc[:2] == ["B64D27/353", "B64C29/00"]
    assert p.applicants == ["Eric Gavizon", "HELIOS Aeronautics, Inc."]
    assert len(p.claims) == 26 and p.claims[0].startswith("1. A propulsion system for aerospace applications")
    assert p.abstract.startswith("This patent discloses a powerplant for an aerial vehicle")
    assert p.description[0].pid == "p-0002" and p.description[0].heading == "CLAIM OF PRIORITY"
    # five landscape sheets D00001..D00005; D00000 (front page) is not a sheet
    assert [s.member for s in p.sheets] == [f"US12448135-20251021-D0000{i}.TIF" for i in range(1, 6)]
    assert all(s.landscape for s in p.sheets)
    assert [f.fig for f in p.figures] == ["1A", "1B", "1C", "2", "3", "4A", "4B", "4C"]
    assert p.figure("1a").text.startswith("FIG. 1A is a top view of an unmanned aerial vehicle")
    assert (p.figure("1A").view, p.figure("1B").view, p.figure("1C").view) == ("top", "perspective", "front")
    assert p.figure("3").kind == "block diagram"
    assert len(p.refsigns) == 62  # every <b> numeral outside <figref> in the description
    assert p.refsigns["104"].label == "permanent magnet synchronous motors"
    assert p.refsigns["101"].label == "UAV"
    assert "p-0034" in p.refsigns["104"].paragraphs
    assert any("coaxial rotor configuration" in s for s in p.refsigns["104"].sentences)
    assert len(p.refsigns["104"].sentences) <= 8


@needs_data
def test_uspto_application_us20250250937():
    p = patent("US20250250937A1-20250807.ZIP")
    assert (p.patent_id, p.kind, p.pub_date, p.filing_date) == ("US20250250937", "A1", 20250807, 20240201)
    assert p.title.startswith("COOLING FLUID CONTROL SYSTEM AND METHODS OF OPERATING")
    assert p.applicants == ["General Electric Company"]
    assert p.cpc[:2] == ["F02C7/16", "F02C9/28"]
    assert len(p.claims) == 20 and len(p.sheets) == 8
    assert [s.landscape for s in p.sheets] == [True, False, True, False, False, True, True, True]
    assert (p.figure("1").view, p.figure("2").view) == ("sectional", "schematic")
    assert (p.figure("7").kind, p.figure("8").kind) == ("flowchart", "flowchart")
    assert len(p.refsigns) == 125


@needs_data
def test_uspto_fig_lists_and_pct_priority_us12448749():
    p = patent("US12448749-20251021.ZIP")
    assert p.title == "Anchor assembly" and len(p.claims) == 19 and len(p.sheets) == 12
    assert [f.fig for f in p.figures] == [
        "1A", "1B", "2", "3A", "3B", "3C", "3D", "4", "5A", "5B", "6", "7", "8A", "8B", "8C", "9"
    ]  # fmt: skip
    assert p.figure("2").view == "top"  # "... seen from above"
    assert p.priority_numbers == ["US18245216", "NO20201005", "PCTNO2021050186"]
    assert len(p.refsigns) == 44


@needs_data
def test_uspto_chemistry_and_single_figure():
    chem = patent("US12448385-20251021.ZIP")
    assert len(chem.sheets) == 1 and chem.refsigns == {}  # 300 chemistry images and 2 characters are not sheets
    assert chem.figure("1").kind == "graph"  # "In vivo dose response ..."
    assert chem.priority_numbers == ["US18500155", "US63199160", "US17457249", "US11866405"]
    oled = patent("US12448402-20251021.ZIP")
    (only,) = oled.figures  # "... FIGURE which shows a schematic cross-sectional view ..."
    assert only.fig == "1" and only.view == "sectional"
    assert oled.priority_numbers == ["US17509361", "KR1020200139747"]
    assert patent("US12448730-20251021.ZIP").figure("1").kind == "flowchart"  # "... process steps ..."
    primes = patent("US12448895-20251021.ZIP").refsigns
    assert primes["2'"].label == "shroud" and primes["2"].label == "shroud"


@needs_data
def test_uspto_folder_reads_like_the_zip(tmp_path: Path):
    with zipfile.ZipFile(by_name("US12448135-20251021.ZIP")) as zf:
        zf.extractall(tmp_path)
    folder = tmp_path / "US12448135-20251021"
    with read_document(folder) as doc:
        assert doc.patent.model_dump(exclude={"source"}) == patent("US12448135-20251021.ZIP").model_dump(
            exclude={"source"}
        )
        img = doc.sheet_image(doc.patent.sheets[0], 120_000_000)
    assert img.mode == "L" and img.size == (1677, 2818)


@needs_data
def test_uspto_sheet_image_is_grayscale_full_size():
    with read_document(by_name("US12448249-20251021.ZIP")) as doc:
        img = doc.sheet_image(doc.patent.sheets[2], 120_000_000)
        assert img.mode == "L" and img.size[0] > 500 and img.size[1] > 1500
        assert set(img.getextrema()) <= {0, 255}  # bilevel TIFF scans


# ------------------------------------------------------------------ PDFs


@needs_data
def test_pdf_ep_a1_ep1577413():
    p = patent("EP1577413A1.pdf")
    assert (p.patent_id, p.kind, p.pub_date, p.filing_date) == ("EP1577413", "A1", 20050921, 20031218)
    assert p.title == "Fe-Cr-Si NON-ORIENTED ELECTROMAGNETIC STEEL SHEET AND PROCESS FOR PRODUCING THE SAME"
    assert p.applicants == ["JFE Steel Corporation"]
    assert p.priority_numbers == ["EP03789608", "PCTJP2003016229", "JP2002371942"]
    assert p.ipc == ["C22C38/00", "C22C38/34", "C22C38/60", "C21D9/46", "H01F1/16"] == p.cpc
    assert p.abstract.startswith("An Fe-Cr-Si based non-oriented electrical steel sheet contains 2.5%")
    assert len(p.claims) == 10 and p.claims[9].startswith("10. ")
    # drawings are pages 22-26; the scanned international search report after them is not
    assert [s.member for s in p.sheets] == ["page:21", "page:22", "page:23", "page:24", "page:25"]
    assert p.figure("2").kind == "graph" and p.figure("3A").view == "sectional"


@needs_data
def test_pdf_ep_b1_ep2537954():
    p = patent("EP2537954A1.pdf")  # the file name says A1, the document is the B1 specification
    assert (p.patent_id, p.kind, p.pub_date) == ("EP2537954", "B1", 20171101)
    assert p.title == "HOT-DIPPED STEEL MATERIAL AND METHOD FOR PRODUCING SAME"  # not the DE/FR titles
    assert p.applicants == [
        "Nippon Steel & Sumikin Coated Sheet Corporation",
        "Nippon Steel & Sumitomo Metal Corporation",
    ]
    assert len(p.claims) == 12  # English claims only, not the German and French ones
    assert len(p.sheets) == 6 and p.figure("1").view == "schematic"
    assert p.refsigns["4"].label == "heating furnace" and p.refsigns["12"].label == "winder"


@needs_data
def test_pdf_ep_fig_lists_ep3023867_and_family():
    p = patent("EP3023867A2.pdf")
    assert (p.kind, p.pub_date, len(p.figures), len(p.sheets)) == ("A2", 20160525, 19, 6)
    assert p.figure("1").kind == "flowchart"  # "Fig. 1. An overall scheme (flow chart) ..."
    assert p.refsigns["22"].label == "enforcement ribs"
    # the same invention filed as PCT/EA2014/000017 with Eurasian priority 201301064: one family
    us = patent("US20160266645A1.pdf")
    wo = patent("WO2015007296A2.pdf")
    assert "PCTEA2014000017" in set(p.priority_numbers) & set(us.priority_numbers)
    assert "EA201301064" in set(p.priority_numbers) & set(patent("US20190196595A1.pdf").priority_numbers)
    assert wo.lang == "ru" and wo.figure("12").view == "rear"  # "Фиг. 12 ... вид сзади"
    assert "PCTEA2014000017" in wo.priority_numbers  # its own number, OCR'd as "РСТ/ЕА 2 0 14/0000 17"


@needs_data
def test_pdf_us_application_us20180244195():
    p = patent("US20180244195A1.pdf")
    assert (p.patent_id, p.kind, p.pub_date, p.filing_date) == ("US20180244195", "A1", 20180830, 20180214)
    assert p.title == "VEHICLE TECHNOLOGIES FOR AUTOMATED TURN SIGNALING"
    assert p.applicants == ["Tesla, Inc"]
    assert p.priority_numbers == ["US15896581", "US62463383"]
    assert p.cpc[0] == "B60Q1/346"
    assert len(p.claims) == 20 and len(p.sheets) == 12  # pages marked "Sheet n of 12"
    assert [s.member for s in p.sheets[:2]] == ["page:1", "page:2"]
    assert (p.figure("3A").text, p.figure("1").view) == (p.figure("3B").text, "schematic")
    assert p.refsigns["104"].label == "processor" and p.refsigns["112a"].label == "narrow forward camera"


@needs_data
def test_pdf_us_grant_us9958521():
    p = patent("US9958521B2.pdf")
    assert (p.patent_id, p.kind, p.pub_date, p.filing_date) == ("US9958521", "B2", 20180501, 20160403)
    assert p.title == "FIELD-INVARIANT QUANTITATIVE MAGNETIC-RESONANCE SIGNATURES"
    assert p.applicants == ["Tesla Health, Inc", "Q Bio, Inc"]
    assert p.cpc[:2] == ["G01R33/48", "G01N24/08"]
    assert len(p.claims) == 20 and p.claims[0].startswith("1. A system to determine an invariant")
    assert len(p.sheets) == 13 and p.sheets[0].member == "page:2"  # page 1 continues the front page
    assert p.figure("1").kind == "block diagram"
    assert p.refsigns["110"].label == "MR scanner"


@needs_data
def test_pdf_wo_wo2018156695():
    p = patent("WO2018156695A1.pdf")
    assert (p.patent_id, p.kind, p.pub_date, p.filing_date) == ("WO2018156695", "A1", 20180830, 20180222)
    assert p.title == "VEHICLE TECHNOLOGIES FOR AUTOMATED TURN SIGNALING"
    assert p.applicants == ["TESLA, INC"]
    # its own number OCR'd as "PCT/US201 8/019 122", then its priorities: the family of US20180244195
    assert p.priority_numbers == ["PCTUS2018019122", "US62463383", "US15896581"]
    assert set(p.priority_numbers) & set(patent("US20180244195A1.pdf").priority_numbers)
    assert p.ipc == ["B60Q1/34", "G01S13/93", "G01S13/86"]
    # 13 drawing pages (OCR has no text on them) before the search report pages
    assert [s.member for s in p.sheets] == [f"page:{i}" for i in range(35, 48)]
    assert len(p.figures) == 20 and p.figure("5B").view == "schematic"


@needs_data
def test_pdf_wo_with_us_priority_wo2013173195():
    p = patent("WO2013173195A1.pdf")
    assert (p.patent_id, p.pub_date, p.filing_date) == ("WO2013173195", 20131121, 20130510)
    assert p.title == "CHARGE RATE OPTIMIZATION"
    assert p.applicants == ["TESLA MOTORS, INC"]
    assert p.priority_numbers == ["PCTUS2013040659", "US13475396"]
    # EP3358703 (a divisional) cites the same US priority, written "US 201213475396" in EP style
    assert "US13475396" in patent("EP3358703A1.pdf").priority_numbers
    assert [s.member for s in p.sheets] == ["page:18", "page:19"]
    assert p.figure("2").kind == "flowchart"


@needs_data
def test_pdf_sheet_image_renders_at_200_dpi():
    with read_document(by_name("EP2679695A1.pdf")) as doc:
        sheet = doc.patent.sheets[0]
        img = doc.sheet_image(sheet, 120_000_000)
        assert img.mode == "L" and img.size == (1654, 2339)  # A4 at 200 dpi
        with pytest.raises(ReadError, match="too large"):
            doc.sheet_image(sheet, 1_000_000)


# ------------------------------------------------------------------ bad inputs


def test_corrupt_zip(tmp_path: Path):
    bad = tmp_path / "US1234567-20250101.ZIP"
    bad.write_bytes(random.Random(7).randbytes(4096))
    with pytest.raises(ReadError, match="corrupt ZIP"):
        read_document(bad)


@needs_data
def test_malformed_xml(tmp_path: Path):
    src = by_name("US12448135-20251021.ZIP")
    bad = tmp_path / src.name
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, data[:5000] if info.filename.endswith(".XML") else data)
    with pytest.raises(ReadError, match="malformed XML in"):
        read_document(bad)


def test_unknown_file_types_and_missing_paths(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ReadError, match="not a patent document"):
        read_document(tmp_path / "notes.txt")
    with pytest.raises(ReadError, match="not a patent document: no USPTO ICE XML"):
        read_document(tmp_path)
    with pytest.raises(ReadError, match="no such file"):
        read_document(tmp_path / "missing.pdf")


def _pdf(objects: list[bytes], trailer_extra: bytes = b"") -> bytes:
    """A small valid PDF from numbered object bodies (1-based)."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer_extra, xref)
    return bytes(out)


def _rc4(key: bytes, data: bytes) -> bytes:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    i = j = 0
    out = bytearray()
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _page_objects(text: bytes) -> list[bytes]:
    content = b"BT /F1 12 Tf 20 100 Td (" + text + b") Tj ET"
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]


def test_non_patent_pdf(tmp_path: Path):
    path = tmp_path / "letter.pdf"
    path.write_bytes(_pdf(_page_objects(b"Dear reader, this is a letter and not a patent.")))
    with pytest.raises(ReadError, match="not a patent document: no publication number"):
        read_document(path)


def test_encrypted_pdf(tmp_path: Path):
    """RC4 40-bit standard security handler (revision 2) with a user password, written by hand."""
    user, owner, perms, file_id = b"secret", b"owner", -44, hashlib.md5(b"patfig").digest()
    o_key = hashlib.md5((owner + _PAD)[:32]).digest()[:5]
    o_entry = _rc4(o_key, (user + _PAD)[:32])
    key = hashlib.md5((user + _PAD)[:32] + o_entry + struct.pack("<i", perms) + file_id).digest()[:5]
    u_entry = _rc4(key, _PAD)
    objects = _page_objects(b"Confidential patent draft")
    obj_key = hashlib.md5(key + struct.pack("<i", 4)[:3] + b"\0\0").digest()[:10]
    content = _rc4(obj_key, b"BT /F1 12 Tf 20 100 Td (Confidential patent draft) Tj ET")
    objects[3] = b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"
    objects.append(
        b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>"
        % (o_entry.hex().encode(), u_entry.hex().encode(), perms)
    )
    path = tmp_path / "EP1234567A1.pdf"
    path.write_bytes(
        _pdf(objects, b"/Encrypt 6 0 R /ID [<%s> <%s>] " % (file_id.hex().encode(), file_id.hex().encode()))
    )
    with pytest.raises(ReadError, match="encrypted PDF"):
        read_document(path)


def test_corrupt_pdf(tmp_path: Path):
    path = tmp_path / "US1234567B2.pdf"
    path.write_bytes(b"%PDF-1.4\n" + random.Random(3).randbytes(2000))
    with pytest.raises(ReadError, match="corrupt PDF"):
        read_document(path)


def _png_with_size(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header claims width x height pixels."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = data[12:29]
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(data)


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(ReadError, match="too large"):
        decode_image(_png_with_size(100_000, 100_000), "bomb.png", 120_000_000)  # 10 gigapixels
    with pytest.raises(ReadError, match="too large"):
        decode_image(_png_with_size(5_000, 5_000), "big.png", 10_000_000)  # under PIL's own limit
    with pytest.raises(ReadError, match="unreadable image"):
        decode_image(b"II*\x00garbage", "broken.tif", 10_000_000)


@needs_data
def test_decompression_bomb_tiff_sheet(tmp_path: Path):
    """A group-4 TIFF sheet of 8000 x 8000 pixels: refused when the limit is lower, read when it is not."""
    src = by_name("US12448895-20251021.ZIP")
    buf = io.BytesIO()
    Image.new("1", (8000, 8000), 1).save(buf, "TIFF", compression="group4")
    bomb = tmp_path / src.name
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(bomb, "w") as zout:
        for info in zin.infolist():
            big = info.filename.endswith("-D00001.TIF")
            zout.writestr(info, buf.getvalue() if big else zin.read(info))
    with read_document(bomb) as doc:
        assert isinstance(doc, Document)
        with pytest.raises(ReadError, match="too large"):
            doc.sheet_image(doc.patent.sheets[0], 10_000_000)
        assert doc.sheet_image(doc.patent.sheets[1], 10_000_000).mode == "L"


# ------------------------------------------------------------------ discover


def test_discover_files_folders_globs_and_problems(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    other = tmp_path / "other"
    other.mkdir()
    (other / "readme.txt").write_text("x")
    docs = tmp_path / "docs" / "nested"
    docs.mkdir(parents=True)
    (docs / "A.pdf").write_bytes(b"%PDF-1.4")
    (docs / "B.ZIP").write_bytes(b"PK")
    uspto = tmp_path / "docs" / "US1-20250101"
    uspto.mkdir()
    (uspto / "US1-20250101.XML").write_text('<?xml version="1.0"?>\n<us-patent-grant lang="EN"></us-patent-grant>')
    (uspto / "inner.pdf").write_bytes(b"%PDF-1.4")  # inside a USPTO folder: part of that document
    paths, problems = discover(
        [str(empty), str(other), str(tmp_path / "docs"), str(tmp_path / "missing.zip"), str(tmp_path / "no*.pdf")]
    )
    assert paths == sorted([(docs / "A.pdf").resolve(), (docs / "B.ZIP").resolve(), uspto.resolve()])
    assert problems == [
        f"no patent documents found in {empty} (empty folder)",
        f"no patent documents found in {other} (1 files, none a .zip, .pdf or USPTO XML)",
        f"no such file: {tmp_path / 'missing.zip'}",
        f"no files match {tmp_path / 'no*.pdf'}",
    ]
    glob_paths, glob_problems = discover([str(tmp_path / "docs" / "nest*" / "*.pdf")])
    assert glob_paths == [(docs / "A.pdf").resolve()] and glob_problems == []


@needs_data
def test_discover_sample_folder():
    paths, problems = discover([str(DATA)])
    # 33 PDFs, 9 USPTO ZIPs and 40 unpacked design-patent folders (see the sample data's README)
    assert problems == [] and len(paths) == 82
    assert paths[0].name == "EP1577413A1.pdf"
    assert sum(p.is_dir() and p.name.startswith("USD") for p in paths) == 40


def test_folder_copy_keeps_working(tmp_path: Path):
    if not USPTO:
        pytest.skip("sample data missing")
    shutil.copy(by_name("US12448527-20251021.ZIP"), tmp_path)
    paths, problems = discover([str(tmp_path)])
    assert [p.name for p in paths] == ["US12448527-20251021.ZIP"] and problems == []
    with read_document(paths[0]) as doc:
        assert doc.patent.title == "Microbicidal coatings with color change"
        assert [f.view for f in doc.patent.figures] == ["perspective"] * 4
