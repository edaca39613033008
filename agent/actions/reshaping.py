"""Reshaping the current result set into a new one: its order, its size, and the patents of one applicant."""

from __future__ import annotations

import re

from agent.actions.refining import RefineActions
from agent.events import Outcome
from core.errors import ToolError
from tools.ordering import order_hits, order_words
from tools.search import MAX_K, patent_of


class ReshapeActions(RefineActions):
    """Actions that change how the current set is ordered or how many figures it has."""

    def order(self, by: str = "date", descending: bool | None = None) -> Outcome:
        """The current set in another order (date, score or patent) as a new set, ranks renumbered."""
        rs = self.session.require_current()
        by = (by or "date").strip().lower()
        hits = order_hits(rs.hits, by, descending)
        words = order_words(by, descending)
        unknown = sum(1 for h in hits if not h.pub_date)
        note = f" The {unknown} figures with no known date come last." if by == "date" and unknown else ""
        recipe = self.session.recipe().refined(order_by=by, descending=descending)
        return self._push(hits, f"set {rs.set_id} ordered by {words}", rs.set_id, recipe,
                          lead=f"Ordered by {words}.{note}")

    def resize(self, k: int | None = None, more: bool = False) -> Outcome:
        """The current set's search run again for k figures ("give me 50"), or for more of them ("more")."""
        rs = self.session.require_current()
        recipe = self.session.recipe()
        n = len(rs.hits)
        if k is None:
            if not more:
                raise ToolError("say how many figures to show, for example 50, or ask for more")
            k = min(MAX_K, max(recipe.k, n) * 2)
        if not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise ToolError(f"I can show from 1 to {MAX_K} figures, not {k}")
        if not recipe.mode:  # a group or a selection: there is no search to run again
            if k >= n:
                return Outcome(summary=f"Set {rs.set_id} was picked by hand (a group or a selection), so I cannot "
                                       f"search for more of it. It keeps its {n} figures.",
                               text="I can show more of an earlier search (go back to it first), or search again.")
            return self._push(rs.hits[:k], f"the first {k} of set {rs.set_id}", rs.set_id, recipe.refined(k=k),
                              lead=f"Kept the first {k} of the {n} figures.")
        hits = self._run_recipe(recipe, k=k)
        if more and len(hits) <= n:
            return Outcome(summary=f"There are no more figures for this search: set {rs.set_id} already has all "
                                   f"{n} that it finds. Set {rs.set_id} stays current.")
        fewer = f" Only {len(hits)} figures match it." if len(hits) < k else ""
        return self._push(hits, f"set {rs.set_id} with {k} results asked for", rs.set_id, recipe.refined(k=k),
                          lead=f"The same search again, now asked for {k} results instead of {recipe.k}.{fewer}")

    def same_applicant(self, rank: int | None = None, patent_id: str | None = None) -> Outcome:
        """Keep the figures of patents by the applicant of one result (#rank) or of a patent id."""
        pid = self.resolve_patent_id(patent_id) if patent_id else self.session.hit(int(rank or 1)).patent_id
        doc = patent_of(self.services, pid)
        names = {_name_key(a): a for a in (doc.applicants if doc else [])}
        if not names:
            ref = f"#{rank}" if rank else pid
            return Outcome(summary=f"The data I have for {pid} names no applicant, so I cannot look for the same "
                                   "applicant.",
                           text=f"I can keep only the figures of {pid} ('just that patent, {ref}'), find figures "
                                f"like it ('more like {ref}'), or compare it with the other results.")
        same = [p.patent_id for p in self.services.store.patents()
                if names.keys() & {_name_key(a) for a in p.applicants}]
        outcome = self.filter(only_patents=same)
        who = " and ".join(names.values())
        others = len(same) - 1
        outcome.summary = (f"{who} applied for {pid}" + (f" and {others} other patent{'s' if others != 1 else ''} "
                           "in the index." if others else ", and for no other patent in the index.") + " "
                           + outcome.summary)
        return outcome


def _name_key(name: str) -> str:
    """An applicant's name for comparison: case, punctuation and company suffixes ignored."""
    words = re.sub(r"[^\w\s]", " ", name.casefold()).split()
    return " ".join(w for w in words if w not in {"inc", "ltd", "llc", "gmbh", "ag", "co", "corp", "sa", "bv"})
