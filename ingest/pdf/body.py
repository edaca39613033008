"""The body of a publication PDF: description paragraphs with their headings, the claims, the figure list.

Input is the text pages' lines in reading order (:mod:`ingest.pdf.layout`). Paragraphs are split at their
printed numbers ([0012], 0012.) or, without them, at short and indented lines; the claims start at "What is
claimed is:", a "Claims" heading, or the last "1. A ..." that a later "claim 1" refers back to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.types import FigureDesc, Paragraph
from ingest.figures import _START as FIG_SENTENCE_START
from ingest.figures import parse_figure_descriptions
from ingest.pdf.layout import Line, geom, join_lines
from ingest.pdf.ocrfix import ocr_digits

MAX_FIGURE_TEXT = 600  # characters of a figure's description kept

_HEADING_WORDS = re.compile(
    r"^(?:Description|Claims|Technical Field|Field(?: of the (?:Invention|Disclosure))?|Background(?: Art)?"
    r"|Background of the (?:Invention|Disclosure)|Summary(?: of the (?:Invention|Disclosure))?"
    r"|Disclosure of (?:the )?Invention|Brief Description of (?:the )?(?:Drawings?|Figures?)"
    r"|(?:Detailed )?Description of (?:the )?(?:Preferred )?Embodiments?|Detailed Description.*|Best Mode.*"
    r"|Mode for Carrying Out.*|Modes? for Carrying Out.*|Examples?|Industrial Applicability|Technical Problem"
    r"|Solution to Problem|Advantageous Effects?.*|Reference Signs? List|List of Reference (?:Signs|Numerals)"
    r"|Citation List|Patent Literature|Non[- ]Patent Literature|Prior Art|Problems? to be Solved.*"
    r"|Means for Solving.*|Effects? of the Invention|Embodiments?)\s*:?$",
    re.I,
)
_CLAIMS_START = re.compile(
    r"(?:^|(?<=[\s.]))(?i:What (?:is|are) claimed\b[^:.]{0,90}?\bis|The invention claimed is"
    r"|What I claim is|I claim|We claim|Claimed is)\s*:|(?:^|(?<=[\s.]))(?i:What is claimed is)\b"
    r"|^(?:CLAIMS?|Claims?|Patent claims|ФОРМУЛА(?: ИЗОБРЕТЕНИЯ)?|Формула изобретения)\s*:?\s*$"
)
_CLAIMS_END = re.compile(
    r"^(?:Patentansprüche|Revendications|Amended claims.*|ABSTRACT|Abstract|REFERENCES CITED IN THE DESCRIPTION"
    r"|РЕФЕРАТ|Реферат)\s*:?\s*$|^\*\s*\*\s*\*"
)
# paragraph numbers: "[0012]", OCR'd "[ 0012 ]", "00 12]" (lost bracket), "(001.3]", old US style "0012." / "0012"
_PARA_START = re.compile(
    r"^(?:[\[(|{]\s*(?P<b>\d[0-9OIl .]{1,6})|(?P<h>\d[\d ]{1,6}\d))\s*[\])}|]\s*"
    r"|^(?P<u>\d{4})[.)]?\s+(?=[A-Z(“\"])"
)
_DRAWINGS_HEADING = re.compile(
    r"DESCRIPTION OF (?:THE )?(?:\w+ )?(?:DRAWINGS?|FIGURES?)|EXPLANATION OF (?:THE )?DRAWINGS?"
    r"|DESCRIPTION OF DRAWINGS|ОПИСАНИЕ ЧЕРТЕЖЕЙ|ПЕРЕЧЕНЬ ФИГУР",
    re.I,
)


def description_and_claims(lines: list[Line]) -> tuple[list[Paragraph], list[str]]:
    """The description's paragraphs and the claims, from the text pages' lines."""
    claim_at = _claims_start(lines)
    desc_lines = lines[:claim_at] if claim_at is not None else lines
    claim_lines: list[str] = []
    if claim_at is not None:
        first = lines[claim_at].text
        m = _CLAIMS_START.search(first)
        claim_lines.append(first[m.start() :] if m else first)
        for ln in lines[claim_at + 1 :]:
            if _CLAIMS_END.match(ln.text.strip()):
                break
            claim_lines.append(ln.text)
        if m and m.start() > 0:  # the description ends on the line where the claims begin
            desc_lines = [*desc_lines, Line(first[: m.start()], *geom(lines[claim_at]))]
    return paragraphs_from_lines(desc_lines), split_claims(join_lines(claim_lines))


# ------------------------------------------------------------------ paragraphs


def _is_heading(t: str) -> bool:
    t = t.strip()
    if not 3 <= len(t) <= 90 or _PARA_START.match(t) or t.endswith((",", ";")):
        return False
    if _HEADING_WORDS.match(t):
        return True
    letters = [c for c in t if c.isalpha()]
    if len(letters) < 4 or t.endswith("."):
        return False
    upper = sum(c.isupper() for c in letters) / len(letters)
    return upper > 0.9 and len(t.split()) <= 12 and not re.search(r"\d{3,}", t)


@dataclass
class _Block:
    heading: str
    pid: str
    lines: list[str]


def _para_number(m: re.Match[str]) -> int | None:
    digits = ocr_digits(m.group("b") or m.group("h") or m.group("u") or "").replace(" ", "").replace(".", "")
    return int(digits) if digits.isdigit() else None


def _numbering_in_sequence(lines: list[Line]) -> int:
    """How many paragraph numbers follow their predecessor (1..3 on): real numbering, not stray numerals."""
    nums = [n for ln in lines if (m := _PARA_START.match(ln.text)) and (n := _para_number(m)) is not None]
    return sum(1 for a, b in zip(nums, nums[1:], strict=False) if 0 < b - a <= 3)


def _starts_by_layout(ln: Line, prev: Line) -> bool:
    """Without paragraph numbers: a paragraph starts after a short line ending a sentence, or indented."""
    col_w = max(prev.col_x1 - prev.col_x0, 1.0)
    short = prev.x1 < prev.col_x1 - 0.12 * col_w and prev.text.rstrip().endswith((".", ":", ";"))
    indent = ln.x0 > ln.col_x0 + 0.03 * col_w and ln.x0 - prev.x0 > 0.02 * col_w
    return short or indent


def paragraphs_from_lines(lines: list[Line]) -> list[Paragraph]:
    """Paragraphs with headings, split at paragraph numbers ([0012], 0012.) or, without them, at short lines."""
    use_numbers = _numbering_in_sequence(lines) >= 3
    blocks: list[_Block] = []
    heading = ""
    last_num = 0
    prev: Line | None = None
    for ln in lines:
        t = ln.text.strip()
        if not t:
            continue
        if _is_heading(t):
            heading = t.rstrip(":")
            blocks.append(_Block(heading, "", []))
            prev = None
            continue
        m = _PARA_START.match(t)
        start = False
        pid = ""
        if use_numbers and m:
            num = _para_number(m)
            if num is None or last_num < num <= last_num + 8 or m.group("b"):
                start = True
                last_num = num if num is not None else last_num + 1
                pid = f"[{num:04d}]" if num is not None else ""
                t = t[m.end() :].strip()
        elif not use_numbers and prev is not None:
            start = _starts_by_layout(ln, prev)
        if start or not blocks:
            blocks.append(_Block(heading, pid, [t]))
        else:
            blocks[-1].lines.append(t)
        prev = ln
    out: list[Paragraph] = []
    for i, b in enumerate(blocks):
        text = join_lines(b.lines)
        if text:
            out.append(Paragraph(pid=b.pid or f"p{i + 1}", heading=b.heading, text=text))
    return out


# ------------------------------------------------------------------ claims

_CANCELED = re.compile(r"\s*1\s?\.\s?[-–]\s?(\d+)\s?\.\s?\((?:canceled|cancelled)\)", re.I)


def _claims_start(lines: list[Line]) -> int | None:
    """Index of the line where the claims begin: 'What is claimed is:', a 'Claims' heading, or else the
    last '1. A ...' line that a later 'claim 1' refers back to."""
    for i, ln in enumerate(lines):
        if _CLAIMS_START.search(ln.text) and (i > len(lines) * 0.3 or ln.text.strip().upper() == "CLAIMS"):
            return i
    first = re.compile(
        r"^1\s?[.,]\s+(?:A|An|The|In|Method|Apparatus|System|Device|Use|Способ|Устройство)\b|^" + _CANCELED.pattern
    )
    for i in range(len(lines) - 1, int(len(lines) * 0.3), -1):
        if first.match(lines[i].text) and any(re.search(r"\bclaims? \d", ln.text) for ln in lines[i + 1 : i + 400]):
            return i
    return None


def split_claims(text: str) -> list[str]:
    """Claims numbered 1., 2., 3. ... in order (numbers out of sequence belong to the text)."""
    text = re.sub(
        r"^\s*(?:CLAIMS?|Claims?|Patent claims|ФОРМУЛА(?: ИЗОБРЕТЕНИЯ)?|Формула изобретения)\s*:?\s*", "", text
    )
    text = _CLAIMS_START.sub(" ", text, count=1).strip()
    starts: list[tuple[int, int]] = []
    expected = 1
    canceled = _CANCELED.match(text)  # "1.-20. (canceled)": the claims go on from 21
    if canceled:
        expected = int(canceled.group(1)) + 1
        text = text[canceled.end() :].strip()
    elif not re.search(r"(?:^|\s)1\s?[.,]\s", text[:40]):  # OCR lost or garbled the "1." of the first claim
        text = "1. " + re.sub(r"^[\s.,:;]*(?:[1Il]\s?[-.,:;]\s?)?", "", text)
        starts.append((0, 3))
        expected = 2
    for m in re.finditer(r"(?:^|(?<=[\s.;]))(\d{1,3})\s?[.,]\s+(?=[A-ZА-Я(“\"])", text):
        if int(m.group(1)) == expected:
            starts.append((m.start(), m.end()))
            expected += 1
    claims = []
    for i, (a, _) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        claim = text[a:end].strip()
        if claim:
            claims.append(claim)
    return claims


# ------------------------------------------------------------------ figures and language


def figure_descriptions(description: list[Paragraph], single_figure: bool) -> list[FigureDesc]:
    """The figures the brief description of the drawings lists, each text cut to MAX_FIGURE_TEXT characters."""
    figures = parse_figure_descriptions(_figure_paragraphs(description), single_figure=single_figure)
    for f in figures:
        if len(f.text) > MAX_FIGURE_TEXT:
            f.text = f.text[:MAX_FIGURE_TEXT].rsplit(" ", 1)[0] + " ..."
    return figures


def _figure_paragraphs(paras: list[Paragraph]) -> list[str]:
    """The brief description of the drawings: paragraphs under its heading, else the first run of FIG lists."""
    under = [p.text for p in paras if _DRAWINGS_HEADING.search(p.heading)]
    if under and any(FIG_SENTENCE_START.search(t) for t in under):
        return under
    run: list[str] = []
    for p in paras:
        if FIG_SENTENCE_START.match(p.text) or (run == [] and len(FIG_SENTENCE_START.findall(p.text)) >= 2):
            run.append(p.text)
        elif run:
            break
    return run


def language(text: str) -> str:
    """The language of a text, by its alphabet and commonest words: "en", "de", "fr" or "ru"."""
    letters = [c for c in text[:20000] if c.isalpha()]
    if not letters:
        return "en"
    if sum("а" <= c.lower() <= "я" for c in letters) > 0.3 * len(letters):
        return "ru"
    words = re.findall(r"[a-zäöüéèàç]+", text[:20000].lower())
    counts = {
        "en": sum(w in ("the", "and", "of", "is") for w in words),
        "de": sum(w in ("der", "die", "und", "das", "ist") for w in words),
        "fr": sum(w in ("le", "la", "les", "et", "des", "est") for w in words),
    }
    return max(counts, key=counts.get)
