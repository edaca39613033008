"""Moving between result sets and looking at them: undo, go to a set, list it, the index's facet values, and
grouping a set into clusters of similar drawings."""

from __future__ import annotations

from collections import Counter

from agent.actions.base import ActionBase, set_artifact
from agent.events import Outcome, TurnEvent
from agent.render import listing, set_header, short_ids
from core.errors import ToolError
from tools.cluster import ClusterResult, cluster_hits
from tools.cpc_topics import cpc_legend
from tools.phrasing import and_list, plural

TITLE_SOURCES = {"llm": "named by the language model", "keywords": "made of its keywords"}


class SetActions(ActionBase):
    """Actions over the numbered result sets of the session."""

    def undo(self) -> Outcome:
        """Back to the result set that was current before this one."""
        before = self.session.current
        rs = self.session.undo()
        if rs is None:
            if before is None:
                return Outcome(summary="There is nothing to undo: no search has been made yet.")
            return Outcome(summary=f"There is nothing to undo: set {before.set_id} is the first set.")
        return Outcome(summary=f"Back to the previous results. {set_header(rs)}.", listing=listing(rs.hits),
                       artifact=set_artifact(rs), events=[TurnEvent("result_set", rs)])

    def goto(self, set_id: int) -> Outcome:
        """Make an earlier numbered set current again."""
        rs = self.session.goto(int(set_id))
        return Outcome(summary=f"Set {rs.set_id} is current again. {set_header(rs)}.", listing=listing(rs.hits),
                       artifact=set_artifact(rs), events=[TurnEvent("result_set", rs)])

    def show(self, set_id: int | None = None, limit: int = 10) -> Outcome:
        """List a set (default: the current one) in words, without changing anything ("list them")."""
        rs = self.session.get(int(set_id)) if set_id is not None else self.session.require_current()
        head = set_header(rs) + ("" if rs is self.session.current else " (not the current set)")
        sets = ", ".join(f"{s.set_id} ({len(s.hits)})" for s in self.session.sets)
        return Outcome(summary=head + ".", text=f"Sets so far (figures): {sets}.",
                       data=listing(rs.hits, limit), artifact=set_artifact(rs))

    def facets(self) -> Outcome:
        """The filter values that occur in the index."""
        fv = self.facet_values()
        lines = [
            f"Figure kinds: {', '.join(fv['kinds'])}.",
            f"Views: {', '.join(fv['views'])}.",
            f"Offices: {', '.join(fv['offices'])}; kind codes: {', '.join(fv['kind_codes'])}.",
            f"Publication dates: {fv['date_range'][0]} to {fv['date_range'][1]}." if fv["date_range"] else "",
            f"{len(fv['patent_ids'])} patents.",
        ]
        return Outcome(summary="Filter values in the index:", text="\n".join(x for x in lines if x),
                       data=cpc_legend(fv["cpc"], fv.get("cpc_counts")))

    def cluster(self, k: int | None = None) -> Outcome:
        """Cluster the current set into k groups of similar drawings (k chosen by silhouette if None)."""
        rs = self.session.require_current()
        result = cluster_hits(self.services, rs.hits, k=k, titler=self.titler)
        self.session.clusters = result
        data = [f"Group {c.cluster_id}, \"{c.title}\" ({plural(len(c.hits), 'figure')}): {short_ids(c.hits, 8)}. "
                f"Keywords: {and_list(c.keywords) or 'none'}." for c in result.clusters]
        summary = (f"I sorted the {plural(len(rs.hits), 'figure')} of set {rs.set_id} into "
                   f"{plural(result.k, 'group')} of similar drawings.")
        return Outcome(summary=summary, text=" ".join([_k_words(result, k), *result.notes]).strip(),
                       data=data, artifact={"clusters": result.model_dump(mode="json")},
                       events=[TurnEvent("clusters", result)])

    def group(self, group: int, keep: bool = False) -> Outcome:
        """What is in one group of the last clustering; with keep, make the group the new current set."""
        rs = self.session.require_current()
        result = self.session.clusters
        if result is None:
            raise ToolError(f"set {rs.set_id} has not been clustered yet: cluster it first "
                            "(e.g. 'cluster these into 4 groups')")
        if not isinstance(group, int) or not 1 <= group <= len(result.clusters):
            raise ToolError(f"there is no group {group!r}; the groups are 1 to {len(result.clusters)}")
        c = result.clusters[group - 1]
        if keep:
            recipe = self.session.recipe().refined(mode="", topics=[], dropped=[])
            return self._push(list(c.hits), f"group {c.cluster_id} of set {rs.set_id}", rs.set_id, recipe,
                              lead=f"Kept group {c.cluster_id} ({len(c.hits)} figures).")
        kinds = and_list([plural(n, k) for k, n in Counter(h.kind for h in c.hits).most_common()])
        return Outcome(summary=f"Group {c.cluster_id} of set {rs.set_id} has {plural(len(c.hits), 'figure')} "
                               f"({kinds}), from {plural(len({h.patent_id for h in c.hits}), 'patent')}.",
                       data=[f"Title: {c.title} ({TITLE_SOURCES.get(c.title_source, c.title_source)})",
                             f"Keywords: {and_list(c.keywords) or 'none'}.",
                             *listing(c.hits, 12)],
                       artifact={"group": c.model_dump(mode="json")})


def _k_words(result: ClusterResult, asked: int | None) -> str:
    """Why there are this many groups, in words (the technical record stays in `result.k_method`)."""
    if asked is not None:
        return "" if asked == result.k else f"You asked for {asked}."
    if result.silhouette is not None:
        return (f"{plural(result.k, 'group')} separate the drawings best: their silhouette score is "
                f"{result.silhouette:.2f}, on a scale where 1 is a clean split and 0 none.")
    if result.k == 1:
        return "The drawings look too much alike to split."
    return "There are too few figures to choose the number of groups, so each has its own."
