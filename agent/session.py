"""One conversation's state: its numbered result sets, the current one, the last clustering, the LLM history.

Sessions share nothing with each other. Tools never receive a session from the model: the agent hands
the session to the tool layer (see `agent.actions.Actions`), so "only flowcharts" or "undo" always act
on this conversation's current set.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.defaults import DEFAULT_K, DEFAULT_TEXT_WEIGHT
from core.errors import ToolError
from core.filters import Filters
from core.types import Hit, ResultSet
from tools.cluster import ClusterResult
from tools.search import CropBox, QueryImage

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage


@dataclass
class Recipe:
    """How a result set can be recomputed: its base search plus the refinements applied on top.

    "give text more weight" re-runs the base search with another weight and re-applies the refinements,
    so a reweighted set is still filtered and narrowed like the set it replaces.
    """

    mode: str = ""  # "text", "image", "image+text", "more_like", "lexical", "component", "tool", "" (unknown)
    tool: str = ""  # mode "tool": the name of a registered search function (agent.actions.registry)
    args: dict[str, Any] = field(default_factory=dict)  # mode "tool": its arguments (besides k and filters)
    text: str = ""
    image: QueryImage | None = None
    crop: CropBox | None = None
    figure_id: str = ""
    text_weight: float = DEFAULT_TEXT_WEIGHT
    k: int = DEFAULT_K
    min_score: float = 0.0  # hits below this calibrated score were left out
    filters: Filters = field(default_factory=Filters)
    topics: list[tuple[str, list[str]]] = field(default_factory=list)  # (topic phrase, CPC prefixes) narrowings
    dropped: list[str] = field(default_factory=list)  # figure ids dropped one by one
    order_by: str = ""  # "" (the search's own ranking), or a key of tools.ordering.ORDER_KEYS
    descending: bool | None = None  # with order_by: None for that key's usual direction

    def refined(self, **changes: Any) -> Recipe:
        """A copy with some fields changed (lists and args copied, never shared)."""
        data = {
            "mode": self.mode, "tool": self.tool, "args": dict(self.args), "text": self.text,
            "image": self.image, "crop": self.crop,
            "figure_id": self.figure_id, "text_weight": self.text_weight, "k": self.k, "min_score": self.min_score,
            "filters": self.filters, "topics": list(self.topics), "dropped": list(self.dropped),
            "order_by": self.order_by, "descending": self.descending,
        }
        data.update(changes)
        return Recipe(**data)


class Session:
    """One conversation: numbered result sets (1..n), the current one, clusters and the chat history."""

    def __init__(self, session_id: str | None = None) -> None:
        self.session_id: str = session_id or uuid.uuid4().hex[:12]
        self.sets: list[ResultSet] = []
        self.recipes: dict[int, Recipe] = {}
        self.current: ResultSet | None = None
        self._clusters: dict[int, ClusterResult] = {}  # set id → its last clustering
        self.messages: list[BaseMessage] = []  # langchain messages of earlier turns (no system message)
        self.image: QueryImage | None = None  # the last query image the user attached
        self.crop: CropBox | None = None
        self.focus: str | None = None  # figure id the conversation last talked about ("this figure")
        self._trail: list[int] = []  # set ids that were current, oldest first (for undo)
        self.offline_noticed = False  # the full offline-mode notice was given in this conversation

    # ------------------------------------------------------------------ result sets

    def push(self, hits: list[Hit], origin: str, parent: int | None, recipe: Recipe | None = None) -> ResultSet:
        """Add a new numbered result set and make it current."""
        hits = [h.model_copy(update={"rank": i + 1}) for i, h in enumerate(hits)]
        rs = ResultSet(set_id=len(self.sets) + 1, hits=hits, origin=origin, parent=parent)
        self.sets.append(rs)
        self.recipes[rs.set_id] = recipe or Recipe()
        self._make_current(rs)
        return rs

    def undo(self) -> ResultSet | None:
        """Go back to the set that was current before this one. None when there is nothing to go back to."""
        if len(self._trail) < 2:
            return None
        self._trail.pop()
        rs = self.get(self._trail[-1])
        self.current = rs
        return rs

    def goto(self, set_id: int) -> ResultSet:
        """Make an earlier set current again (it stays set `set_id`)."""
        rs = self.get(set_id)
        self._make_current(rs)
        return rs

    def get(self, set_id: int) -> ResultSet:
        """A set by its number; ToolError naming the valid numbers if there is no such set."""
        if not self.sets:
            raise ToolError("there are no result sets yet: search first")
        if not isinstance(set_id, int) or not 1 <= set_id <= len(self.sets):
            raise ToolError(f"there is no result set {set_id!r}; sets are numbered 1 to {len(self.sets)}")
        return self.sets[set_id - 1]

    def recipe(self, set_id: int | None = None) -> Recipe:
        """How a set (default: the current one) was made."""
        sid = set_id if set_id is not None else (self.current.set_id if self.current else 0)
        return self.recipes.get(sid, Recipe())

    def require_current(self) -> ResultSet:
        """The current set, or ToolError if there is none yet."""
        if self.current is None:
            raise ToolError("there are no results yet: search first (describe the drawing or attach an image)")
        return self.current

    def hit(self, rank: int) -> Hit:
        """A hit of the current set by its 1-based rank."""
        rs = self.require_current()
        if not isinstance(rank, int) or not 1 <= rank <= len(rs.hits):
            if not rs.hits:
                raise ToolError(f"result set {rs.set_id} is empty: undo or search again")
            raise ToolError(f"there is no #{rank} in result set {rs.set_id}; it has #1 to #{len(rs.hits)}")
        return rs.hits[rank - 1]

    def _make_current(self, rs: ResultSet) -> None:
        self.current = rs
        self._trail.append(rs.set_id)

    @property
    def clusters(self) -> ClusterResult | None:
        """The last clustering of the current set, or None."""
        return self._clusters.get(self.current.set_id) if self.current else None

    @clusters.setter
    def clusters(self, result: ClusterResult | None) -> None:
        if self.current is None:
            raise ToolError("there is no current set to cluster")
        if result is None:
            self._clusters.pop(self.current.set_id, None)
        else:
            self._clusters[self.current.set_id] = result

    @property
    def clusters_of(self) -> int | None:
        """The id of the set `clusters` belongs to (the current one), or None when it is not clustered."""
        current = self.current
        return current.set_id if current is not None and current.set_id in self._clusters else None

    def reset(self) -> None:
        """Forget everything: a fresh conversation with the same id."""
        self.__init__(self.session_id)


class SessionStore:
    """Sessions by id, isolated from one another (the web UI keeps one per browser tab)."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    def get(self, session_id: str | None = None) -> Session:
        """The session with this id, created if new (a new random id when None)."""
        if session_id and session_id in self._sessions:
            return self._sessions[session_id]
        s = Session(session_id)
        self._sessions[s.session_id] = s
        return s

    def drop(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)
