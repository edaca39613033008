"""Patent numbers, in one place: as typed by a person, as written in documents, as indexed.

An indexed patent id is the office and the number, without kind code or punctuation: "US12448135",
"EP1577413", "WO2013173195". A figure id adds the sheet: "US12448135-S3", and for a sheet that shows several
figures, the figure: "US12448135-S3-F2A" (FIG. 2A), "US12448135-S3-R2" (its second region, no FIG label read).
"""

from __future__ import annotations

import re

OFFICES = ("US", "EP", "WO")

# An id as typed inside a sentence: "US 12,448,135 B2", "EP1577413", "wo2013/173195".
PATENT_ID_IN_TEXT = re.compile(r"\b(US|EP|WO)[\s\-]?((?:\d[\d ,./]{3,16}\d))(?:\s?([ABCSE]\d?))?\b")
# A figure id inside a sentence: "US12448135-S3", "US12448135-S3-F2A", "USD0907292-S1-F1.1".
FIGURE_ID_IN_TEXT = re.compile(
    r"\b((?:US|EP|WO)D?\d{5,12}-S\d{1,3}(?:-(?:F\d{1,3}(?:\.\d{1,2})?[A-Z]?|R\d{1,2}))?)(?![\w.]*\w)",
    re.IGNORECASE)
_FIG_WORD = re.compile(r"^\s*FIG(?:URE|S)?\b\.?")  # "FIG. 4" → " 4"
# A compact id, kind code optional: "US12448135B2".
_COMPACT_ID = re.compile(r"^(US|EP|WO)(\d{4,12})([A-Z]\d?)?$")


def figure_id(patent_id: str, sheet_no: int, fig: str | None = None, region: int = 0) -> str:
    """The id of a figure: the sheet's ("US12448135-S3") when the sheet is one figure (`fig` None and `region`
    0), else with the FIG number ("-F2A") or, when no label was read for it, the 1-based region ("-R2")."""
    base = f"{patent_id}-S{sheet_no}"
    if fig:
        number = _FIG_WORD.sub("", fig.upper())
        return f"{base}-F{re.sub(r'[^0-9A-Z.]', '', number)}"
    return f"{base}-R{region}" if region else base


_FIGURE_ID = re.compile(r"^(?P<pid>.+)-S(?P<sheet>\d+)(?:-(?:F(?P<fig>[0-9A-Z.]+)|R(?P<region>\d+)))?$", re.IGNORECASE)


def patent_of_figure(fid: str) -> str:
    """The patent id in a figure id ("US12448527" of "US12448527-S2-F3"), or "" for something that is not one."""
    m = _FIGURE_ID.match(str(fid))
    return m["pid"] if m else ""


def sheet_of_part(fid: str) -> str:
    """The sheet id of a figure that is a part of its sheet ("US12448527-S2" of "US12448527-S2-F3" or "-S2-R1"),
    "" for a whole sheet's id or something that is not a figure id."""
    m = _FIGURE_ID.match(str(fid))
    return f"{m['pid']}-S{m['sheet']}" if m and (m["fig"] or m["region"]) else ""


def figure_place(fid: str) -> tuple[str, str]:
    """A figure id in words: ("US12448527", "FIG. 3 on sheet 2") for "US12448527-S2-F3", ("US12448527", "sheet 2")
    for a whole sheet's "US12448527-S2"; ("", the id) for something that is not a figure id."""
    m = _FIGURE_ID.match(str(fid))
    if m is None:
        return "", str(fid)
    sheet = f"sheet {m['sheet']}"
    if m["fig"]:
        return m["pid"], f"FIG. {m['fig']} on {sheet}"
    return m["pid"], f"region {m['region']} of {sheet}" if m["region"] else sheet


def compact_patent_id(text: str) -> str | None:
    """The indexed form of one id as typed: "US 12,448,135 B2" → "US12448135"; None when it is not one."""
    s = re.sub(r"[\s,./\-]", "", str(text).upper())
    m = _COMPACT_ID.match(s)
    return f"{m.group(1)}{m.group(2)}" if m else None


def patent_ids_in(text: str) -> list[str]:
    """Patent ids mentioned in a sentence, in indexed form, first mention first."""
    out = []
    for m in PATENT_ID_IN_TEXT.finditer(text):
        digits = re.sub(r"\D", "", m.group(2))
        out.append(f"{m.group(1).upper()}{digits}")
    return list(dict.fromkeys(out))


def normalize_number(country: str, number: str) -> str:
    """An application/priority number as one token for family matching: 'US' + '63/547,158' -> 'US63547158'.

    PCT numbers become 'PCTEP2020051429'; EP/DE check digits ('.1') are dropped; EP-style US numbers with a
    year prefix ('US 201213475396') lose the year so they match the US form ('US13475396').
    """
    country = (country or "").upper().strip()
    raw = number.upper().strip()
    raw = re.sub(r"\.\d$", "", raw)
    compact = re.sub(r"[^A-Z0-9]", "", raw)
    if compact.startswith("PCT"):
        return compact
    if country == "WO" and re.match(r"[A-Z]{2}\d{4}", compact):
        return "PCT" + compact
    if compact[:2].isalpha() and compact[:2] == country:
        compact = compact[2:]
    if country == "US" and re.fullmatch(r"(?:19|20)\d{2}\d{8}", compact):
        compact = compact[4:]
    return f"{country}{compact}"
