"""The facts an explanation is built from, as types: a hit's per-modality contributions, its components, all
its facts, and the results (`Explanation`, `Comparison`).

`tools.explain` gathers them from hits and the index; `tools.explain_words` turns them into sentences. Both
import these types from here, so neither imports the other's types.
"""

from __future__ import annotations

from typing import TypedDict

from pydantic import BaseModel, Field


class Explanation(BaseModel):
    """A text for the user and the facts it was built from (every number in the text is here)."""

    text: str
    facts: dict[str, object]  # for one hit: the keys of `HitFacts`; for a pair: higher, lower and their differences


class Comparison(BaseModel):
    """What a group of patents has in common and what sets each apart."""

    patent_ids: list[str]
    titles: dict[str, str]
    component_source: dict[str, str]  # per patent: "figures" (OCR-linked on the compared sheets) or "text"
    shared_components: list[str]  # normalised labels present in every patent
    partly_shared_components: dict[str, list[str]] = Field(default_factory=dict)  # label → patents (2+, not all)
    distinct_components: dict[str, list[str]]  # per patent: labels no other patent has
    cpc_shared: list[str]  # CPC subclasses of every patent
    cpc_distinct: dict[str, list[str]]
    kinds: dict[str, dict[str, int]]  # per patent: figure kind → number of sheets
    key_terms_shared: list[str]
    key_terms_distinct: dict[str, list[str]]
    text: str


class Contribution(TypedDict):
    """One modality's part in a hit's score (see the module docstring)."""

    present: bool  # whether the hit is in this modality's candidate list
    raw: float | None
    norm: float
    calibrated: float | None  # the calibrated relevance, when the search computed one
    rank: int | None
    path: str
    weight: float
    share: float  # the weight's share of all weights
    contribution: float


class ComponentFact(TypedDict):
    """A reference sign as an explanation quotes it."""

    numeral: str
    label: str


class HitFacts(TypedDict):
    """Everything an explanation of one hit says, with its numbers."""

    rank: int
    set_size: int  # figures in the result set the hit belongs to
    figure_id: str
    patent_id: str
    title: str
    sheet_no: int
    figs: list[str]
    kind: str
    view: str
    score: float
    fused: float
    method: str
    weights: dict[str, float]
    modalities: dict[str, Contribution]
    recomputed: float  # the score as the contributions give it
    top_modality: str | None
    matched_terms: list[str]
    matched_components: list[ComponentFact]
    matched_in: dict[str, str]  # query word → where in the figure it was found (searches by words)
    passage: str  # the figure's passage closest to the query words, and its kind
    passage_kind: str
    filters: dict[str, object]
    query: dict[str, object]
    query_terms: list[str]  # the query's words matched against the linked text (text searches only, else [])
    fig_descriptions: dict[str, str]  # FIG → its description ("sheet" → the sheet's when no FIG has one)
    components: list[ComponentFact]
    passages: list[str]
