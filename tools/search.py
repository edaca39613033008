"""Figure search: by image (or a crop of one), by words, by both, and "more like this figure".

Every function returns ranked `Hit`s whose `breakdown` holds the raw score, calibrated relevance and rank
of each modality, the fused score, the method and weights, the matched terms and components, and the
filters. Scores are calibrated relevances (`core.calibration`, `tools.relevance`): the same raw similarity
scores the same in every query, so `min_score` cuts at the same level of match whatever was asked.
Modalities:

- ``visual``: the visual encoder's similarity between the query image and the sheet;
- ``text``: sentence-transformer similarity between the query words and the sheet's linked text
  (its FIG descriptions, OCR-linked components and the sentences that mention them);
- ``clip_text``: CLIP text→image similarity, only when the visual encoder is CLIP.

Every candidate from any modality is scored in every modality (Chroma queried with ``ids=``), so the
breakdown is complete.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from PIL import Image, UnidentifiedImageError

from core.calibration import Curve
from core.defaults import DEFAULT_K, DEFAULT_MORE_LIKE_TEXT_WEIGHT
from core.errors import ToolError
from core.filters import Filters
from core.textnorm import QUERY_STOPWORDS, stem
from core.types import Breakdown, Component, Hit, Patent, Sheet
from models import keypoints
from runtime.services import Services
from store.index import EncoderId
from tools import regions, views
from tools import verify as verification
from tools.fusion import DEFAULT_METHOD, METHODS, Fused, fuse
from tools.relevance import curves_for
from tools.words import WordEvidence, score_words, word_weights

log = logging.getLogger(__name__)
MAX_K = 100
POOL = 100  # candidates per modality before fusion
MAX_QUERY_PIXELS = 60_000_000
CropBox = tuple[float, float, float, float]  # x0, y0, x1, y1 in the image's pixels
QueryImage = Image.Image | str | Path  # a query image: a PIL image or the path of an image file


# ---------------------------------------------------------------- validation


def check_k(k: int) -> int:
    if not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ToolError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}")
    return k


def check_min_score(min_score: float) -> float:
    if not 0.0 <= min_score <= 1.0:
        raise ToolError(f"the minimum score is a calibrated relevance between 0 and 1, not {min_score}")
    return min_score


def check_text(text: str | None) -> str:
    t = (text or "").strip()
    if not t:
        raise ToolError("the query is empty: say what the drawing shows, e.g. 'gripping unit on a hoist'")
    if len(t) > 2000:
        raise ToolError(f"the query is {len(t)} characters long; keep it under 2000")
    return t


def load_image(image: QueryImage, crop: CropBox | None = None) -> Image.Image:
    """Open a query image (path or PIL image) and apply a crop box given in its pixel coordinates."""
    if isinstance(image, Image.Image):
        img = image
    else:
        path = Path(image)
        if not path.is_file():
            raise ToolError(f"no image file at {str(path)!r}")
        try:
            with Image.open(path) as probe:
                w, h = probe.size
            if w * h > MAX_QUERY_PIXELS:
                raise ToolError(f"the image is {w}x{h} pixels; the limit is {MAX_QUERY_PIXELS:,} pixels")
            img = Image.open(path)
            img.load()
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
            raise ToolError(f"{path.name} is not a readable image ({type(e).__name__})") from None
    if img.width * img.height > MAX_QUERY_PIXELS:
        raise ToolError(f"the image is {img.width}x{img.height} pixels; the limit is {MAX_QUERY_PIXELS:,} pixels")
    if crop is not None:
        x0, y0, x1, y1 = (float(c) for c in crop)
        if x0 > x1:
            x0, x1 = x1, x0
        if y0 > y1:
            y0, y1 = y1, y0
        if x0 < 0 or y0 < 0 or x1 > img.width or y1 > img.height:
            raise ToolError(
                f"crop box ({x0:.0f}, {y0:.0f}, {x1:.0f}, {y1:.0f}) lies outside the image "
                f"(0, 0, {img.width}, {img.height})"
            )
        if x1 - x0 < 8 or y1 - y0 < 8:
            raise ToolError("the crop box is too small (under 8 pixels wide or high): select a larger region")
        img = img.crop((int(x0), int(y0), int(round(x1)), int(round(y1))))
    return img.convert("RGB")


def check_not_blank(img: Image.Image, cropped: bool = False) -> None:
    """Refuse a picture of one flat tone (all white, all black): any figure would "match" it, and strongly."""
    # at full resolution: a thumbnail would average a faint pencil line away
    lo, hi = (int(v) for v in cast("tuple[int, int]", img.convert("L").getextrema()))
    if hi - lo < 32:
        what = "the selected region" if cropped else "the picture"
        tone = "white" if lo > 200 else "black" if hi < 56 else "one flat grey"
        raise ToolError(f"{what} is blank (all {tone}): there is no drawing to compare; "
                        + ("select a region with lines in it" if cropped else "upload a drawing, a sketch or a crop"))


def query_terms(text: str) -> list[str]:
    """The content words of a query, lower-case, in order, without duplicates."""
    seen: list[str] = []
    for w in re.findall(r"[a-zA-Z][a-zA-Z\-]+|\d+[a-z]?", text.lower()):
        if w not in QUERY_STOPWORDS and w not in seen and len(w) > 1:
            seen.append(w)
    return seen


def matched_terms(terms: Sequence[str], text: str) -> list[str]:
    """Query terms that occur (up to their Snowball stem) in the text."""
    words = {stem(w) for w in set(re.findall(r"[a-z][a-z\-]+|\d+[a-z]?", text.lower()))}
    return [t for t in terms if stem(t) in words]


def matched_components(terms: Sequence[str], components: Sequence[Component]) -> list[Component]:
    stems = {stem(t) for t in terms}
    out = []
    for c in components:
        label_words = {stem(w) for w in re.findall(r"[a-z][a-z\-]+", c.label.lower())}
        if c.numeral in terms or stems & label_words:
            out.append(c)
    return out


# ---------------------------------------------------------------- hits


def patent_of(services: Services, patent_id: str) -> Patent | None:
    """A patent by id, cached for the life of the services."""
    cache = cast("dict[str, Patent | None]", services.extras.setdefault("patent_cache", {}))
    if patent_id not in cache:
        cache[patent_id] = services.store.patent(patent_id)
    return cache[patent_id]


def prefetch(services: Services, figure_ids: Sequence[str]) -> dict[str, Sheet]:
    """The sheets of these figures and (into the patent cache) their patents: two reads for many hits."""
    sheets = services.store.sheets_by_id(figure_ids)
    cache = cast("dict[str, Patent | None]", services.extras.setdefault("patent_cache", {}))
    missing = sorted({s.patent_id for s in sheets.values()} - set(cache))
    cache.update(services.store.patents_by_id(missing))
    return sheets


def make_hit(services: Services, figure_id: str, rank: int, score: float, breakdown: Breakdown,
             sheet: Sheet | None = None) -> Hit | None:
    """A full hit for a figure id (its sheet given when prefetched), or None if it is not completely indexed."""
    sheet = sheet or services.store.sheet(figure_id)
    if sheet is None:
        return None
    patent = patent_of(services, sheet.patent_id)
    if patent is None:
        return None
    return Hit(
        rank=rank,
        figure_id=figure_id,
        patent_id=sheet.patent_id,
        sheet_no=sheet.sheet_no,
        figs=sheet.figs,
        kind=sheet.kind,
        view=sheet.view,
        office=patent.office,
        pub_date=patent.pub_date,
        cpc=patent.cpc[:8],
        title=patent.title,
        description=sheet.description,
        image_path=str(services.store.image_path(sheet)),
        box=sheet.box,
        score=score,
        breakdown=breakdown,
    )


def _hits(
    services: Services,
    fused: list[Fused],
    k: int,
    *,
    method: str,
    weights: dict[str, float],
    filters: Filters | None,
    query: dict[str, object],
    terms: Sequence[str] = (),
    min_score: float = 0.0,
    evidence: dict[str, WordEvidence] | None = None,
) -> list[Hit]:
    check_min_score(min_score)
    out: list[Hit] = []
    sheets = prefetch(services, [f.id for f in fused[: 2 * k]])
    for f in fused:
        if f.score < min_score:
            break
        bd = Breakdown(
            modalities=f.modalities,
            fused=f.score,
            method=method if len(f.modalities) > 1 or method in ("rrf", "minmax") else "single",
            weights={m: round(w, 4) for m, w in weights.items() if w > 0},
            filters=filters.describe() if filters else {},
            query=query,
        )
        sheet = sheets.get(f.id) or services.store.sheet(f.id)
        hit = make_hit(services, f.id, len(out) + 1, f.score, bd, sheet)
        if hit is None or sheet is None:
            continue
        if terms:
            hit.breakdown.matched_terms = matched_terms(terms, sheet.linked_text())
            hit.breakdown.matched_components = matched_components(terms, sheet.components)
        ev = (evidence or {}).get(f.id)
        if ev is not None:
            hit.breakdown.matched_in = dict(ev.places)
            hit.breakdown.matched_terms = list(dict.fromkeys([*hit.breakdown.matched_terms, *ev.places]))
            hit.breakdown.passage, hit.breakdown.passage_kind = ev.passage, ev.passage_kind
        out.append(hit)
        if len(out) >= k:
            break
    return out


# ---------------------------------------------------------------- scoring


def _score_all(services: Services, vectors: dict[str, list[float]], filters: Filters | None,
               exclude: Sequence[str] = ()) -> dict[str, dict[str, float]]:
    """Per modality {figure_id: similarity}: the top POOL of each, then every candidate in every modality."""
    store = services.store
    query_fn = {"visual": store.query_visual, "clip_text": store.query_visual, "text": store.query_text}
    lists = {m: {h.id: h.similarity for h in query_fn[m](v, POOL, filters)} for m, v in vectors.items()}
    pool = sorted({i for scores in lists.values() for i in scores} - set(exclude))
    if len(vectors) > 1 and pool:
        lists = {m: {h.id: h.similarity for h in query_fn[m](v, len(pool), None, ids=pool)}
                 for m, v in vectors.items()}
    return {m: {i: s for i, s in scores.items() if i not in exclude} for m, scores in lists.items()}


def _check_encoders(services: Services, *, visual: bool, text: bool) -> None:
    if visual:
        services.store.check_encoder("visual", EncoderId(services.visual.name, services.visual.dim))
    if text:
        services.store.check_encoder("text", EncoderId(services.text.name, services.text.dim))


def _word_side(
    services: Services, text: str, weight: float, filters: Filters | None, exclude: Sequence[str],
    also: Sequence[str] = (),
) -> tuple[dict[str, dict[str, float]], dict[str, float], dict[str, str], dict[str, WordEvidence], list[str]]:
    """The words' side of a search: per-figure word matching and dense passages (`tools.words`), and CLIP
    text→image when CLIP is in use; `weight` is shared among them (`tools.words.word_weights`). Figures in
    `also` (found by another modality) are scored too. Returns lists, weights, paths, evidence and the terms."""
    vector = services.text.embed_texts([text])[0]
    extra: dict[str, dict[str, float]] = {}
    clip: list[float] = []
    if getattr(services.visual, "cross_modal", False):
        clip = services.visual.embed_texts([text])[0]
        extra["clip_text"] = {h.id: h.similarity for h in services.store.query_visual(clip, POOL, filters)}
    terms = query_terms(text)
    scored = score_words(services, text, terms, vector, filters, exclude,
                         also=[*also, *(i for lst in extra.values() for i in lst)])
    lists = dict(scored.lists)
    weights = word_weights(lists, weight)
    paths = {"text": "figure_passages", "words": "figure_words"}
    if extra:
        pool = sorted(set(lists["text"]) | set(extra["clip_text"]))
        lists["clip_text"] = {h.id: h.similarity for h in services.store.query_visual(clip, len(pool), None, ids=pool)}
        weights = {m: w / 2 for m, w in weights.items()} | {"clip_text": weight / 2}
        paths["clip_text"] = "clip_text_to_image"
    return lists, weights, paths, scored.evidence, terms


# ---------------------------------------------------------------- public tools


def search_text(
    services: Services, text: str, *, k: int = DEFAULT_K, filters: Filters | None = None, method: str = DEFAULT_METHOD,
    min_score: float = 0.0,
) -> list[Hit]:
    """Figures matching words: through their linked text, and through CLIP text→image when CLIP is in use."""
    text = check_text(text)
    check_k(k)
    _check_method(method)
    _check_encoders(services, visual=getattr(services.visual, "cross_modal", False), text=True)
    lists, weights, paths, evidence, terms = _word_side(services, text, 1.0, filters, ())
    fused = fuse(lists, weights, method, paths, curves_for(services, lists))
    query = {"mode": "text", "text": text, "clip": "clip_text" in lists}
    return _hits(services, fused, k, method=method, weights=weights, filters=filters, query=query,
                 terms=terms, min_score=min_score, evidence=evidence)


def _image_vector(services: Services, img: Image.Image) -> list[float]:
    """The query image's visual vector. An encoder that is not turn invariant (lbp+CRAFT: `embed_turns`) gives
    one per 90° turn, and the turn whose nearest indexed figure is nearest is kept: a crop of a landscape
    sheet (printed turned on the page) is found the right way up (bench/visual_descriptor.py, rot-max).
    The turns are compared before α-query expansion: expanded, a turn of a picture that is in the index takes
    that picture in as its own neighbour and beats the upright picture, whose identical copy the expansion
    leaves out (an indexed design view was searched upside down, bench/design_views.py)."""
    turns = getattr(services.visual, "embed_turns", None)
    if turns is None:
        return services.visual.embed_images([img])[0]
    vectors = turns(img)
    best = [max((h.similarity for h in services.store.query_visual(v, 1, expand=False)), default=-1.0)
            for v in vectors]
    return vectors[best.index(max(best))]


def search_image(
    services: Services,
    image: QueryImage,
    *,
    crop: CropBox | None = None,
    text: str | None = None,
    text_weight: float = 0.0,
    k: int = DEFAULT_K,
    filters: Filters | None = None,
    method: str = DEFAULT_METHOD,
    exclude: Sequence[str] = (),
    min_score: float = 0.0,
    verify_top: int = verification.TOP,
    views_weight: float = views.BETA,
    words_top: int = regions.TOP,
    details_top: int = regions.DETAILS_TOP,
) -> list[Hit]:
    """Figures like an image or a crop of it; with `text`, conditioned on those words by `text_weight`.

    Each candidate also scores as the best-matching view of its patent, weighted `views_weight` within the
    drawing's weight (`tools.views`: a design's other views come up with the one matched), and the first
    `verify_top` candidates, with the `words_top` units that share most of ORB's visual words with it and the
    `details_top` that share most of SIFT's (`tools.regions`), are re-scored by local features in one
    arrangement (`tools.verify`); 0 turns any of them off."""
    check_k(k)
    _check_method(method)
    if not 0.0 <= text_weight <= 1.0:
        raise ToolError(f"text_weight must lie between 0 and 1, not {text_weight}")
    img = load_image(image, crop)
    check_not_blank(img, crop is not None)
    has_text = bool(text and text.strip())
    if has_text:
        text = check_text(text)
    _check_encoders(services, visual=True, text=has_text)
    vector = _image_vector(services, img)
    lists = _score_all(services, {"visual": vector}, filters, exclude)
    weights = {"visual": 1.0 - text_weight if has_text else 1.0}
    paths = {"visual": "visual"}
    evidence: dict[str, WordEvidence] = {}
    if has_text and text_weight > 0:
        wl, ww, wp, evidence, _ = _word_side(services, text or "", text_weight, filters, exclude,
                                             also=list(lists["visual"]))
        pool = sorted(set(lists["visual"]) | {i for lst in wl.values() for i in lst})
        lists = {"visual": {h.id: h.similarity for h in services.store.query_visual(vector, len(pool), None,
                                                                                  ids=pool)}} | wl
        weights |= ww
        paths |= wp
    curves = curves_for(services, lists)
    fused = fuse(lists, weights, method, paths, curves)
    name = image if isinstance(image, str | Path) else "uploaded image"
    query = {"mode": "image+text" if has_text else "image", "image": str(name), "crop": list(crop) if crop else None,
             "text": text or "", "text_weight": text_weight}
    if views_weight > 0 and fused:
        words = text or "" if has_text and text_weight > 0 else ""
        lists, weights, paths, curves = _with_views(services, {"visual": vector}, lists, weights, paths, curves,
                                                    fused, filters, exclude, views_weight, words, evidence)
        fused = fuse(lists, weights, method, paths, curves)
    if verify_top > 0 and fused:
        fused, weights, query["verified"], floors = _verified(services, img, vector, fused, lists, weights, method,
                                                              paths, curves, verify_top, filters, exclude, words_top,
                                                              details_top, query)
        if floors:
            query["floors"] = floors  # for the explanation's log-odds (`tools.explain.contributions`)
    return _hits(services, fused, k, method=method, weights=weights, filters=filters, query=query,
                 terms=query_terms(text or ""), min_score=min_score, evidence=evidence)


def _with_views(
    services: Services, vectors: dict[str, list[float]], lists: dict[str, dict[str, float]],
    weights: dict[str, float], paths: dict[str, str], curves: dict[str, Curve], fused: list[Fused],
    filters: Filters | None, exclude: Sequence[str], beta: float, words: str = "",
    evidence: dict[str, WordEvidence] | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, float], dict[str, str], dict[str, Curve]]:
    """The lists with the ``views`` modality (`tools.views`): every unit of the first candidates' patents scored
    in every modality (the words' side, when the search has `words`, as `_word_side` scores it), and each
    candidate's patent's best visual similarity, weighted `beta` of the drawing."""
    store = services.store
    ranked = [f.id for f in fused]
    patent_of = views.patents(store, ranked[:POOL])
    pids = views.top_patents(ranked, patent_of)
    more = [i for i in store.ids(Filters(include_ids=pids)) if i not in lists["visual"] and i not in exclude] \
        if pids else []
    if more:
        query_fn = {"visual": store.query_visual, "clip_text": store.query_visual, "text": store.query_text}
        f = filters.model_copy(update={"include_ids": pids}) if filters else None
        lists = {m: {**lists[m], **{h.id: h.similarity for h in query_fn[m](vectors[m], len(more), f, ids=more)}}
                 if m in vectors else lists[m] for m in lists}
        if words:
            wl, _, _, ev, _ = _word_side(services, words, 1.0, f, exclude, also=more)
            lists |= {m: {**wl[m], **lists[m]} for m in wl if m in lists}
            if evidence is not None:
                evidence |= {i: e for i, e in ev.items() if i not in evidence}
        patent_of |= views.patents(store, more)
    lists = {**lists, views.MODALITY: views.patent_best(lists["visual"], patent_of)}
    weights = _share_of(weights, ["visual"], beta, views.MODALITY)
    return (lists, weights, {**paths, views.MODALITY: views.PATH},
            {**curves, views.MODALITY: curves["visual"]})


def _verified(
    services: Services, img: Image.Image, vector: list[float], fused: list[Fused], lists: dict[str, dict[str, float]],
    weights: dict[str, float], method: str, paths: dict[str, str], curves: dict[str, Curve], top: int,
    filters: Filters | None, exclude: Sequence[str], words_top: int, details_top: int = 0,
    record: dict[str, object] | None = None,
) -> tuple[list[Fused], dict[str, float], str, dict[str, float]]:
    """The fused list with the verified inlier counts of its first `top` candidates, and of the units that share
    most visual words with the query (`tools.regions`: a region's own sheet, which the global descriptor often
    misses), as a modality of their own (its weight a share of the drawing's), a note on the verification
    for the query's record, and the floors fusion held modalities at (`verify.PART_FLOOR`). A word candidate is
    scored visually and by views, not on the words' side of an image+text search (it counts 0 there, as any
    modality's absent candidates do). Candidates whose pixels agree alike with the query's (one picture indexed
    twice: `verify.same_pictures`) are written to `record` (the query's) as ``same_picture``, with their
    agreements."""
    described = verification.describe(img)  # described once, laid over once
    picture, q, details = described.picture, described.features[keypoints.NAME], described.features[keypoints.SIFT_NAME]
    ranked = [f.id for f in fused[:top]]
    skip = set(ranked) | set(exclude)
    coarse = described.coarse.get(keypoints.SIFT_NAME)  # a small crop's details at its sheet's scale vote on their own
    found = [*(regions.candidates(services, q, words_top) if words_top > 0 else []),
             *(regions.candidates(services, details, details_top) if details_top > 0 else []),
             *(regions.candidates(services, coarse, details_top) if details_top > 0 and coarse is not None else [])]
    extra = list(dict.fromkeys(i for i, _ in found if i not in skip))
    if extra:
        lists = _with_candidates(services, vector, lists, extra, filters)
        extra = [i for i in extra if i in lists["visual"]]
    v = verification.verify(services, described.features, [*ranked, *extra])
    log.debug("verified %d candidates (%d by shared words) in %.0f ms", len(v.inliers), len(extra), v.seconds * 1000)
    note = (f"{len(v.inliers)} candidates verified by local features ({len(extra)} found by shared details)"
            + (f"; {v.note}" if v.note else "")
            + (f"; the region spans figures of a sheet, counted together for {', '.join(sorted(v.spans))}"
               if v.spans else ""))
    if not v.inliers:
        return fused, weights, v.note or note, {}
    drawing = [m for m in ("visual", views.MODALITY) if m in weights]
    share, curve, floors = verification.SHARE, verification.CURVE, {}
    if (part := verification.footprint(services, picture, v)) is not None and part < verification.PART_FOOTPRINT:
        # a part of a drawing: its global descriptor says little, and a candidate sharing no detail with it is not it
        share, floors = verification.PART_SHARE, {verification.MODALITY: verification.PART_FLOOR}
        note += f"; a part of a drawing (it covers {part:.0%} of its best match)"
    elif (most := verification.copied(services, v)) is not None:
        # a copy of a drawing: its details say more than its global descriptor, and small counts say nothing
        share, curve = verification.PART_SHARE, verification.COPY_CURVE
        note += f"; a copy of a drawing ({most} matching details)"
    weights = _share_of(weights, drawing, share, verification.MODALITY)
    lists = {**lists, verification.MODALITY: {i: float(n) for i, n in v.inliers.items()}}
    paths = {**paths, verification.MODALITY: verification.PATH}
    curves = {**curves, verification.MODALITY: curve}
    fused = fuse(lists, weights, method, paths, curves, floors)
    t0 = time.perf_counter()
    laid = verification.overlaid(services, picture, v, [f.id for f in fused])
    if verification.twins(laid):  # the drawing is repeated: its own view may be further down
        laid |= verification.overlaid(services, picture, v, [f.id for f in fused], verification.LINES_MORE,
                                      start=verification.LINES_TOP)
    log.debug("lines of %d candidates laid over in %.0f ms", len(laid), (time.perf_counter() - t0) * 1000)
    if not laid:
        return fused, weights, note, floors
    note += f"; lines of {len(laid)} laid over the query's"
    if max(laid.values()) < verification.LINES_FOUND:  # none is the query's drawing: the lines tell nothing apart
        note += f" (none coincides: at best {max(laid.values()):.0%} of the lines)"
    else:
        weights = _share_of(weights, [*drawing, verification.MODALITY], verification.LINES_SHARE, verification.LINES)
        lists = {**lists, verification.LINES: laid}
        paths = {**paths, verification.LINES: verification.LINES_PATH}
        curves = {**curves, verification.LINES: verification.LINES_CURVE}
        fused = fuse(lists, weights, method, paths, curves, floors)
    # copies of the drawing coincide alike: the one whose pixels are the query's is the picture it was cut from
    agreements = verification.exact(services, img, picture, v, laid, [f.id for f in fused])
    if (source := verification.exactest(agreements)) is None:
        if alike := verification.same_pictures(agreements):
            if record is not None:
                record[verification.SAME_PICTURE] = {i: round(agreements[i], 4) for i in alike}
            note += ("; its pixels agree alike with " + ", ".join(f"{i}'s ({agreements[i]:.1%})" for i in alike)
                     + ": one picture indexed more than once, which the query cannot tell apart")
        return fused, weights, note, floors
    others = ", ".join(f"{i} {agreements[i]:.1%}" for i in agreements if i != source)
    note += f"; its pixels are {source}'s ({agreements[source]:.1%} agree; {others})"
    weights = _share_of(weights, list(weights), verification.EXACT_SHARE, verification.EXACT)
    lists = {**lists, verification.EXACT: {source: agreements[source]}}
    paths = {**paths, verification.EXACT: verification.EXACT_PATH}
    curves = {**curves, verification.EXACT: verification.EXACT_CURVE}
    floors = {**floors, verification.EXACT: verification.EXACT_FLOOR}
    return fuse(lists, weights, method, paths, curves, floors), weights, note, floors


def _share_of(weights: dict[str, float], drawing: Sequence[str], share: float, modality: str) -> dict[str, float]:
    """The weights with `share` of the drawing modalities' weight moved to a new `modality`."""
    return {**weights, **{m: weights[m] * (1 - share) for m in drawing},
            modality: share * sum(weights[m] for m in drawing)}


def _with_candidates(services: Services, vector: list[float], lists: dict[str, dict[str, float]],
                     ids: Sequence[str], filters: Filters | None) -> dict[str, dict[str, float]]:
    """The lists with these further candidates scored visually (those the filters keep) and, when the lists have
    the ``views`` modality, by their patent's best view."""
    store = services.store
    found = {h.id: h.similarity for h in store.query_visual(vector, len(ids), filters, ids=list(ids))}
    lists = {**lists, "visual": {**lists["visual"], **found}}
    if views.MODALITY in lists and found:
        lists[views.MODALITY] = views.patent_best(lists["visual"], views.patents(store, list(lists["visual"])))
    return lists


def more_like(
    services: Services,
    figure_id: str,
    *,
    k: int = DEFAULT_K,
    text_weight: float = DEFAULT_MORE_LIKE_TEXT_WEIGHT,
    filters: Filters | None = None,
    method: str = DEFAULT_METHOD,
    min_score: float = 0.0,
) -> list[Hit]:
    """Figures like an indexed figure, by its stored visual vector fused with its linked-text vector."""
    check_k(k)
    _check_method(method)
    sheet = services.store.sheet(figure_id)
    if sheet is None:
        raise ToolError(f"no figure {figure_id!r} in the index; figure ids look like 'US12448135-S1'")
    vis = services.store.vectors("visual", [figure_id]).get(figure_id)
    txt = services.store.vectors("text", [figure_id]).get(figure_id)
    if vis is None:
        raise ToolError(f"{figure_id} has no stored visual vector; re-ingest its patent")
    vectors = {"visual": vis}
    weights = {"visual": 1.0 - text_weight}
    if txt is not None and text_weight > 0:
        vectors["text"] = txt
        weights["text"] = text_weight
    lists = _score_all(services, vectors, filters, exclude=[figure_id])
    curves = curves_for(services, ("visual", "text_sheet"))  # figure against figure, in both modalities
    fused = fuse(lists, weights, method, {"visual": "visual", "text": "linked_text"},
                 {"visual": curves["visual"], "text": curves["text_sheet"]})
    query = {"mode": "more_like", "figure_id": figure_id, "text_weight": text_weight}
    return _hits(services, fused, k, method=method, weights=weights, filters=filters, query=query,
                 min_score=min_score)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ToolError(f"unknown fusion method {method!r}; use one of {', '.join(METHODS)}")
