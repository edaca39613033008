"""Refining the current result set into a new one: facet filters, dropping, topic narrowing, reweighting."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agent.actions.base import ActionBase, describe_filters, set_facets
from agent.events import Outcome
from agent.session import Recipe
from core.errors import ToolError
from core.filters import Filters
from core.types import Hit
from tools.cpc_topics import cpc_for_topic, cpc_legend
from tools.filtering import apply_filters, make_filters
from tools.narrow import narrow_hits

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
        within_set: bool = False,
    ) -> Outcome:
        """Search again over the whole index with facet filters added (the exclude_ arguments drop what they
        name: "anything except EP", "no graphs"); with `within_set`, cut the current list instead."""
        f = make_filters(
            self.services, kinds=kinds, views=views, cpc=cpc, offices=offices, kind_codes=kind_codes,
            date_from=date_from, date_to=date_to, has_components=has_components,
            include_ids=[self.resolve_patent_id(p) for p in only_patents or []],
            exclude_ids=[self.resolve_patent_id(p) for p in exclude_patents or []],
            exclude_kinds=exclude_kinds, exclude_views=exclude_views, exclude_cpc=exclude_cpc,
            exclude_offices=exclude_offices, exclude_kind_codes=exclude_kind_codes,
        )
        if f.is_empty():
            raise ToolError("say what to keep or leave out: figure kinds, views, CPC classes, offices, kind codes, "
                            "publication dates, patents, or figures with reference signs read")
        recipe = self.session.recipe()
        return self._refine(recipe.refined(filters=_merge_filters(recipe.filters, f)), describe_filters(f),
                            lambda hits: apply_filters(self.services, hits, f), within_set)

    def drop(self, patent_ids: Sequence[str] = (), ranks: Sequence[int] = (), within_set: bool = False) -> Outcome:
        """Leave out patents (by id) or single figures (by rank): search again without them, or cut the list."""
        rs = self.session.require_current()
        if not patent_ids and not ranks:
            raise ToolError("say what to drop: patent ids like US12448135, or ranks like 3")
        pids = [self.resolve_patent_id(p) for p in patent_ids]
        figs = [self.session.hit(int(r)).figure_id for r in ranks]
        asked = ", ".join([*pids, *(f"#{r}" for r in ranks)])
        if not any(h.patent_id in pids or h.figure_id in figs for h in rs.hits):
            in_set = ", ".join(sorted({h.patent_id for h in rs.hits}))
            return Outcome(summary=f"There is nothing to drop: {asked} is not in set {rs.set_id}. Set {rs.set_id} "
                                   f"stays current.", text=f"Patents in set {rs.set_id}: {in_set}.")
        recipe = self.session.recipe()
        filters = recipe.filters
        if pids:
            filters = filters.model_copy(update={"exclude_ids": sorted(set(filters.exclude_ids) | set(pids))})
        new_recipe = recipe.refined(filters=filters, dropped=[*recipe.dropped, *figs])
        return self._refine(new_recipe, f"figures other than {asked}",
                            lambda hits: [h for h in hits if h.patent_id not in pids and h.figure_id not in figs],
                            within_set)

    def narrow(self, topic: str, cpc: Sequence[str] | None = None, within_set: bool = False) -> Outcome:
        """Restrict to figures about a domain (CPC classes that match it, or close linked text): search again
        over the index's figures about it, or with `within_set` cut the current list."""
        self.session.require_current()
        topic = (topic or "").strip()
        if not topic:
            raise ToolError("say which topic to narrow to, e.g. 'autonomous driving'")
        if cpc:
            prefixes = make_filters(self.services, cpc=list(cpc)).cpc  # validated against the index
        else:
            prefixes = cpc_for_topic(topic, self.facet_values()["cpc"], self.services.text)
        legend = "; ".join(cpc_legend(prefixes))
        what = (f"figures about {topic} (in CPC {', '.join(prefixes)}: {legend}; or with linked text close to "
                f"the topic)" if prefixes else f"figures about {topic} (linked text close to the topic, since no "
                f"CPC class of the index matches it)")
        recipe = self.session.recipe()
        new_recipe = recipe.refined(topics=[*recipe.topics, (topic, list(prefixes))])
        out = self._refine(new_recipe, what, lambda hits: narrow_hits(self.services, hits, topic, prefixes)[0],
                           within_set)
        out.artifact["topic"] = {"topic": topic, "cpc": list(prefixes)}
        return out

    def _refine(self, recipe: Recipe, what: str, cut: Callable[[list[Hit]], list[Hit]], within_set: bool) -> Outcome:
        """A refined set: the recipe searched again over the whole index (a full top k of the figures that
        pass), or the current list cut down when the user asked for that or the set cannot be searched again."""
        rs = self.session.require_current()
        if within_set or recipe.mode not in RERUNNABLE:
            kept = cut(rs.hits)
            why = ("as you asked, only among the current results" if within_set else "only among the current "
                   "results, because this set was picked by hand and cannot be searched again")
            if not kept:
                return Outcome(summary=f"Set {rs.set_id} holds no {what}. Set {rs.set_id} stays current.",
                               text=f"Set {rs.set_id} has {set_facets(rs.hits)}.")
            return self._push(kept, f"set {rs.set_id}, kept if {what}", rs.set_id, recipe,
                              lead=f"I kept the {len(kept)} {what} among the {len(rs.hits)} figures of set "
                                   f"{rs.set_id} (filtered {why}).")
        filters = self.recipe_filters(recipe)  # a topic's members are found once, for the count and the search
        total = len(self.services.store.ids(filters))
        if not total:
            return Outcome(summary=f"I found no {what} in the index, so nothing was searched. Set {rs.set_id} "
                                   f"stays current.", text=f"Set {rs.set_id} has {set_facets(rs.hits)}.")
        hits = self._run_recipe(recipe, filters=filters)
        qualify = f"{total} figures of the index qualify" if total != 1 else "1 figure of the index qualifies"
        best = f"here are the best {len(hits)}" if len(hits) < total else "here they all are"
        return self._push(hits, f"set {rs.set_id}'s search again for {what}", rs.set_id, recipe,
                          lead=f"I searched the whole index again for {what}: {qualify}, and {best}. Say "
                               f"\"among these\" to filter only the current results instead.")

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
