"""Explanations, comparison, overlays and export, on a real index with hand-made vectors (see test_cluster).

Hits come from the real search functions (`more_like`, `search_text`), so every breakdown is the one the
user would see; the tests check that explanations quote exactly those numbers.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from PIL import Image, ImageChops

from core.calibration import logit, sigmoid
from core.defaults import STRONG_SCORE, WEAK_SCORE
from core.errors import ToolError
from tests.test_cluster import PATENTS, axis, build_corpus
from tools.explain import compare, contributions, explain_hit, explain_pair
from tools.explain_words import MAX_LISTED
from tools.export import hits_to_csv, hits_to_json
from tools.fusion import RRF_K, clipped_logit
from tools.lexical import search_lexical
from tools.overlay import render_overlay
from tools.phrasing import filters_words, ordinal, strength
from tools.search import more_like, search_text

# A third patent close to US1: a crane whose gripping unit runs on a rail (shares B66C and two components).
EXTRA = {
    "US3": ("Rail crane with a gripping unit", "B66C13/08", {
        "US3-S1": (axis(0, (6, 0.6)), "1", "perspective", "FIG. 1 is a perspective view of the crane.",
                   [("30", "gripping unit", (100, 100, 140, 130)), ("32", "rail", (200, 300, 240, 330)),
                    ("34", "crane trolley", (60, 400, 100, 430))]),
        "US3-S2": (axis(6, (0, 0.4)), "2", "side", "FIG. 2 is a side view of the crane trolley.",
                   [("34", "crane trolley", (150, 150, 190, 180))]),
    }, "A crane moves a gripping unit along a rail with a trolley.",
        ["1. A crane comprising a trolley, a rail and a gripping unit."]),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    services = build_corpus(tmp_path_factory.mktemp("explain") / "idx", PATENTS | EXTRA)
    yield services
    services.close()


@pytest.fixture(scope="module")
def similar(corpus):
    return more_like(corpus, "US1-S1", k=6, text_weight=0.3)


NUMBER = re.compile(r"(?<![\w.\-/])(\d+(?:\.\d+)?)(st|nd|rd|th)?(?![\w/])")
SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")


def allowed_numbers(f: dict) -> list[float]:
    """Every number an explanation of one hit may print: the hit's breakdown and identity, as in its facts."""
    values: list[float] = [f["rank"], f["set_size"], f["sheet_no"], f["score"], f["fused"], f["recomputed"], RRF_K,
                           len(f["query_terms"]), len(f["matched_terms"])]
    values += [float(x) for x in f["figs"] if x.isdigit()]
    for c in f["modalities"].values():
        values += [x for x in (c["raw"], c["norm"], c["rank"], c["weight"], c["contribution"], c["calibrated"])
                   if x is not None]
    values += [float(x) for v in f["query"].values() for x in re.findall(r"\d+(?:\.\d+)?", str(v))]
    values += [float(x) for x in re.findall(r"\d+", filters_words(f["filters"]))]
    values += [float(x) for v in [*f.get("matched_in", {}).values(), f.get("passage", "")]
               for x in re.findall(r"\d+(?:\.\d+)?", str(v))]
    for comps in (f["components"], f["matched_components"]):
        values += [float(x) for c in comps for x in re.findall(r"\d+", c["numeral"])] + [len(comps) - MAX_LISTED]
    return values


def unexplained_numbers(text: str, allowed: list[float]) -> list[str]:
    """Numbers in the text (outside quoted document text) that no allowed value gives at their precision."""
    bare = re.sub(r'"[^"]*"', " ", text)
    bad = []
    for m in NUMBER.finditer(bare):
        token = m.group(1)
        decimals = len(token.split(".")[1]) if "." in token else 0
        if not any(f"{v:.{decimals}f}" == token for v in allowed):
            bad.append(token)
    return bad


def check_plain(text: str) -> None:
    """No field names (snake_case), no file paths, one sentence per line at most ending in a full stop."""
    assert not SNAKE.search(re.sub(r'"[^"]*"', " ", text)), SNAKE.search(text)
    assert "/" not in re.sub(r'"[^"]*"|\d/\d|weight / \(', " ", text)
    assert ".png" not in text and "=" not in text


def test_explain_hit_quotes_the_breakdown(corpus, similar):
    top = similar[0]
    ex = explain_hit(corpus, similar, 1)
    bd = top.breakdown
    assert bd.weights == {"visual": 0.7, "text": 0.3} and bd.method == "odds"
    for m in ("visual", "text"):
        fact = ex.facts["modalities"][m]
        assert (fact["raw"], fact["norm"], fact["rank"]) == (bd.modalities[m].raw, bd.modalities[m].norm,
                                                             bd.modalities[m].rank)
        # odds fusion: each kind of evidence adds its weight share × the log-odds of its calibrated relevance
        assert fact["contribution"] == pytest.approx(bd.weights[m] * clipped_logit(bd.modalities[m].calibrated),
                                                     abs=1e-5)
    assert sigmoid(sum(c["contribution"] for c in ex.facts["modalities"].values())) == pytest.approx(bd.fused,
                                                                                                     abs=1e-5)
    lines = ex.text.splitlines()
    vis, txt = bd.modalities["visual"], bd.modalities["text"]
    assert lines[0] == (f"#1 ranks first of 6 because among the figures searched, it is the best drawing match "
                        f"(similarity {vis.raw:.3f}, calibrated relevance {vis.calibrated:.3f}, a "
                        f"{strength(vis.calibrated)} match) and the best text match (similarity {txt.raw:.3f}, "
                        f"calibrated relevance {txt.calibrated:.3f}, a {strength(txt.calibrated)} match).")
    assert lines[1] == "You asked for figures like sheet 1 of US1, with weight 0.300 on the text."
    assert lines[2] == (f"Its score {bd.fused:.3f}, a {strength(bd.fused)} match, combines the calibrated relevance "
                        f"of each kind of evidence, drawing {vis.calibrated:.3f} (weight 0.700) and text "
                        f"{txt.calibrated:.3f} (weight 0.300), as the weighted mean of their log-odds, turned back "
                        "into a relevance.")
    assert f'#1 is FIG. {top.figs[0]} on sheet {top.sheet_no} of {top.patent_id}' in ex.text
    described = ex.facts["fig_descriptions"][top.figs[0]].rstrip(".")
    assert f'The patent describes FIG. {top.figs[0]} as "{described}".' in ex.text
    assert unexplained_numbers(ex.text, allowed_numbers(ex.facts)) == []
    check_plain(ex.text)


def test_the_number_check_catches_an_invented_number(corpus, similar):
    ex = explain_hit(corpus, similar, 2)
    assert unexplained_numbers(ex.text, allowed_numbers(ex.facts)) == []
    assert unexplained_numbers(ex.text + " Its score is 0.123.", allowed_numbers(ex.facts)) == ["0.123"]
    assert unexplained_numbers(ex.text + " It ranks 17th.", allowed_numbers(ex.facts)) == ["17"]


def test_explain_pair_names_the_modality_that_made_the_difference(corpus, similar):
    ex = explain_pair(corpus, similar, 1, 3)
    a, b = contributions(similar[0].breakdown), contributions(similar[2].breakdown)
    diffs = {m: a[m]["contribution"] - b[m]["contribution"] for m in a}
    decisive = max(diffs, key=diffs.get)
    assert ex.facts["decisive_modality"] == decisive == "visual"
    assert ex.facts["modality_differences"][decisive] == pytest.approx(diffs[decisive], abs=1e-6)
    vis = similar[2].breakdown.modalities["visual"]
    top = similar[0].breakdown.modalities["visual"]
    assert (f"The drawing made the difference: #1 is the best drawing match (similarity {top.raw:.3f}, calibrated "
            f"relevance {top.calibrated:.3f}, a {strength(top.calibrated)} match), #3 is the {ordinal(vis.rank)} "
            f"best drawing match (similarity {vis.raw:.3f}, calibrated relevance {vis.calibrated:.3f}, a "
            f"{strength(vis.calibrated)} match); that gave #1 {top.calibrated:.3f} and #3 "
            f"{vis.calibrated:.3f}.") in ex.text
    t1, t3 = similar[0].breakdown.modalities["text"], similar[2].breakdown.modalities["text"]
    txt = f"#1 {t1.calibrated:.3f}, #3 {t3.calibrated:.3f}"
    assert f"The text favoured #{1 if diffs['text'] > 0 else 3} ({txt})." in ex.text
    gap = similar[0].breakdown.fused - similar[2].breakdown.fused
    assert f"scores {similar[2].breakdown.fused:.3f}, {gap:.3f} less." in ex.text
    allowed = allowed_numbers(ex.facts["higher"]) + allowed_numbers(ex.facts["lower"]) + [gap]
    assert unexplained_numbers(ex.text, allowed) == []
    check_plain(ex.text)
    swapped = explain_pair(corpus, similar, 3, 1)
    assert swapped.text.startswith("#3 is below #1, not above it.\n")
    assert swapped.facts["decisive_modality"] == decisive


def test_rrf_and_max_contributions(corpus):
    rrf = more_like(corpus, "US1-S1", k=4, text_weight=0.3, method="rrf")
    ex = explain_hit(corpus, rrf, 2)
    vis = rrf[1].breakdown.modalities["visual"]
    assert ex.facts["modalities"]["visual"]["contribution"] == pytest.approx(0.7 / (60 + vis.rank), abs=1e-6)
    assert f"drawing {0.7 / (60 + vis.rank):.4f} (weight 0.700 / (60 + rank {vis.rank}))" in ex.text
    assert ex.facts["recomputed"] == pytest.approx(rrf[1].breakdown.fused, abs=1e-5)
    assert unexplained_numbers(ex.text, allowed_numbers(ex.facts)) == []
    mx = more_like(corpus, "US1-S1", k=4, text_weight=0.3, method="max")
    ex = explain_hit(corpus, mx, 1)
    assert ex.facts["recomputed"] == pytest.approx(mx[0].breakdown.fused, abs=1e-5)
    assert "combines the calibrated relevance of each kind of evidence" in ex.text and "as the best of them." in ex.text
    pair = explain_pair(corpus, mx, 1, 2)
    assert pair.facts["decisive_modality"] == pair.facts["higher"]["top_modality"]  # max: only the best counts
    assert "each figure counts only its strongest evidence" in pair.text


def test_text_search_explanation_lists_matched_words_and_components(corpus):
    hits = search_text(corpus, "gripping unit on a rail", k=5)
    ex = explain_hit(corpus, hits, 1)
    assert hits[0].figure_id in ("US1-S2", "US3-S1")  # the two sheets that show a gripping unit and a rail
    assert ex.text.startswith("#1 ranks first of 5 because the figure's own text has all 3 of your words "
                              "(gripping, unit and rail); among the figures searched, it is the best word match "
                              "(share of your words found 1.000, calibrated relevance ")
    assert "and the best text match (similarity " in ex.text.splitlines()[0]
    assert ", and there was no drawing to compare." in ex.text.splitlines()[0]
    assert 'You searched for "gripping unit on a rail".' in ex.text
    assert "Parts on this sheet that match your words: " in ex.text and " rail" in ex.text
    assert "Your words were found in this figure: 'gripping', 'unit' and 'rail' in the description." in ex.text
    assert (f"Its score {hits[0].score:.3f}, a {strength(hits[0].score)} match, combines the calibrated relevance "
            "of each kind of evidence, text ") in ex.text  # two kinds: dense passages and word matching
    minmax = search_text(corpus, "gripping unit on a rail", k=5, method="minmax")
    assert "rescaled between the weakest and the best match of this search" in explain_hit(corpus, minmax, 1).text
    assert unexplained_numbers(ex.text, allowed_numbers(ex.facts)) == []
    check_plain(ex.text)


def test_calibrated_scores_are_named_by_strength(corpus):
    hits = search_text(corpus, "gripping unit on a rail", k=5)
    hit = hits[1]
    ms = hit.breakdown.modalities["text"]
    calibrated = ms.model_copy(update={"calibrated": 0.05})
    bd = hit.breakdown.model_copy(update={"modalities": {"text": calibrated}, "fused": 0.05, "method": "single",
                                          "weights": {"text": 1.0}})
    ex = explain_hit(corpus, [hits[0], hit.model_copy(update={"breakdown": bd, "score": 0.05})], 2)
    assert ex.facts["modalities"]["text"]["calibrated"] == 0.05
    assert "calibrated relevance 0.050, a weak match" in ex.text
    assert "Its score is 0.050, a weak match." in ex.text
    assert unexplained_numbers(ex.text, allowed_numbers(ex.facts)) == []
    assert [strength(x) for x in (WEAK_SCORE - 0.01, WEAK_SCORE, STRONG_SCORE - 0.01, STRONG_SCORE)] == [
        "weak", "fair", "fair", "strong"]


def test_fused_calibrated_scores_are_the_parts_of_the_score(corpus, similar):
    hit = similar[0]
    mods = {m: ms.model_copy(update={"calibrated": c}) for (m, ms), c in zip(hit.breakdown.modalities.items(),
                                                                             (0.7, 0.4), strict=True)}
    fused = round(sigmoid(0.7 * logit(0.7) + 0.3 * logit(0.4)), 6)  # weights 0.7 / 0.3, as tools.fusion combines
    bd = hit.breakdown.model_copy(update={"modalities": mods, "fused": fused})
    ex = explain_hit(corpus, [hit.model_copy(update={"breakdown": bd, "score": fused}), *similar[1:]], 1)
    assert ex.facts["recomputed"] == pytest.approx(fused, abs=1e-6)
    assert (f"Its score {fused:.3f}, a {strength(fused)} match, combines the calibrated relevance of each kind of "
            f"evidence, drawing 0.700 (weight 0.700) and text 0.400 (weight 0.300), as the weighted mean of their "
            f"log-odds, turned back into a relevance.") in ex.text
    assert "calibrated relevance 0.700, a strong match" in ex.text
    assert "calibrated relevance 0.400, a fair match" in ex.text  # fair: between WEAK_SCORE and STRONG_SCORE
    assert "add up to" not in ex.text
    assert unexplained_numbers(ex.text, allowed_numbers(ex.facts)) == []


def test_unknown_rank_and_same_rank_are_refused(corpus, similar):
    with pytest.raises(ToolError, match=r"^no #7 in the current results \(1..6\)$"):
        explain_hit(corpus, similar, 7)
    with pytest.raises(ToolError, match="name two different results"):
        explain_pair(corpus, similar, 2, 2)
    with pytest.raises(ToolError, match="run a search first"):
        explain_hit(corpus, [], 1)


def test_compare_patents_shared_and_distinct(corpus):
    c = compare(corpus, patent_ids=["us1", "US3"])
    assert c.patent_ids == ["US1", "US3"]
    assert c.component_source == {"US1": "text", "US3": "text"}
    assert c.shared_components == ["gripping unit", "rail"]
    assert c.distinct_components == {"US1": ["hoist"], "US3": ["crane trolley"]}
    assert c.cpc_shared == ["B66C"] and c.cpc_distinct == {"US1": [], "US3": []}
    assert c.kinds == {"US1": {"drawing": 3}, "US3": {"drawing": 2}}
    assert set(c.key_terms_shared) >= {"gripping", "rail"}
    assert "crane" in c.key_terms_distinct["US3"] and "overhead" in c.key_terms_distinct["US1"]
    assert "Parts named in all of them: gripping unit and rail." in c.text
    assert "Only US3 names crane trolley in its text." in c.text
    assert "They share the CPC subclass B66C." in c.text
    check_plain(c.text)


def test_compare_hits_uses_the_figures_components(corpus, similar):
    two = [h for h in similar if h.figure_id in ("US1-S2", "US2-S1")]
    c = compare(corpus, hits=two)
    assert c.component_source == {"US1": "figures", "US2": "figures"}
    assert c.distinct_components == {"US1": ["gripping unit", "rail"], "US2": ["electric motor", "propeller"]}
    assert c.shared_components == [] and "No part name occurs in all of them." in c.text
    with pytest.raises(ToolError, match="all come from US1; compare needs figures of at least two"):
        compare(corpus, hits=[h for h in similar if h.patent_id == "US1"])
    with pytest.raises(ToolError, match="unknown patent id 'US9'; patents in the index: US1, US2, US3"):
        compare(corpus, patent_ids=["US1", "US9"])


def test_overlay_draws_labelled_boxes(corpus):
    path = render_overlay(corpus, "US1-S2")
    assert path.parent == corpus.store.root / "renders" and path.suffix == ".png"
    plain = Image.open(corpus.store.root / "sheets" / "US1-S2.png").convert("RGB")
    drawn = Image.open(path).convert("RGB")
    assert drawn.size == plain.size == (400, 600)
    assert ImageChops.difference(plain, drawn).getbbox() is not None
    # the first component (10 gripping unit, box 60,200-100,230) is boxed in the first colour (red)
    assert drawn.getpixel((58, 215)) == (214, 39, 40) and plain.getpixel((58, 215)) == (255, 255, 255)
    assert render_overlay(corpus, "US1-S2") == path  # cached
    only_rail = render_overlay(corpus, "US1-S2", numerals="12")
    assert only_rail != path
    assert Image.open(only_rail).convert("RGB").getpixel((58, 215)) == (255, 255, 255)
    with pytest.raises(ToolError, match="numeral '99' was not read on US1-S2; numerals read there: 10, 12"):
        render_overlay(corpus, "US1-S2", numerals=["99"])
    with pytest.raises(ToolError, match="no figure 'US1-S9' in the index"):
        render_overlay(corpus, "US1-S9")


def test_csv_and_json_export(corpus, similar):
    rows = list(csv.DictReader(io.StringIO(hits_to_csv(similar))))
    assert len(rows) == 6
    first, hit = rows[0], similar[0]
    assert list(first)[:12] == ["rank", "figure_id", "patent_id", "sheet", "figs", "kind", "view", "office",
                                "pub_date", "cpc", "title", "score"]
    assert first["figure_id"] == hit.figure_id and first["method"] == "odds"
    assert float(first["visual_norm"]) == hit.breakdown.modalities["visual"].norm
    assert int(first["text_rank"]) == hit.breakdown.modalities["text"].rank
    assert first["weights"] == "visual=0.7; text=0.3"
    report = json.loads(hits_to_json(similar))
    assert report["count"] == 6 and report["query"] == {"mode": "more_like", "figure_id": "US1-S1",
                                                        "text_weight": 0.3}
    assert report["modalities"] == ["visual", "text"]
    assert report["hits"][0]["visual_raw"] == hit.breakdown.modalities["visual"].raw
    assert report["hits"][0]["figs"] == hit.figs


def test_csv_guards_against_spreadsheet_formulas(corpus, similar):
    evil = similar[0].model_copy(update={"title": "=HYPERLINK(\"http://x\")"})
    row = next(csv.DictReader(io.StringIO(hits_to_csv([evil]))))
    assert row["title"] == "'=HYPERLINK(\"http://x\")"


# ---------------------------------------------------------------- on the sample documents (overlay: real index, OCR on)


def _check_real_explanations(services, hits):
    """Each explanation of one hit and of #1 against the last quotes only the numbers of its breakdown."""
    for hit in hits:
        ex = explain_hit(services, hits, hit.rank)
        bd = hit.breakdown
        for m, ms in bd.modalities.items():
            fact = ex.facts["modalities"][m]
            assert (fact["raw"], fact["norm"], fact["rank"]) == (ms.raw, ms.norm, ms.rank)
        assert ex.facts["recomputed"] == pytest.approx(bd.fused, abs=1e-5)
        assert f"#{hit.rank} ranks {ordinal(hit.rank)} of {len(hits)} because" in ex.text
        assert unexplained_numbers(ex.text, allowed_numbers(ex.facts)) == [], ex.text
        check_plain(ex.text)
    pair = explain_pair(services, hits, 1, len(hits))
    diffs = pair.facts["modality_differences"]  # differences of the contributions, which add up to the score
    hi, lo = hits[0].breakdown.fused, hits[-1].breakdown.fused
    if hits[0].breakdown.method == "odds":  # log-odds parts: they add up to the difference of the scores' log-odds
        assert sum(diffs.values()) == pytest.approx(logit(hi) - logit(lo), abs=1e-4)
    else:
        assert sum(diffs.values()) == pytest.approx(hi - lo, abs=1e-5)
    allowed = (allowed_numbers(pair.facts["higher"]) + allowed_numbers(pair.facts["lower"])
               + [pair.facts["score_difference"]])
    assert unexplained_numbers(pair.text, allowed) == [], pair.text
    check_plain(pair.text)


def test_real_explanations_quote_only_the_breakdown(fake_index):
    sheet = max(fake_index.store.sheets(), key=lambda s: len(s.description))
    _check_real_explanations(fake_index, more_like(fake_index, sheet.figure_id, k=10, text_weight=0.3))
    _check_real_explanations(fake_index, search_text(fake_index, "charging station for an electric vehicle", k=8))
    keyword = search_lexical(fake_index, "charging AND station", k=4)
    assert len(keyword) >= 2
    _check_real_explanations(fake_index, keyword)
    assert "it matches your words charging and station" in explain_hit(fake_index, keyword, 1).text


@pytest.mark.slow  # the real text model's scores and OCR-linked components
def test_real_explanations_on_the_sample_index(sample_index):
    hits = search_text(sample_index, "hydrogen fuel system aircraft", k=20)
    _check_real_explanations(sample_index, hits)
    first = explain_hit(sample_index, hits, 1)
    assert first.facts["matched_terms"] and "of your words (" in first.text.splitlines()[0]
    sheet = max(sample_index.store.sheets(), key=lambda s: len(s.components))
    _check_real_explanations(sample_index, more_like(sample_index, sheet.figure_id, k=10, text_weight=0.3))


@pytest.mark.slow  # needs OCR-linked components
def test_real_overlay_and_family_comparison(sample_index):
    sheet = max(sample_index.store.sheets(), key=lambda s: len(s.components))
    assert sheet.components, "OCR linked no component on any sample sheet"
    path = render_overlay(sample_index, sheet.figure_id)
    plain = Image.open(sample_index.store.image_path(sheet)).convert("RGB")
    drawn = Image.open(path).convert("RGB")
    assert drawn.size == plain.size and ImageChops.difference(plain, drawn).getbbox() is not None
    # EP3358703 and WO2013173195 publish the same invention ("CHARGE RATE OPTIMIZATION")
    c = compare(sample_index, patent_ids=["EP3358703", "WO2013173195"])
    assert c.titles == {"EP3358703": "CHARGE RATE OPTIMIZATION", "WO2013173195": "CHARGE RATE OPTIMIZATION"}
    assert c.cpc_shared == ["H02J"] and c.cpc_distinct["EP3358703"] == ["B60L"]
    assert {"charging", "charge", "station"} <= set(c.key_terms_shared)
    assert "charging station" in c.shared_components
