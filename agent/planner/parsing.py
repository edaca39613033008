"""Reading a request: one rule per kind of request, tried in the order of `RULES`; the first that fits decides.

A rule looks at the request (its text, the ranks and patent ids in it, whether there is an image and a
current set) and returns a `Plan`, or None to let the next rule try. The order matters: "keep group 2"
is a group, not a refinement; "why is #2 above #5" is an explanation, not a pair of ranks to compare.
Whatever no earlier rule takes is a new search.

`plan()` is pure (text in, steps out), so it is easy to test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.planner import vocabulary
from agent.planner.extract import (
    clean_query,
    facet_tail,
    facets_with_negation,
    leftover_topic,
    negate_values,
    number_of,
    parse_facets,
    ranks_in,
)
from agent.planner.vocabulary import (
    APPLICANT,
    APPLICANT_QUESTION,
    ASKS_HELP,
    CLUSTER,
    CLUSTER_K,
    COMPARE,
    COUNT,
    COUNT_LEAD,
    COUNT_WORDS,
    DROP,
    EXPLAIN_LEAD,
    FACET_HEAD,
    FEWER,
    FIG_REF,
    FIGURE_QUESTION,
    GOTO,
    GROUP,
    GROUP_OR_SET,
    GROUP_WORD,
    IN_THIS_FIGURE,
    KEEP,
    KEEP_WORD,
    LESS_TEXT,
    LEXICAL,
    LEXICAL_LEAD,
    MORE,
    MORE_LIKE,
    MORE_LIKE_HEAD,
    MORE_TEXT,
    NEG_FACET,
    ORDER,
    ORDER_ASC,
    ORDER_DATE,
    ORDER_DESC,
    ORDER_PATENT,
    ORDER_SCORE,
    PAIR,
    PART,
    PART_FIGURES,
    PART_NAME,
    PATENT_REF,
    RANK_WORDS,
    REFINE_LEAD,
    SEARCH_VERB,
    SHOW,
    SHOWS,
    SIMILAR_WORD,
    THIS,
    UNDO,
    WEIGHT_VALUE,
    WEIGHT_WORD,
    WHY,
    WITHIN_SET,
)
from core.patnum import FIGURE_ID_IN_TEXT, patent_ids_in
from core.request import search_words

SCOPED_ACTIONS = ("filter", "drop", "narrow")  # refinements that search again unless told "among these"
# A message longer than this is a pasted text (an abstract, a claim) to search with, not a request to the chat:
# no rule reads it (its words would look like commands: "compare", "only", "before 2015"). Actions.search
# searches a text over core.request.MAX_QUERY_CHARS by its first part and says so.
PASTE_CHARS = 400


@dataclass
class Step:
    """One action to run: the name of an `Actions` method and its arguments."""

    action: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    """The steps for one request, or a reply to give without running anything."""

    steps: list[Step] = field(default_factory=list)
    reply: str = ""  # help text or a question back, when there is nothing to run


@dataclass(frozen=True)
class Request:
    """A request as the rules see it: its text, the ranks and patent ids it mentions, and its context."""

    text: str
    lowered: str
    has_image: bool
    has_results: bool
    ranks: list[int]
    ids: list[str]

    @classmethod
    def read(cls, text: str, *, has_image: bool, has_results: bool) -> Request:
        return cls(text, text.lower(), has_image, has_results, ranks_in(text), patent_ids_in(text))


def _one(action: str, args: dict[str, Any] | None = None) -> Plan:
    return Plan([Step(action, args if args is not None else {})])


# ---------------------------------------------------------------- sets and groups


def _help(r: Request) -> Plan | None:
    return Plan(reply="help") if ASKS_HELP.match(r.text) else None


def _undo(r: Request) -> Plan | None:
    return _one("undo") if UNDO.match(r.text) else None


def _goto(r: Request) -> Plan | None:
    m = GOTO.match(r.text)
    return _one("goto", {"set_id": int(m.group(1))}) if m else None


def _show(r: Request) -> Plan | None:
    return _one("show") if SHOW.match(r.text) else None


def _group(r: Request) -> Plan | None:
    """"what is in group 2", "keep group 1"."""
    g = GROUP.search(r.text)
    if not (g and not CLUSTER_K.search(r.text) and GROUP_WORD.search(r.lowered)):
        return None
    n = number_of(g.group(1)) or 1
    keep = bool(KEEP.search(r.text[: g.start()])) or bool(KEEP_WORD.search(r.lowered))
    return _one("group", {"group": n, "keep": keep})


def _cluster(r: Request) -> Plan | None:
    """"cluster these into 4 groups", "group them"."""
    if not (CLUSTER.search(r.text) and (r.has_results or CLUSTER_K.search(r.text)) and not WHY.search(r.text)):
        return None
    km = CLUSTER_K.search(r.text)
    return _one("cluster", {"k": number_of(km.group(1)) if km else None})


# ---------------------------------------------------------------- the order and size of a set

ORDER_CHOICES = "by publication date (oldest or newest first), by score, or by patent"
NOTHING_ASKED = ("Say what the drawings should show, for example 'figures showing a hydrogen tank' or 'flowcharts of "
                 "charging an electric vehicle' (or attach a drawing). Type 'help' to see all I can do.")
NO_RESULTS_YET = "There are no results yet. Say what to search for first, for example 'drawings of a hinge'."


def _order(r: Request) -> Plan | None:
    """"sort by date", "newest first", "order them by score", "sort by patent"."""
    m = ORDER.search(r.text)
    if m is None or CLUSTER_K.search(r.text):
        return None
    if not r.has_results:
        return Plan(reply=NO_RESULTS_YET)
    if m.group("reverse"):
        return _one("order", {"_reverse": True})
    said = " ".join(x for x in (m.group("key"), m.group("first"), m.group("chrono")) if x).strip()
    by = next((key for key, rx in (("date", ORDER_DATE), ("score", ORDER_SCORE), ("patent", ORDER_PATENT))
               if rx.search(said)), None)
    if (m.group("verb") or "").lower() == "group" and by != "patent":
        return None  # "group by similarity" is a clustering
    if by is None:
        return Plan(reply=f"I can order the results {ORDER_CHOICES}, but not by '{said}'.")
    args: dict[str, Any] = {"by": by}
    if ORDER_DESC.search(r.text):
        args["descending"] = True
    elif ORDER_ASC.search(r.text):
        args["descending"] = False
    return _one("order", args)


def _count(r: Request) -> Plan | None:
    """"give me 50", "only the top 5", "10 more", "more", "fewer"."""
    m = COUNT.match(r.text)
    if m is not None and m.group(0).strip().isdigit():  # a bare number says nothing
        m = None
    more, fewer = MORE.match(r.text), FEWER.match(r.text)
    if not (m or more or fewer):
        return None
    if not r.has_results:
        return Plan(reply=NO_RESULTS_YET)
    if more or fewer:
        return _one("resize", {"more": True} if more else {"_fewer": True})
    assert m is not None
    n = number_of(m.group("n")) or COUNT_WORDS.get(m.group("n").lower(), 0)
    return _one("resize", {"_add": n} if m.group("more") else {"k": n})


# ---------------------------------------------------------------- references to a result's patent


def _patent_ref(r: Request) -> Plan | None:
    """"just that patent, #3", "only the patent of #4", "drop that patent", "the same applicant as #2"."""
    if not r.has_results:
        return None
    ref: dict[str, Any] = {"rank": r.ranks[0]} if r.ranks else (
        {"patent_id": r.ids[0]} if r.ids else {"_rank_patent": 0})
    if APPLICANT_QUESTION.match(r.text):
        return _one("applicant", ref)
    if APPLICANT.search(r.text):
        return _one("same_applicant", ref)
    if not PATENT_REF.search(r.text) or SIMILAR_WORD.search(r.lowered) or r.ids:
        return None
    if DROP.match(r.text):
        return _one("drop", {"_rank_patents": r.ranks or [0]})
    return _one("filter", {"_rank_patent": r.ranks[0] if r.ranks else 0})


# ---------------------------------------------------------------- understanding


def _figure_question(r: Request) -> Plan | None:
    """"what is shown in FIG 2 of #4?", "what does #2 show?", "describe figure 3 of the second result"."""
    why = WHY.search(r.text) and not SHOWS.search(r.text)  # "explain what #4 shows" is about the figure
    if not (FIGURE_QUESTION.search(r.text) or SHOWS.search(r.text)) or COMPARE.search(r.text) or why:
        return None
    fig = FIG_REF.search(r.text)
    ranks = ranks_in(FIG_REF.sub(" ", r.text))
    if not (fig or ranks or r.ids or THIS.search(r.text) or PATENT_REF.search(r.text)):
        return None
    args: dict[str, Any] = {"rank": ranks[0]} if ranks else ({"patent_id": r.ids[0]} if r.ids else {})
    if fig:
        args["fig"] = fig.group(1).upper()
    return _one("figure", args)


def _part_by_sign(r: Request) -> Plan | None:
    """"what is part 104 in this figure?", "what does 12a refer to in #2?"."""
    pm = PART.search(r.text)
    if not pm or GROUP_OR_SET.search(r.text[max(0, pm.start() - 8): pm.start()]):
        return None
    sign = next(g for g in pm.groups() if g)
    if r.ranks and f"#{sign}" in r.text.replace("# ", "#"):
        return None
    args: dict[str, Any] = {"sign": sign}
    if r.ranks:
        args["rank"] = r.ranks[0]
    elif r.ids:
        args["patent_id"] = r.ids[0]
    return _one("part", args)


def _part_by_name(r: Request) -> Plan | None:
    """"where is the nacelle in this figure?"."""
    nm = PART_NAME.search(r.text)
    if not (nm and (r.ranks or THIS.search(r.text) or IN_THIS_FIGURE.search(r.lowered))):
        return None
    args: dict[str, Any] = {"sign": nm.group(1).strip()}
    if r.ranks:
        args["rank"] = r.ranks[0]
    return _one("part", args)


def _why(r: Request) -> Plan | None:
    """"why is #1 ranked first?", "why is #2 above #5?", "why is US12448135 there?"."""
    if not (WHY.search(r.text) and (r.ranks or r.ids or RANK_WORDS.search(r.lowered))):
        return None
    ranks, ids = r.ranks, r.ids
    if len(ranks) >= 2 or (ranks and ids):
        return _one("explain", {"rank": ranks[0], "other_rank": ranks[1] if len(ranks) > 1 else None,
                                "_other_patent": ids[0] if len(ranks) < 2 else None})
    if ids and not ranks:
        return _one("explain", {"_patent": ids[0]})
    return _one("explain", {"rank": ranks[0] if ranks else 1})


def _rank_pair(r: Request) -> Plan | None:
    """"#2 vs #7"."""
    if len(r.ranks) >= 2 and PAIR.search(r.text) and not COMPARE.search(r.text):
        return _one("explain", {"rank": r.ranks[0], "other_rank": r.ranks[1]})
    return None


def _compare(r: Request) -> Plan | None:
    """"what do these have in common?", "compare #1 and #4", "compare US… and EP…"."""
    if not COMPARE.search(r.text):
        return None
    if len(r.ids) >= 2:
        return _one("compare", {"patent_ids": r.ids})
    return _one("compare", {"ranks": r.ranks} if len(r.ranks) >= 2 else {})


def _explain(r: Request) -> Plan | None:
    """"explain #3"."""
    return _one("explain", {"rank": r.ranks[0] if r.ranks else 1}) if EXPLAIN_LEAD.match(r.lowered) else None


# ---------------------------------------------------------------- weights and more like


def _weight_value(r: Request) -> Plan | None:
    """"set the text weight to 0.8", "text weight 30%"."""
    wv = WEIGHT_VALUE.search(r.text)
    if not (wv and WEIGHT_WORD.search(r.lowered)):
        return None
    raw = wv.group(1).replace(" ", "")
    value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    return _one("reweight", {"text_weight": value})


def _weight_step(r: Request) -> Plan | None:
    """"give text more weight", "rely more on the image"."""
    if MORE_TEXT.search(r.text):
        return _one("reweight", {"more_text": True})
    if LESS_TEXT.search(r.text):
        return _one("reweight", {"more_text": False})
    return None


def _more_like(r: Request) -> Plan | None:
    """"more like #3", "similar to the third one", "more like US12448895-S1"."""
    fid = FIGURE_ID_IN_TEXT.search(r.text)
    head = MORE_LIKE_HEAD.search(r.text)
    this = THIS.search(r.text) and not r.has_image and r.has_results
    if not (MORE_LIKE.search(r.text) and (r.ranks or fid or (r.ids and head) or this)):
        return None
    if not (head or SIMILAR_WORD.search(r.lowered)):
        return None
    if r.ranks:
        return _one("more_like", {"rank": r.ranks[0]})
    if fid:
        return _one("more_like", {"figure_id": fid.group(1).upper()})
    if r.ids:
        return _one("more_like", {"figure_id": r.ids[0]})
    return _one("more_like", {})


# ---------------------------------------------------------------- search tools


def _tool_phrase(r: Request) -> Plan | None:
    """A search tool's phrasing from `vocabulary.TOOL_PHRASES` (read at call time, so a table extended at run
    time is seen): "figures with the code B2" → run_search(tool="find_by_code", code="B2")."""
    for phrase in vocabulary.TOOL_PHRASES:
        m = phrase.trigger.match(r.text)
        if m is None:
            continue
        raw = m.group("value") if "value" in phrase.trigger.groupindex else r.text[m.end():]
        value = (raw or "").strip(" \t'\".,;:!?")
        if value:
            return _one("run_search", {"tool": phrase.tool, phrase.arg: value})
    return None


# ---------------------------------------------------------------- refining the current set


def _drop(r: Request) -> Plan | None:
    """"drop US12448135", "drop #2 and #4", "remove the flowcharts"."""
    if not (DROP.match(r.text) and r.has_results):
        return None
    if r.ids or r.ranks:
        return _one("drop", {"patent_ids": r.ids, "ranks": [x for x in r.ranks if x > 0]})
    values, rest = parse_facets(DROP.sub("", r.text, count=1))
    if values:
        try:
            return _one("filter", negate_values(values))
        except ValueError as e:
            return Plan(reply=f"{e}.")
    topic = leftover_topic(rest)
    if topic:
        return Plan(reply=f"I can drop patents (e.g. 'drop US12448135'), results ('drop #3') or a kind of figure "
                          f"('drop the flowcharts'), but not '{topic}'.")
    return None


def _refine(r: Request) -> Plan | None:
    """"only the flowcharts", "no graphs", "anything except EP", "only EP but no flowcharts", "not before 2015",
    "only EP flowcharts about electric vehicle charging"."""
    if not r.has_results or LEXICAL.search(r.text) is not None:
        return None
    lead = REFINE_LEAD.match(r.text)
    neg = NEG_FACET.match(r.text)
    try:
        values, topic, neg_topic = facets_with_negation(r.text[lead.end():] if lead else r.text)
    except ValueError as e:
        return Plan(reply=f"{e}.")
    if neg_topic and (lead or neg or values):
        return Plan(reply=f"I can leave out offices, figure kinds, views, kind codes, CPC classes, dates or patents, "
                          f"but '{neg_topic}' is none of these. To drop single results, say 'drop #3'.")
    excludes = any(key.startswith("exclude_") for key in values) or bool(neg)
    facet_first = values and not topic and (excludes or not SEARCH_VERB.match(r.text))
    if not (lead or facet_first or (neg and values)):
        return None
    steps = []
    if values:
        steps.append(Step("filter", values))
    if topic:
        steps.append(Step("narrow", {"topic": topic}))
    if steps:
        return Plan(steps)
    if r.ids:
        return _one("filter", {"only_patents": r.ids})
    return None


# ---------------------------------------------------------------- new searches


def _keyword_search(r: Request) -> Plan | None:
    """Boolean queries: "windmill AND turbine", 'title:"wind turbine" NOT claims:blade'."""
    if LEXICAL.search(r.text) and not r.has_image:
        return _one("keyword_search", {"query": LEXICAL_LEAD.sub("", r.text)})
    return None


def _image_search(r: Request) -> Plan | None:
    """With an attached image: "find figures like this one", "like this but with a cooling channel"."""
    if not r.has_image:
        return None
    q = search_words(r.text)  # "search with this drawing" → "": the drawing alone
    return _one("search", {"query": q, "use_image": True})


def _part_figures(r: Request) -> Plan | None:
    """"find figures with the component 'nacelle'"."""
    m = PART_FIGURES.match(r.text)
    return _one("find_part_figures", {"name": m.group(1)}) if m else None


def _text_search(r: Request) -> Plan:
    """Anything else: a search by words, with facets named before "of"/"about" ("exploded views of a hinge") or
    at the end ("a hinge, exploded views only", "charging stations after 2018", "turbines but no EP") as filters."""
    query = clean_query(r.text)
    values: dict[str, Any] = {}
    k, query = _count_lead(query)
    head = FACET_HEAD.match(query)
    if head:
        fvals, frest = parse_facets(head.group(1))
        if fvals and not leftover_topic(frest):
            values, query = fvals, head.group(2).strip()
    tail, query = facet_tail(query)
    values.update(tail)
    query = search_words(query)  # what is left once the facets are read: "… of a hinge" → "hinge"
    if not leftover_topic(query):  # "show me the", "hello", "figures please"
        return Plan(reply=NOTHING_ASKED)
    args: dict[str, Any] = {"query": query}
    if values:
        args["_filters"] = values
    if k:
        args["k"] = k
    return _one("search", args)


def _count_lead(query: str) -> tuple[int | None, str]:
    """A number of results at the start of a search: "50 drawings of a hinge" → (50, "a hinge"); "10 flowcharts
    of a method" → (10, "flowcharts of a method"). A number that counts something else stays ("100 kW motor")."""
    m = COUNT_LEAD.match(query)
    if m is None:
        return None, query
    rest = query[m.end():]
    head = FACET_HEAD.match(rest)
    if not (m.group("noun") or (head and parse_facets(head.group(1))[0])):
        return None, query
    return int(m.group("n")), rest


def _not_understood(r: Request) -> Plan | None:
    """A request that names a result but no rule could read: say so and offer the nearest things, never a search
    for the words."""
    if not (r.has_results and (r.ranks or FIG_REF.search(r.text))) or _count_lead(clean_query(r.text))[0]:
        return None
    n = next((x for x in r.ranks if x > 0), 1)
    return Plan(reply=f"I did not understand what to do with #{n}. I can say what it shows ('what does #{n} "
                      f"show?'), explain its rank ('why is #{n} here?'), find more like it ('more like #{n}'), keep "
                      f"only its patent ('just that patent, #{n}') or drop it ('drop #{n}').")


# The rules in the order they are tried; the last one always answers.
RULES: tuple[Callable[[Request], Plan | None], ...] = (
    _help, _undo, _goto, _show,
    _group, _order, _cluster, _count,
    _part_by_sign, _part_by_name, _figure_question, _why, _rank_pair, _compare, _explain,
    _weight_value, _weight_step, _more_like, _patent_ref,
    _tool_phrase,
    _drop, _refine,
    _keyword_search, _image_search, _part_figures, _not_understood, _text_search,
)


def plan(message: str, *, has_image: bool = False, has_results: bool = False) -> Plan:
    """The steps for one request. Pure: depends only on the text and whether there is an image / a current set."""
    text = (message or "").strip()
    if not text:
        return _one("search", {"query": "", "use_image": True}) if has_image else Plan(reply="help")
    if len(text) > PASTE_CHARS:
        words = search_words(text)
        if not (words or has_image):
            return Plan(reply=NOTHING_ASKED)
        return _one("search", {"query": words, **({"use_image": True} if has_image else {})})
    scoped = WITHIN_SET.search(text) if has_results else None
    if scoped:  # "only flowcharts among these": cut the current list instead of searching again
        text = (text[: scoped.start()] + " " + text[scoped.end():]).strip(" ,.;:")
    request = Request.read(text, has_image=has_image, has_results=has_results)
    for rule in RULES:
        found = rule(request)
        if found is not None:
            if scoped:
                for step in found.steps:
                    if step.action in SCOPED_ACTIONS:
                        step.args["within_set"] = True
            return found
    raise AssertionError("the last rule always answers")  # pragma: no cover
