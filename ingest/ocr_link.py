"""Link what OCR read on a sheet to the document: numerals → reference signs, labels → FIGs.

Pure functions over `OcrToken`s and a parsed `Patent`; no OCR model is needed here, so they are
unit-tested with hand-made tokens (tests/test_ocr.py).
"""

from __future__ import annotations

import re

from core.types import Box, Component, OcrToken, Patent

MAX_SENTENCES = 40  # linked sentences kept per sheet

_NUMERAL = re.compile(r"(\d+)([a-zA-Z]?)('*)")
# Characters OCR confuses in the last place of a FIG label ("1B" read as "18", "2O" for "20")
_FIG_CONFUSIONS = {
    "8": "B",
    "B": "8",
    "0": "O",
    "O": "0",
    "D": "0",
    "5": "S",
    "S": "5",
    "2": "Z",
    "Z": "2",
    "6": "G",
    "G": "6",
    "1": "I",
    "I": "1",
}


def _base(numeral: str) -> str:
    """The digits of a numeral: "12a" → "12", "110'" → "110"."""
    m = _NUMERAL.fullmatch(numeral)
    return m.group(1) if m else numeral


def match_sign(text: str, patent: Patent) -> str | None:
    """The reference sign an OCR numeral stands for, or None.

    "104" matches sign "104" exactly (case-insensitively for the letter suffix). A suffix mismatch
    ("12" read where only "12a" is a sign, "110'" where only "110" is) is tolerated only when exactly
    one sign has the same digits.
    """
    if text in patent.refsigns:
        return text
    low = text.lower()
    same_case = [k for k in patent.refsigns if k.lower() == low]
    if len(same_case) == 1:
        return same_case[0]
    if not _NUMERAL.fullmatch(text):
        return None
    base = _base(text)
    same_base = [k for k in patent.refsigns if _base(k) == base]
    return same_base[0] if len(same_base) == 1 else None


def _natural_key(numeral: str) -> tuple[int, str]:
    m = _NUMERAL.fullmatch(numeral)
    return (int(m.group(1)), numeral) if m else (10**9, numeral)


def link_sheet(tokens: list[OcrToken], patent: Patent) -> tuple[list[Component], list[str]]:
    """Components (numerals that are signs of the patent) and their linked sentences.

    Components come in numeral order ("12" < "12a" < "104"), each with every box where it was read.
    Linked sentences are the sentences that mention those signs, deduplicated, taken round-robin over
    the components (first sentence of each sign, then the second, ...) so that every component is
    represented before the cap of MAX_SENTENCES.
    """
    boxes: dict[str, list[Box]] = {}
    for tok in tokens:
        if tok.kind != "numeral":
            continue
        sign = match_sign(tok.text, patent)
        if sign is not None:
            boxes.setdefault(sign, []).append(tok.box)
    order = sorted(boxes, key=_natural_key)
    components = [Component(numeral=s, label=patent.refsigns[s].label, boxes=boxes[s]) for s in order]

    sentences: list[str] = []
    seen: set[str] = set()
    queues = [list(patent.refsigns[s].sentences) for s in order]
    depth = 0
    while len(sentences) < MAX_SENTENCES and any(depth < len(q) for q in queues):
        for q in queues:
            if depth < len(q) and q[depth] not in seen:
                seen.add(q[depth])
                sentences.append(q[depth])
                if len(sentences) >= MAX_SENTENCES:
                    break
        depth += 1
    return components, sentences


def _fig_variants(label: str) -> list[str]:
    """A FIG label and its readings with the last character swapped for a look-alike."""
    label = label.upper()
    out = [label]
    if label and label[-1] in _FIG_CONFUSIONS:
        out.append(label[:-1] + _FIG_CONFUSIONS[label[-1]])
    return out


def figs_on_sheet(tokens: list[OcrToken], patent: Patent) -> list[str]:
    """FIG labels read on a sheet that the patent describes, in the order the tokens come (reading order).

    Matching ignores case ("1a" is FIG "1A"); when the label as read is not a FIG of the patent, a
    look-alike in the last place is tried ("18" → "1B" when the patent has a FIG 1B but no FIG 18).
    Returns the patent's spelling of each FIG, once.
    """
    known = {f.fig.upper(): f.fig for f in patent.figures}
    out: list[str] = []
    for tok in tokens:
        if tok.kind != "fig_label":
            continue
        for variant in _fig_variants(tok.text):
            fig = known.get(variant)
            if fig is not None:
                if fig not in out:
                    out.append(fig)
                break
    return out


def _split_evenly(items: list[str], n: int) -> list[list[str]]:
    """Split items into n contiguous chunks whose sizes differ by at most one (larger chunks first)."""
    size, extra = divmod(len(items), n)
    chunks, i = [], 0
    for k in range(n):
        step = size + (1 if k < extra else 0)
        chunks.append(items[i : i + step])
        i += step
    return chunks


def assign_figs(per_sheet_ocr_figs: list[list[str]], patent: Patent) -> list[tuple[list[str], str]]:
    """FIG numbers for every sheet of a document, and how each was found ("ocr", "order" or "none").

    Sheets whose labels OCR read keep them ("ocr"). Each run of sheets without labels gets, in document
    order, the FIGs not claimed by any sheet that lie between the FIGs of the labelled sheets around the
    run ("order"): one FIG per sheet when there are as many FIGs as sheets, contiguous groups when there
    are more FIGs than sheets, and nothing ("none") for the sheets left over when there are fewer. A
    patent without figure descriptions gives ([], "none") for every sheet.
    """
    n = len(per_sheet_ocr_figs)
    if not patent.figures:
        return [([], "none") for _ in range(n)]
    index = {f.fig: i for i, f in enumerate(patent.figures)}
    claimed = {f for figs in per_sheet_ocr_figs for f in figs if f in index}
    out: list[tuple[list[str], str]] = [([], "none")] * n

    sheet = 0
    prev_max = -1  # highest FIG index claimed by a labelled sheet before the current run
    while sheet < n:
        figs = [f for f in per_sheet_ocr_figs[sheet] if f in index]
        if figs:
            out[sheet] = (figs, "ocr")
            prev_max = max(prev_max, *(index[f] for f in figs))
            sheet += 1
            continue
        end = sheet
        while end < n and not any(f in index for f in per_sheet_ocr_figs[end]):
            end += 1
        later = [index[f] for figs in per_sheet_ocr_figs[end:] for f in figs if f in index]
        next_min = min(later) if later else len(patent.figures)
        free = [f.fig for f in patent.figures[prev_max + 1 : next_min] if f.fig not in claimed]
        run = end - sheet
        if len(free) >= run:
            chunks = _split_evenly(free, run)
        else:
            chunks = [[f] for f in free] + [[] for _ in range(run - len(free))]
        for k, chunk in enumerate(chunks):
            out[sheet + k] = (chunk, "order") if chunk else ([], "none")
        sheet = end
    return out
