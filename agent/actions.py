"""The session-aware actions behind every tool: search, refine, undo, cluster, explain, look up parts.

Both the LLM tools (`tools.lc`) and the offline planner (`agent.planner`) call these methods, so a request
means the same thing in both modes. Each method reads and refines the session's current result set (the
model never copies hits or ids around), calls the plain tool functions in `tools/`, and returns an
`Outcome`: our own words and numbers, document text kept apart as data, and events for the UI.

Bad input raises `ToolError` with a message that says what is valid; `run_action` turns that, and any
failure of the index or a model, into an error text a model can act on or a person can read — never a
stack trace.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.domains import cpc_for_topic, cpc_legend
from agent.events import Outcome, TurnEvent
from agent.render import counts, listing, set_header, short_ids
from agent.session import Recipe, Session
from core.errors import ModelUnavailable, StoreError, ToolError
from core.filters import Filters
from core.types import Hit, ResultSet
from runtime.services import Services

log = logging.getLogger(__name__)

DEFAULT_K = 20
DEFAULT_IMAGE_TEXT_WEIGHT = 0.5
DEFAULT_MORE_LIKE_TEXT_WEIGHT = 0.3
WEIGHT_STEP = 0.2
TOPIC_STRONG_SIM = 0.45  # a hit outside the matched CPC classes stays when its linked text is this close
TOPIC_MIN_SIM = 0.25  # semantic-only narrowing keeps hits at least this close...
TOPIC_REL_SIM = 0.6  # ...and at least this fraction of the best hit's similarity
COMPARE_MAX_PATENTS = 5
RERUNNABLE = ("text", "image", "image+text", "more_like", "lexical", "component")
PATENT_ID = re.compile(r"^(US|EP|WO)(\d{4,12})([A-Z]\d?)?$")

Titler = Callable[[list[str], list[str]], str]


class Actions:
    """The tool actions of one turn, bound to one session and the turn's inputs (image, crop, weight, k)."""

    def __init__(
        self,
        services: Services,
        session: Session,
        *,
        image: Any = None,
        crop: tuple[float, float, float, float] | None = None,
        text_weight: float | None = None,
        k: int | None = None,
        titler: Titler | None = None,
    ) -> None:
        self.services = services
        self.session = session
        self.turn_image = image
        self.turn_crop = tuple(crop) if crop else None
        self.turn_text_weight = text_weight
        self.k = k or DEFAULT_K
        self.titler = titler
        if image is not None:
            session.image, session.crop = image, self.turn_crop

    # ------------------------------------------------------------------ helpers

    def _push(self, hits: list[Hit], origin: str, parent: int | None, recipe: Recipe, lead: str = "") -> Outcome:
        rs = self.session.push(hits, origin, parent, recipe)
        summary = (lead + " " if lead else "") + set_header(rs) + "."
        return Outcome(summary=summary, data=listing(rs.hits), artifact=_set_artifact(rs),
                       events=[TurnEvent("result_set", rs)])

    def facet_values(self) -> dict[str, list]:
        """The index's facet values (tools.filtering.facet_values), cached until the set of patents changes."""
        from tools.filtering import facet_values

        key = hash(frozenset(self.services.store.complete_ids()))
        cached = self.services.extras.get("facets_cache")
        if cached is None or cached[0] != key:
            cached = (key, facet_values(self.services))
            self.services.extras["facets_cache"] = cached
        return cached[1]

    def resolve_patent_id(self, text: str) -> str:
        """An indexed patent id from what a person typed: "US 12,448,135 B2" → "US12448135"."""
        s = re.sub(r"[\s,./\-]", "", str(text).upper())
        known = set(self.facet_values()["patent_ids"])
        if s in known:
            return s
        m = PATENT_ID.match(s)
        if m and f"{m.group(1)}{m.group(2)}" in known:
            return f"{m.group(1)}{m.group(2)}"
        in_set = sorted({h.patent_id for h in self.session.current.hits}) if self.session.current else []
        hint = f"patents in the current set: {', '.join(in_set)}" if in_set else \
            f"patents in the index: {', '.join(sorted(known)[:30])}"
        raise ToolError(f"no patent {text!r} in the index; {hint}")

    def _run_recipe(self, recipe: Recipe, k: int | None = None) -> list[Hit]:
        """Recompute a set from its recipe: the base search with its filters, then drops and narrowings."""
        from tools.lexical import search_lexical
        from tools.refsigns import find_component
        from tools.search import more_like, search_image, search_text

        k = k or recipe.k or self.k
        f = recipe.filters if not recipe.filters.is_empty() else None
        if recipe.mode == "text":
            hits = search_text(self.services, recipe.text, k=k, filters=f)
        elif recipe.mode in ("image", "image+text"):
            if recipe.image is None:
                raise ToolError("the query image of this set is no longer available: attach it again")
            hits = search_image(self.services, recipe.image, crop=recipe.crop, text=recipe.text or None,
                                text_weight=recipe.text_weight if recipe.text else 0.0, k=k, filters=f)
        elif recipe.mode == "more_like":
            hits = more_like(self.services, recipe.figure_id, k=k, text_weight=recipe.text_weight, filters=f)
        elif recipe.mode == "lexical":
            hits = search_lexical(self.services, recipe.text, k=k, filters=f)
        elif recipe.mode == "component":
            hits = find_component(self.services, recipe.text, k=k, filters=f)
        else:
            raise ToolError("this set was hand-picked (a group or a selection), so it cannot be recomputed")
        hits = [h for h in hits if h.figure_id not in set(recipe.dropped)]
        for topic, cpc in recipe.topics:
            hits, _ = self._narrow_hits(hits, topic, cpc)
        return hits

    def _topic_similarity(self, hits: Sequence[Hit], topic: str) -> dict[str, float]:
        """Cosine between a phrase and each hit's stored linked-text vector (the text encoder's space)."""
        from store.index import EncoderId

        text = self.services.text
        self.services.store.check_encoder("text", EncoderId(text.name, text.dim))
        q = np.asarray(text.embed_texts([topic])[0], dtype=np.float32)
        vecs = self.services.store.vectors("text", [h.figure_id for h in hits])
        return {fid: float(np.asarray(v, dtype=np.float32) @ q) for fid, v in vecs.items()}

    def _narrow_hits(self, hits: list[Hit], topic: str, cpc: Sequence[str]) -> tuple[list[Hit], dict]:
        """Hits about a topic: in the CPC classes (when any), or with linked text close to the topic phrase."""
        sims = self._topic_similarity(hits, topic)
        kept: list[Hit] = []
        best = max(sims.values(), default=0.0)
        threshold = max(TOPIC_MIN_SIM, TOPIC_REL_SIM * best)
        for h in hits:
            sim = sims.get(h.figure_id, 0.0)
            match = next((p for p in cpc if any(c.upper().startswith(p) for c in h.cpc)), None)
            if cpc:
                ok = match is not None or sim >= TOPIC_STRONG_SIM
            else:
                ok = sim >= threshold
            if ok:
                h2 = h.model_copy(deep=True)
                why = f"CPC {match}" if match else f"text similarity {sim:.3f}"
                h2.breakdown.filters = {**h2.breakdown.filters, "topic": f"{topic} ({why})"}
                kept.append(h2)
        for i, h in enumerate(kept):
            h.rank = i + 1
        info = {"best_similarity": round(best, 3), "threshold": round(TOPIC_STRONG_SIM if cpc else threshold, 3),
                "similarity": {k: round(v, 3) for k, v in sims.items()}}
        return kept, info

    # ------------------------------------------------------------------ searching

    def search(self, query: str = "", use_image: bool | None = None, text_weight: float | None = None,
               k: int | None = None, filters: Filters | None = None) -> Outcome:
        """A new search from words, the user's image (or a crop of it), or both."""
        from tools.search import search_image, search_text

        query = (query or "").strip()
        image, crop = None, None
        if use_image is not False and self.turn_image is not None:
            image, crop = self.turn_image, self.turn_crop
        elif use_image and self.session.image is not None:
            image, crop = self.session.image, self.session.crop
        elif use_image:
            raise ToolError("no image has been attached in this conversation: ask the user to attach one, "
                            "or search with words")
        k = k or self.k
        f = filters if filters is not None and not filters.is_empty() else None
        if image is None:
            hits = search_text(self.services, query, k=k, filters=f)
            recipe = Recipe(mode="text", text=query, k=k, filters=filters or Filters())
            origin = f"text search '{query}'"
        else:
            tw = text_weight if text_weight is not None else self.turn_text_weight
            tw = (DEFAULT_IMAGE_TEXT_WEIGHT if tw is None else float(tw)) if query else 0.0
            hits = search_image(self.services, image, crop=crop, text=query or None, text_weight=tw, k=k, filters=f)
            name = Path(image).name if isinstance(image, str | Path) else "the uploaded image"
            where = f"{name} cropped to {tuple(round(c) for c in crop)}" if crop else name
            origin = f"image {where}" + (f" + text '{query}', text weight {tw:.2f}" if query else "")
            recipe = Recipe(mode="image+text" if query else "image", text=query, image=image, crop=crop,
                            text_weight=tw, k=k, filters=filters or Filters())
        if f is not None:
            origin += f"; filters {_describe(f)}"
        if not hits:
            return Outcome(summary=f"No figure in the index matches ({origin}).")
        return self._push(hits, origin, None, recipe)

    def keyword_search(self, query: str, k: int | None = None) -> Outcome:
        """A boolean lexical search (VisPat style: windmill AND turbine, title:"wind turbine", NOT ...)."""
        from tools.lexical import search_lexical

        k = k or self.k
        hits = search_lexical(self.services, query, k=k)
        if not hits:
            return Outcome(summary=f"No patent text matches the query {query!r}.")
        return self._push(hits, f"keyword search {query}", None, Recipe(mode="lexical", text=query, k=k))

    def find_part_figures(self, name: str, k: int | None = None) -> Outcome:
        """Figures across the index whose OCR-read reference signs are a named component."""
        from tools.refsigns import find_component

        k = k or self.k
        hits = find_component(self.services, name, k=k)
        if not hits:
            return Outcome(summary=f"No figure has a labelled component like {name!r} (OCR-linked reference signs).")
        return self._push(hits, f"figures showing the component '{name}'", None,
                          Recipe(mode="component", text=name, k=k))

    def more_like(self, rank: int | None = None, figure_id: str | None = None,
                  text_weight: float | None = None) -> Outcome:
        """Figures like one result (#rank of the current set) or an indexed figure id."""
        from tools.search import more_like

        if rank is not None:
            hit = self.session.hit(int(rank))
            fid, label = hit.figure_id, f"#{hit.rank} ({hit.patent_id} FIG {','.join(hit.figs) or '?'})"
        elif figure_id:
            fid = figure_id.strip()
            if self.services.store.sheet(fid) is None:
                pid = self.resolve_patent_id(fid)
                cur = [h for h in (self.session.current.hits if self.session.current else []) if h.patent_id == pid]
                sheets = self.services.store.sheets(pid)
                fid = cur[0].figure_id if cur else sheets[0].figure_id
            label = fid
        elif self.session.focus:
            fid = label = self.session.focus
        else:
            raise ToolError("say which result to start from, e.g. #3")
        tw = DEFAULT_MORE_LIKE_TEXT_WEIGHT if text_weight is None else float(text_weight)
        hits = more_like(self.services, fid, k=self.k, text_weight=tw)
        self.session.focus = fid
        parent = self.session.current.set_id if self.session.current else None
        recipe = Recipe(mode="more_like", figure_id=fid, text_weight=tw, k=self.k)
        return self._push(hits, f"more like {label}, text weight {tw:.2f}", parent, recipe)

    # ------------------------------------------------------------------ refining the current set

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
    ) -> Outcome:
        """Keep the current hits that pass facet filters (kinds, views, cpc, offices, dates, patents...)."""
        from tools.filtering import apply_filters, make_filters

        rs = self.session.require_current()
        f = make_filters(
            self.services, kinds=kinds, views=views, cpc=cpc, offices=offices, kind_codes=kind_codes,
            date_from=date_from, date_to=date_to, has_components=has_components,
            include_ids=[self.resolve_patent_id(p) for p in only_patents or []],
            exclude_ids=[self.resolve_patent_id(p) for p in exclude_patents or []],
        )
        if f.is_empty():
            raise ToolError("name at least one filter: kinds, views, cpc, offices, kind_codes, date_from, "
                            "date_to, only_patents, exclude_patents or has_components")
        recipe = self.session.recipe()
        merged = _merge_filters(recipe.filters, f)
        new_recipe = recipe.refined(filters=merged)
        kept = apply_filters(self.services, rs.hits, f)
        what = _describe(f)
        if kept:
            out = self._push(kept, f"set {rs.set_id} filtered by {what}", rs.set_id, new_recipe,
                             lead=f"{len(kept)} of the {len(rs.hits)} figures of set {rs.set_id} pass {what}.")
            return out
        have = _set_facets(rs.hits)
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
        from tools.filtering import make_filters

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
        kept, info = self._narrow_hits(rs.hits, topic, prefixes)
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
            return Outcome(summary=f"Set {rs.set_id} comes from a {recipe.mode or 'hand-picked'} selection, which "
                                   "has no text/image weights to change.")
        old = recipe.text_weight
        if text_weight is not None:
            new = float(text_weight)
            if not 0.0 <= new <= 1.0:
                raise ToolError(f"text_weight must lie between 0 and 1, not {text_weight}")
        elif more_text is not None:
            new = old + WEIGHT_STEP if more_text else old - WEIGHT_STEP
        else:
            raise ToolError("give text_weight (0..1) or say whether the text should count more or less")
        new = round(min(1.0, max(0.0, new)), 2)
        if abs(new - old) < 1e-9:
            return Outcome(summary=f"The text weight of set {rs.set_id} is already {old:.2f}.")
        hits = self._run_recipe(recipe.refined(text_weight=new))
        new_recipe = recipe.refined(text_weight=new)
        return self._push(hits, f"set {rs.set_id}'s search with text weight {new:.2f} (was {old:.2f})", rs.set_id,
                          new_recipe, lead=f"Text weight {old:.2f} → {new:.2f} (visual {1 - new:.2f}).")

    def undo(self) -> Outcome:
        """Back to the result set that was current before this one."""
        before = self.session.current
        rs = self.session.undo()
        if rs is None:
            if before is None:
                return Outcome(summary="There is nothing to undo: no search has been made yet.")
            return Outcome(summary=f"There is nothing to undo: set {before.set_id} is the first set.")
        return Outcome(summary=f"Back to the previous results. {set_header(rs)}.", data=listing(rs.hits),
                       artifact=_set_artifact(rs), events=[TurnEvent("result_set", rs)])

    def goto(self, set_id: int) -> Outcome:
        """Make an earlier numbered set current again."""
        rs = self.session.goto(int(set_id))
        return Outcome(summary=f"Set {rs.set_id} is current again. {set_header(rs)}.", data=listing(rs.hits),
                       artifact=_set_artifact(rs), events=[TurnEvent("result_set", rs)])

    def show(self, set_id: int | None = None, limit: int = 10) -> Outcome:
        """List a set (default: the current one) without changing anything."""
        rs = self.session.get(int(set_id)) if set_id is not None else self.session.require_current()
        head = set_header(rs) + ("" if rs is self.session.current else " (not the current set)")
        sets = ", ".join(f"{s.set_id} ({len(s.hits)})" for s in self.session.sets)
        return Outcome(summary=head + ".", text=f"Sets so far (figures): {sets}.",
                       data=listing(rs.hits, limit), artifact=_set_artifact(rs))

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

    # ------------------------------------------------------------------ grouping

    def cluster(self, k: int | None = None) -> Outcome:
        """Cluster the current set into k groups of similar drawings (k chosen by silhouette if None)."""
        from tools.cluster import cluster_hits

        rs = self.session.require_current()
        result = cluster_hits(self.services, rs.hits, k=k, titler=self.titler)
        self.session.clusters = result
        data = []
        for c in result.clusters:
            data.append(f"Group {c.cluster_id} \"{c.title}\" ({len(c.hits)} figures): {short_ids(c.hits, 8)}; "
                        f"keywords: {', '.join(c.keywords) or 'none'}")
        notes = " ".join(result.notes)
        return Outcome(summary=f"Set {rs.set_id} in {result.k} groups of similar drawings ({result.k_method}).",
                       text=(f"Map of the groups: {result.map_png}." + (f" Notes: {notes}" if notes else "")),
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
        kinds = counts([h.kind for h in c.hits])
        return Outcome(summary=f"Group {c.cluster_id} of set {rs.set_id} has {len(c.hits)} figures "
                               f"({kinds}), from {len({h.patent_id for h in c.hits})} patents.",
                       data=[f"Title: {c.title} ({c.title_source})", f"Keywords: {', '.join(c.keywords) or 'none'}",
                             *listing(c.hits, 12)],
                       artifact={"group": c.model_dump(mode="json")})

    # ------------------------------------------------------------------ understanding

    def explain(self, rank: int, other_rank: int | None = None) -> Outcome:
        """Why #rank scored what it did, or why #rank is above/below #other_rank, from the score breakdowns."""
        from prompts import load_prompt
        from tools.explain import explain_hit, explain_pair

        rs = self.session.require_current()
        if other_rank is None:
            ex = explain_hit(self.services, rs.hits, int(rank))
            kind, subject = "hit", f"#{rank} of set {rs.set_id}"
            self.session.focus = ex.facts.get("figure_id") or self.session.focus
        else:
            ex = explain_pair(self.services, rs.hits, int(rank), int(other_rank))
            kind, subject = "pair", f"#{rank} versus #{other_rank} of set {rs.set_id}"
        guide = load_prompt("explain", subject=subject)
        return Outcome(summary=f"Explanation of {subject}, from the score breakdown:", guide=guide,
                       data=ex.text.splitlines(), artifact={"explanation": ex.model_dump(mode="json")},
                       events=[TurnEvent("explanation", {"kind": kind, "text": ex.text, "facts": ex.facts})])

    def compare(self, ranks: Sequence[int] = (), patent_ids: Sequence[str] = ()) -> Outcome:
        """What the patents of some results (default: the current set's first patents) share and what differs."""
        from prompts import load_prompt
        from tools.explain import compare

        if patent_ids:
            ids = [self.resolve_patent_id(p) for p in patent_ids]
            cmp = compare(self.services, patent_ids=ids)
            subject = ", ".join(ids)
        else:
            rs = self.session.require_current()
            if ranks:
                hits = [self.session.hit(int(r)) for r in ranks]
                subject = ", ".join(f"#{r}" for r in ranks) + f" of set {rs.set_id}"
            else:
                first = list(dict.fromkeys(h.patent_id for h in rs.hits))[:COMPARE_MAX_PATENTS]
                hits = [h for h in rs.hits if h.patent_id in first]
                subject = f"the first {len(first)} patents of set {rs.set_id}"
            cmp = compare(self.services, hits=hits)
        guide = load_prompt("compare", subject=subject)
        return Outcome(summary=f"Comparison of {subject} ({', '.join(cmp.patent_ids)}):", guide=guide,
                       data=cmp.text.splitlines(), artifact={"comparison": cmp.model_dump(mode="json")},
                       events=[TurnEvent("explanation", {"kind": "compare", "text": cmp.text,
                                                         "facts": cmp.model_dump(mode="json")})])

    def part(self, sign: str, rank: int | None = None, patent_id: str | None = None) -> Outcome:
        """What a reference sign (numeral or name) is in a figure: labels, sentences, sheets, an overlay."""
        from tools.refsigns import lookup_refsign
        from tools.search import patent_of

        sign = str(sign or "").strip()
        if not sign:
            raise ToolError("say which part: a numeral like 104 or a name like 'motor'")
        focus: str | None = None
        if rank is not None:
            hit = self.session.hit(int(rank))
            pid, focus = hit.patent_id, hit.figure_id
        elif patent_id:
            pid = self.resolve_patent_id(patent_id)
        elif self.session.focus and self.services.store.sheet(self.session.focus) is not None:
            focus = self.session.focus
            pid = focus.rsplit("-S", 1)[0]
        elif self.session.current and self.session.current.hits:
            hit = self.session.current.hits[0]
            pid, focus = hit.patent_id, hit.figure_id
        else:
            raise ToolError("which figure? search first, or name a result (#2) or a patent id")
        try:
            found = lookup_refsign(self.services, pid, sign)
        except ToolError as e:
            others = []
            for p in dict.fromkeys(h.patent_id for h in (self.session.current.hits if self.session.current else [])):
                doc = patent_of(self.services, p)
                if p != pid and doc is not None and sign in doc.refsigns:
                    others.append(f"{p}: {sign} {doc.refsigns[sign].label}")
            return Outcome(summary=f"Not found: {e}",
                           text="The current set has it in other patents:" if others else "",
                           data=others)
        sheet_ids = [s.figure_id for s in found.sheets]
        target = focus if focus in sheet_ids else (sheet_ids[0] if sheet_ids else None)
        label = found.labels[0] if found.labels else "(no label in the text)"
        where = ", ".join(f"sheet {s.sheet_no} (FIG {','.join(s.figs) or '?'})" for s in found.sheets)
        text = [f"OCR found {found.numeral} on: {where}." if where else
                f"OCR did not find {found.numeral} on any sheet of {pid}."]
        if focus and target is not None and target != focus:
            text.append(f"It was not read on {focus} itself.")
        if found.described_figs:
            text.append(f"The brief description mentions it for FIG {', '.join(found.described_figs)}.")
        events: list[TurnEvent] = []
        artifact: dict = {"refsign": found.model_dump(mode="json")}
        if target is not None:
            from tools.overlay import render_overlay

            path = render_overlay(self.services, target, [found.numeral])
            overlay = {"figure_id": target, "path": str(path), "numerals": [found.numeral], "patent_id": pid}
            events.append(TurnEvent("overlay", overlay))
            artifact["overlay"] = overlay
            text.append(f"Overlay of {target} with {found.numeral} boxed: {path}.")
            self.session.focus = target
        data = [f"{pid} reference sign {found.numeral}: {label}"]
        if len(found.labels) > 1:
            data.append("Also called: " + ", ".join(found.labels[1:4]))
        data += [f"Text: {s}" for s in found.sentences[:3]]
        return Outcome(summary=f"Reference sign {found.numeral} of {pid}:", text=" ".join(text), data=data,
                       artifact=artifact, events=events)


# ---------------------------------------------------------------- running an action safely


def run_action(fn: Callable[..., Outcome], /, **kwargs: Any) -> tuple[Outcome | None, str | None]:
    """Call an action; return (outcome, None) or (None, an error message fit for a model or a person).

    ToolError and index/model problems give their own message; anything else is logged with its stack
    trace and reported as a short, generic failure.
    """

    try:
        return fn(**kwargs), None
    except ToolError as e:
        return None, str(e)
    except (StoreError, ModelUnavailable) as e:
        return None, f"the index or a model is not usable here: {e}"
    except Exception as e:  # never let a tool crash the turn or show a trace
        log.exception("action %s failed", getattr(fn, "__name__", fn))
        return None, f"the {getattr(fn, '__name__', 'tool')} step failed internally ({type(e).__name__}); " \
                     "try a different request"


# ---------------------------------------------------------------- small helpers


def _describe(f: Filters) -> str:
    parts = []
    for key, val in f.describe().items():
        v = ",".join(map(str, val)) if isinstance(val, list) else val
        parts.append(f"{key}={v}")
    return "; ".join(parts)


def _merge_filters(old: Filters, new: Filters) -> Filters:
    merged = old.merged(new)
    return merged.model_copy(update={"exclude_ids": sorted(set(old.exclude_ids) | set(new.exclude_ids))})


def _set_facets(hits: Sequence[Hit]) -> str:
    return (f"kinds {counts([h.kind for h in hits])}; views {counts([h.view for h in hits])}; "
            f"offices {counts([h.office for h in hits])}")


def _set_artifact(rs: ResultSet) -> dict:
    return {"result_set": rs.model_dump(mode="json")}
