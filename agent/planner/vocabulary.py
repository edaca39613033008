"""The vocabulary of the offline planner: the words and phrasings people type, as data.

Facet words (figure kinds, views, offices), ordinals and number words, result references ("#3", "the
third one"), dates, and one pattern per kind of request (undo, cluster, explain, compare, drop, more
like, weights...), and the phrasings of search tools (`TOOL_PHRASES`: a new search tool adds its rows
there and needs no rule of its own). The parsers in `agent.planner.extract` and the rules in
`agent.planner.parsing` read these; nothing here decides anything. Patent and figure ids are read with `core.patnum`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.vocab import KINDS, UNKNOWN, VIEWS, views_within

ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "top": 1, "last": -1,
}
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10}

# facet vocabulary: regex → value (checked in this order; longer phrases first). The kinds and views are
# those of core.vocab; a kind or view that has no phrasing here is named by its own word ("front views").
KIND_PHRASES: dict[str, str] = {
    "flowchart": r"flow[\s-]?charts?|flow[\s-]?diagrams?|process (?:flow )?diagrams?|method steps",
    "block diagram": r"block[\s-]?diagrams?|block schematics?|system diagrams?",
    "circuit": r"circuit(?: diagram)?s?|wiring diagrams?|electrical schematics?",
    "chemical structure": r"chemical (?:structures?|formula[es]*)|structural formula[es]*|molecules?|"
                          r"chemical drawings?",
    "graph": r"graphs?|plots?|curves?|charts?|waveforms?|diagrams? of measurements?",
    "table": r"tables?",
    "drawing": r"(?:line|mechanical|technical|plain|engineering) drawings?",  # a bare "drawing" names no kind
}
_LEFT_RIGHT = (  # "left side views", "left-hand views", "left elevations", "the left side", "views from the left"
    r"{0}(?:[\s-]hand)?(?:[\s-]side)?(?: elevation(?:al)?)? views?|{0}(?:[\s-]hand)?(?:[\s-]side)? elevations?|"
    r"{0}(?:[\s-]hand)?[\s-]side|views? from (?:the )?{0}"
)
# These words alone name a view only in a list that ends in "views" ("top and bottom views", "left, right and
# front views"); alone they mean something else ("the top one"). Tried before the views' own phrases.
IN_A_LIST_OF_VIEWS = ("top", "left", "right")
_AND = r"(?:\s*,\s*|\s*/\s*|\s+(?:and|or|&)\s+)(?:the\s+)?"
_LIST_END = r"(?:[\s-]hand)?(?:[\s-]side)?(?: elevation(?:al)?)?\s+(?:views?|elevations?)\b"
VIEW_PHRASES: dict[str, str] = {
    "perspective": r"perspective(?: views?)?|isometric(?: views?)?|3-?d views?",
    "exploded": r"exploded(?: views?)?",
    "sectional": r"(?:cross[\s-]?)?section(?:al)?(?: views?)?|cross[\s-]?sections?|cut[\s-]?away(?: views?)?|"
                 r"sections",
    "left": _LEFT_RIGHT.format("left"),
    "right": _LEFT_RIGHT.format("right"),
    "top": r"top(?: plan)? views?|views? from above|overhead views?|top-down views?|bird'?s[\s-]eye views?",
    "side": r"side(?: elevation)?(?: views?)?|elevations?",
    "plan": r"plan views?",
    "front": r"front(?: views?)?",
    "rear": r"rear(?: views?)?|back views?",
    "bottom": r"bottom(?: views?)?|views? from below|underside views?",
    "detail": r"detail(?:ed)?(?: views?)?|details|close[\s-]?ups?|enlarged(?: views?)?|magnified(?: views?)?",
    "schematic": r"schematics?(?: views?)?",
}


def _own_word(value: str, suffix: str) -> str:
    r"""A facet value as a phrase: "block diagram" → r"block[\s-]diagram" + suffix."""
    return r"[\s-]".join(re.escape(w) for w in value.split()) + suffix


def _kind_words() -> list[tuple[str, str]]:
    """Every kind of core.vocab with its phrases."""
    kinds = [k for k in KINDS if k != UNKNOWN]
    known = [k for k in KIND_PHRASES if k in kinds]
    return [(KIND_PHRASES[k], k) for k in known] + [(_own_word(k, "s?"), k) for k in kinds if k not in KIND_PHRASES]


def _view_words() -> list[tuple[str, str]]:
    """Every view of core.vocab with its phrases; a refining view is tried before the view it refines."""
    views = [v for v in VIEWS if v != UNKNOWN]
    order = [v for v in VIEW_PHRASES if v in views]
    for v in views:
        if v not in order:  # a new view: before the broader view it refines, else last
            broader = next((b for b in order if v in views_within(b)), None)
            order.insert(order.index(broader) if broader else len(order), v)
    in_lists = [(rf"{v}(?=(?:{_AND}[\w-]+)+{_LIST_END})", v) for v in IN_A_LIST_OF_VIEWS if v in views]
    return in_lists + [(VIEW_PHRASES.get(v) or _own_word(v, r"(?: views?)?"), v) for v in order]


KIND_WORDS: list[tuple[str, str]] = _kind_words()
VIEW_WORDS: list[tuple[str, str]] = _view_words()
OFFICE_WORDS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"(?<![\w-])(?:EP|EPO|ep)(?![\w-])|\b(?i:european)\b"), "EP"),
    (re.compile(r"(?<![\w-])(?:US|USA|U\.S\.)(?![\w-])|\b(?i:american|united states|uspto)\b"), "US"),
    (re.compile(r"(?<![\w-])(?:WO|PCT|wo|pct)(?![\w-])|\b(?i:wipo|international applications?)\b"), "WO"),
]
GENERIC = (
    r"the|a|an|all|any|of|ones?|those|these|them|figures?|figs?|drawings?|images?|sheets?|pictures?|results?|"
    r"hits?|documents?|patents?|publications?|applications?|items?|entries|views?|please|me|show|display|list|"
    r"keep|only|just|that|which|are|is|were|published|filed|dated|from|in|with|about|related|regarding|relating|"
    r"to|on|for|concerning|showing|involving|depicting|of the|set|current|here|now|and|or|kind|type|category|"
    r"anything|everything|else|stuff|but"
)
REFINE_LEAD = re.compile(
    r"^\s*(?:(?:now|ok(?:ay)?|and|then|please)\s*,?\s+)*(?:only|just|restrict(?: (?:it|them|this|these|results?))? "
    r"to|limit(?: (?:it|them|this|these|results?))? to|filter(?: (?:it|them|this|these|results?))?(?: (?:to|by|for))?|"
    r"narrow(?: (?:it|them|this|these|results?))?(?: down)?(?: to)?|keep(?: only)?|show(?: me)? only|"
    r"i (?:only )?want only|exclusively|solely|nothing but|focus on|stick to)\b",
    re.IGNORECASE,
)
RANK = re.compile(
    r"(?:#\s?(\d{1,3})\b|\b(?:number|no\.?|rank|result|hit|item|figure)\s+#?(\d{1,3})\b|"
    r"\bthe\s+(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|top|last)"
    r"(?:\s+(?:one|result|hit|figure|drawing|item|image))?\b)",
    re.IGNORECASE,
)
YEAR = r"((?:19|20)\d\d)(?:[-/.](\d\d)[-/.](\d\d))?"
SIGN = r"(\d{1,4}[a-zA-Z]?'?)"


# Date phrases, tried in this order: (pattern, how to read it). YEAR matches "2015" or "2015-06-30".
DATE_PHRASES: list[tuple[str, str]] = [
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
# Facet words that are not kinds, views or offices.
KIND_CODE = re.compile(r"\b([AB][1-9]|S1|E1)\b")
GRANTED = re.compile(r"\bgranted\b|\bgrants\b|\bissued\b", re.I)
APPLICATIONS = re.compile(r"\b(?:patent\s+)?applications\b|\bunexamined\b", re.I)
APPLICATIONS_OF = re.compile(r"\bapplications? (?:of|for|in)\b", re.I)  # "applications of X" is a topic
WITH_COMPONENTS = re.compile(
    r"\bwith (?:labell?ed |recogni[sz]ed |reference )?(?:components|numerals|reference signs|parts)\b", re.I)

# One pattern per kind of request.
UNDO = re.compile(
    r"^\s*(?:please\s+)?(?:undo(?: that| the last(?: step| change)?| it)?|go back(?: one step)?|back|revert(?: that)?|"
    r"take (?:that|it) back|step back|(?:go |get |take me )?back to (?:the )?(?:previous|prior|last|earlier|old)"
    r"(?: results?| set| list| ones)?|(?:show (?:me )?)?(?:the )?previous (?:results?|set)(?: again)?|"
    r"return to (?:the )?(?:previous|prior|last) (?:results?|set))\s*[.!]*\s*$",
    re.IGNORECASE,
)
GOTO = re.compile(r"^\s*(?:(?:go |get |switch )?back to|show(?: me)?|return to|open|go to)?\s*"
                  r"(?:result )?set\s+#?(\d+)(?: again)?\s*[.!?]*\s*$", re.IGNORECASE)
ASKS_HELP = re.compile(r"^\s*(?:help|\?|what can you do\??|how does this work\??|commands)\s*$", re.IGNORECASE)
SHOW = re.compile(r"^\s*(?:(?:please )?(?:show|list|display)(?: me)?(?: all(?: of)?)?(?: the)?(?: current)?"
                  r" (?:results?|hits|figures|set|them|these|those)(?: again| in words| as text| as a list)?"
                  r"|list)\s*[.!]*\s*$", re.IGNORECASE)
CLUSTER = re.compile(r"\b(?:cluster|clusters|group|organi[sz]e|split|divide|categori[sz]e|sort|partition|bucket)\b"
                     r"(?!\s*#?\d)", re.IGNORECASE)
CLUSTER_K = re.compile(r"\b(?:in|into|to)?\s*(\d{1,2}|two|three|four|five|six|seven|eight|nine|ten)\s+"
                       r"(?:groups?|clusters?|categories|themes|buckets|kinds|sets)\b", re.IGNORECASE)
GROUP = re.compile(r"\b(?:group|cluster)\s*(?:#|no\.?|number)?\s*(\d{1,2}|one|two|three|four|five|six|seven|eight)\b",
                   re.IGNORECASE)
WITHIN_SET = re.compile(
    r"\b(?:(?:only |just )?(?:among|from|of|in|within) (?:these|those|this list|the current (?:results?|list|set)|"
    r"the (?:results|figures|hits) (?:shown|above|here)|this set)(?: (?:results|figures|hits))?)\b", re.IGNORECASE)
KEEP = re.compile(r"\b(?:keep|only|just|select|use|take|restrict to|narrow to|limit to)\b", re.IGNORECASE)
WHY = re.compile(r"\b(?:why|explain|how come|reason|justify|what makes|how did)\b", re.IGNORECASE)
PAIR = re.compile(r"\b(?:above|below|higher|lower|over|under|ahead of|before|after|better|worse|rather than|"
                  r"instead of|than|vs\.?|versus|and not|not)\b", re.IGNORECASE)
COMPARE = re.compile(
    r"\b(?:in common|common|share|shared|similarities|differ\w*|distinguish\w*|compare|comparison|contrast|"
    r"set (?:them|these) apart|same and different|alike)\b", re.IGNORECASE)
PART = re.compile(
    rf"(?:\b(?:part|reference sign|reference numeral|ref(?:erence)?\.? ?(?:no|number)|numeral|sign|label|element|"
    rf"item|component|number)\s+{SIGN}(?!\w)|\bwhat(?:'s| is| does| do)\s+(?:the\s+)?{SIGN}(?!\w)(?!\s*(?:results?|"
    rf"groups?|clusters?|figures?|sets?))|\bwhere is\s+{SIGN}(?!\w)|\b{SIGN}\s+(?:refer|stand|mean|designate|denote|"
    rf"label|point)s?\b)",
    re.IGNORECASE,
)
PART_NAME = re.compile(r"\bwhere(?:'s| is| are)\s+(?:the\s+)?([a-z][a-z \-]{2,40}?)\s+(?:in|on)\s+"
                       r"(?:this|that|the|#)", re.IGNORECASE)
MORE_LIKE = re.compile(r"\b(?:more|others?|figures?|drawings?|ones?|things?|something|anything|results?)?\s*"
                       r"(?:like|similar to|resembling|close to|related to)\b", re.IGNORECASE)
MORE_LIKE_HEAD = re.compile(
    r"^\s*(?:please\s+)?(?:show\s+(?:me\s+)?|find\s+(?:me\s+)?|get\s+(?:me\s+)?|give me\s+)?"
    r"(?:more|others?|similar|anything|something)\b|^\s*similar to\b|^\s*like\s+(?:#|the|number)",
    re.IGNORECASE,
)
THIS = re.compile(r"\b(?:this|that|the current|the same)\s+(?:one|figure|drawing|sheet|image)\b", re.IGNORECASE)
MORE_TEXT = re.compile(
    r"\b(?:(?:give|put|place|use)\s+(?:the\s+)?(?:text|words?|description)\s+more\s+(?:weight|importance|emphasis)|"
    r"more\s+(?:weight|importance|emphasis)\s+(?:on|to|for)\s+(?:the\s+)?(?:text|words?|description|query words)|"
    r"(?:rely|focus|lean)\s+more\s+on\s+(?:the\s+)?(?:text|words?|description)|"
    r"emphasi[sz]e\s+(?:the\s+)?(?:text|words?)|(?:text|words?)\s+(?:should\s+)?(?:matters?|count|weigh)s?\s+more|"
    r"more\s+(?:text|textual)|less\s+(?:visual|image|picture|shape)s?(?:\s+weight)?|"
    r"(?:increase|raise|boost)\s+(?:the\s+)?text(?:\s+weight)?)\b",
    re.IGNORECASE,
)
LESS_TEXT = re.compile(
    r"\b(?:(?:give|put|place|use)\s+(?:the\s+)?(?:image|picture|drawing|visual|shape)s?\s+more\s+(?:weight|importance)|"
    r"more\s+(?:weight|importance|emphasis)\s+(?:on|to|for)\s+(?:the\s+)?(?:image|picture|drawing|visual|shape)s?|"
    r"(?:rely|focus|lean)\s+more\s+on\s+(?:the\s+)?(?:image|picture|drawing|visual|shape|looks)s?|"
    r"more\s+(?:visual|image)|less\s+(?:text|words?|textual)(?:\s+weight)?|"
    r"(?:decrease|lower|reduce)\s+(?:the\s+)?text(?:\s+weight)?)\b",
    re.IGNORECASE,
)
WEIGHT_VALUE = re.compile(r"\btext(?:\s+weight)?\s*(?:to|=|:|of|at)?\s*(0?\.\d+|1(?:\.0+)?|0|\d{1,3}\s?%)",
                          re.IGNORECASE)
DROP = re.compile(r"^\s*(?:please\s+)?(?:now\s+)?(?:drop|remove|exclude|delete|hide|discard|eliminate|"
                  r"get rid of|take out|skip|ignore|throw out|leave out|without|no more|filter out)\b",
                  re.IGNORECASE)
NEG_FACET = re.compile(r"^\s*(?:no|nothing|without|except|excluding|but not|not|minus|other than|"
                       r"(?:i\s+)?(?:don'?t|do\s+not)\s+(?:want|need|show(?:\s+me)?))\b\s*(?:the\s+)?",
                       re.IGNORECASE)
LEXICAL = re.compile(r"\b(?:AND|OR|NOT)\b|\b(?:title|abstract|claims?|description|desc|figures?|text):\S")
SEARCH_VERB = re.compile(r"^\s*(?:please\s+)?(?:(?:can|could|would) you\s+)?(?:show|find|search|look|get|give|"
                         r"i'?m looking|i am looking|i need|i want|display|retrieve|fetch|are there)\b", re.IGNORECASE)



@dataclass(frozen=True)
class ToolPhrase:
    """A phrasing of a search tool registered with ``search=`` in `agent.lc_tools.TOOLS`.

    When `trigger` matches at the start of a request, the planner runs the tool with one argument, `arg`:
    the trigger's group named ``value`` if it has one, else the rest of the request after the match (quotes
    and end punctuation stripped). Phrases are tried in order, before refinements and plain searches.
    """

    trigger: re.Pattern[str]
    tool: str  # the tool's name in agent.lc_tools.TOOLS
    arg: str  # the search function's argument that gets the value


# A new search tool's phrasings go here, e.g.
#   ToolPhrase(re.compile(r"^\s*(?:find |show )?figures with the code\b", re.I), "find_by_code", "code"),
TOOL_PHRASES: tuple[ToolPhrase, ...] = ()

# Smaller cues the rules look for. Those without flags are matched against the lower-cased request.
GROUP_WORD = re.compile(r"\bgroups?\b|\bclusters?\b")
KEEP_WORD = re.compile(r"\bkeep\b")
GROUP_OR_SET = re.compile(r"\bgroup\b|\bset\b", re.I)  # "group 2", "set 3" just before a number: not a part
IN_THIS_FIGURE = re.compile(r"\bin (?:this|that|the) (?:figure|drawing|sheet)\b")
RANK_WORDS = re.compile(r"\b(?:first|top|ranked|rank|score|scored|here|there)\b")
EXPLAIN_LEAD = re.compile(r"^\s*explain\b")
WEIGHT_WORD = re.compile(r"\bweight\b")
SIMILAR_WORD = re.compile(r"\b(?:similar|like)\b")
LEXICAL_LEAD = re.compile(r"^\s*(?:search(?: for)?|find|keyword search|lexical search|boolean search)\s*:?\s*", re.I)
PART_FIGURES = re.compile(r"^\s*(?:find|show|search for|look for)(?: me)? (?:figures|drawings|sheets) (?:with|showing) "
                         r"(?:the |a |an )?(?:component|part|reference sign) ['\"]?([^'\"]+?)['\"]?\s*$", re.I)
FACET_HEAD = re.compile(r"^\s*((?:[\w-]+\s+){0,3}?)(?:of|about|for|showing|on|depicting|with)\s+(.+)$", re.I)

# Negation inside a request: what follows one of these words is excluded ("only EP but no flowcharts",
# "anything except WO", "not before 2015", "without graphs").
NEG_WORD = re.compile(
    r"(?:^|,?\s+|\b)(?:but\s+(?:not|no|without)|and\s+(?:not|no)|except(?:\s+for)?|excluding|exclude|without|"
    r"other\s+than|apart\s+from|minus|not|no|nothing|everything\s+but|anything\s+but|"
    r"(?:i\s+)?(?:don'?t|do\s+not)\s+(?:want|need|show(?:\s+me)?|care\s+about))\b\s*(?:the\s+|any\s+)?",
    re.IGNORECASE,
)
CPC_WORD = re.compile(r"\b(?:CPC\s+(?:class\s+)?|class\s+)?([A-H]\d\d[A-Z]?)\b")  # "B64", "CPC B64D"

# Ordering a set: "sort by date", "newest first", "order them by score".
ORDER = re.compile(
    r"\b(?P<verb>sort|order|re-?order|re-?sort|arrange|rank|list|group)(?:\s+(?:them|these|it|this|those|the\s+(?:results?|set|"
    r"hits|figures|drawings|list)))?\s+(?:by|on|according\s+to|in)\s+(?P<key>[\w\s'-]+?)\s*(?:[,.!?]|$)|"
    r"\b(?P<first>newest|latest|most\s+recent|recent|oldest|earliest|best|highest[\s-]scor\w*|lowest[\s-]scor\w*)"
    r"(?:\s+(?:ones?|results?|figures?|patents?))?\s+first\b|\b(?P<chrono>chronologically)\b|"
    r"\b(?P<reverse>reverse|invert|flip)\s+(?:the\s+)?(?:order|list|ranking|sorting)\b",
    re.IGNORECASE,
)
ORDER_DATE = re.compile(r"\b(?:date|dates|year|years|time|age|chronolog\w*|publication|published|recent|newest|"
                        r"latest|oldest|earliest|newer|older)\b", re.I)
ORDER_SCORE = re.compile(r"\b(?:score|scores|relevance|similarity|match|matches|best|highest|lowest|rank|ranking)\b",
                         re.I)
ORDER_PATENT = re.compile(r"\b(?:patents?|patent\s+(?:numbers?|ids?)|documents?|numbers?|ids?)\b", re.I)
ORDER_DESC = re.compile(r"\b(?:desc\w*|newest|latest|most\s+recent|recent\s+first|reverse\w*|highest|best|"
                        r"new\s+to\s+old|newer\s+first|high\s+to\s+low|big\w*\s+first)\b", re.I)
ORDER_ASC = re.compile(r"\b(?:asc\w*|oldest|earliest|old\s+to\s+new|older\s+first|lowest|weakest|worst|"
                       r"low\s+to\s+high)\b", re.I)

# How many results: "give me 50", "top 5", "more", "fewer".
_COUNT_WORD = r"\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|forty|fifty|hundred"
COUNT = re.compile(
    rf"^\s*(?:please\s+)?(?:(?:can|could)\s+you\s+)?(?:(?:give|show|get|send|return|list)(?:\s+me)?|i\s+want|"
    rf"let\s+me\s+see|make\s+it|just|only|keep(?:\s+only)?|limit\s+(?:it\s+|them\s+)?to|cut\s+(?:it\s+)?to)?\s*"
    rf"(?:the\s+)?(?:(?P<top>top|first|best)\s+)?(?P<n>{_COUNT_WORD})\s*(?P<more>more\b\s*)?"
    rf"(?:results?|hits?|figures?|drawings?|ones?|matches|images?)?(?:\s+(?:please|instead|now|then))?\s*[.!]*\s*$",
    re.IGNORECASE,
)
MORE = re.compile(
    r"^\s*(?:please\s+)?(?:(?:can|could)\s+you\s+)?(?:(?:show|give|get|load|see|find|fetch|list)(?:\s+me)?\s+)?"
    r"(?:some\s+|a\s+few\s+|even\s+|many\s+|a\s+lot\s+)?more(?:\s+(?:results?|hits|figures|drawings|ones|matches|"
    r"of\s+(?:them|these|those)))?(?:\s+please)?\s*[.!]*\s*$|^\s*(?:next\s+page|load\s+more|keep\s+going)\s*[.!]*\s*$",
    re.IGNORECASE,
)
FEWER = re.compile(r"^\s*(?:please\s+)?(?:(?:show|give)(?:\s+me)?\s+)?(?:fewer|less)(?:\s+(?:results?|hits|figures|"
                   r"drawings|ones))?(?:\s+please)?\s*[.!]*\s*$", re.IGNORECASE)
COUNT_LEAD = re.compile(  # a number of results said with a new search: "50 drawings of a hinge", "10 flowcharts of"
    r"^(?:the\s+)?(?:(?:top|first|best)\s+)?(?P<n>\d{1,3})\s+(?:(?P<noun>(?:patent\s+)?(?:drawings?|figures?|"
    r"results?|images?|sheets?|hits|examples?))\s+(?:of\s+|showing\s+|with\s+|for\s+|about\s+|on\s+)?)?",
    re.IGNORECASE,
)
COUNT_WORDS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "hundred": 100}

# A question about one figure: "what is shown in FIG 2 of #4?", "what does #2 show?", "describe #3".
FIG_REF = re.compile(r"\bFIG(?:URE)?S?\.?\s*(\d{1,3}[A-Za-z]?)\b", re.IGNORECASE)
FIGURE_QUESTION = re.compile(
    r"^\s*show(?:\s+me)?\s+(?:the\s+)?fig(?:ure|s)?\.?\s*\d|\b(?:what(?:'s|\s+is|\s+are)?\s+(?:shown|depicted|drawn|illustrated|pictured|visible|seen|on|in)\b|"
    r"what\s+(?:does|do|did)\b.*\b(?:show|depict|illustrate|contain|represent)\b|describe|description\s+of|"
    r"tell\s+me\s+(?:about|what)|what\s+(?:am\s+i|are\s+we)\s+looking\s+at)",
    re.IGNORECASE,
)

# References to a result's patent and applicant: "just that patent, #3", "the patent of #4", "the same applicant".
PATENT_REF = re.compile(r"'s\s+patent\b|\b(?:(?:that|this|its|the\s+same)\s+patent|"
                        r"the\s+patent\s+(?:of|for|behind|from|in)|"
                        r"(?:all|every|the\s+other)\s+(?:figures?|sheets?|drawings?)\s+of|whole\s+patent)\b", re.I)
SHOWS = re.compile(r"\bwhat\b.*\b(?:shows?|depicts?|illustrates?|is\s+shown)\b", re.I)
APPLICANT_QUESTION = re.compile(  # "who is the applicant of #2?", "which company filed it?"
    r"^(?=.*\b(?:who|which\s+(?:company|firm)|what(?:'s|\s+is)\s+the)\b)"
    r"(?=.*\b(?:applicants?|assignees?|owners?|company|firm|filed|applied|owns)\b)", re.I)
APPLICANT = re.compile(r"\b(?:same|this|that|its|their)\s+(?:applicant|assignee|company|owner|proprietor|"
                       r"applicants)\b|\bapplicant\s+of\b|\bby\s+the\s+applicant\b", re.I)
