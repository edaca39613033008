"""Explanations, comparison, overlays and export, on a real index with hand-made vectors (see test_cluster).

Hits come from the real search functions (`more_like`, `search_text`), so every breakdown is the one the
user would see; the tests check that explanations quote exactly those numbers.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from PIL import Image, ImageChops

from core.errors import ToolError
from tests.test_cluster import PATENTS, axis, build_corpus
from tools.explain import compare, contributions, explain_hit, explain_pair
from tools.export import hits_to_csv, hits_to_json
from tools.overlay import render_overlay
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


def test_explain_hit_quotes_the_breakdown(corpus, similar):
    top = similar[0]
    ex = explain_hit(corpus, similar, 1)
    bd = top.breakdown
    assert bd.weights == {"visual": 0.7, "text": 0.3} and bd.method == "avg"
    for m in ("visual", "text"):
        fact = ex.facts["modalities"][m]
        assert (fact["raw"], fact["norm"], fact["rank"]) == (bd.modalities[m].raw, bd.modalities[m].norm,
                                                             bd.modalities[m].rank)
        assert fact["contribution"] == pytest.approx(bd.weights[m] * bd.modalities[m].norm, abs=1e-6)
        assert f"normalised {fact['norm']:.3f} (rank {fact['rank']} in the {m} list)" in ex.text
    assert sum(c["contribution"] for c in ex.facts["modalities"].values()) == pytest.approx(bd.fused, abs=1e-5)
    assert ex.text.startswith(f"#1: {top.patent_id} \"{top.title}\", sheet {top.sheet_no}, FIG. {top.figs[0]}")
    assert f"Score {bd.fused:.3f}, by weighted average of normalised scores (avg); weights visual 0.700, " \
           f"text 0.300." in ex.text
    assert "Query (more_like) figure US1-S1, text weight 0.300." in ex.text
    assert f'FIG. {top.figs[0]}: "{ex.facts["fig_descriptions"][top.figs[0]]}"' in ex.text


def test_explain_pair_names_the_modality_that_made_the_difference(corpus, similar):
    ex = explain_pair(corpus, similar, 1, 3)
    a, b = contributions(similar[0].breakdown), contributions(similar[2].breakdown)
    diffs = {m: a[m]["contribution"] - b[m]["contribution"] for m in a}
    decisive = max(diffs, key=diffs.get)
    assert ex.facts["decisive_modality"] == decisive
    assert ex.facts["modality_differences"][decisive] == pytest.approx(diffs[decisive], abs=1e-6)
    assert (f"{decisive} made the difference: {a[decisive]['contribution']:.3f} vs "
            f"{b[decisive]['contribution']:.3f} (+{diffs[decisive]:.3f};") in ex.text
    assert f"Difference {similar[0].breakdown.fused - similar[2].breakdown.fused:.3f}" in ex.text
    swapped = explain_pair(corpus, similar, 3, 1)
    assert swapped.text.startswith("#3 is not above #1: #1 ranks higher.")
    assert swapped.facts["decisive_modality"] == decisive


def test_rrf_and_max_contributions(corpus):
    rrf = more_like(corpus, "US1-S1", k=4, text_weight=0.3, method="rrf")
    ex = explain_hit(corpus, rrf, 2)
    vis = rrf[1].breakdown.modalities["visual"]
    assert ex.facts["modalities"]["visual"]["contribution"] == pytest.approx(0.7 / (60 + vis.rank), abs=1e-6)
    assert f"rank {vis.rank} → weight 0.700 / (60 + {vis.rank}) = {0.7 / (60 + vis.rank):.3f}" in ex.text
    assert ex.facts["recomputed"] == pytest.approx(rrf[1].breakdown.fused, abs=1e-5)
    mx = more_like(corpus, "US1-S1", k=4, text_weight=0.3, method="max")
    ex = explain_hit(corpus, mx, 1)
    assert ex.facts["recomputed"] == pytest.approx(mx[0].breakdown.fused, abs=1e-5)
    assert f"{ex.facts['top_modality']} gave the score" in ex.text


def test_text_search_explanation_lists_matched_words_and_components(corpus):
    hits = search_text(corpus, "gripping unit on a rail", k=5)
    ex = explain_hit(corpus, hits, 1)
    assert hits[0].figure_id in ("US1-S2", "US3-S1")  # the two sheets that show a gripping unit and a rail
    assert "Query words found in the sheet's linked text: gripping, unit, rail." in ex.text
    assert "Components on this sheet that match the query: " in ex.text and " rail" in ex.text
    assert "the hit's score is its normalised score" in ex.text  # one modality (no CLIP): score = normalised


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
    assert "Components in all of them: gripping unit, rail." in c.text
    assert "Only US3 (named in the text): crane trolley." in c.text


def test_compare_hits_uses_the_figures_components(corpus, similar):
    two = [h for h in similar if h.figure_id in ("US1-S2", "US2-S1")]
    c = compare(corpus, hits=two)
    assert c.component_source == {"US1": "figures", "US2": "figures"}
    assert c.distinct_components == {"US1": ["gripping unit", "rail"], "US2": ["electric motor", "propeller"]}
    assert c.shared_components == [] and "No component label occurs in all of them." in c.text
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
    assert first["figure_id"] == hit.figure_id and first["method"] == "avg"
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


def test_real_explanation_quotes_the_real_breakdown(fake_index):
    sheet = max(fake_index.store.sheets(), key=lambda s: len(s.components))
    hits = more_like(fake_index, sheet.figure_id, k=10, text_weight=0.3)
    ex = explain_hit(fake_index, hits, 1)
    bd = hits[0].breakdown
    for m, ms in bd.modalities.items():
        fact = ex.facts["modalities"][m]
        assert (fact["raw"], fact["norm"], fact["rank"]) == (ms.raw, ms.norm, ms.rank)
        assert f"similarity {ms.raw:.3f} → normalised {ms.norm:.3f} (rank {ms.rank} in the {m} list)" in ex.text
    assert ex.facts["recomputed"] == pytest.approx(bd.fused, abs=1e-5)
    assert f"Score {bd.fused:.3f}" in ex.text and hits[0].patent_id in ex.text
    pair = explain_pair(fake_index, hits, 1, 10)
    diffs = pair.facts["modality_differences"]
    assert sum(diffs.values()) == pytest.approx(hits[0].breakdown.fused - hits[9].breakdown.fused, abs=1e-5)


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
