"""A figure's own text, as words search reads it: its fields for word matching and its passages for dense matching.

The figure is the unit a searcher looks at, so words are matched per figure, not per patent:

- **Fields** (`figure_fields`), matched word by word (bm25 in the store's ``figure_lexical`` FTS5 table, then
  `tools.words` weighs which words matched where): the figure's FIG description, the labels of the reference
  signs OCR read inside it ("107 hydrogen tanks"), the sentences that mention those signs, and the patent's
  title.
- **Passages** (`figure_passages`), each embedded on its own so that nothing is cut at the text encoder's
  256-word-piece limit: the FIG description of each figure, the label of each reference sign drawn on some
  figure (shared by every figure that shows it), and the title (shared by every figure of the patent). A
  figure's dense score is its best passage (`passage_ids`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from core.textnorm import stem
from core.types import Patent, Sheet

FIELDS = ("description", "components", "sentences", "title")
FIELD_WORD = re.compile(r"[a-z][a-z\-]*[a-z]|[a-z]|\d+[a-z]?")  # a word of a field, or a numeral ("107", "12a")


@dataclass(frozen=True)
class FigurePassage:
    """One passage of a patent's figure text: its id, text and kind ("description", "component", "title")."""

    id: str
    text: str
    kind: str


def description_passage_id(figure_id: str) -> str:
    return f"{figure_id}#d"


def title_passage_id(patent_id: str) -> str:
    return f"{patent_id}#t"


def component_passage_id(patent_id: str, numeral: str) -> str:
    return f"{patent_id}#c{numeral}"


def passage_kind(passage_id: str) -> str:
    """The kind of passage an id names (see `FigurePassage.kind`)."""
    tail = passage_id.rpartition("#")[2]
    return {"d": "description", "t": "title"}.get(tail[:1], "component")


def component_line(numeral: str, label: str) -> str:
    return f"{numeral} {label}".strip()


def figure_fields(patent: Patent, sheet: Sheet) -> dict[str, str]:
    """The four word-matching fields of one figure (see the module docstring)."""
    return {
        "description": sheet.description,
        "components": "\n".join(component_line(c.numeral, c.label) for c in sheet.components),
        "sentences": "\n".join(sheet.linked_sentences),
        "title": patent.title,
    }


def figure_passages(patent: Patent, sheets: Sequence[Sheet]) -> list[FigurePassage]:
    """The passages of a patent's figures, each text once (see the module docstring)."""
    out: list[FigurePassage] = []
    for s in sheets:
        if s.description.strip():
            out.append(FigurePassage(description_passage_id(s.figure_id), s.description, "description"))
    labels: dict[str, str] = {}
    for s in sheets:
        for c in s.components:
            if c.label.strip():
                labels.setdefault(c.numeral, c.label)
    out.extend(FigurePassage(component_passage_id(patent.patent_id, n), lbl, "component") for n, lbl in labels.items())
    if patent.title.strip():
        out.append(FigurePassage(title_passage_id(patent.patent_id), patent.title, "title"))
    return out


def passage_ids(sheet: Sheet) -> list[str]:
    """The ids of every passage that stands for this figure (some may not exist: an empty description)."""
    ids = [description_passage_id(sheet.figure_id), title_passage_id(sheet.patent_id)]
    ids.extend(dict.fromkeys(component_passage_id(sheet.patent_id, c.numeral) for c in sheet.components))
    return ids


class StoredStems:
    """A field's stems as the store keeps them, one space-separated string, asked for membership without
    building a set: half the time of `set(text.split())` for a query's ~280 candidates (measured)."""

    __slots__ = ("_padded",)

    def __init__(self, joined: str) -> None:
        self._padded = f" {joined} "

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and bool(word) and " " not in word and f" {word} " in self._padded

    def __iter__(self) -> Iterator[str]:
        return iter(self._padded.split())


def field_words(text: str) -> list[str]:
    """A field's lower-case words (`FIELD_WORD`), a hyphenated word also as its parts ("hot-dip" → "hot-dip",
    "hot", "dip"), as FTS5's tokenizer splits it: "hot dip" finds "hot-dip plating" and "hot-dip" finds "hot dip"."""
    words = FIELD_WORD.findall(text.lower())
    if "-" not in text:
        return words
    return words + [p for w in words if "-" in w for p in w.split("-") if p]


def field_stems(text: str) -> set[str]:
    """The Snowball stems of a field's words (`field_words`): what word matching compares a query's words with.
    The store keeps them per figure, written with its fields (`store.figure_lexical`), because computing them per
    query is most of a text query's Python time (~0.1 ms per candidate's linked sentences)."""
    return {stem(w) for w in set(field_words(text))}
