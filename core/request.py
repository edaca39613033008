"""What a search request is about: the words that ask for a search taken off, the words about the drawing kept.

People type requests, not queries: "figures showing a hydrogen tank", "can you find me drawings of a hinge?",
"search with this drawing", "like this one but with a cooling channel". Searched as they are, the request
words ("figures showing", "this drawing") are matched like words about the drawing. `search_words()` takes
them off and keeps what the drawing shows, including the words that name a kind or a view ("flowchart of
charging" stays as it is), and returns "" when nothing is left ("show me the", "search with this drawing").

Only whole words at the start or the end of the text are taken (and references to the user's own image
anywhere), so "finder", "showerhead" and "drawing frame" keep their words. Pure: text in, text out.
`first_part()` cuts a long paste to a searchable length at a sentence or word boundary; `query_of()` does both
and says what it cut, for the chat and the CLI alike.
"""

from __future__ import annotations

import re

MAX_QUERY_CHARS = 2000  # the longest search text the search tools take (tools.search.check_text)

_I = re.IGNORECASE
# A request word ends at a space, a comma or colon, or the end of the text (never inside a word or a hyphenation).
_END = r"(?:\s+|\s*[,;:]\s*|\s*$)"
# Nouns for what is searched ("figures", "patent drawings"). Not the kind phrases of the planner ("technical
# drawings", "line drawings", "flowcharts", "diagrams"): those say what the drawing is and stay.
_NOUN = (r"(?:patent\s+)?(?:figures?|figs?\.?|drawings?|images?|pictures?|illustrations?|sketches|renderings?|"
         r"depictions?|examples?|results?|patents?|documents?|publications?|hits|anything|something|ones)")
# What joins such a noun to the thing ("drawings of", "figures that show", "images where ... is shown").
_JOIN = (r"(?:of|about|for|on|with|showing|depicting|illustrating|containing|featuring|having|including|"
         r"(?:that|which|where|in\s+which)\s+(?:(?:clearly|also)\s+)?(?:show|shows|depict|depicts|illustrate|"
         r"illustrates|contain|contains|has|have|include|includes|feature|features|is\s+shown|are\s+shown)|"
         r"with\s+(?:a|an|the)?\s*(?:view|views)\s+of)")
# The user's own drawing, named: "this one", "my sketch", "the attached image", "the uploaded drawing".
_MINE = r"(?:this|that|these|my|mine|the\s+(?:attached|uploaded|selected|given|query))"
_MINE_NOUN = (r"(?:one|ones|image|drawing|sketch|figure|picture|photo|crop|region|upload|attachment|file|"
              r"selection|part|area|shape)")
# What may follow a reference to the user's drawing ("like this one, but with...", "this sketch and ...").
_AFTER = (r"(?=\s*(?:$|[,.;:!?]|(?:and|but|with|plus|please|for|to|of|showing|having|that|which|where|only|"
          r"except|without|in|from|as|instead)\b))")

_IMAGE_REFS = (
    # "(figures) like this one", "similar to my sketch", "that look like this", "based on the attached image"
    re.compile(rf"(?:\b{_NOUN}\s+)?(?:(?:that|which)\s+(?:looks?|are|is)\s+)?"
               rf"\b(?:looks?\s+like|like|similar\s+to|resembling|matching|close\s+to|(?:the\s+)?same\s+as|"
               rf"based\s+on)\s+{_MINE}(?:\s+one\b|\s+{_MINE_NOUN}{_AFTER}|\b)", _I),
    # "with this drawing", "using my sketch", "from the uploaded image"
    re.compile(rf"\b(?:with|using|from|by|for|of)\s+{_MINE}\s+{_MINE_NOUN}{_AFTER}", _I),
    # "this drawing" on its own ("that area", "these parts" may be about the thing: they stay)
    re.compile(rf"\b(?:this|my|the\s+(?:attached|uploaded|selected|query))\s+(?:one|image|drawing|sketch|picture|"
               rf"photo|crop|region|upload|attachment|file|selection){_AFTER}", _I),
)

_LEADS = re.compile(
    r"^(?:"
    # greetings, fillers, politeness
    r"please|pls|kindly|hi|hello|hey|ok(?:ay)?|so|now|then|and|also|alright|use(?=\s*$)|"
    r"what\s+about|how\s+about|"
    # asking
    r"(?:can|could|would|will)\s+you(?:\s+please)?|(?:can|could|may)\s+i(?:\s+please)?(?:\s+(?:see|get|have))?|"
    r"help\s+me(?:\s+to)?|i(?:'d|\s+would)\s+like(?:\s+to)?(?:\s+(?:see|find|get|have))?|"
    r"i\s+(?:want|need)(?:\s+to)?(?:\s+(?:see|find|get|have))?|(?:i'm|i\s+am|we're|we\s+are)\s+looking\s+for|"
    r"(?:i'm|i\s+am)\s+searching\s+for|looking\s+for|searching\s+for|let\s+me\s+see|let's\s+see|"
    r"(?:are|is)\s+there|do\s+you\s+have|have\s+you\s+got|"
    # verbs that ask for a search
    r"show(?:\s+(?:me|us))?|find(?:\s+(?:me|us))?|look\s+(?:for|up)|"
    r"search(?!\s+(?:engines?|bars?|box(?:es)?|quer(?:y|ies)|algorithms?)\b)(?:\s+the\s+index)?(?:\s+for)?|"
    r"(?:get|give|bring|pull)(?:\s+(?:me|us))(?:\s+up)?|bring\s+up|pull\s+up|"
    r"(?:display|list|get|fetch|retrieve|return|see|locate)(?=\s+(?:me|us|the|a|an|all|any|some|"
    rf"{_NOUN})\b)|"
    # what is searched, and the word that joins it to the thing
    rf"(?:(?:any|some|all(?:\s+the)?|the|a|an|more|other)\s+)?{_NOUN}(?:\s+{_JOIN}|(?=\s*$))|"
    # articles, quantifiers, and what joins a remainder after a reference to the user's drawing
    r"a|an|the|any|some|but|plus|with|having|showing|depicting|of|that\s+(?:has|have|shows?)|"
    r"only(?=\s+(?:with|having|showing)\b)|"
    r"which\s+(?:has|have|shows?)|where"
    rf"){_END}",
    _I,
)
# Kind words that make "drawings" at the end say what the drawing is ("hinge technical drawings").
_KIND_MODIFIER = {"line", "mechanical", "technical", "plain", "engineering", "chemical", "design"}
_TRAIL_WORDS = re.compile(
    r"(?:^|[\s,;:])(?:please|pls|thanks|thank\s+you|for\s+me|if\s+possible|if\s+you\s+can|if\s+any|"
    r"in\s+(?:the\s+)?(?:index|database|collection|corpus|patents|documents)|"
    r"from\s+(?:the\s+)?(?:index|database|collection|patents))\s*$", _I)
_TRAIL_NOUN = re.compile(r"(?<=\S)\s+(?:patent\s+)?(?:figures|drawings|images|pictures|illustrations)\s*$", _I)
_PUNCT_END = " \t?!.,;:"
_PUNCT_START = re.compile(r"^[\s,.;:!?\-]+")
_QUOTED = re.compile(r"""^(["'“‘])(.*)(["'”’])$""", re.S)


def _once(text: str) -> str:
    """One pass: image references anywhere, then request words at the start, then at the end."""
    t = text
    for rx in _IMAGE_REFS:
        t = rx.sub(" ", t)
    t = " ".join(t.split())
    while True:
        before = t
        t = _PUNCT_START.sub("", t)
        t = _LEADS.sub("", t, count=1)
        if t == before:
            break
    while True:
        before = t
        t = t.rstrip(_PUNCT_END)
        t = _TRAIL_WORDS.sub("", t)
        m = _TRAIL_NOUN.search(t)
        if m and t[: m.start()].split()[-1].lower() not in _KIND_MODIFIER:
            t = t[: m.start()]
        q = _QUOTED.match(t)
        if q and q.group(2).count('"') == 0:
            t = q.group(2).strip()
        if t == before:
            break
    return t


def search_words(text: str | None) -> str:
    """The words of a request that say what the drawing shows: "figures showing a hydrogen tank" → "hydrogen tank",
    "search with this drawing" → "", "flowchart of charging" → "flowchart of charging" (unchanged).

    Idempotent: the result read again is the result.
    """
    t = " ".join((text or "").replace("’", "'").split())
    while True:
        nxt = _once(t)
        if nxt == t:
            return t if re.search(r"[^\W_]", t) else ""  # "*", "()", ":" name nothing
        t = nxt


def first_part(text: str, limit: int = MAX_QUERY_CHARS) -> str:
    """A text cut to at most `limit` characters: at the last sentence end in its second half, else the last
    space, else hard. A text within the limit comes back as it is."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    ends = [m.end() for m in re.finditer(r"[.;!?](?=\s)", head)]
    if ends and ends[-1] >= limit // 2:
        return head[: ends[-1]].strip()
    space = head.rfind(" ")
    return (head[:space] if space >= limit // 2 else head).strip()


def shortened(text: str, limit: int = 80) -> str:
    """A search text as quoted in a reply: a long one shortened with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def query_of(asked: str) -> tuple[str, str]:
    """The words to search with for a request (`search_words`, a long text cut by `first_part`), and a note for
    the reply when it was cut ("" otherwise)."""
    words = search_words(asked)
    if len(words) <= MAX_QUERY_CHARS:
        return words, ""
    cut = first_part(words)
    return cut, (f"Your text is {len(words):,} characters long; I searched with its first {len(cut):,} characters "
                 f"(up to '…{shortened(cut[-40:], 40)}').")


def nothing_to_search(asked: str) -> str:
    """Why a search by words cannot run: no words at all, or only words that ask for a search."""
    if not asked.strip():
        return "the query is empty: say what the drawing shows, e.g. 'hydrogen tank', or attach a drawing"
    return (f"{shortened(asked.strip())!r} asks for a search but does not say for what: give the words that say "
            "what the drawing shows, e.g. 'hydrogen tank' for 'figures showing a hydrogen tank', or attach a drawing")
