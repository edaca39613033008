"""The evaluation harness on real indexes (embedded Chroma + SQLite) whose vectors are chosen by hand, so
every metric below can be worked out on paper (the comments do)."""

from __future__ import annotations

import math

import pytest

from core.errors import ToolError
from core.settings import Settings
from core.types import Patent, Sheet
from patfig.wiring import build_services
from store.index import EncoderId
from tests.test_cluster import build_corpus
from tools.evaluate import (
    average_precision,
    component_queries,
    evaluate,
    families,
    format_table,
    mrr_at,
    precision_at,
    recall_at,
)


def n(*v):
    s = math.sqrt(sum(x * x for x in v))
    return [x / s for x in v]


# figure_id → (visual vector, linked-text vector). US1 and EP2 are one family (same priority, spelt differently).
VECTORS = {
    "US1-S1": (n(1, 0, 0, 0), n(1, 0, 0, 0)),
    "US1-S2": (n(1, 0.1, 0, 0), n(0.5, 1, 0, 0)),
    "EP2-S1": (n(0.6, 0, 0.8, 0), n(1, 0.2, 0, 0)),
    "US3-S1": (n(0, 0, 0, 1), n(0, 0, 1, 0)),
    "US3-S2": (n(0, 0, 0.3, 1), n(0, 0, 1, 0.3)),
}
PRIORITY = {"US1": ["US 61/000,001"], "EP2": ["US61000001"], "US3": []}


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval") / "idx"
    services = build_services(Settings(index_dir=root), create=True)
    services.store.bind_encoders(EncoderId("fake:v4", 4), EncoderId("fake:t4", 4))
    for pid, prio in PRIORITY.items():
        ids = sorted(f for f in VECTORS if f.startswith(pid + "-"))
        sheets = [Sheet(figure_id=f, patent_id=pid, sheet_no=i, image_path=f"sheets/{f}.png")
                  for i, f in enumerate(ids, start=1)]
        patent = Patent(patent_id=pid, office=pid[:2], number=pid[2:], priority_numbers=prio)
        services.store.add_patent(patent, sheets, [VECTORS[f][0] for f in ids], [VECTORS[f][1] for f in ids],
                                  [], [])
    yield services
    services.close()


def test_metrics_by_hand():
    ranking = ["a", "x", "b", "y"]
    assert average_precision(ranking, {"a", "b"}) == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert average_precision(ranking, {"b", "z"}) == pytest.approx((1 / 3) / 2)  # z never found
    assert precision_at(ranking, {"x"}, 1) == 0.0 and precision_at(ranking, {"a"}, 1) == 1.0
    assert recall_at(ranking, {"b", "z"}, 10) == 0.5
    assert mrr_at(ranking, {"b"}, 10) == pytest.approx(1 / 3) and mrr_at(ranking, {"q"}, 10) == 0.0


def test_reid_and_family_on_handmade_vectors(handmade):
    report = evaluate(handmade)
    assert (report.patents, report.sheets) == (3, 5)
    reid, family, components, design = report.protocols
    # reid: the 4 sheets of US1 and US3 query. Visually each finds its sibling first.
    assert reid.queries == 4 and reid.mean_relevant == 1 and reid.chance_p1 == 0.25
    v = reid.results["visual"]
    assert (v.map50, v.p1, v.r10, v.mrr10) == (1.0, 1.0, 1.0, 1.0)
    # text: for both US1 sheets EP2-S1 is nearer than the sibling (rank 2: AP 0.5); US3 sheets find theirs.
    t = reid.results["text"]
    assert (t.map50, t.p1, t.r10, t.mrr10) == (0.75, 0.5, 1.0, 0.75)
    # Fused modes weigh visual 0.3, text 0.7 ("more like this"). Cosines (visual, text) from US1-S1: US1-S2
    # (0.995, 0.447), EP2-S1 (0.600, 0.981); from US1-S2: US1-S1 (0.995, 0.447), EP2-S1 (0.597, 0.614).
    # minmax: US1-S1 query: US1-S2 = 0.3 * 1 + 0.7 * 0.456 = 0.619 < EP2-S1 = 0.3 * 0.603 + 0.7 * 1 = 0.881;
    # US1-S2 query: US1-S1 = 0.3 + 0.7 * 0.728 = 0.810 < EP2-S1 = 0.3 * 0.600 + 0.7 = 0.880: both siblings rank 2.
    a = reid.results["fused_minmax"]
    assert (a.map50, a.p1, a.mrr10) == (0.75, 0.5, 0.75)
    # avg on the raw cosines (the handmade encoders are unknown, so uncalibrated): US1-S1 query: sibling
    # 0.3 * 0.995 + 0.7 * 0.447 = 0.612 < EP2-S1 0.867; US1-S2 query: sibling 0.611 > EP2-S1 0.609.
    a = reid.results["fused_avg"]
    assert (a.map50, a.p1, a.mrr10) == (0.875, 0.75, 0.875)
    # odds, on the same cosines held within [0.01, 0.99]: US1-S1 query: sibling 0.3 * logit(0.99) + 0.7 *
    # logit(0.447) = 1.23 < EP2-S1 0.3 * logit(0.6) + 0.7 * logit(0.981) = 2.88; US1-S2 query: sibling 1.23 >
    # EP2-S1 0.3 * logit(0.597) + 0.7 * logit(0.614) = 0.44.
    a = reid.results["fused_odds"]
    assert (a.map50, a.p1, a.mrr10) == (0.875, 0.75, 0.875)
    # rrf: for both US1 queries EP2-S1 (0.3/62 + 0.7/61) beats the sibling (0.3/61 + 0.7/62). max takes the
    # larger raw cosine, the sibling's visual 0.995, so it ranks every sibling first.
    assert reid.results["fused_max"].p1 == 1.0 and reid.results["fused_rrf"].p1 == 0.5
    # family: US1 + EP2 share a priority; own patent filtered out, so every mode finds the member first.
    assert family.notes == ["families: EP2 + US1"]
    assert family.queries == 3 and family.chance_p1 == pytest.approx((1 / 3 + 1 / 3 + 1 / 2) / 3, abs=1e-4)
    assert all(m.map50 == 1.0 and m.p1 == 1.0 for m in family.results.values())
    assert components.queries == 0 and components.notes == ["no sheet has 2 or more OCR-linked component labels"]
    assert design.queries == 0 and design.notes == ["no design patent with 2 or more views in the evaluated set"]
    table = format_table(report)
    assert "(1) reid: re-identification (DeepPatent)" in table
    assert "    visual         1.000   1.000   1.000   1.000" in table
    assert "    text           0.750   0.500   1.000   0.750" in table


def test_the_fused_text_weight_is_an_option(handmade):
    """With equal weights the minmax fusion ranks US1-S2's sibling first (worked out on paper): US1-S2 query:
    US1-S1 = (1 + 0.728) / 2 = 0.864 > EP2-S1 = (0.600 + 1) / 2 = 0.800; US1-S1 query: US1-S2 = (1 + 0.456) / 2
    = 0.728 < EP2-S1 = (0.603 + 1) / 2 = 0.801. The default (text 0.7) ranks both siblings second."""
    even = evaluate(handmade, protocols=("reid",), text_weight=0.5)
    assert even.weights == {"visual": 0.5, "text": 0.5}
    a = even.protocols[0].results["fused_minmax"]
    assert (a.map50, a.p1, a.mrr10) == (0.875, 0.75, 0.875)
    assert evaluate(handmade, protocols=("reid",)).protocols[0].results["fused_minmax"].p1 == 0.5
    assert "fused modes weigh visual 0.5, text 0.5" in format_table(even)
    with pytest.raises(ToolError, match="outside 0..1"):
        evaluate(handmade, text_weight=1.5)


def test_families_are_grouped_transitively(handmade):
    assert families(handmade) == [["EP2", "US1"]]


def test_components_protocol_and_no_families(tmp_path):
    services = build_corpus(tmp_path / "idx")
    try:
        queries = component_queries(services.store.sheets())
        assert [(q[0].figure_id, q[1], sorted(q[2])) for q in queries] == [
            ("US1-S1", "gripping unit, hoist", ["US1-S1", "US1-S3"]),  # S3's "gripping units" normalises
            ("US1-S2", "gripping unit, rail", ["US1-S2"]),
            ("US1-S3", "gripping unit, hoist", ["US1-S1", "US1-S3"]),
            ("US2-S1", "electric motor, propeller", ["US2-S1"]),
            ("US2-S2", "electric motor, housing", ["US2-S2"]),
        ]
        report = evaluate(services, protocols=("family", "components"))
        family, comp = report.protocols
        assert family.queries == 0 and family.notes == ["no families found (no two patents share a priority number)"]
        assert comp.queries == 5
        assert comp.results["text"].p1 == 1.0 and comp.results["text"].map50 == 1.0
        assert set(comp.na) == {"visual", "visual_views", "fused_odds", "fused_avg", "fused_max", "fused_rrf",
                                "fused_minmax"}
        assert comp.na["visual"] == "the visual encoder fake:fixed8 has no text side"
        table = format_table(report)
        assert "    visual           n/a  the visual encoder fake:fixed8 has no text side" in table
    finally:
        services.close()


def test_bad_modes_and_protocols_are_refused(handmade):
    with pytest.raises(ToolError, match="unknown mode 'clip'; modes: visual, visual_views, text, fused_odds"):
        evaluate(handmade, modes=("clip",))
    with pytest.raises(ToolError, match="unknown protocol 'trec'; protocols: reid, family, components"):
        evaluate(handmade, protocols=("trec",))


@pytest.mark.slow  # "every mode beats chance" is a claim about the real encoders
def test_real_sample_index(sample_index):
    report = evaluate(sample_index, protocols=("reid", "family"))
    reid, family = report.protocols
    multi = {pid for pid in {s.patent_id for s in sample_index.store.sheets()}
             if len(sample_index.store.sheets(pid)) > 1}
    assert reid.queries == sum(len(sample_index.store.sheets(pid)) for pid in multi)
    assert family.notes == ["families: EP3358703 + WO2013173195"]
    for res in (reid, family):
        assert set(res.results) == {"visual", "visual_views", "text", "fused_odds", "fused_avg", "fused_max",
                                    "fused_rrf", "fused_minmax"}
    # every mode beats a random ranking on re-identification
    assert all(m.p1 > reid.chance_p1 for m in reid.results.values())


def test_design_protocol_on_figure_units(tmp_path):
    """Figures as the indexed unit ("USD1-S1-F2": two figures on one sheet): relevance follows the patent id and
    the document type, not the form of the ids. Vectors by hand: USD1's figures look alike, USD2's too; the
    utility US3 is in the gallery but never queries."""
    units = {  # figure id → (patent, doc type, visual vector)
        "USD1-S1-F1": ("USD1", "design", n(1, 0, 0)), "USD1-S1-F2": ("USD1", "design", n(1, 0.2, 0)),
        "USD1-S2-F3": ("USD1", "design", n(1, 0, 0.2)), "USD2-S1-F1": ("USD2", "design", n(0, 1, 0)),
        "USD2-S2-F2": ("USD2", "design", n(0.1, 1, 0)), "US3-S1-F1": ("US3", "utility", n(0, 0, 1)),
    }  # fmt: skip
    services = build_services(Settings(index_dir=tmp_path / "idx"), create=True)
    try:
        services.store.bind_encoders(EncoderId("fake:v3", 3), EncoderId("fake:t3", 3))
        for pid, doc_type in (("USD1", "design"), ("USD2", "design"), ("US3", "utility")):
            ids = sorted(f for f, u in units.items() if u[0] == pid)
            sheets = [Sheet(figure_id=f, patent_id=pid, sheet_no=int(f.split("-S")[1][0]), image_path=f"s/{f}.png")
                      for f in ids]
            patent = Patent(patent_id=pid, office="US", number=pid[2:], doc_type=doc_type)
            vectors = [units[f][2] for f in ids]
            services.store.add_patent(patent, sheets, vectors, vectors, [], [])
        report = evaluate(services, modes=("visual",), protocols=("design",))
        (design,) = report.protocols
        assert design.queries == 5 and design.mean_relevant == round((3 * 2 + 2 * 1) / 5, 2)
        assert design.results["visual"].map50 == 1.0 and design.results["visual"].p1 == 1.0
        assert design.chance_p1 == round((3 * 2 / 5 + 2 * 1 / 5) / 5, 4)  # 6 units, the query left out
    finally:
        services.close()
