"""Refining the current result set into a new one: facet filters, dropping, topic narrowing, reweighting."""

from __future__ import annotations

from collections.abc import Sequence

from agent.actions.base import ActionBase, describe_filters, set_facets
from agent.events import Outcome
from agent.render import counts
from core.errors import ToolError
from core.filters import Filters
from tools.cpc_topics import cpc_for_topic, cpc_legend
from tools.filtering import apply_filters, make_filters
from tools.narrow import TOPIC_STRONG_SIM, narrow_hits

WEIGHT_STEP = 0.2
RERUNNABLE = ("text", "image", "image+text", "more_like", "lexical", "component", "tool")


class RefineActions(ActionBase):
    """Actions that make a new set from the current one (or re-run its search with a change)."""

    def filter(
        self,
        kinds: Sequence[str] | None = None,
        views: Sequence[str] | None = None,
        cpc: Sequence[str] | None = None,
        offices: Sequence[str] | None = None,
        kind_codes: Sequence[str] | None = None,
        date_from: int | str | None = None,
        date_to: int | str | None = None,
        only_patents: Sequence[str] | None = None,
        exclude_patents: Sequence[str] | None = None,
        has_components: bool | None = None,
        exclude_kinds: Sequence[str] | None = None,
        exclude_views: Sequence[str] | None = None,
        exclude_cpc: Sequence[str] | None = None,
        exclude_offices: Sequence[str] | None = None,
        exclude_kind_codes: Sequence[str] | None = None,
    ) -> Outcome:
        """Keep the current hits that pass facet filters (kinds, views, cpc, offices, dates, patents...);
        the exclude_ arguments drop what they name ("anything except EP", "no graphs")."""
        rs = self.session.require_current()
        f = make_filters(
            self.services, kinds=kinds, views=views, cpc=cpc, offices=offices, kind_codes=kind_codes,
            date_from=date_from, date_to=date_to, has_components=has_components,
            include_ids=[self.resolve_patent_id(p) for p in only_patents or []],
            exclude_ids=[self.resolve_patent_id(p) for p in exclude_patents or []],
            exclude_kinds=exclude_kinds, exclude_views=exclude_views, exclude_cpc=exclude_cpc,
            exclude_offices=exclude_offices, exclude_kind_codes=exclude_kind_codes,
        )
        if f.is_empty():
            raise ToolError("name at least one filter: kinds, views, cpc, offices, kind_codes, date_from, "
                            "date_to, only_patents, exclude_patents or has_components")
        recipe = self.session.recipe()
        new_recipe = recipe.refined(filters=_merge_filters(recipe.filters, f))
        kept = apply_filters(self.services, rs.hits, f)
        what = describe_filters(f)
        if kept:
            return self._push(kept, f"set {rs.set_id} filtered by {what}", rs.set_id, new_recipe,
                              lead=f"{len(kept)} of the {len(rs.hits)} figures of set {rs.set_id} pass {what}.")
        have = set_facets(rs.hits)
        if recipe.mode in RERUNNABLE:
            hits = self._run_recipe(new_recipe)
            if hits:
                return self._push(hits, f"{recipe.mode} search of set {rs.set_id} re-run with {what}", rs.set_id,
                                  new_recipe, lead=f"None of the {len(rs.hits)} figures of set {rs.set_id} passes "
                                  f"{what}, so the same search was run again over the whole index with it.")
        return Outcome(summary=f"No figure passes {what}, neither in set {rs.set_id} nor in a new search. "
                               f"Set {rs.set_id} stays current.",
                       text=f"Set {rs.set_id} has: {have}.")

    def drop(self, patent_ids: Sequence[str] = (), ranks: Sequence[int] = ()) -> Outcome:
        """Remove patents (by id) or single figures (by rank) from the current set."""
        rs = self.session.require_current()
        if not patent_ids and not ranks:
            raise ToolError("say what to drop: patent ids like US12448135, or ranks like 3")
        pids = [self.resolve_patent_id(p) for p in patent_ids]
        figs = [self.session.hit(int(r)).figure_id for r in ranks]
        kept = [h for h in rs.hits if h.patent_id not in pids and h.figure_id not in figs]
        asked = ", ".join([*pids, *(f"#{r}" for r in ranks)])
        if len(kept) == len(rs.hits):
            in_set = ", ".join(sorted({h.patent_id for h in rs.hits}))
            return Outcome(summary=f"Nothing to drop: {asked} is not in set {rs.set_id}. Set {rs.set_id} stays "
                                   f"current.", text=f"Patents in set {rs.set_id}: {in_set}.")
        recipe = self.session.recipe()
        filters = recipe.filters
        if pids:
            filters = filters.model_copy(update={"exclude_ids": sorted(set(filters.exclude_ids) | set(pids))})
        new_recipe = recipe.refined(filters=filters, dropped=[*recipe.dropped, *figs])
        for i, h in enumerate(kept):
            kept[i] = h.model_copy(deep=True)
            if pids:
                kept[i].breakdown.filters = {**kept[i].breakdown.filters, "exclude_ids": sorted(pids)}
        n = len(rs.hits) - len(kept)
        return self._push(kept, f"set {rs.set_id} without {asked}", rs.set_id, new_recipe,
                          lead=f"Dropped {n} figure{'s' if n != 1 else ''} ({asked}).")

    def narrow(self, topic: str, cpc: Sequence[str] | None = None) -> Outcome:
        """Keep the current hits about a domain: CPC classes of the index that match it, plus text similarity."""
        rs = self.session.require_current()
        topic = (topic or "").strip()
        if not topic:
            raise ToolError("say which topic to narrow to, e.g. 'autonomous driving'")
        present = self.facet_values()["cpc"]
        if cpc:
            prefixes = make_filters(self.services, cpc=list(cpc)).cpc  # validated against the index
            how = "CPC given"
        else:
            prefixes = cpc_for_topic(topic, present, self.services.text)
            how = "CPC classes whose titles match the topic"
        kept, info = narrow_hits(self.services, rs.hits, topic, prefixes)
        legend = "; ".join(cpc_legend(prefixes)) if prefixes else ""
        rule = (f"in {', '.join(prefixes)} ({how}: {legend}) or linked-text similarity >= {TOPIC_STRONG_SIM}"
                if prefixes else f"linked-text similarity to '{topic}' >= {info['threshold']:.3f} "
                f"(no CPC class in the index matches the topic)")
        if not kept:
            return Outcome(summary=f"No figure of set {rs.set_id} is about '{topic}' by the rule: {rule}. "
                                   f"Set {rs.set_id} stays current.",
                           text=f"Best linked-text similarity in the set: {info['best_similarity']:.3f}. "
                                f"CPC in the set: {counts([c[:4] for h in rs.hits for c in h.cpc[:1]])}.")
        recipe = self.session.recipe()
        new_recipe = recipe.refined(topics=[*recipe.topics, (topic, list(prefixes))])
        out = self._push(kept, f"set {rs.set_id} narrowed to '{topic}'", rs.set_id, new_recipe,
                         lead=f"{len(kept)} of the {len(rs.hits)} figures of set {rs.set_id} "
                              f"{'are' if len(kept) != 1 else 'is'} about '{topic}' (kept if {rule}).")
        out.artifact["topic"] = {"topic": topic, "cpc": list(prefixes), **info}
        return out

    def reweight(self, text_weight: float | None = None, more_text: bool | None = None) -> Outcome:
        """Re-run the current set's search with more (or less) weight on the words against the image."""
        rs = self.session.require_current()
        recipe = self.session.recipe()
        if recipe.mode == "text":
            return Outcome(summary=f"Set {rs.set_id} was found from words only, so the text already has all the "
                                   "weight. Attach an image to combine a drawing with words.")
        if recipe.mode == "image":
            return Outcome(summary=f"Set {rs.set_id} was found from the image alone: there are no query words to "
                                   "weigh. Say what to look for together with the image (e.g. 'like this but with "
                                   "a cooling channel').")
        if recipe.mode not in ("image+text", "more_like"):
            source = recipe.tool if recipe.mode == "tool" else recipe.mode or "hand-picked"
            return Outcome(summary=f"Set {rs.set_id} comes from a {source} selection, which "
                                   "has no text/image weights to change.")
        old = recipe.text_weight
        new = _new_weight(old, text_weight, more_text)
        if abs(new - old) < 1e-9:
            return Outcome(summary=f"The text weight of set {rs.set_id} is already {old:.2f}.")
        hits = self._run_recipe(recipe.refined(text_weight=new))
        new_recipe = recipe.refined(text_weight=new)
        return self._push(hits, f"set {rs.set_id}'s search with text weight {new:.2f} (was {old:.2f})", rs.set_id,
                          new_recipe, lead=f"Text weight {old:.2f} → {new:.2f} (visual {1 - new:.2f}).")


def _new_weight(old: float, text_weight: float | None, more_text: bool | None) -> float:
    """The text weight asked for (a value in 0..1, or one step more or less), clipped to 0..1."""
    if text_weight is not None:
        new = float(text_weight)
        if not 0.0 <= new <= 1.0:
            raise ToolError(f"text_weight must lie between 0 and 1, not {text_weight}")
    elif more_text is not None:
        new = old + WEIGHT_STEP if more_text else old - WEIGHT_STEP
    else:
        raise ToolError("give text_weight (0..1) or say whether the text should count more or less")
    return round(min(1.0, max(0.0, new)), 2)


def _merge_filters(old: Filters, new: Filters) -> Filters:
    merged = old.merged(new)
    return merged.model_copy(update={"exclude_ids": sorted(set(old.exclude_ids) | set(new.exclude_ids))})
