"""USPTO full-text documents: ICE XML (grant and application, DTD v4.x) with TIFF drawing sheets.

Works on the bulk-data ZIP as published and on the same ZIP unpacked into a folder. The sheets are the
``D00001..`` images of ``<drawings>``; ``D00000`` (the front-page drawing) and inline images (chemistry,
tables, custom characters) are not sheets.

Design patents (``appl-type="design"``, kind S1) read the same way: one claim ("The ornamental design
for a ..."), a brief description naming every view ("FIG. 1 is a front perspective view ...", or Hague
reproductions "1.1 : Perspective"), no reference signs, and the Locarno class in
``<classification-locarno>``.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree as ET

from PIL import Image

from core.cpc import clean_codes
from core.errors import ReadError
from core.patnum import normalize_number
from core.types import Paragraph, Patent, SheetSource
from ingest import refsigns
from ingest.base import Document, decode_image
from ingest.figures import parse_figure_descriptions

log = logging.getLogger(__name__)

ROOTS = ("us-patent-grant", "us-patent-application")
_ROOT_SNIFF = re.compile(rb"<(us-patent-grant|us-patent-application)[\s>]")
MAX_XML_BYTES = 300_000_000
MAX_IMAGE_FILE_BYTES = 200_000_000
DOC_TYPES = ("utility", "design", "plant", "reissue")


# ------------------------------------------------------------------ containers


def find_ice_xml(folder: Path) -> Path | None:
    """The ICE XML file of an unpacked USPTO folder (root us-patent-grant/application), or None."""
    try:
        candidates = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".xml" and p.is_file())
    except OSError:
        return None
    for p in candidates:
        try:
            with p.open("rb") as f:
                head = f.read(4096)
        except OSError:
            continue
        if _ROOT_SNIFF.search(head):
            return p
    return None


class _ZipImages:
    """Sheet images read from the members of a USPTO ZIP."""

    def __init__(self, zf: zipfile.ZipFile, label: str) -> None:
        self.zf = zf
        self.label = label
        self.by_name = {Path(n).name.upper(): n for n in zf.namelist() if not n.startswith("__MACOSX")}

    def has(self, name: str) -> bool:
        return Path(name).name.upper() in self.by_name

    def image(self, sheet: SheetSource, max_pixels: int) -> Image.Image:
        member = self.by_name.get(Path(sheet.member).name.upper())
        if member is None:
            raise ReadError(f"missing image {sheet.member} in {self.label}")
        info = self.zf.getinfo(member)
        if info.file_size > MAX_IMAGE_FILE_BYTES:
            raise ReadError(f"image too large in {self.label}: {member} is {info.file_size} bytes")
        try:
            data = self.zf.read(member)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise ReadError(f"corrupt ZIP {self.label}: cannot read {member}: {e}") from e
        return decode_image(data, f"{self.label}:{member}", max_pixels)

    def close(self) -> None:
        self.zf.close()


class _FolderImages:
    """Sheet images read from an unpacked USPTO folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.by_name = {p.name.upper(): p for p in folder.iterdir() if p.is_file()}

    def has(self, name: str) -> bool:
        return Path(name).name.upper() in self.by_name

    def image(self, sheet: SheetSource, max_pixels: int) -> Image.Image:
        path = self.by_name.get(Path(sheet.member).name.upper())
        if path is None:
            raise ReadError(f"missing image {sheet.member} in {self.folder}")
        if path.stat().st_size > MAX_IMAGE_FILE_BYTES:
            raise ReadError(f"image too large: {path} is {path.stat().st_size} bytes")
        return decode_image(path.read_bytes(), str(path), max_pixels)

    def close(self) -> None:
        """Nothing stays open for a folder."""


def read_uspto(path: Path, data: bytes | None = None) -> Document:
    """Read a USPTO ZIP or unpacked folder into a Document; a ZIP from `data` when given (`path` then names it)."""
    path = Path(path)
    if data is None and path.is_dir():
        xml_path = find_ice_xml(path)
        if xml_path is None:
            raise ReadError(f"not a patent document: no USPTO ICE XML in folder {path}")
        if xml_path.stat().st_size > MAX_XML_BYTES:
            raise ReadError(f"XML too large: {xml_path}")
        images = _FolderImages(path)
        root = parse_xml(xml_path.read_bytes(), xml_path.name)
        return Document(patent=patent_from_xml(root, str(path), images.has), images=images)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data) if data is not None else path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise ReadError(f"corrupt ZIP {path.name}: {e}") from e
    try:
        members = [
            i for i in zf.infolist() if i.filename.lower().endswith(".xml") and not i.filename.startswith("__MACOSX")
        ]
        if not members:
            raise ReadError(f"not a patent document: no XML file in {path.name}")
        root = None
        for info in members:
            if info.file_size > MAX_XML_BYTES:
                raise ReadError(f"XML too large in {path.name}: {info.filename} is {info.file_size} bytes")
            try:
                data = zf.read(info)
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                raise ReadError(f"corrupt ZIP {path.name}: cannot read {info.filename}: {e}") from e
            if _ROOT_SNIFF.search(data[:4096]) or len(members) == 1:
                root = parse_xml(data, f"{path.name}:{info.filename}")
                break
        if root is None:
            raise ReadError(f"not a patent document: no USPTO ICE XML in {path.name}")
        images = _ZipImages(zf, path.name)
        return Document(patent=patent_from_xml(root, str(path), images.has), images=images)
    except Exception:
        zf.close()
        raise


def parse_xml(data: bytes, name: str) -> ET.Element:
    """Parse ICE XML; refuse entity declarations (entity-expansion bombs) and malformed XML."""
    if b"<!ENTITY" in data[:65536]:
        raise ReadError(f"malformed XML in {name}: entity declarations are not allowed")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise ReadError(f"malformed XML in {name}: {e}") from e
    if root.tag not in ROOTS:
        raise ReadError(f"not a patent document: {name} has root <{root.tag}>, not {' or '.join(ROOTS)}")
    return root


# ------------------------------------------------------------------ text helpers


def _text(e: ET.Element | None, skip: frozenset[str] = frozenset({"tables", "maths", "chemistry"})) -> str:
    """Element text with tags removed and whitespace collapsed; tables, maths and chemistry left out."""
    if e is None:
        return ""
    parts: list[str] = []

    def walk(x: ET.Element) -> None:
        if x.tag in skip:
            parts.append(" ")
        else:
            parts.append(x.text or "")
            for c in x:
                walk(c)
        parts.append(" " if x.tag in ("p", "li", "claim-text", "heading", "br") else "")
        parts.append(x.tail or "")

    parts.append(e.text or "")
    for c in e:
        walk(c)
    text = re.sub(r"\s+", " ", "".join(parts)).strip()
    return re.sub(r"\s+([,.;:])", r"\1", text)


def _int_date(s: str | None) -> int | None:
    s = (s or "").strip()
    if re.fullmatch(r"\d{8}", s) and s[4:6] != "00":
        return int(s)
    return None


def _doc_id(e: ET.Element | None) -> tuple[str, str, str, str]:
    """(country, doc-number, kind, date) of a <document-id>."""
    if e is None:
        return "", "", "", ""
    return tuple(  # type: ignore[return-value]
        (e.findtext(t) or "").strip() for t in ("country", "doc-number", "kind", "date")
    )


def _class_symbol(c: ET.Element) -> str:
    parts = [(c.findtext(t) or "").strip() for t in ("section", "class", "subclass", "main-group", "subgroup")]
    if not all(parts[:4]):
        return ""
    return f"{parts[0]}{parts[1]}{parts[2]}{parts[3]}/{parts[4] or '00'}"


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for i in items:
        k = i.lower()
        if i and k not in seen:
            seen.add(k)
            out.append(i)
    return out


def _name(book: ET.Element | None) -> str:
    if book is None:
        return ""
    org = (book.findtext("orgname") or "").strip()
    if org:
        return org
    first = (book.findtext("first-name") or "").strip()
    last = (book.findtext("last-name") or "").strip()
    return f"{first} {last}".strip()


# ------------------------------------------------------------------ the patent


def patent_from_xml(root: ET.Element, source: str, has_file: Callable[[str], bool] = lambda name: True) -> Patent:
    """Build a Patent from a parsed ICE XML root. ``has_file`` tells which sheet images exist."""
    bib = root.find("us-bibliographic-data-grant")
    if bib is None:
        bib = root.find("us-bibliographic-data-application")
    if bib is None:
        raise ReadError(f"not a patent document: no bibliographic data in {source}")
    country, number, kind, pub = _doc_id(bib.find("publication-reference/document-id"))
    if not number:
        raise ReadError(f"not a patent document: no publication number in {source}")
    number = _clean_number(number)
    appl = bib.find("application-reference")
    appl_type = (appl.get("appl-type") if appl is not None else "") or "utility"
    _, _, _, a_date = _doc_id(appl.find("document-id") if appl is not None else None)
    cpc, ipc = _classes(bib)

    applicants = [_name(a.find("addressbook")) for a in bib.iter("us-applicant")]
    applicants += [_name(a.find("addressbook")) for a in bib.iter("applicant")]
    applicants += [_name(a.find("addressbook")) for a in bib.iter("assignee")]

    description, drawing_paras, ref_paras = _description(root.find("description"))
    sheets = _sheets(root.find("drawings"), has_file)
    claims = [_text(c) for c in root.findall("claims/claim")]
    abstract = "\n".join(_text(p) for p in root.findall("abstract/p")) or _text(root.find("abstract"))

    return Patent(
        patent_id=f"{country or 'US'}{number}",
        office=country or "US",
        number=number,
        kind=kind,
        doc_type=appl_type if appl_type in DOC_TYPES else "utility",
        pub_date=_int_date(pub) or _int_date(root.get("date-publ")),
        filing_date=_int_date(a_date),
        priority_numbers=_priority(bib),
        title=_text(bib.find("invention-title")),
        abstract=abstract,
        claims=[c for c in claims if c],
        description=description,
        cpc=cpc,
        ipc=ipc,
        locarno=_locarno(bib),
        applicants=_unique([a for a in applicants if a]),
        figures=parse_figure_descriptions(drawing_paras, single_figure=len(sheets) == 1),
        refsigns=refsigns.from_tagged_xml(ref_paras),
        sheets=sheets,
        source=source,
        lang=(root.get("lang") or "en").lower(),
    )


def _priority(bib: ET.Element) -> list[str]:
    """The application's own number, claimed priorities, related (parent, provisional) and PCT filings."""
    priority: list[str] = []
    a_country, a_number, _, _ = _doc_id(bib.find("application-reference/document-id"))
    if a_number:
        priority.append(normalize_number(a_country or "US", a_number))
    for pc in bib.findall("priority-claims/priority-claim"):
        pnum = (pc.findtext("doc-number") or "").strip()
        if pnum:
            priority.append(normalize_number(pc.findtext("country") or "", pnum))
    related = bib.find("us-related-documents")
    if related is not None:
        for tag in ("us-provisional-application", "parent-doc", "parent-grant-document"):
            for e in related.iter(tag):
                c, n, _, _ = _doc_id(e.find("document-id"))
                if n:
                    priority.append(normalize_number(c or "US", n))
    c, n, _, _ = _doc_id(bib.find("pct-or-regional-filing-data/document-id"))
    if n:
        priority.append(normalize_number(c or "WO", n))
    return _unique(priority)


def _classes(bib: ET.Element) -> tuple[list[str], list[str]]:
    """CPC (main first) and IPC symbols; the old single main IPC when there are no IPCR entries."""
    cpc = [
        _class_symbol(c)
        for path in (
            "classifications-cpc/main-cpc/classification-cpc",
            "classifications-cpc/further-cpc/classification-cpc",
        )
        for c in bib.findall(path)
    ]
    ipc = [_class_symbol(c) for c in bib.findall("classifications-ipcr/classification-ipcr")]
    if not ipc:
        main_ipc = bib.findtext("classification-ipc/main-classification") or ""
        ipc = [re.sub(r"\s+", "", main_ipc)] if main_ipc.strip() else []
    return clean_codes(c for c in cpc if c), clean_codes(c for c in ipc if c)


def _locarno(bib: ET.Element) -> str:
    """The Locarno class of a design patent as class-subclass: <main-classification>2803 → "28-03"."""
    code = re.sub(r"[\s-]", "", bib.findtext("classification-locarno/main-classification") or "")
    return f"{code[:2]}-{code[2:]}" if re.fullmatch(r"\d{4}", code) else code


def _clean_number(number: str) -> str:
    """'07123456' -> '7123456', 'D0712345' -> 'D712345'; application numbers stay as they are."""
    m = re.fullmatch(r"([A-Z]{0,2})0*(\d+)", number.strip().upper())
    return f"{m.group(1)}{m.group(2)}" if m else number.strip()


_DRAWINGS_HEADING = re.compile(r"DESCRIPTION OF (?:THE )?(?:\w+ )?(?:DRAWINGS?|FIGURES?)|^DRAWINGS?$", re.I)


def _description(
    desc: ET.Element | None,
) -> tuple[list[Paragraph], list[str], list[tuple[str, ET.Element]]]:
    """Description paragraphs (with headings), the brief-description-of-drawings texts, and the <p>s."""
    paragraphs: list[Paragraph] = []
    drawing_texts: list[str] = []
    ref_paras: list[tuple[str, ET.Element]] = []
    if desc is None:
        return paragraphs, drawing_texts, ref_paras
    heading = ""
    heading_is_drawings = False

    def walk(e: ET.Element, in_dod: bool) -> None:
        nonlocal heading, heading_is_drawings
        for child in e:
            if child.tag == "heading":
                heading = _text(child)
                heading_is_drawings = bool(_DRAWINGS_HEADING.search(heading))
            elif child.tag == "p":
                text = _text(child)
                if not text:
                    continue
                pid = child.get("id") or f"p-{len(paragraphs) + 1:04d}"
                paragraphs.append(Paragraph(pid=pid, heading=heading, text=text))
                ref_paras.append((pid, child))
                if in_dod or heading_is_drawings:
                    drawing_texts.append(text)
            elif child.tag == "description-of-drawings":
                walk(child, True)
            elif child.tag not in ("tables", "maths", "chemistry"):
                walk(child, in_dod)

    walk(desc, False)
    return paragraphs, drawing_texts, ref_paras


_SHEET_FILE = re.compile(r"-D(\d{5})\.\w+$", re.I)


def _sheets(drawings: ET.Element | None, has_file: Callable[[str], bool]) -> list[SheetSource]:
    """Drawing sheets D00001.. in order; D00000 and non-drawing images are skipped."""
    if drawings is None:
        return []
    found: list[tuple[int, str, bool]] = []
    for img in drawings.iter("img"):
        name = img.get("file") or ""
        content = (img.get("img-content") or "drawing").lower()
        m = _SHEET_FILE.search(name)
        if content != "drawing" or not m or int(m.group(1)) == 0:
            continue
        if not has_file(name):
            log.warning("sheet image %s is named in the XML but missing; skipped", name)
            continue
        found.append((int(m.group(1)), name, (img.get("orientation") or "").lower() == "landscape"))
    found.sort()
    return [SheetSource(sheet_no=i + 1, member=name, landscape=land) for i, (_, name, land) in enumerate(found)]
