"""Plain words for what the tools compute: how strong a score is, what a modality is, what a filter keeps.

Replies are read by patent searchers, so they name things as a person would ("the drawing", "the text
linked to its reference numerals", "flowcharts only") rather than by the fields that hold them
(`visual`, `linked_text`, `kinds=flowchart`). Every function here is pure and works on plain values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.defaults import STRONG_SCORE, WEAK_SCORE

# what produced a modality score (ModalityScore.path, else the modality's name) → how a person says it
SOURCE_WORDS = {
    "visual": "the drawing",
    "clip_text": "the drawing, as the image model reads your words",
    "clip_text_to_image": "the drawing, as the image model reads your words",
    "text": "the text linked to its reference numerals",
    "linked_text": "the text linked to its reference numerals",
    "lexical": "the words of the document",
    "fts5_bm25": "the words of the document",
    "passage": "a passage of the document",
    "passage_text": "a passage of the document",
    "component": "the names of the parts drawn on it",
    "verified": "the drawing's details in the same arrangement",
    "lines": "the drawing's lines laid over the query's",
    "lines_laid_over": "the drawing's lines laid over the query's",
    "exact": "the drawing's pixels laid over the query's",
    "pixels_laid_over": "the drawing's pixels laid over the query's",
    "views": "the best-matching view of the same patent",
    "best_view_of_patent": "the best-matching view of the same patent",
    "local_features": "the drawing's details in the same arrangement",
    "component_label": "the names of the parts drawn on it",
    "words": "the words of the figure's own text (its description, parts, sentences and title)",
    "figure_words": "the words of the figure's own text (its description, parts, sentences and title)",
    "figure_passages": "the closest passage of the figure's text (its description, a part's name, its title)",
}
SHORT_WORDS = {"visual": "drawing", "clip_text": "drawing", "text": "text", "lexical": "document text",
               "passage": "passage", "component": "part names", "words": "word", "verified": "verified detail",
               "lines": "line overlay", "exact": "pixel overlay",
               "views": "patent's best view"}
METHOD_WORDS = {
    "odds": "the weighted mean of the log-odds of the calibrated scores, turned back into a relevance",
    "avg": "a weighted average",
    "max": "the best of the weighted scores",
    "minmax": "a weighted average of scores rescaled between the weakest and the best match of this search",
    "rrf": "reciprocal-rank fusion (each list adds weight / (60 + rank))",
    "single": "one kind of evidence alone",
}
ORDINALS = {1: "first", 2: "second", 3: "third"}


def strength(score: float) -> str:
    """"strong", "fair" or "weak": how good a match a score on the calibrated scale is (core.defaults)."""
    if score >= STRONG_SCORE:
        return "strong"
    return "fair" if score >= WEAK_SCORE else "weak"


def source_words(modality: str, path: str = "") -> str:
    """What a modality compares, in words: "the drawing", "the text linked to its reference numerals"."""
    return SOURCE_WORDS.get(path) or SOURCE_WORDS.get(modality) or f"the {modality.replace('_', ' ')} score"


def short_words(modality: str) -> str:
    """A one-word name of a modality for lists: "drawing", "text"."""
    return SHORT_WORDS.get(modality, modality.replace("_", " "))


def ordinal(n: int) -> str:
    """"first", "second", "third", then "4th", "11th", "22nd"."""
    if n in ORDINALS:
        return ORDINALS[n]
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def and_list(items: Sequence[str], limit: int = 8, word: str = "and") -> str:
    """"a", "a and b", "a, b and c"; beyond `limit` items: "a, b, … and 4 more". `word` may be "or"."""
    items = [str(x) for x in items if str(x)]
    if len(items) > limit:
        return ", ".join(items[:limit]) + f" and {len(items) - limit} more"
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {word} " + items[-1]


def plural(n: int, noun: str) -> str:
    """"1 figure", "3 figures", "2 block diagrams"."""
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun[:-1] + 'ies' if noun.endswith('y') and noun[-2:-1] not in 'aeiou' else noun + 's'}"


def figure_words(figs: Sequence[str], sheet_no: int, patent_id: str) -> str:
    """"FIG. 3 on sheet 4 of US12448135" (or "sheet 4 of US12448135" when no FIG number is known)."""
    where = f"sheet {sheet_no} of {patent_id}"
    if not figs:
        return where
    return ("FIG. " if len(figs) == 1 else "FIGS. ") + and_list(list(figs)) + " on " + where


def filters_words(described: Mapping[str, object]) -> str:
    """A filter as a person says it: {"kinds": ["flowchart"], "offices": ["EP"]} → "flowcharts only; EP documents
    only". Each part reads after "keeping" ("keeping flowcharts only") and as a set's name.

    Takes `Filters.describe()`; a field without its own phrasing is said as "<field in words> <values>".
    """
    parts = []
    for key, val in described.items():
        values = [str(v) for v in val] if isinstance(val, list | tuple) else [str(val)]
        parts.append(_filter_part(key, values))
    return "; ".join(p for p in parts if p)


def _filter_part(key: str, values: list[str]) -> str:
    listed = and_list(values, 20, "or")
    phrases = {
        "kinds": lambda: and_list([plural(2, v).removeprefix("2 ") for v in values], 20, "or") + " only",
        "views": lambda: f"{listed} views only",
        "cpc": lambda: f"CPC {listed} only",
        "offices": lambda: f"{listed} documents only",
        "kind_codes": lambda: f"kind code {listed} only",
        "date_from": lambda: f"documents published on or after {_date(values[0])}",
        "date_to": lambda: f"documents published on or before {_date(values[0])}",
        "include_ids": lambda: f"{' and '.join(values)} only",
        "exclude_ids": lambda: f"all but {' and '.join(values)}",
        "has_components": lambda: ("figures with labelled parts only" if values[0] == "True"
                                   else "figures without labelled parts only"),
    }
    if key in phrases:
        return phrases[key]()
    return f"{key.replace('_', ' ')} {listed}"


def _date(value: str) -> str:
    """"20150101" → "2015-01-01"; anything else as it is."""
    return f"{value[:4]}-{value[4:6]}-{value[6:]}" if len(value) == 8 and value.isdigit() else value
