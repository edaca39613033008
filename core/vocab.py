"""The figure vocabulary: every view and kind patfig knows, and the words that name each in a description.

One table per facet. :data:`VIEW_TERMS` and :data:`KIND_TERMS` hold, for each value, the regular
expressions (case-insensitive, matched with ``re.search``) that name it in a figure description such
as "FIG. 3 is a left side elevational view of ...". :mod:`ingest.figures` compiles them and applies
them; :data:`VIEWS` and :data:`KINDS` are the allowed facet values derived from the tables.

Views refine one another: a "top" view is a kind of "plan" view, "left" and "right" are kinds of
"side" view (:func:`views_within`). A description is given the most specific view it names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ViewTerm:
    """A figure view and the phrases that name it.

    Attributes:
        name: the facet value, e.g. "left".
        rank: precedence. The lowest rank with a match wins ("a perspective exploded view" is exploded);
            among views of the same rank the one named first in the text wins ("a right side view, the
            left side view being a mirror image" is right).
        patterns: regular expressions that name the view.
        broader: the view this one refines ("top" refines "plan"); a filter on the broader view
            takes it in.
        physical: a view of a physical object, so the figure is a drawing, not a table or a graph.
    """

    name: str
    rank: int
    patterns: tuple[str, ...]
    broader: str = ""
    physical: bool = True


@dataclass(frozen=True)
class KindTerm:
    """A kind of figure and the phrases that name it.

    Attributes:
        name: the facet value, e.g. "flowchart".
        patterns: phrases that settle the kind whatever the view ("a flowchart of ...").
        weak: phrases that settle it only when the description names no physical view ("curves",
            "circuitry": a "perspective view of a circuit board" stays a drawing).
    """

    name: str
    patterns: tuple[str, ...] = ()
    weak: tuple[str, ...] = ()


_ELEV = r"(?: elevation(?:al)?)?"  # "front elevation view", "left side elevational view"
_SIDE = r"(?:[- ]hand)?(?:[- ]side)?"  # "left-hand", "right side", "left-side"
_EDGE = r"(?: edge)?"  # "front edge view" of a sheet material

# In rank order, then table order. Russian phrases serve WO publications in Russian.
VIEW_TERMS: tuple[ViewTerm, ...] = (
    ViewTerm("exploded", 0, (r"\bexploded\b", r"\bdisassembled\b", r"разнесен")),
    ViewTerm(
        "sectional",
        1,
        (
            r"cross[- ]?section",
            r"\bsectional\b",
            r"\bsection(?:ed)? view",
            r"\bsection (?:taken|along|through|of)\b",
            r"\bin section\b",
            r"\bcut[- ]?away\b",
            r"\bcut(?: along| through| view)",
            r"\bcutting plane\b",
            r"\btaken (?:along|on|through) (?:the )?(?:line|plane)\b",
            r"\blongitudinal section\b",
            r"\bразрез",
            r"\bсечени",
        ),
    ),
    ViewTerm(
        "detail",
        2,
        (
            r"\bdetail(?:ed)? view\b",
            r"\bdetails? of\b",
            r"\benlarged\b",
            r"\bclose[- ]?up\b",
            r"\bmagnified\b",
            r"\bzoom(?:ed)?\b",
            r"\bpartial(?:ly)? enlarged\b",
            r"\bdetail\b",
            r"\bувеличен",
        ),
        physical=False,
    ),
    ViewTerm(
        "perspective",
        3,
        (
            r"\bperspective\b",
            r"\bisometric\b",
            r"\baxonometric\b",
            r"\bthree[- ]dimensional view\b",
            r"\b3-?d view\b",
        ),
    ),
    # the six orthographic directions: the one named first wins
    ViewTerm(
        "top",
        4,
        (
            r"\btop(?: plan)? view\b",
            r"\bview from (?:the )?(?:top|above)\b",
            r"\bfrom above\b",
            r"\boverhead view\b",
            r"\bbird'?s[- ]eye\b",
            r"\bis an? top thereof\b",
            r"\bвид сверху\b",
        ),
        broader="plan",
    ),
    ViewTerm(
        "bottom",
        4,
        (
            r"\bbottom(?: plan)? view\b",
            r"\bview from (?:the )?(?:bottom|below)\b",
            r"\bfrom below\b",
            r"\bunderside view\b",
            r"\bis an? bottom thereof\b",
            r"\bвид снизу\b",
        ),
    ),
    ViewTerm(
        "front",
        4,
        (
            rf"\bfront(?:al)?{_ELEV}{_EDGE} view\b",
            r"\bfront elevation(?:al)?\b",
            r"\bview from (?:the )?front\b",
            r"\bis an? front thereof\b",
            r"\bвид спереди\b",
        ),
    ),
    ViewTerm(
        "rear",
        4,
        (
            rf"\b(?:rear|back){_ELEV}{_EDGE} view\b",
            r"\b(?:rear|back) elevation(?:al)?\b",
            r"\bview from (?:the )?(?:rear|back)\b",
            r"\bis an? (?:rear|back) thereof\b",
            r"\bвид сзади\b",
        ),
    ),
    ViewTerm(
        "left",
        4,
        (
            rf"\bleft{_SIDE}{_ELEV}{_EDGE} view\b",
            rf"\bleft{_SIDE} elevation(?:al)?\b",
            r"\bview from (?:the )?left\b",
            r"\bis an? left(?: side)? thereof\b",
            r"\bвид слева\b",
        ),
        broader="side",
    ),
    ViewTerm(
        "right",
        4,
        (
            rf"\bright{_SIDE}{_ELEV}{_EDGE} view\b",
            rf"\bright{_SIDE} elevation(?:al)?\b",
            r"\bview from (?:the )?right\b",
            r"\bis an? right(?: side)? thereof\b",
            r"\bвид справа\b",
        ),
        broader="side",
    ),
    # views that name no direction
    ViewTerm("plan", 5, (r"\bplan view\b", r"\bplanar view\b", r"\bв плане\b")),
    ViewTerm(
        "side",
        5,
        (
            rf"\bside{_ELEV}{_EDGE} view\b",
            r"\bside elevation\b",
            r"\belevation(?:al)? view\b",
            r"\bin elevation\b",
            r"\blateral view\b",
            r"\bprofile view\b",
            r"\bview from (?:the )?side\b",
            r"\bвид сбоку\b",
        ),
    ),
    ViewTerm("schematic", 6, (r"\bschematic", r"\bdiagrammatic", r"\bсхема", r"\bсхематич"), physical=False),
)

# In precedence order: "drawing" is what a described figure is when no other kind is named.
KIND_TERMS: tuple[KindTerm, ...] = (
    KindTerm("drawing"),
    KindTerm(
        "flowchart",
        (
            r"flow[- ]?charts?",
            r"flow[- ]?diagrams?",
            r"process flows?",
            r"(?:method|process) steps",
            r"steps? (?:of|in) (?:a|an|the) (?:\w+ )?(?:method|process)\b",
            r"\bstate (?:transition )?diagram",
            r"\bsequence diagram",
            r"\bswim ?lanes?",
            r"\bблок-схем",
            r"\bалгоритм",
        ),
    ),
    KindTerm(
        "block diagram",
        (
            r"block diagram",
            r"schematic block",
            r"\bsystem diagram",
            r"functional diagram",
            r"architecture diagram",
            r"\bnetwork diagram",
            r"\bfunctional block",
            r"\bblock schematic",
            r"\bstructural diagram",
        ),
    ),
    KindTerm(
        "table",
        weak=(
            r"\b(?:is|shows?|illustrates?|depicts?|presents?|lists?)\s+(?:a|an|the)?\s*tables?\b",
            r"^\W*tables?\b",
            r"\btables? (?:showing|listing|of (?:data|results|values|parameters))",
            r"\btabular\b",
            r"\bтаблиц",
        ),
    ),
    KindTerm(
        "circuit",
        (
            r"circuit (?:diagram|schematic)",
            r"\bwiring diagram",
            r"\bequivalent circuit",
            r"\bschematic of (?:a|an|the) (?:\w+ )?circuit",
        ),
        weak=(r"\bcircuit(?:ry)?\b(?!\s*boards?)",),
    ),
    KindTerm(
        "chemical structure",
        (
            r"chemical (?:formula|structure)",
            r"structural formula",
            r"molecular structure",
            r"\bformula \(?[IVX]+\)?",
            r"reaction scheme",
            r"synthetic (?:route|scheme)",
            r"\bcompounds? of formula",
        ),
    ),
    KindTerm(
        "graph",
        (
            r"\bgraphs?\b",
            r"\bgraphical(?:ly)? (?:representation|illustration)",
            r"\b(?:bar |pie )?charts?\b",
            r"\bplots?\b",
            r"\bplotted\b",
            r"\bhistograms?\b",
            r"\btiming diagram",
            r"\bdiagram showing the relationship",
            r"\bcharacteristic (?:diagram|curve)",
            r"\bдиаграмм",
            r"\bграфик",
        ),
        weak=(
            r"\bcurves?\b",
            r"\brelationship between\b",
            r"\bas a function of\b",
            r"\bwaveforms?\b",
            r"\bspectr(?:um|a)\b",
            r"\bdose[- ]response\b",
            r"\bdata points\b",
            r"\bversus\b",
            r"\bvs\.",
            r"\bmeasured values\b",
            r"\bresults of\b",
        ),
    ),
)

UNKNOWN = "unknown"  # the facet value when nothing in the text says

# Allowed values of the two figure facets, as the tables give them.
VIEWS: tuple[str, ...] = (*(t.name for t in VIEW_TERMS), UNKNOWN)
KINDS: tuple[str, ...] = (*(t.name for t in KIND_TERMS), UNKNOWN)
PHYSICAL_VIEWS: frozenset[str] = frozenset(t.name for t in VIEW_TERMS if t.physical)


def views_within(view: str) -> tuple[str, ...]:
    """A view and the views that refine it: "plan" → ("plan", "top"), "side" → ("side", "left", "right")."""
    return (view, *(t.name for t in VIEW_TERMS if t.broader == view))


assert all(t.broader in VIEWS for t in VIEW_TERMS if t.broader)
