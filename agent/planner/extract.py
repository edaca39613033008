"""Small parsers: the values inside a request (ranks, numbers, dates, facets) and what is left once they are read.

Each one is pure (text in, values out). The request rules in `agent.planner.parsing` combine them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from agent.planner.vocabulary import (
    APPLICATIONS,
    APPLICATIONS_OF,
    CPC_WORD,
    DATE_PHRASES,
    GENERIC,
    GRANTED,
    KIND_CODE,
    KIND_WORDS,
    NEG_WORD,
    NUMBER_WORDS,
    OFFICE_WORDS,
    ORDINALS,
    RANK,
    VIEW_WORDS,
    WITH_COMPONENTS,
    YEAR,
)
from core.patnum import FIGURE_ID_IN_TEXT, PATENT_ID_IN_TEXT, patent_ids_in
from core.request import search_words


def ranks_in(text: str) -> list[int]:
    """Result ranks mentioned: "#2", "number 3", "the third one" (last = -1), in order of mention."""
    out = []
    for m in RANK.finditer(text):
        if m.group(1) or m.group(2):
            out.append(int(m.group(1) or m.group(2)))
        else:
            out.append(ORDINALS[m.group(3).lower()])
    return out


def number_of(word: str) -> int | None:
    """A small number as digits or a word ("3", "three"), or None."""
    w = word.lower()
    if w.isdigit():
        return int(w)
    return NUMBER_WORDS.get(w)


def _year_date(m: re.Match, *, end: bool) -> int:
    y = int(m.group(1))
    if m.group(2):
        return int(f"{y}{m.group(2)}{m.group(3)}")
    return y * 10000 + (1231 if end else 101)


def shift_date(yyyymmdd: int, days: int) -> int:
    """A yyyymmdd date moved by some days (invalid dates are returned unchanged)."""
    try:
        d = dt.date(yyyymmdd // 10000, yyyymmdd // 100 % 100, yyyymmdd % 100) + dt.timedelta(days=days)
    except ValueError:
        return yyyymmdd
    return d.year * 10000 + d.month * 100 + d.day


def _date_values(kind: str, m: re.Match) -> dict[str, int]:
    """date_from / date_to for one matched date phrase of a kind of `DATE_PHRASES`."""
    if kind == "range":
        years = list(re.finditer(YEAR, m.group(0)))
        return {"date_from": _year_date(years[0], end=False), "date_to": _year_date(years[-1], end=True)}
    if kind == "after":
        y = int(m.group(1))
        return {"date_from": (y + 1) * 10000 + 101 if not m.group(2) else shift_date(_year_date(m, end=False), 1)}
    if kind == "since":
        return {"date_from": _year_date(m, end=False)}
    if kind == "before":
        y = int(m.group(1))
        return {"date_to": (y - 1) * 10000 + 1231 if not m.group(2) else shift_date(_year_date(m, end=False), -1)}
    if kind == "until":
        return {"date_to": _year_date(m, end=True)}
    # "in"
    return {"date_from": _year_date(m, end=False),
            "date_to": _year_date(m, end=True) if not m.group(2) else _year_date(m, end=False)}


def parse_dates(text: str) -> tuple[dict[str, int], str]:
    """date_from / date_to from "after 2015", "since 2018", "before 2019", "between 2015 and 2018", "in 2019".

    Returns the values and the text with the date phrases removed.
    """
    out: dict[str, int] = {}
    t = text
    for pat, kind in DATE_PHRASES:
        m = re.search(pat, t, re.IGNORECASE)
        if not m:
            continue
        out.update(_date_values(kind, m))
        t = t[: m.start()] + " " + t[m.end():]
    return out, t


def _take(patterns: list[tuple[str, str]], text: str, *, flags: int = re.IGNORECASE) -> tuple[list[str], str]:
    found: list[str] = []
    t = text
    for pat, value in patterns:
        rx = re.compile(rf"(?<![\w-])(?:{pat})(?![\w-])", flags)
        if rx.search(t):
            found.append(value)
            t = rx.sub(" ", t)
    return list(dict.fromkeys(found)), t


def _take_flags(text: str) -> tuple[dict[str, bool], str]:
    """"granted", "applications", "with components" as flags, and the text without them."""
    values: dict[str, bool] = {}
    t = text
    if GRANTED.search(t):
        values["granted"] = True
        t = GRANTED.sub(" ", t)
    if APPLICATIONS.search(t) and not APPLICATIONS_OF.search(t):
        values["applications"] = True
        t = APPLICATIONS.sub(" ", t)
    if WITH_COMPONENTS.search(t):
        values["has_components"] = True
        t = WITH_COMPONENTS.sub(" ", t)
    return values, t


def parse_facets(text: str) -> tuple[dict[str, Any], str]:
    """Facet values named in a phrase, and what is left of the phrase once they are removed."""
    values: dict[str, Any] = {}
    t = FIGURE_ID_IN_TEXT.sub(" ", text)
    ids = patent_ids_in(t)
    if ids:
        values["only_patents"] = ids
        t = PATENT_ID_IN_TEXT.sub(" ", t)
    dates, t = parse_dates(t)
    values.update(dates)
    kinds, t = _take(KIND_WORDS, t)
    views, t = _take(VIEW_WORDS, t)
    offices: list[str] = []
    for rx, value in OFFICE_WORDS:
        if rx.search(t):
            offices.append(value)
            t = rx.sub(" ", t)
    cpc = [c.upper() for c in CPC_WORD.findall(t)]
    t = CPC_WORD.sub(" ", t)
    codes = KIND_CODE.findall(t)
    t = KIND_CODE.sub(" ", t)
    flags, t = _take_flags(t)
    values.update(flags)
    if kinds:
        values["kinds"] = kinds
    if views:
        values["views"] = views
    if offices:
        values["offices"] = offices
    if cpc:
        values["cpc"] = list(dict.fromkeys(cpc))
    if codes:
        values["kind_codes"] = list(dict.fromkeys(c.upper() for c in codes))
    return values, t


_NEGATED = {"kinds": "exclude_kinds", "views": "exclude_views", "offices": "exclude_offices",
            "kind_codes": "exclude_kind_codes", "cpc": "exclude_cpc", "only_patents": "exclude_patents"}


def negate_values(values: dict[str, Any]) -> dict[str, Any]:
    """The filter values that exclude what `values` names: "no flowcharts" → exclude_kinds, "not before 2015" →
    from 2015 on, "not granted" → applications. Raises ValueError for what one filter cannot exclude."""
    if "date_from" in values and "date_to" in values:
        raise ValueError("I cannot leave out a span of dates; I can keep only what is before or after it")
    out: dict[str, Any] = {_NEGATED[k]: v for k, v in values.items() if k in _NEGATED}
    if "date_from" in values:
        out["date_to"] = shift_date(values["date_from"], -1)
    if "date_to" in values:
        out["date_from"] = shift_date(values["date_to"], 1)
    if "has_components" in values:
        out["has_components"] = not values["has_components"]
    if values.get("granted"):
        out["applications"] = True
    if values.get("applications"):
        out["granted"] = True
    return out


def split_negation(text: str) -> tuple[str, str]:
    """(what is asked for, what is excluded): "only EP but no flowcharts" → ("only EP", "flowcharts")."""
    m = NEG_WORD.search(text)
    if m is None:
        return text, ""
    return text[: m.start()], text[m.end():]


def facets_with_negation(text: str) -> tuple[dict[str, Any], str, str]:
    """Facet values of a phrase with an excluded part, the topic left in the asked part, and in the excluded one.

    "only flowcharts but no EP" → ({"kinds": ["flowchart"], "exclude_offices": ["EP"]}, "", "").
    Raises ValueError for an exclusion one filter cannot express.
    """
    asked, excluded = split_negation(text)
    values, rest = parse_facets(asked)
    neg, neg_rest = parse_facets(excluded) if excluded else ({}, "")
    values.update(negate_values(neg))
    return values, leftover_topic(rest), leftover_topic(neg_rest)


def facet_tail(query: str) -> tuple[dict[str, Any], str]:
    """Facets said at the end of a search ("a hinge, exploded views only", "charging after 2018", "turbines but
    no EP"): the values and the query without them. The longest tail made only of facets is taken."""
    words = query.split()
    for i in range(1, len(words)):
        tail = " ".join(words[i:])
        try:
            values, topic, neg_topic = facets_with_negation(tail)
        except ValueError:
            continue
        head = " ".join(words[:i]).rstrip(" ,;:")
        if NEG_WORD.search(head + " ") and not split_negation(head)[1].strip():
            continue  # "everything except | the graphs": the tail is what is excluded
        if values and not topic and not neg_topic and leftover_topic(head):
            return values, head
    return {}, query


def leftover_topic(text: str) -> str:
    """The domain phrase left after facets and filler words: "autonomous-driving drawings" → "autonomous driving"."""
    t = re.sub(r"[^\w\s'-]", " ", text)
    words = [w for w in re.split(r"\s+", t) if w]
    generic = re.compile(rf"^(?:{GENERIC})$", re.IGNORECASE)
    kept = [w for w in words if not generic.match(w)]
    phrase = " ".join(kept).replace("-", " ").strip(" '")
    phrase = re.sub(r"^(?:about|on|for|regarding)\s+", "", phrase, flags=re.I)
    phrase = re.sub(r"\s+(?:ones?|related|stuff|things?|related ones?)$", "", phrase, flags=re.I)
    return phrase.strip()


def clean_query(text: str) -> str:
    """The search words of a new-search request: "show me drawings of a gripping unit" → "gripping unit"
    (`core.request.search_words`)."""
    return search_words(text)
