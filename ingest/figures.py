"""Figure descriptions: which FIGs a document has, what each shows, from which view, and of what kind.

The "Brief description of the drawings" section names every FIG ("FIG. 1A is a top view of ...",
"FIGS. 2 and 3 are ..."). :func:`parse_figure_descriptions` turns its paragraphs into one
:class:`FigureDesc` per FIG; :func:`classify_view` and :func:`classify_kind` map free text onto the
facet values ``VIEWS`` and ``KINDS`` of :mod:`core.types`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from core.types import FigureDesc
from core.vocab import KINDS, VIEWS

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
    if not descs and single_figure:
        for text in texts:
            if _SINGLE_FIGURE.search(text):
                descs.append(FigureDesc(fig="1", text=text, view=classify_view(text), kind=classify_kind(text)))
                break
    return descs


# ------------------------------------------------------------------ views

# Order is precedence: "perspective exploded view" is exploded, "cross-sectional side view" is sectional.
_VIEW_RULES: list[tuple[str, str]] = [
    ("exploded", r"\bexploded\b|\bdisassembled\b|разнесен"),
    (
        "sectional",
        r"cross[- ]?section|\bsectional\b|\bsection(?:ed)? view|\bsection (?:taken|along|through|of)\b"
        r"|\bin section\b|\bcut[- ]?away\b|\bcut(?: along| through| view)|\bcutting plane\b"
        r"|\btaken (?:along|on|through) (?:the )?(?:line|plane)\b|\blongitudinal section\b|\bразрез|\bсечени",
    ),
    (
        "detail",
        r"\bdetail(?:ed)? view\b|\bdetails? of\b|\benlarged\b|\bclose[- ]?up\b|\bmagnified\b|\bzoom(?:ed)?\b"
        r"|\bpartial(?:ly)? enlarged\b|\bdetail\b|\bувеличен",
    ),
    ("perspective", r"\bperspective\b|\bisometric\b|\baxonometric\b|\bthree[- ]dimensional view\b|\b3-?d view\b"),
    (
        "plan",
        r"\btop(?: plan)? view\b|\bplan view\b|\bplanar view\b|\bview from (?:the )?(?:top|above)\b|\bfrom above\b"
        r"|\boverhead view\b|\bbird'?s[- ]eye\b|\btop view\b|\bвид сверху\b|\bв плане\b",
    ),
    (
        "bottom",
        r"\bbottom(?: plan)? view\b|\bview from (?:the )?(?:bottom|below)\b|\bfrom below\b|\bunderside view\b"
        r"|\bвид снизу\b",
    ),
    (
        "front",
        r"\bfront(?:al)?(?: elevation(?:al)?)? view\b|\bfront elevation\b|\bview from (?:the )?front\b"
        r"|\bвид спереди\b",
    ),
    (
        "rear",
        r"\b(?:rear|back)(?: elevation(?:al)?)? view\b|\brear elevation\b|\bview from (?:the )?(?:rear|back)\b"
        r"|\bвид сзади\b",
    ),
    (
        "side",
        r"\bside(?: elevation(?:al)?)? view\b|\bside elevation\b|\belevation(?:al)? view\b|\bin elevation\b"
        r"|\b(?:left|right)(?:[- ]hand)?(?: side)? view\b|\blateral view\b|\bprofile view\b|\bside view\b"
        r"|\bview from (?:the )?side\b|\bвид сбоку\b",
    ),
    ("schematic", r"\bschematic|\bdiagrammatic|\bсхема|\bсхематич"),
]
_VIEW_RES = [(v, re.compile(p, re.I)) for v, p in _VIEW_RULES]
assert all(v in VIEWS for v, _ in _VIEW_RULES)

_PHYSICAL_VIEWS = {"exploded", "sectional", "perspective", "plan", "bottom", "front", "rear", "side"}


def classify_view(text: str) -> str:
    """The view a figure description names (one of VIEWS), "unknown" when it names none."""
    for view, rx in _VIEW_RES:
        if rx.search(text):
            return view
    return "unknown"


# ------------------------------------------------------------------ kinds

_FLOW = re.compile(
    r"flow[- ]?charts?|flow[- ]?diagrams?|process flows?|(?:method|process) steps|steps? (?:of|in) (?:a|an|the)"
    r" (?:\w+ )?(?:method|process)\b|\bstate (?:transition )?diagram|\bsequence diagram|\bswim ?lanes?"
    r"|\bблок-схем|\bалгоритм",
    re.I,
)
_BLOCK = re.compile(
    r"block diagram|schematic block|\bsystem diagram|functional diagram|architecture diagram|\bnetwork diagram"
    r"|\bfunctional block|\bblock schematic|\bstructural diagram",
    re.I,
)
_CIRCUIT = re.compile(
    r"circuit (?:diagram|schematic)|\bwiring diagram|\bequivalent circuit|\bschematic of (?:a|an|the)"
    r" (?:\w+ )?circuit",
    re.I,
)
_CIRCUIT_WEAK = re.compile(r"\bcircuit(?:ry)?\b(?!\s*boards?)", re.I)
_GRAPH = re.compile(
    r"\bgraphs?\b|\bgraphical(?:ly)? (?:representation|illustration)|\b(?:bar |pie )?charts?\b|\bplots?\b|\bplotted\b"
    r"|\bhistograms?\b|\btiming diagram|\bdiagram showing the relationship|\bcharacteristic (?:diagram|curve)"
    r"|\bдиаграмм|\bграфик",
    re.I,
)
_GRAPH_WEAK = re.compile(
    r"\bcurves?\b|\brelationship between\b|\bas a function of\b|\bwaveforms?\b|\bspectr(?:um|a)\b"
    r"|\bdose[- ]response\b|\bdata points\b|\bversus\b|\bvs\.|\bmeasured values\b|\bresults of\b",
    re.I,
)
_CHEM = re.compile(
    r"chemical (?:formula|structure)|structural formula|molecular structure|\bformula \(?[IVX]+\)?"
    r"|reaction scheme|synthetic (?:route|scheme)|\bcompounds? of formula",
    re.I,
)
_TABLE = re.compile(
    r"\b(?:is|shows?|illustrates?|depicts?|presents?|lists?)\s+(?:a|an|the)?\s*tables?\b|^\W*tables?\b"
    r"|\btables? (?:showing|listing|of (?:data|results|values|parameters))|\btabular\b|\bтаблиц",
    re.I,
)
_FIG_REF = re.compile(rf"{_FIG_WORD}\s*{_NUM}")


def classify_kind(text: str) -> str:
    """The kind of figure a description names (one of KINDS), "unknown" when the text says nothing."""
    view = classify_view(text)
    physical = view in _PHYSICAL_VIEWS
    if _FLOW.search(text):
        return "flowchart"
    if _BLOCK.search(text):
        return "block diagram"
    if _CIRCUIT.search(text):
        return "circuit"
    if _CHEM.search(text):
        return "chemical structure"
    if _GRAPH.search(text):
        return "graph"
    if _TABLE.search(text) and not physical:
        return "table"
    if not physical:
        if _CIRCUIT_WEAK.search(text):
            return "circuit"
        if _GRAPH_WEAK.search(text):
            return "graph"
    words = re.findall(r"[^\W\d_]{2,}", _FIG_REF.sub(" ", text))
    if physical or view != "unknown" or len(words) >= 2:  # some words of description: a drawing of something
        return "drawing"
    return "unknown"


assert {"flowchart", "block diagram", "circuit", "chemical structure", "graph", "table", "drawing"} <= set(KINDS)


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
