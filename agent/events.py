"""What a turn reports as it runs (events), what a tool call was, and what a tool action returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.render import data_block, sanitize


@dataclass
class TurnEvent:
    """One thing that happened during a turn, in order. `payload` by kind:

    - ``notice``: str (offline mode, a fallback, the tool-call cap)
    - ``tool_call``: ToolCall
    - ``reply_delta``: str (a piece of the reply as it streams)
    - ``reply``: str (the whole reply)
    - ``result_set``: ResultSet (a new current set, or the one undo went back to)
    - ``clusters``: tools.cluster.ClusterResult
    - ``explanation``: dict {"kind": "hit"|"pair"|"compare", "text": str, "facts": dict}
    - ``overlay``: dict {"figure_id", "path", "numerals", "patent_id"}
    """

    kind: str
    payload: object


@dataclass
class ToolCall:
    """A tool call made in a turn (by the model or the offline planner)."""

    name: str
    args: dict
    summary: str
    ok: bool
    error: str | None = None


@dataclass
class Outcome:
    """What a tool action did.

    `summary` is one line of our own words; `text` is more of our own words (numbers, ids); `data` holds
    document-derived lines (titles, descriptions, sentences) that go to the model only inside a data block;
    `listing` holds the hits of a new set, one line each (document-derived too: titles): the model always
    sees them, a person only when asked, since the gallery shows the set; `hint` tells the person what they
    can say next, and `guide` tells the model how to answer from this output (prompts/explain.md, compare.md).
    """

    summary: str
    text: str = ""
    data: list[str] = field(default_factory=list)
    listing: list[str] = field(default_factory=list)  # the set's hits, one line each (agent.render.listing)
    hint: str = ""  # what the person can say next (not sent to the model)
    guide: str = ""  # instructions for the model on how to use this output (not shown to a person)
    artifact: dict = field(default_factory=dict)
    events: list[TurnEvent] = field(default_factory=list)

    def for_model(self) -> str:
        """The tool content the model sees: our words, then the fenced document data."""
        parts = [self.summary, self.text, data_block([*self.data, *self.listing]), self.guide]
        return "\n".join(p for p in parts if p)

    def for_user(self) -> str:
        """The same, for a person: no fence, but document text still cleaned of markers and control tokens, and
        no hit listing (the web page shows the set in its gallery, the terminal chat as its own table; "list
        them" asks for it in words). Then what the person can say next."""
        parts = [self.summary, self.text, "\n".join(sanitize(x, 900) for x in self.data), self.hint]
        return "\n".join(p for p in parts if p)
