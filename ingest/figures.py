"""Figure descriptions: which FIGs a document has, what each shows, from which view, and of what kind.

The "Brief description of the drawings" section names every FIG ("FIG. 1A is a top view of ...",
"FIGS. 2 and 3 are ..."). :func:`parse_figure_descriptions` turns its paragraphs into one
:class:`FigureDesc` per FIG; :func:`classify_view` and :func:`classify_kind` map free text onto the
facet values ``VIEWS`` and ``KINDS`` of :mod:`core.vocab`, by the tables there.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from core.types import FigureDesc
from core.vocab import KIND_TERMS, PHYSICAL_VIEWS, UNKNOWN, VIEW_TERMS

# "FIG." / "FIGS." / "Figure" / "Fig" and the Russian "Фиг." (WO publications in Russian)
_FIG_WORD = r"(?:FIGURES?|Figures?|FIGS?|Figs?|ФИГ|Фиг)(?:\s*[.,])?"
# "1", "12", "1A", "3b" (a letter only when no word follows), "4(a)" (JP-style sub-figures)
_NUM = r"\d{1,3}(?:\s?\([a-zA-Z]\)|[A-Za-z](?![A-Za-z]))?"
_SEP = r"\s*(?:,\s*(?:and|or)?|and|or|to|through|-|–|—|&|и)\s*"
_FIG_LIST = rf"{_FIG_WORD}\s*(?P<nums>{_NUM}(?:{_SEP}(?:{_FIG_WORD}\s*)?{_NUM}|\s*[-–—]\s*[A-Za-z](?![A-Za-z]))*)"
# a FIG list that starts a sentence: paragraph start, after ". " / "; " / ": ", or after a "[0012]" marker
_START = re.compile(
    rf"(?:^|(?<=[.;:\]]\s)|(?<=[.;:])|(?<=,\s)(?=and\s))\s*(?:and\s+)?(?:\[\s*\d+\s*\]\s*)?(?P<figs>{_FIG_LIST})"
    r"(?!\s*[)\]])"
)
_FIG_TAG = re.compile(r"\[\s*(?:FIG|Fig|Figure|FIGURE)[^\]]{0,12}\]\s*")  # EP: "[Fig. 1] Fig. 1 is a view ..."
_RANGE = re.compile(rf"(?P<a>{_NUM})\s*(?:-|–|—|to|through)\s*(?:{_FIG_WORD}\s*)?(?P<b>{_NUM}|[A-Za-z](?![A-Za-z]))")
_ONE = re.compile(_NUM)
_SINGLE_FIGURE = re.compile(r"\b(?:FIGURE|[Tt]he (?:accompanying |attached |sole |single )?(?:drawing|figure))\b")


def _expand(nums: str) -> list[str]:
    """'1A-1C' -> 1A, 1B, 1C; '4, 5A and 5B' -> 4, 5A, 5B; '1 to 3' -> 1, 2, 3."""
    out: list[str] = []
    pos = 0
    nums = re.sub(_FIG_WORD, " ", nums)
    while pos < len(nums):
        r = _RANGE.match(nums, pos) if nums[pos].isdigit() else None
        if r:
            out.extend(_range(r.group("a"), r.group("b")))
            pos = r.end()
            continue
        m = _ONE.match(nums, pos) if nums[pos].isdigit() else None
        if m:
            out.append(_fig_id(m.group(0)))
            pos = m.end()
        else:
            pos += 1
    seen: set[str] = set()
    return [f for f in out if not (f in seen or seen.add(f))]


def _fig_id(raw: str) -> str:
    """'3b' -> '3B', '4 (a)' -> '4A'."""
    return re.sub(r"[\s()]", "", raw).upper()


def _range(a: str, b: str) -> list[str]:
    a, b = _fig_id(a), _fig_id(b)
    if b.isalpha():  # "3A-J": the number is the start's
        b = re.match(r"\d+", a).group(0) + b  # type: ignore[union-attr]
    na, la = re.match(r"(\d+)([A-Z]?)", a).groups()  # type: ignore[union-attr]
    nb, lb = re.match(r"(\d+)([A-Z]?)", b).groups()  # type: ignore[union-attr]
    if na == nb and la and lb and la <= lb:  # 1A-1C
        return [f"{na}{chr(c)}" for c in range(ord(la), ord(lb) + 1)]
    if not la and not lb and int(na) < int(nb) <= int(na) + 30:  # 1 to 3
        return [str(n) for n in range(int(na), int(nb) + 1)]
    return [a, b]


def parse_figure_descriptions(paragraphs: Iterable[str], *, single_figure: bool = False) -> list[FigureDesc]:
    """One FigureDesc per FIG named at the start of a sentence in the brief description paragraphs.

    "FIGS. 2 and 3 are ..." gives two entries with the same text. The first description of a FIG wins.
    Without numbered FIGs, Hague design reproductions ("1.1 : Perspective") are FIGs "1.1", "1.2", ....
    With ``single_figure`` (the document has one drawing sheet), a description that names no numbered
    FIG but speaks of "FIGURE" or "the drawing" becomes FIG 1.
    """
    descs: list[FigureDesc] = []
    seen: set[str] = set()
    texts = [_FIG_TAG.sub("", re.sub(r"\s+", " ", p)).strip() for p in paragraphs]
    for text in texts:
        starts = list(_START.finditer(text))
        for i, m in enumerate(starts):
            end = starts[i + 1].start("figs") if i + 1 < len(starts) else len(text)
            body = text[m.start("figs") : end].strip().rstrip(";,").strip()
            if body.endswith(" and"):
                body = body[:-4].rstrip(" ;,")
            for fig in _expand(m.group("nums")):
                if fig in seen:
                    continue
                seen.add(fig)
                descs.append(FigureDesc(fig=fig, text=body, view=classify_view(body), kind=classify_kind(body)))
    if not descs:
        descs = _reproductions(texts)
    if not descs and single_figure:
        for text in texts:
            if _SINGLE_FIGURE.search(text):
                descs.append(FigureDesc(fig="1", text=text, view=classify_view(text), kind=classify_kind(text)))
                break
    return descs


# Hague-system designs number their reproductions "1.1", "1.2" (design 1, views 1 and 2), each named by
# a bare view word ("1.1 : Perspective") and perhaps again in a sentence ("reproduction 1.4 is a left view")
_REPRO = re.compile(r"(?:^|\breproductions?\s+)(?P<num>\d{1,3}\.\d{1,3})\s*(?::|(?=(?:is|are|shows?)\b))", re.I)
_BARE_NAME = re.compile(r"\d{1,3}\.\d{1,3}\s*:\s*[^\W\d_][\w -]{0,30}")


def _reproductions(texts: list[str]) -> list[FigureDesc]:
    """One FigureDesc per Hague reproduction; its statements are joined, the first that names a view wins."""
    said: dict[str, list[str]] = {}
    for text in texts:
        starts = list(_REPRO.finditer(text))
        for i, m in enumerate(starts):
            end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
            said.setdefault(m.group("num"), []).append(text[m.start() : end].split(";")[0].strip(" ;,."))
    descs = []
    for num, statements in said.items():
        # "1.2: Front" names the front view; "1.7: Reference view" names none
        named = [s + " view" if _BARE_NAME.fullmatch(s) and "view" not in s.lower() else s for s in statements]
        view = next((v for v in map(classify_view, named) if v != UNKNOWN), UNKNOWN)
        kind = next((k for k in map(classify_kind, named) if k != UNKNOWN), UNKNOWN)
        descs.append(FigureDesc(fig=num, text="; ".join(statements), view=view, kind=kind))
    return descs


# ------------------------------------------------------------------ views and kinds

_VIEW_RES = [(t.rank, t.name, re.compile("|".join(t.patterns), re.I)) for t in VIEW_TERMS]
_KIND_RES = [(t.name, re.compile("|".join(t.patterns), re.I)) for t in KIND_TERMS if t.patterns]
_KIND_WEAK_RES = [(t.name, re.compile("|".join(t.weak), re.I)) for t in KIND_TERMS if t.weak]
_FIG_REF = re.compile(rf"{_FIG_WORD}\s*{_NUM}")


def classify_view(text: str) -> str:
    """The view a figure description names (one of VIEWS), "unknown" when it names none.

    The view of lowest rank in :data:`core.vocab.VIEW_TERMS` wins; within a rank, the one named first.
    """
    found = [(rank, m.start(), view) for rank, view, rx in _VIEW_RES if (m := rx.search(text))]
    return min(found)[2] if found else UNKNOWN


def classify_kind(text: str) -> str:
    """The kind of figure a description names (one of KINDS), "unknown" when the text says nothing."""
    view = classify_view(text)
    physical = view in PHYSICAL_VIEWS
    for kind, rx in _KIND_RES:
        if rx.search(text):
            return kind
    if not physical:
        for kind, rx in _KIND_WEAK_RES:
            if rx.search(text):
                return kind
    words = re.findall(r"[^\W\d_]{2,}", _FIG_REF.sub(" ", text))
    if physical or view != UNKNOWN or len(words) >= 2:  # some words of description: a drawing of something
        return "drawing"
    return UNKNOWN


def sheet_view_kind(descs: list[FigureDesc]) -> tuple[str, str]:
    """(view, kind) of a sheet: the majority over its FIGs, ignoring "unknown"; ties go to the first FIG."""

    def majority(values: list[str]) -> str:
        known = [v for v in values if v != "unknown"]
        if not known:
            return "unknown"
        counts = Counter(known)
        best = max(counts.values())
        return next(v for v in known if counts[v] == best)

    return majority([d.view for d in descs]), majority([d.kind for d in descs])
