"""The front page's INID-coded fields, and the parsers of what they hold: numbers, dates, classification symbols.

INID codes are the numbers in brackets that label bibliographic fields on every office's front page:
(54) title, (57) abstract, (51) IPC, (22) filing date, (30) priority... Scanned US and WO publications
carry a noisy OCR layer, so every pattern tolerates spacing and OCR slips.
"""

from __future__ import annotations

import re

from ingest.pdf.layout import Line
from ingest.pdf.ocrfix import ocr_digits

Sections = dict[str, list[list[Line]]]  # INID code → the sections it starts, each a list of lines

INID = re.compile(r"(?:^|(?<=\s))\((\d{2})\)|^\(\*\)")
CYRILLIC_LOOKALIKES = str.maketrans("АВСЕНКМОРТХУаеорсухІ", "ABCEHKMOPTXYaeopcyxI")
_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            "jan january janvier januar января",
            "feb february fevrier februar февраля",
            "mar march mars marz марта",
            "apr april avril апреля",
            "may mai мая",
            "jun june juin juni июня",
            "jul july juillet juli июля",
            "aug august aout августа",
            "sep sept september septembre сентября",
            "oct october octobre oktober октября",
            "nov november novembre ноября",
            "dec december decembre dezember декабря",
        ]
    )
    for m in names.split()
}


def inid_sections(lines: list[Line]) -> Sections:
    """Front-page lines grouped by the INID code that starts them: {'54': [[lines...]], ...}."""
    out: Sections = {}
    cur: list[Line] | None = None
    for ln in lines:
        m = INID.search(ln.text)
        if m and m.start() < 4:
            code = m.group(1) or "*"
            rest = ln.text[m.end() :].strip()
            cur = [Line(rest, ln.x0, ln.x1, ln.top, ln.bottom, ln.col_x0, ln.col_x1)]
            out.setdefault(code, []).append(cur)
            # a second INID code later on the same line (jumbled columns) starts its own section
            m2 = INID.search(rest, 2)
            if m2 and m2.group(1):
                cur[0].text = rest[: m2.start()].strip()
                cur = [Line(rest[m2.end() :].strip(), ln.x0, ln.x1, ln.top, ln.bottom, ln.col_x0, ln.col_x1)]
                out.setdefault(m2.group(1), []).append(cur)
        elif cur is not None:
            cur.append(ln)
    return out


def joined(sec: list[Line] | None) -> str:
    """The text of one section's lines, joined by spaces."""
    return " ".join(ln.text for ln in sec or []).strip()


def section_text(sections: Sections, *codes: str) -> str:
    """The text of every section under these codes, in the order of the codes."""
    return " ".join(joined(s) for code in codes for s in sections.get(code, []))


# ------------------------------------------------------------------ dates


def parse_date(text: str) -> int | None:
    """The first date in text as yyyymmdd: '21.09.2005', 'Sep. 15, 2016', '21 November 2013'."""
    m = re.search(r"\b(\d{1,2})\.\s?(\d{1,2})\.\s?((?:19|20)\d\d)\b", text)
    if m:
        return _ymd(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    m = re.search(r"\b([A-Za-zА-Яа-я]{3,9})\.?\s*(\d{1,2})\s*,\s*((?:19|20)\d\d)\b", text)
    if m and m.group(1).lower() in _MONTHS:
        return _ymd(int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2)))
    m = re.search(r"\b(\d{1,2})\s+([A-Za-zА-Яа-я]{3,9})\.?\s+((?:19|20)\d\d)\b", text)
    if m and m.group(2).lower() in _MONTHS:
        return _ymd(int(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1)))
    return None


def date_after(text: str, label: str) -> int | None:
    """The first date within 150 characters after a label such as 'Publication Date'."""
    for m in re.finditer(label, text, re.I):
        d = parse_date(text[m.end() : m.end() + 150])
        if d:
            return d
    return None


def _ymd(y: int, m: int, d: int) -> int | None:
    return y * 10000 + m * 100 + d if 1 <= m <= 12 and 1 <= d <= 31 else None


# ------------------------------------------------------------------ publication number

_PUB_PATTERNS = [
    ("EP", re.compile(r"\bEP\s*(\d)\s*(\d{3})\s*(\d{3})\s*([AB])\s*(\d)")),
    ("WO", re.compile(r"\bW\s?O\s*((?:19|20)\d\d)\s*/\s*([0-9OIl ]{6,8})\s*([AB])\s*([0-9lI]?)")),
    ("US", re.compile(r"\bUS\s*((?:19|20)\d\d)\s*/\s*(\d{7})\s*(A\d)")),
    ("US", re.compile(r"\bUS\s*(\d{1,2}),\s*(\d{3}),\s*(\d{3})\s*(B\d|E|S|P\d)\b")),
    ("US", re.compile(r"\bUS\s*0*(\d{7,11})\s*([AB]\d)\b")),
]
_FILENAME = re.compile(r"^([A-Z]{2})(\d{4,12})([A-Z]\d?)?$")


def _number_and_kind(office: str, g: tuple[str, ...]) -> tuple[str, str, str]:
    """(office, number, kind) from the groups of the publication pattern that matched."""
    if office == "EP":
        return "EP", "".join(g[:3]), g[3] + g[4]
    if office == "WO":
        return "WO", g[0] + re.sub(r"\s", "", ocr_digits(g[1]))[-6:], g[2] + ocr_digits(g[3] or "")
    if len(g) == 3:
        return "US", g[0] + g[1], g[2]
    if len(g) == 4:
        return "US", g[0] + g[1] + g[2], g[3]
    return "US", g[0], g[1]


def publication(front_text: str, sections: Sections, stem: str) -> tuple[str, str, str]:
    """(office, number, kind) from the front page, the filename as fallback."""
    text = front_text.translate(CYRILLIC_LOOKALIKES)
    preferred = section_text(sections, "11", "10")
    for scope in (preferred.translate(CYRILLIC_LOOKALIKES), text):
        for office, rx in _PUB_PATTERNS:
            m = rx.search(scope)
            if m:
                return _number_and_kind(office, m.groups())
    m = _FILENAME.match(stem.upper())
    if m:
        return m.group(1), m.group(2), m.group(3) or ""
    return "", "", ""


# ------------------------------------------------------------------ classification

_CLASS = re.compile(r"\b([A-H])\s?([0-9OIl]{2})\s?([A-Z])\s?([0-9OIl]{1,4})\s?/\s?([0-9OIl]{1,6})\b")


def classification_codes(text: str) -> list[str]:
    """IPC/CPC symbols in OCR text: 'GOIR 33 / 48' -> 'G01R33/48'."""
    out: list[str] = []
    for m in _CLASS.finditer(text):
        sec, cls, sub, grp, sg = m.groups()
        if re.fullmatch(r"\d{4}", grp + sg[:0]) and grp.startswith(("19", "20")) and len(sg) == 2:
            continue  # a version stamp like (2006.01) is not a symbol
        code = f"{sec}{ocr_digits(cls)}{sub}{ocr_digits(grp).lstrip('0') or '0'}/{ocr_digits(sg)}"
        if code not in out:
            out.append(code)
    return out
