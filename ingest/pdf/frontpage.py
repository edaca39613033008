"""The bibliographic front page of a publication PDF: title, abstract, dates, classes, applicants, priorities.

Every field is read from its INID-coded section (:mod:`ingest.pdf.inid`), with fallbacks for front pages
whose OCR lost a code: the abstract above "N Claims, M Drawing Sheets", a date after "Filing Date".
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

from core.cpc import clean_codes
from core.patnum import normalize_number
from ingest.pdf.inid import (
    CYRILLIC_LOOKALIKES,
    INID,
    Sections,
    classification_codes,
    date_after,
    joined,
    parse_date,
    section_text,
)
from ingest.pdf.layout import Line, geom, join_lines
from ingest.pdf.ocrfix import ocr_digits


@dataclass
class FrontPage:
    """The fields of a front page, as they go into a :class:`~core.types.Patent`."""

    title: str
    abstract: str
    pub_date: int | None
    filing_date: int | None
    priority_numbers: list[str]
    cpc: list[str]
    ipc: list[str]
    applicants: list[str]


def front_page(sections: Sections, office: str, kind: str, front_text: str, first_lines: list[Line]) -> FrontPage:
    """The front-page fields from the INID sections of every front page, their text and the first page's lines."""
    ipc_read = classification_codes(section_text(sections, "51"))
    cpc_text = section_text(sections, "52")
    cpc_read = classification_codes(cpc_text[cpc_text.find("CPC") :] if "CPC" in cpc_text else "")
    ipc = clean_codes(ipc_read, context=cpc_read)  # a garbled text layer gives "B00R" for B60R: repair or drop
    pub_date, filing = _dates(sections, office, kind, front_text)
    return FrontPage(
        title=_title(sections, office),
        abstract=_abstract(sections) or _abstract_without_code(first_lines),
        pub_date=pub_date,
        filing_date=filing,
        priority_numbers=_priority(sections, office),
        cpc=clean_codes(cpc_read, context=ipc_read) or ipc,
        ipc=ipc,
        applicants=list(dict.fromkeys(a for a in _applicants(sections, office) if a)),
    )


def _dates(sections: Sections, office: str, kind: str, front_text: str) -> tuple[int | None, int | None]:
    """(publication date, filing date) as yyyymmdd."""
    pub_code = "45" if kind.startswith("B") and office != "WO" else "43"
    pub_date = parse_date(section_text(sections, pub_code))
    if pub_date is None:
        pub_date = parse_date(section_text(sections, "43", "45", "10", "11"))
    if pub_date is None:
        pub_date = date_after(front_text, r"Publication Date|Date of publication|Pub\. Date|Date of Patent")
    filing = parse_date(section_text(sections, "22"))
    if filing is None:
        filing = date_after(front_text, r"Filing Date|Date of filing|Filed:")
    return pub_date, filing


# ------------------------------------------------------------------ applicants

_COMPANY = re.compile(
    r"^(?:Inc|LLC|L\.L\.C|Ltd|Limited|Corp|Corporation|Co|GmbH|AG|SA|S\.A|SE|NV|N\.V|BV|B\.V|KG|"
    r"PLC|AB|Oy|A/S|ApS|S\.p\.A|SpA|LP|L\.P|KK|K\.K)\b\.?",
    re.I,
)


def _applicants(sections: Sections, office: str) -> list[str]:
    """Applicant and assignee names from (71) and (73), read the way the office prints them."""
    if office == "WO":
        return _names(section_text(sections, "71"), "WO")
    if office == "EP":
        return [n for code in ("71", "73") for s in sections.get(code, []) for n in _ep_names(s)]
    return [n for code in ("71", "73") for s in sections.get(code, []) for n in _names(joined(s), "US")]


def _wo_names(text: str) -> list[str]:
    """WO (71): 'NAME [US/US]; Address...' entries."""
    names: list[str] = []
    for m in re.finditer(r"([^;\[\]]+?)\s*\[\s*[A-Z]{2}\s*/\s*[A-Z]{2}\s*\]", text.translate(CYRILLIC_LOOKALIKES)):
        name = re.split(r"\([A-Z]{2}\)\.?\s*", m.group(1))[-1]
        name = re.sub(r"^(?:Applicants?|and|;)\s*:?\s*", "", name.strip(" .;:,"), flags=re.I)
        if name:
            names.append(name)
    return names


def _names(text: str, style: str) -> list[str]:
    """Applicant/assignee names from an INID (71)/(73) text."""
    text = re.sub(
        r"^(?:Applicants?|Assignees?|Proprietors?|Inventors?|Заявител\w*)\s*(?:\([^)]*\))?\s*[:;]?\s*",
        "",
        text.strip(),
        flags=re.I,
    )
    if style == "WO":
        return _wo_names(text)
    names: list[str] = []
    for chunk in re.split(r"\(\s*[A-Z]{2}\s*\)\s*[;:,.]?", text):
        parts = [p.strip() for p in chunk.split(",") if p.strip()]
        if not parts:
            continue
        name = parts[0]
        if len(parts) > 1 and _COMPANY.match(parts[1]):
            name = f"{name}, {parts[1]}"
        name = name.strip(" .;:•")
        if len(name) > 2 and not re.search(r"\d", name):
            names.append(name)
    return names


def _ep_names(sec: list[Line]) -> list[str]:
    """EP (71)/(73): bullet-separated entries of name lines followed by address lines."""
    entries: list[list[str]] = [[]]
    for ln in sec:
        t = ln.text.strip()
        if not t:
            continue
        if t.startswith("•") or t.startswith("·"):
            entries.append([t.lstrip("•· ")])
        else:
            entries[-1].append(t)
    names = []
    for e in entries:
        lines = [re.sub(r"^(?:Applicants?|Proprietors?)\s*:\s*", "", x) for x in e]
        name_lines: list[str] = []
        for x in lines:
            if not x:
                continue
            if re.search(r"\d|\([A-Z]{2}\)|c/o", x) and name_lines:
                break
            name_lines.append(x)
        name = " ".join(name_lines).strip(" ,")
        name = re.split(r"\s+\d|\s*\([A-Z]{2}\)", name)[0].strip(" ,")
        if len(name) > 2:
            names.append(name)
    return names


# ------------------------------------------------------------------ title and abstract

_NON_EN_TITLE = re.compile(
    r"[äöüßéèàçêâ]|\b(?:UND|FÜR|VERFAHREN|ZUR|ZUM|DER|DIE|DAS|POUR|PROCÉDÉ|PROCEDE|ET|DE|DU|DES|"
    r"LA|LE|LES|AVEC|MIT|EIN|EINE|EINES)\b",
    re.I,
)


def _title_lines(sec: list[Line]) -> list[str]:
    """The lines of a (54) section that belong to the title: up to a gap, a FIG label or the next code."""
    kept_lines = [sec[0]]
    caps = _upper_share(sec[0].text) > 0.8
    for ln in sec[1:]:
        gap = kept_lines[-1].bottom - ln.top
        if gap > 1.5 * max(ln.height, 1.0) or re.match(r"FIG", ln.text, re.I) or INID.match(ln.text):
            break
        if caps and _upper_share(ln.text) < 0.8:  # an upper-case title goes on in upper case
            break
        kept_lines.append(ln)
    return [ln.text for ln in kept_lines if ln.text.strip()]


def _title(sections: Sections, office: str) -> str:
    candidates = sections.get("54", [])
    for sec in candidates:
        first = sec[0].text if sec else ""
        if re.match(r"Title\s*:", first, re.I) or len(candidates) == 1 or office != "WO":
            lines = _title_lines(sec)
            if lines:
                lines[0] = re.sub(r"^Title\s*:\s*", "", lines[0], flags=re.I)
            if office == "EP" and len(lines) > 1:  # EP B: English, German and French titles follow each other
                kept = [lines[0]]
                for ln in lines[1:]:
                    if _NON_EN_TITLE.search(ln) and not _NON_EN_TITLE.search(lines[0]):
                        break
                    kept.append(ln)
                lines = kept
            return re.sub(r"\s+", " ", " ".join(lines)).strip(" .")
    return ""


def _upper_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(c.isupper() for c in letters) / len(letters) if letters else 0.0


def _abstract(sections: Sections) -> str:
    """The (57) abstract: one paragraph, stopping where lines turn short (drawing labels follow)."""
    secs = sections.get("57", [])
    sec = [ln for ln in secs[0] if ln.text.strip()] if secs else []
    if not sec:
        return ""
    sec[0] = Line(re.sub(r"^(?:ABSTRACT|Abstract)\s*:?\s*", "", sec[0].text), *geom(sec[0]))
    widths = [ln.x1 - ln.x0 for ln in sec if len(ln.text) > 20]
    full = statistics.median(widths) if widths else 0.0
    out: list[str] = []
    for i, ln in enumerate(sec):
        t = ln.text.strip()
        if not t:
            continue
        if re.match(r"\(\s*Continued\s*\)|FIG\.?\s*\d+$|\[Continued", t, re.I):
            break
        out.append(t)
        if i and ln.x1 - ln.x0 < 0.6 * full and t.endswith((".", ")")):
            break
    return join_lines(out)


def _abstract_without_code(lines: list[Line]) -> str:
    """US front pages whose OCR lost '(57) ABSTRACT': the paragraph right above 'N Claims, M Drawing Sheets'."""
    for i, ln in enumerate(lines):
        if re.search(r"\d+\s*Claims?,\s*\d+\s*Drawing", ln.text):
            col_w = max(ln.col_x1 - ln.col_x0, 1.0)
            out: list[str] = []
            for prev in reversed(lines[:i]):
                t = prev.text.strip()
                if len(t) <= 2:
                    continue
                if prev.col_x0 != ln.col_x0 or INID.match(t) or re.match(r"(?:Primary|Assistant) Examiner|\d+\)", t):
                    break
                if out and prev.x1 - prev.x0 < 0.6 * col_w:
                    break
                out.append(t)
            return join_lines(list(reversed(out)))
    return ""


# ------------------------------------------------------------------ application and priority numbers

# the year's four digits and the number's five to eight, each digit perhaps followed by a space an OCR'd text layer put
# there ("PCT/EA 2 0 14/0000 17" on a Russian WO front page)
_PCT = re.compile(r"PCT\s*/\s*([A-Z]{2})\s*((?:[0-9OIl] ?){3}[0-9OIl])\s*/\s*((?:[0-9OIl] ?){4,7}[0-9OIl])")


def _pct(m: re.Match[str]) -> str:
    """A PCT application number as one token: 'PCT/EP2020/051429' → 'PCTEP2020051429'."""
    return "PCT" + m.group(1) + ocr_digits(m.group(2).replace(" ", "")) + ocr_digits(m.group(3).replace(" ", ""))


def _add(out: list[str], country: str, number: str) -> None:
    """Add a number, normalised, when it has at least five digits."""
    number = number.strip(" .,;:")
    if len(re.sub(r"\D", "", number)) >= 5:
        out.append(normalize_number(country, number))


def _own_application(sections: Sections, office: str, out: list[str]) -> None:
    """The (21) application number, and PCT numbers from (86) and (22)."""
    t21 = _code_text(sections, "21")
    m = _PCT.search(t21)
    if m:
        out.append(_pct(m))
    else:
        m = re.search(r"(\d{2}[\d/,. ]{4,14}\d)", ocr_digits(t21))
        if m and office in ("US", "EP"):
            _add(out, office, m.group(1))
    for code in ("86", "22"):
        m = _PCT.search(_code_text(sections, code))
        if m:
            out.append(_pct(m))


def _priority_claims(t30: str, office: str, out: list[str]) -> None:
    """The (30) priority numbers, in the EP, WO and US layouts."""
    for m in re.finditer(r"\d{1,2}\.\d{1,2}\.\d{4}\s+([A-Z]{2})\s+([0-9A-Z][0-9A-Z/.,\- ]{3,20}?\d)(?=\s|$)", t30):
        _add(out, m.group(1), ocr_digits(m.group(2)))  # EP: 24.12.2002 JP 2002371942
    if not out[1:] or office == "WO":
        for m in re.finditer(
            r"([0-9][0-9OIl/,.\- ]{4,18}[0-9OIl])\s+\d{1,2}\s+\S+\s+\d{4}\s*\([\d. ]+\)\s*([A-Z]{2})?", t30
        ):  # WO: 13/475,396 18 May 2012 (18.05.2012) US -- the office may be lost to OCR
            number = ocr_digits(m.group(1))
            office_ = m.group(2) or ("US" if re.fullmatch(r"\d{2}/\d{3},\d{3}", number.replace(" ", "")) else "")
            if office_:
                _add(out, office_, number)
        for m in re.finditer(r"\(\s*([A-Z]{2})\s*\)\s*[.\s…]*([0-9][0-9OIl/,. ]{4,16}[0-9OIl])", t30):
            _add(out, m.group(1), ocr_digits(m.group(2)))  # US: Jul. 15, 2013 (EA) ...... 2013O1064


def _related_applications(sections: Sections, out: list[str]) -> None:
    """US (60) provisional, (63) continuation and (62) division: earlier application numbers."""
    for code in ("60", "63", "62"):
        for m in re.finditer(
            r"(?:application|appl\.?)\s*No\.?\s*:?\s*((?:PCT/)?[0-9OIl][0-9OIl/,. ]{4,14}[0-9OIl])",
            _code_text(sections, code),
            re.I,
        ):
            num = m.group(1)
            if num.startswith("PCT"):
                _add(out, "WO", num)
            else:
                _add(out, "US", ocr_digits(num))


def _code_text(sections: Sections, code: str) -> str:
    return section_text(sections, code).translate(CYRILLIC_LOOKALIKES)


def _priority(sections: Sections, office: str) -> list[str]:
    """Application and priority numbers (own application, priorities, provisionals, PCT) normalised."""
    out: list[str] = []
    _own_application(sections, office, out)
    _priority_claims(_code_text(sections, "30"), office, out)
    _related_applications(sections, out)
    seen: set[str] = set()
    return [n for n in out if not (n in seen or seen.add(n))]
