"""The offline planner: requests in plain English → the same actions the LLM tools call, without an LLM.

A small keyword grammar reads each request. It knows the facet vocabulary (figure kinds, views, offices,
dates, kind codes, patent ids), result references (#3, "the third one", "this figure"), and the verbs of
the chat (undo, cluster, explain, compare, drop, more like, give text more weight). Whatever it cannot
place as a facet after "only ..." is a domain phrase, narrowed by CPC classes of the index whose titles
match it and by text similarity over the hits' linked text. Anything else is a new search.

`plan()` is pure (text in, steps out) so it is easy to test; `Planner.run()` executes the steps through
`agent.actions.Actions` and writes the reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from core.errors import ToolError

ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "top": 1, "last": -1,
}
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10}

# facet vocabulary: regex → value (checked in this order; longer phrases first)
KIND_WORDS: list[tuple[str, str]] = [
    (r"flow[\s-]?charts?|flow[\s-]?diagrams?|process (?:flow )?diagrams?|method steps", "flowchart"),
    (r"block[\s-]?diagrams?|block schematics?|system diagrams?", "block diagram"),
    (r"circuit(?: diagram)?s?|wiring diagrams?|electrical schematics?", "circuit"),
    (r"chemical (?:structures?|formula[es]*)|structural formula[es]*|molecules?|chemical drawings?",
     "chemical structure"),
    (r"graphs?|plots?|curves?|charts?|waveforms?|diagrams? of measurements?", "graph"),
    (r"tables?", "table"),
    (r"(?:line|mechanical|technical|plain|engineering) drawings?", "drawing"),
]
VIEW_WORDS: list[tuple[str, str]] = [
    (r"perspective(?: views?)?|isometric(?: views?)?|3-?d views?", "perspective"),
    (r"exploded(?: views?)?", "exploded"),
    (r"(?:cross[\s-]?)?section(?:al)?(?: views?)?|cross[\s-]?sections?|cut[\s-]?away(?: views?)?|sections",
     "sectional"),
    (r"side(?: elevation)?(?: views?)?|elevations?", "side"),
    (r"plan views?|top views?|views? from above|overhead views?|top-down views?", "plan"),
    (r"front(?: views?)?", "front"),
    (r"rear(?: views?)?|back views?", "rear"),
    (r"bottom(?: views?)?|views? from below|underside views?", "bottom"),
    (r"detail(?:ed)?(?: views?)?|details|close[\s-]?ups?|enlarged(?: views?)?|magnified(?: views?)?", "detail"),
    (r"schematics?(?: views?)?", "schematic"),
]
OFFICE_WORDS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"(?<![\w-])(?:EP|EPO|ep)(?![\w-])|\b(?i:european)\b"), "EP"),
    (re.compile(r"(?<![\w-])(?:US|USA|U\.S\.)(?![\w-])|\b(?i:american|united states|uspto)\b"), "US"),
    (re.compile(r"(?<![\w-])(?:WO|PCT|wo|pct)(?![\w-])|\b(?i:wipo|international applications?)\b"), "WO"),
]
GENERIC = (
    r"the|a|an|all|any|of|ones?|those|these|them|figures?|figs?|drawings?|images?|sheets?|pictures?|results?|"
    r"hits?|documents?|patents?|publications?|applications?|items?|entries|views?|please|me|show|display|list|"
    r"keep|only|just|that|which|are|is|were|published|filed|dated|from|in|with|about|related|regarding|relating|"
    r"to|on|for|concerning|showing|involving|depicting|of the|set|current|here|now|and|or|kind|type|category"
)
REFINE_LEAD = re.compile(
    r"^\s*(?:(?:now|ok(?:ay)?|and|then|please)\s*,?\s+)*(?:only|just|restrict(?: (?:it|them|this|these|results?))? "
    r"to|limit(?: (?:it|them|this|these|results?))? to|filter(?: (?:it|them|this|these|results?))?(?: (?:to|by|for))?|"
    r"narrow(?: (?:it|them|this|these|results?))?(?: down)?(?: to)?|keep(?: only)?|show(?: me)? only|"
    r"i (?:only )?want only|exclusively|solely|nothing but|focus on|stick to)\b",
    re.IGNORECASE,
)
SEARCH_LEAD = re.compile(
    r"^\s*(?:please\s+)?(?:(?:can|could|would) you\s+)?(?:show(?: me)?|find(?: me)?|search(?: for)?|look(?:ing)? for|"
    r"get(?: me)?|give me|i(?:'m| am) looking for|i need|i want|display|retrieve|fetch|are there)\s+"
    r"(?:(?:some|the|all|any)\s+)?(?:(?:patent\s+)?(?:drawings?|figures?|images?|sheets?|pictures?|"
    r"illustrations?|patents?|documents?)\s*(?:of|showing|with|that show|depicting|for|about|on|like)?\s+)?"
    r"(?:(?:a|an|the|some)\s+)?",
    re.IGNORECASE,
)
IMAGE_REF = re.compile(
    r"\b(?:figures?|drawings?|images?|sheets?|ones?|things?|results?)?\s*(?:like|similar to|resembling|matching)\s+"
    r"(?:this|that|the attached|my|the uploaded)"
    r"(?:\s+(?:one|image|drawing|sketch|figure|picture|crop|photo|region))?\b",
    re.IGNORECASE,
)
PATENT_ID = re.compile(r"\b(US|EP|WO)[\s\-]?((?:\d[\d ,./]{3,16}\d))(?:\s?([ABCSE]\d?))?\b")
FIGURE_ID = re.compile(r"\b((?:US|EP|WO)\d{5,12}-S\d{1,3})\b", re.IGNORECASE)
RANK = re.compile(
    r"(?:#\s?(\d{1,3})\b|\b(?:number|no\.?|rank|result|hit|item|figure)\s+#?(\d{1,3})\b|"
    r"\bthe\s+(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|top|last)"
    r"(?:\s+(?:one|result|hit|figure|drawing|item|image))?\b)",
    re.IGNORECASE,
)
YEAR = r"((?:19|20)\d\d)(?:[-/.](\d\d)[-/.](\d\d))?"
SIGN = r"(\d{1,4}[a-zA-Z]?'?)"


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


# ---------------------------------------------------------------- small parsers


def ranks_in(text: str) -> list[int]:
    """Result ranks mentioned: "#2", "number 3", "the third one" (last = -1), in order of mention."""
    out = []
    for m in RANK.finditer(text):
        if m.group(1) or m.group(2):
            out.append(int(m.group(1) or m.group(2)))
        else:
            out.append(ORDINALS[m.group(3).lower()])
    return out


def patent_ids_in(text: str) -> list[str]:
    """Patent ids as typed ("US 12,448,135 B2", "EP1577413"), normalised without spaces and punctuation."""
    out = []
    for m in PATENT_ID.finditer(text):
        digits = re.sub(r"\D", "", m.group(2))
        out.append(f"{m.group(1).upper()}{digits}")
    return list(dict.fromkeys(out))


def _number(word: str) -> int | None:
    w = word.lower()
    if w.isdigit():
        return int(w)
    return NUMBER_WORDS.get(w)


def _year_date(m: re.Match, *, end: bool) -> int:
    y = int(m.group(1))
    if m.group(2):
        return int(f"{y}{m.group(2)}{m.group(3)}")
    return y * 10000 + (1231 if end else 101)


def _shift(yyyymmdd: int, days: int) -> int:
    """A yyyymmdd date moved by some days (invalid dates are returned unchanged)."""
    import datetime as dt

    try:
        d = dt.date(yyyymmdd // 10000, yyyymmdd // 100 % 100, yyyymmdd % 100) + dt.timedelta(days=days)
    except ValueError:
        return yyyymmdd
    return d.year * 10000 + d.month * 100 + d.day


def parse_dates(text: str) -> tuple[dict[str, int], str]:
    """date_from / date_to from "after 2015", "since 2018", "before 2019", "between 2015 and 2018", "in 2019".

    Returns the values and the text with the date phrases removed.
    """
    out: dict[str, int] = {}
    t = text
    pats = [
        (rf"\b(?:between|from)\s+{YEAR}\s+(?:and|to|until|-)\s+{YEAR}", "range"),
        (rf"\b{YEAR}\s*(?:-|–|to)\s*{YEAR}\b", "range"),
        (rf"\b(?:published\s+|filed\s+|dated\s+)?(?:after|later than|newer than|post)\s+{YEAR}", "after"),
        (rf"\b(?:published\s+|filed\s+|dated\s+)?(?:since|from|starting(?: in| from)?|as of|onwards? from)\s+{YEAR}",
         "since"),
        (rf"\b(?:published\s+|filed\s+|dated\s+)?(?:before|earlier than|older than|prior to|pre)\s+{YEAR}",
         "before"),
        (rf"\b(?:published\s+|filed\s+|dated\s+)?(?:until|up to|through|till|by)\s+{YEAR}", "until"),
        (rf"\b{YEAR}\s+(?:or|and)\s+(?:later|newer|after)\b", "since"),
        (rf"\b{YEAR}\s+(?:or|and)\s+(?:earlier|older|before)\b", "until"),
        (rf"\b(?:published\s+|filed\s+|dated\s+)?(?:in|during|of|from the year)\s+{YEAR}\b", "in"),
    ]
    for pat, kind in pats:
        m = re.search(pat, t, re.IGNORECASE)
        if not m:
            continue
        if kind == "range":
            years = list(re.finditer(YEAR, m.group(0)))
            out["date_from"] = _year_date(years[0], end=False)
            out["date_to"] = _year_date(years[-1], end=True)
        elif kind == "after":
            y = int(m.group(1))
            out["date_from"] = (y + 1) * 10000 + 101 if not m.group(2) else _shift(_year_date(m, end=False), 1)
        elif kind == "since":
            out["date_from"] = _year_date(m, end=False)
        elif kind == "before":
            y = int(m.group(1))
            out["date_to"] = (y - 1) * 10000 + 1231 if not m.group(2) else _shift(_year_date(m, end=False), -1)
        elif kind == "until":
            out["date_to"] = _year_date(m, end=True)
        elif kind == "in":
            out["date_from"] = _year_date(m, end=False)
            out["date_to"] = _year_date(m, end=True) if not m.group(2) else _year_date(m, end=False)
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


def parse_facets(text: str) -> tuple[dict[str, Any], str]:
    """Facet values named in a phrase, and what is left of the phrase once they are removed."""
    values: dict[str, Any] = {}
    t = FIGURE_ID.sub(" ", text)
    ids = patent_ids_in(t)
    if ids:
        values["only_patents"] = ids
        t = PATENT_ID.sub(" ", t)
    dates, t = parse_dates(t)
    values.update(dates)
    kinds, t = _take(KIND_WORDS, t)
    views, t = _take(VIEW_WORDS, t)
    offices: list[str] = []
    for rx, value in OFFICE_WORDS:
        if rx.search(t):
            offices.append(value)
            t = rx.sub(" ", t)
    codes = re.findall(r"\b([AB][1-9]|S1|E1)\b", t)
    t = re.sub(r"\b([AB][1-9]|S1|E1)\b", " ", t)
    if re.search(r"\bgranted\b|\bgrants\b|\bissued\b", t, re.I):
        values["granted"] = True
        t = re.sub(r"\bgranted\b|\bgrants\b|\bissued\b", " ", t, flags=re.I)
    if re.search(r"\b(?:patent\s+)?applications\b|\bunexamined\b", t, re.I) and not re.search(
            r"\bapplications? (?:of|for|in)\b", t, re.I):
        values["applications"] = True
        t = re.sub(r"\b(?:patent\s+)?applications\b|\bunexamined\b", " ", t, flags=re.I)
    if re.search(r"\bwith (?:labell?ed |recogni[sz]ed |reference )?(?:components|numerals|reference signs|parts)\b",
                 t, re.I):
        values["has_components"] = True
        t = re.sub(r"\bwith (?:labell?ed |recogni[sz]ed |reference )?(?:components|numerals|reference signs|parts)\b",
                   " ", t, flags=re.I)
    if kinds:
        values["kinds"] = kinds
    if views:
        values["views"] = views
    if offices:
        values["offices"] = offices
    if codes:
        values["kind_codes"] = list(dict.fromkeys(c.upper() for c in codes))
    return values, t


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
    """The search words of a new-search request: "show me drawings of a gripping unit" → "gripping unit"."""
    q = SEARCH_LEAD.sub("", text, count=1).strip()
    q = re.sub(r"[?!.]+$", "", q).strip()
    return q


# ---------------------------------------------------------------- the grammar


_UNDO = re.compile(
    r"^\s*(?:please\s+)?(?:undo(?: that| the last(?: step| change)?| it)?|go back(?: one step)?|back|revert(?: that)?|"
    r"take (?:that|it) back|step back|(?:go |get |take me )?back to (?:the )?(?:previous|prior|last|earlier|old)"
    r"(?: results?| set| list| ones)?|(?:show (?:me )?)?(?:the )?previous (?:results?|set)(?: again)?|"
    r"return to (?:the )?(?:previous|prior|last) (?:results?|set))\s*[.!]*\s*$",
    re.IGNORECASE,
)
_GOTO = re.compile(r"^\s*(?:(?:go |get |switch )?back to|show(?: me)?|return to|open|go to)?\s*"
                   r"(?:result )?set\s+#?(\d+)(?: again)?\s*[.!?]*\s*$", re.IGNORECASE)
_HELP = re.compile(r"^\s*(?:help|\?|what can you do\??|how does this work\??|commands)\s*$", re.IGNORECASE)
_SHOW = re.compile(r"^\s*(?:show|list|display)(?: me)?(?: the| all)?(?: current)? (?:results?|hits|figures|set)"
                   r"(?: again)?\s*[.!]*\s*$", re.IGNORECASE)
_CLUSTER = re.compile(r"\b(?:cluster|clusters|group|organi[sz]e|split|divide|categori[sz]e|sort|partition|bucket)\b"
                      r"(?!\s*#?\d)", re.IGNORECASE)
_CLUSTER_K = re.compile(r"\b(?:in|into|to)?\s*(\d{1,2}|two|three|four|five|six|seven|eight|nine|ten)\s+"
                        r"(?:groups?|clusters?|categories|themes|buckets|kinds|sets)\b", re.IGNORECASE)
_GROUP = re.compile(r"\b(?:group|cluster)\s*(?:#|no\.?|number)?\s*(\d{1,2}|one|two|three|four|five|six|seven|eight)\b",
                    re.IGNORECASE)
_KEEP = re.compile(r"\b(?:keep|only|just|select|use|take|restrict to|narrow to|limit to)\b", re.IGNORECASE)
_WHY = re.compile(r"\b(?:why|explain|how come|reason|justify|what makes|how did)\b", re.IGNORECASE)
_PAIR = re.compile(r"\b(?:above|below|higher|lower|over|under|ahead of|before|after|better|worse|rather than|"
                   r"instead of|than|vs\.?|versus|and not|not)\b", re.IGNORECASE)
_COMPARE = re.compile(
    r"\b(?:in common|common|share|shared|similarities|differ\w*|distinguish\w*|compare|comparison|contrast|"
    r"set (?:them|these) apart|same and different|alike)\b", re.IGNORECASE)
_PART = re.compile(
    rf"(?:\b(?:part|reference sign|reference numeral|ref(?:erence)?\.? ?(?:no|number)|numeral|sign|label|element|"
    rf"item|component|number)\s+{SIGN}(?!\w)|\bwhat(?:'s| is| does| do)\s+(?:the\s+)?{SIGN}(?!\w)(?!\s*(?:results?|"
    rf"groups?|clusters?|figures?|sets?))|\bwhere is\s+{SIGN}(?!\w)|\b{SIGN}\s+(?:refer|stand|mean|designate|denote|"
    rf"label|point)s?\b)",
    re.IGNORECASE,
)
_PART_NAME = re.compile(r"\bwhere(?:'s| is| are)\s+(?:the\s+)?([a-z][a-z \-]{2,40}?)\s+(?:in|on)\s+"
                        r"(?:this|that|the|#)", re.IGNORECASE)
_MORE_LIKE = re.compile(r"\b(?:more|others?|figures?|drawings?|ones?|things?|something|anything|results?)?\s*"
                        r"(?:like|similar to|resembling|close to|related to)\b", re.IGNORECASE)
_MORE_LIKE_HEAD = re.compile(
    r"^\s*(?:please\s+)?(?:show\s+(?:me\s+)?|find\s+(?:me\s+)?|get\s+(?:me\s+)?|give me\s+)?"
    r"(?:more|others?|similar|anything|something)\b|^\s*similar to\b|^\s*like\s+(?:#|the|number)",
    re.IGNORECASE,
)
_THIS = re.compile(r"\b(?:this|that|the current|the same)\s+(?:one|figure|drawing|sheet|image)\b", re.IGNORECASE)
_MORE_TEXT = re.compile(
    r"\b(?:(?:give|put|place|use)\s+(?:the\s+)?(?:text|words?|description)\s+more\s+(?:weight|importance|emphasis)|"
    r"more\s+(?:weight|importance|emphasis)\s+(?:on|to|for)\s+(?:the\s+)?(?:text|words?|description|query words)|"
    r"(?:rely|focus|lean)\s+more\s+on\s+(?:the\s+)?(?:text|words?|description)|"
    r"emphasi[sz]e\s+(?:the\s+)?(?:text|words?)|(?:text|words?)\s+(?:should\s+)?(?:matters?|count|weigh)s?\s+more|"
    r"more\s+(?:text|textual)|less\s+(?:visual|image|picture|shape)s?(?:\s+weight)?|"
    r"(?:increase|raise|boost)\s+(?:the\s+)?text(?:\s+weight)?)\b",
    re.IGNORECASE,
)
_LESS_TEXT = re.compile(
    r"\b(?:(?:give|put|place|use)\s+(?:the\s+)?(?:image|picture|drawing|visual|shape)s?\s+more\s+(?:weight|importance)|"
    r"more\s+(?:weight|importance|emphasis)\s+(?:on|to|for)\s+(?:the\s+)?(?:image|picture|drawing|visual|shape)s?|"
    r"(?:rely|focus|lean)\s+more\s+on\s+(?:the\s+)?(?:image|picture|drawing|visual|shape|looks)s?|"
    r"more\s+(?:visual|image)|less\s+(?:text|words?|textual)(?:\s+weight)?|"
    r"(?:decrease|lower|reduce)\s+(?:the\s+)?text(?:\s+weight)?)\b",
    re.IGNORECASE,
)
_WEIGHT_VALUE = re.compile(r"\btext(?:\s+weight)?\s*(?:to|=|:|of|at)?\s*(0?\.\d+|1(?:\.0+)?|0|\d{1,3}\s?%)",
                           re.IGNORECASE)
_DROP = re.compile(r"^\s*(?:please\s+)?(?:now\s+)?(?:drop|remove|exclude|delete|hide|discard|eliminate|"
                   r"get rid of|take out|skip|ignore|throw out|leave out|without|no more|filter out)\b",
                   re.IGNORECASE)
_NEG_FACET = re.compile(r"^\s*(?:no|without|except|excluding|but not|not|minus|other than)\b\s*(?:the\s+)?",
                        re.IGNORECASE)
_LEXICAL = re.compile(r"\b(?:AND|OR|NOT)\b|\b(?:title|abstract|claims?|description|desc|figures?|text):\S")
_SEARCH_VERB = re.compile(r"^\s*(?:please\s+)?(?:(?:can|could|would) you\s+)?(?:show|find|search|look|get|give|"
                          r"i'?m looking|i am looking|i need|i want|display|retrieve|fetch|are there)\b", re.IGNORECASE)


def plan(message: str, *, has_image: bool = False, has_results: bool = False) -> Plan:
    """The steps for one request. Pure: depends only on the text and whether there is an image / a current set."""
    text = (message or "").strip()
    if not text:
        if has_image:
            return Plan([Step("search", {"query": "", "use_image": True})])
        return Plan(reply="help")
    if _HELP.match(text):
        return Plan(reply="help")
    if _UNDO.match(text):
        return Plan([Step("undo")])
    m = _GOTO.match(text)
    if m:
        return Plan([Step("goto", {"set_id": int(m.group(1))})])
    if _SHOW.match(text):
        return Plan([Step("show")])

    lowered = text.lower()
    # grouping
    g = _GROUP.search(text)
    if g and not _CLUSTER_K.search(text) and re.search(r"\bgroups?\b|\bclusters?\b", lowered):
        n = _number(g.group(1)) or 1
        keep = bool(_KEEP.search(text[: g.start()])) or bool(re.search(r"\bkeep\b", lowered))
        return Plan([Step("group", {"group": n, "keep": keep})])
    if _CLUSTER.search(text) and (has_results or _CLUSTER_K.search(text)) and not _WHY.search(text):
        km = _CLUSTER_K.search(text)
        k = _number(km.group(1)) if km else None
        return Plan([Step("cluster", {"k": k})])

    # understanding
    ranks = ranks_in(text)
    ids = patent_ids_in(text)
    pm = _PART.search(text)
    if pm and not re.search(r"\bgroup\b|\bset\b", text[max(0, pm.start() - 8): pm.start()], re.I):
        sign = next(g for g in pm.groups() if g)
        if not (ranks and f"#{sign}" in text.replace("# ", "#")):
            args: dict[str, Any] = {"sign": sign}
            if ranks:
                args["rank"] = ranks[0]
            elif ids:
                args["patent_id"] = ids[0]
            return Plan([Step("part", args)])
    nm = _PART_NAME.search(text)
    if nm and (ranks or _THIS.search(text) or re.search(r"\bin (?:this|that|the) (?:figure|drawing|sheet)\b", lowered)):
        args = {"sign": nm.group(1).strip()}
        if ranks:
            args["rank"] = ranks[0]
        return Plan([Step("part", args)])
    if _WHY.search(text) and (ranks or ids or re.search(r"\b(?:first|top|ranked|rank|score|scored|here|there)\b",
                                                          lowered)):
        if len(ranks) >= 2 or (ranks and ids):
            return Plan([Step("explain", {"rank": ranks[0], "other_rank": ranks[1] if len(ranks) > 1 else None,
                                          "_other_patent": ids[0] if len(ranks) < 2 else None})])
        if ids and not ranks:
            return Plan([Step("explain", {"_patent": ids[0]})])
        return Plan([Step("explain", {"rank": ranks[0] if ranks else 1})])
    if len(ranks) >= 2 and _PAIR.search(text) and not _COMPARE.search(text):
        return Plan([Step("explain", {"rank": ranks[0], "other_rank": ranks[1]})])
    if _COMPARE.search(text):
        if len(ids) >= 2:
            return Plan([Step("compare", {"patent_ids": ids})])
        return Plan([Step("compare", {"ranks": ranks} if len(ranks) >= 2 else {})])
    if re.match(r"^\s*explain\b", lowered):
        return Plan([Step("explain", {"rank": ranks[0] if ranks else 1})])

    # weights
    wv = _WEIGHT_VALUE.search(text)
    if wv and re.search(r"\bweight\b", lowered):
        raw = wv.group(1).replace(" ", "")
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
        return Plan([Step("reweight", {"text_weight": value})])
    if _MORE_TEXT.search(text):
        return Plan([Step("reweight", {"more_text": True})])
    if _LESS_TEXT.search(text):
        return Plan([Step("reweight", {"more_text": False})])

    # more like
    fid = FIGURE_ID.search(text)
    if _MORE_LIKE.search(text) and (ranks or fid or (ids and _MORE_LIKE_HEAD.search(text))
                                   or (_THIS.search(text) and not has_image and has_results)):
        if _MORE_LIKE_HEAD.search(text) or re.search(r"\b(?:similar|like)\b", lowered):
            if ranks:
                return Plan([Step("more_like", {"rank": ranks[0]})])
            if fid:
                return Plan([Step("more_like", {"figure_id": fid.group(1).upper()})])
            if ids:
                return Plan([Step("more_like", {"figure_id": ids[0]})])
            return Plan([Step("more_like", {})])

    # drop
    if _DROP.match(text) and has_results:
        body = _DROP.sub("", text, count=1)
        if ids or ranks:
            return Plan([Step("drop", {"patent_ids": ids, "ranks": [r for r in ranks if r > 0]})])
        values, rest = parse_facets(body)
        if values:
            return Plan([Step("filter", {"_negate": values})])
        topic = leftover_topic(rest)
        if topic:
            return Plan(reply=f"I can drop patents (e.g. 'drop US12448135'), results ('drop #3') or a kind of figure "
                              f"('drop the flowcharts'), but not '{topic}'.")

    # refine the current set
    if has_results and _LEXICAL.search(text) is None:
        lead = REFINE_LEAD.match(text)
        neg = _NEG_FACET.match(text)
        body = text[lead.end():] if lead else (text[neg.end():] if neg else text)
        values, rest = parse_facets(body)
        topic = leftover_topic(rest)
        facet_first = values and not _SEARCH_VERB.match(text) and not topic
        if neg and values and not lead:
            return Plan([Step("filter", {"_negate": values})])
        if lead or facet_first:
            steps = []
            if values:
                steps.append(Step("filter", values))
            if topic:
                steps.append(Step("narrow", {"topic": topic}))
            if steps:
                return Plan(steps)
            if ids:
                return Plan([Step("filter", {"only_patents": ids})])

    # a new search
    if _LEXICAL.search(text) and not has_image:
        q = re.sub(r"^\s*(?:search(?: for)?|find|keyword search|lexical search|boolean search)\s*:?\s*", "", text,
                   flags=re.I)
        return Plan([Step("keyword_search", {"query": q})])
    if has_image:
        q = IMAGE_REF.sub(" ", text)
        q = re.sub(r"^\s*(?:please\s+)?(?:find|show|search|get|look for)(?: me)?\b", " ", q, flags=re.I)
        q = re.sub(r"^\s*[,.;:]?\s*(?:but|and|with|plus|only)?\s*(?:but\s+)?(?:also\s+)?", "", q.strip(), flags=re.I)
        q = re.sub(r"^(?:with|having|showing|that has|which has)\s+", "", q.strip(), flags=re.I)
        q = clean_query(q) if _SEARCH_VERB.match(q) else q.strip(" ,.;:?!")
        q = re.sub(r"^(?:a|an|the|some)\s+", "", q, flags=re.I)
        return Plan([Step("search", {"query": q, "use_image": True})])
    m2 = re.match(r"^\s*(?:find|show|search for|look for)(?: me)? (?:figures|drawings|sheets) (?:with|showing) "
                  r"(?:the |a |an )?(?:component|part|reference sign) ['\"]?([^'\"]+?)['\"]?\s*$", text, re.I)
    if m2:
        return Plan([Step("find_part_figures", {"name": m2.group(1)})])
    query = clean_query(text)
    values: dict[str, Any] = {}
    head = re.match(r"^\s*((?:[\w-]+\s+){0,3}?)(?:of|about|for|showing|on|depicting|with)\s+(.+)$", query, re.I)
    if head:
        fvals, frest = parse_facets(head.group(1))
        if fvals and not leftover_topic(frest):
            values, query = fvals, head.group(2).strip()
    if not query:
        return Plan(reply="help")
    args = {"query": query}
    if values:
        args["_filters"] = values
    return Plan([Step("search", args)])


# ---------------------------------------------------------------- running a plan


HELP = """I can search patent drawings and refine the results step by step. For example:
- "show me drawings of a gripping unit on an overhead hoist"
- attach an image: "find figures like this one", "like this but with a cooling channel"
- "only the flowcharts", "just perspective views", "only EP documents after 2015", "only autonomous-driving drawings"
- "drop US12448135", "drop #3", "more like #3", "give text more weight", "undo", "go back to set 2"
- "cluster these into 4 groups", "what is in group 2", "keep group 2"
- "why is #1 ranked first?", "why is #2 above #5?", "what do these patents have in common?"
- "what is part 104 in this figure?", "what is 12a in #2?"
- boolean keyword search: windmill AND turbine, title:"wind turbine" NOT claims:blade"""


@dataclass
class StepResult:
    """One executed step: what ran, with which arguments, and what came of it."""

    action: str
    args: dict[str, Any]
    outcome: Any = None  # agent.events.Outcome
    error: str | None = None


class Planner:
    """Runs `plan()` steps on an `Actions` object and writes the reply from their outcomes."""

    def run(self, actions: Any, message: str) -> tuple[str, list[StepResult]]:
        """Execute the request. Returns the reply text and the executed steps (with their outcomes or errors)."""
        from agent.actions import run_action

        session = actions.session
        p = plan(message, has_image=actions.turn_image is not None,
                 has_results=session.current is not None)
        if p.reply == "help":
            return HELP, []
        if p.reply:
            return p.reply, []
        results: list[StepResult] = []
        parts: list[str] = []
        for step in p.steps:
            try:
                args = self._resolve(actions, step)
            except Exception as e:  # ToolError from resolving references (ranks, ids)

                if not isinstance(e, ToolError):
                    raise
                results.append(StepResult(step.action, dict(step.args), error=str(e)))
                parts.append(f"I could not do that: {e}")
                break
            outcome, error = run_action(getattr(actions, step.action), **args)
            results.append(StepResult(step.action, args, outcome, error))
            if error:
                parts.append(f"I could not do that: {error}")
                break
            parts.append(outcome.for_user())
        return "\n\n".join(parts), results

    @staticmethod
    def _resolve(actions: Any, step: Step) -> dict[str, Any]:
        """Turn planner-only arguments (negations, patent references, "granted") into action arguments."""
        from tools.filtering import make_filters

        args = dict(step.args)
        session = actions.session
        if step.action == "filter":
            if "_negate" in args:
                args = _negated(actions, args.pop("_negate"))
            args = _filter_args(actions, args)
        elif step.action == "search" and "_filters" in args:
            values = _filter_args(actions, args.pop("_filters"))
            args["filters"] = make_filters(actions.services, **_to_filter_fields(actions, values))
        elif step.action == "explain":
            if "_patent" in args:
                args = {"rank": _rank_of(session, args.pop("_patent"))}
            other = args.pop("_other_patent", None)
            if other and args.get("other_rank") is None:
                args["other_rank"] = _rank_of(session, other)
            if args.get("rank") == -1 or args.get("other_rank") == -1:
                n = len(session.require_current().hits)
                args = {k: (n if v == -1 else v) for k, v in args.items()}
            if args.get("other_rank") is None:
                args.pop("other_rank", None)
        elif step.action in ("more_like", "part") and args.get("rank") == -1:
            args["rank"] = len(session.require_current().hits)
        elif step.action == "drop":
            n = len(session.current.hits) if session.current else 0
            args["ranks"] = [n if r == -1 else r for r in args.get("ranks", [])]
        if step.action == "filter" and not any(v not in (None, [], "") for v in args.values()):
            raise ToolError("that leaves nothing to filter by")
        return args


def _rank_of(session: Any, patent_id: str) -> int:

    rs = session.require_current()
    for h in rs.hits:
        if h.patent_id == patent_id:
            return h.rank
    raise ToolError(f"{patent_id} is not in set {rs.set_id}; its patents are "
                    f"{', '.join(sorted({h.patent_id for h in rs.hits}))}")


def _filter_args(actions: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Planner facet values → `Actions.filter` keyword arguments ("granted" → the B kind codes in the index)."""

    out = {k: v for k, v in values.items() if k not in ("granted", "applications")}
    codes = actions.facet_values()["kind_codes"]
    for flag, letter, word in (("granted", "B", "granted patents"), ("applications", "A", "applications")):
        if values.get(flag):
            have = [c for c in codes if c.startswith(letter)]
            if not have:
                raise ToolError(f"the index holds no {word} (kind codes present: {', '.join(codes)})")
            out["kind_codes"] = sorted(set(out.get("kind_codes", [])) | set(have))
    return out


def _to_filter_fields(actions: Any, values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if "only_patents" in out:
        out["include_ids"] = [actions.resolve_patent_id(p) for p in out.pop("only_patents")]
    if "exclude_patents" in out:
        out["exclude_ids"] = [actions.resolve_patent_id(p) for p in out.pop("exclude_patents")]
    return out


def _negated(actions: Any, values: dict[str, Any]) -> dict[str, Any]:
    """"no flowcharts" → kinds = the other kinds present in the current set (likewise views and offices)."""

    rs = actions.session.require_current()
    out: dict[str, Any] = {}
    for key, attr in (("kinds", "kind"), ("views", "view"), ("offices", "office")):
        if key in values:
            present = sorted({getattr(h, attr) for h in rs.hits})
            rest = [v for v in present if v not in values[key]]
            if len(rest) == len(present):
                raise ToolError(f"set {rs.set_id} has no {' or '.join(values[key])} "
                                f"({key} in it: {', '.join(present)})")
            if not rest:
                raise ToolError(f"every figure of set {rs.set_id} is {' or '.join(values[key])}: "
                                "dropping them would leave nothing")
            out[key] = rest
    if "only_patents" in values:
        out["exclude_patents"] = values["only_patents"]
    for key in ("date_from", "date_to", "kind_codes", "has_components", "granted", "applications"):
        if key in values:
            if key == "has_components":
                out[key] = not values[key]
            elif key == "date_from":
                out["date_to"] = _shift(values[key], -1)
            elif key == "date_to":
                out["date_from"] = _shift(values[key], 1)
            else:
                raise ToolError("say which kind codes to keep instead, e.g. 'only B2'")
    return out
