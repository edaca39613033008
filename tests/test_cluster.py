"""Clustering of result sets, on a real index (embedded Chroma + SQLite) with hand-made vectors.

`fake_corpus` builds two visually distinct groups of drawings: US1 (a hoist with a gripping unit on a
rail) near one direction of the visual space and US2 (a motor driving a propeller) near another.
"""

from __future__ import annotations

import math

import pytest
from PIL import Image, ImageDraw

from core.errors import ToolError
from core.settings import Settings
from core.textnorm import normalise_label
from core.types import Box, Breakdown, Component, FigureDesc, Patent, RefSign, Sheet
from patfig.wiring import build_services
from store.index import EncoderId, Passage
from tests.fakes import BagEncoder, FixedVisual
from tools.cluster import clean_title, cluster_hits, cluster_keywords
from tools.search import make_hit

DIM = FixedVisual.dim


def unit(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def axis(i, *extra):
    v = [0.0] * DIM
    v[i] = 1.0
    for j, x in extra:
        v[j] += x
    return unit(v)


# figure_id → (visual vector, FIG, view, description, [(numeral, label, box)])
GROUP_A = {
    "US1-S1": (axis(0, (2, 0.10)), "1", "perspective", "FIG. 1 is a perspective view of the hoist.",
               [("10", "gripping unit", (100, 120, 140, 150)), ("14", "hoist", (300, 80, 340, 110))]),
    "US1-S2": (axis(0, (3, 0.15)), "2", "side", "FIG. 2 is a side view of the gripping unit on the rail.",
               [("10", "gripping unit", (60, 200, 100, 230)), ("12", "rail", (220, 400, 250, 430))]),
    "US1-S3": (axis(0, (2, 0.05), (3, 0.05)), "3", "detail", "FIG. 3 shows the gripping unit and its hoist.",
               [("10", "gripping units", (150, 150, 190, 180)), ("14", "hoist", (50, 50, 90, 80))]),
}
GROUP_B = {
    "US2-S1": (axis(1, (4, 0.10)), "1", "side", "FIG. 1 is a side view of the motor and propeller.",
               [("20", "electric motor", (120, 300, 160, 330)), ("22", "propeller", (200, 100, 240, 130))]),
    "US2-S2": (axis(1, (5, 0.12)), "2", "sectional", "FIG. 2 is a sectional view of the motor housing.",
               [("20", "electric motor", (80, 80, 120, 110)), ("24", "housing", (260, 420, 300, 450))]),
    "US2-S3": (axis(1, (4, 0.05), (5, 0.05)), "3", "perspective", "FIG. 3 shows the propeller blades.",
               [("22", "propeller", (90, 90, 130, 120))]),
}
PATENTS = {
    "US1": ("Overhead hoist with a gripping unit", "B66C1/42", GROUP_A,
            "A hoist carries a gripping unit along a rail.", ["1. A hoist comprising a gripping unit and a rail."]),
    "US2": ("Electric propulsion unit", "B64D27/24", GROUP_B,
            "An electric motor drives a propeller in a housing.",
            ["1. A propulsion unit comprising an electric motor and a propeller."]),
}


def _sheet_image(path, boxes):
    img = Image.new("L", (400, 600), 255)
    d = ImageDraw.Draw(img)
    d.rectangle((40, 40, 360, 560), outline=0, width=3)
    for x0, y0, x1, y1 in boxes:
        d.line((x0, y0, x1, y1), fill=0, width=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def build_corpus(root, patents=PATENTS, text=None):
    """A real index at `root` holding `patents`; returns Services with fake encoders."""
    text = text or BagEncoder()
    services = build_services(Settings(index_dir=root), create=True, visual=FixedVisual(), text=text)
    services.store.bind_encoders(EncoderId(FixedVisual.name, DIM), EncoderId(text.name, text.dim))
    for pid, (title, cpc, group, abstract, claims) in patents.items():
        sheets, visual = [], []
        refsigns: dict[str, RefSign] = {}
        figures = []
        for fid, (vec, fig, view, desc, comps) in group.items():
            n = int(fid.rsplit("S", 1)[1])
            sheet = Sheet(
                figure_id=fid, patent_id=pid, sheet_no=n, image_path=f"sheets/{fid}.png", width=400, height=600,
                figs=[fig], view=view, kind="drawing", description=desc,
                components=[Component(numeral=num, label=lab, boxes=[Box(x0=b[0], y0=b[1], x1=b[2], y1=b[3])])
                            for num, lab, b in comps],
                linked_sentences=[f"The {lab} {num} is shown." for num, lab, _ in comps],
            )
            _sheet_image(root / sheet.image_path, [b for _, _, b in comps])
            sheets.append(sheet)
            visual.append(vec)
            figures.append(FigureDesc(fig=fig, text=desc, view=view, kind="drawing"))
            for num, lab, _ in comps:
                refsigns.setdefault(num, RefSign(numeral=num, labels=[lab]))
        patent = Patent(patent_id=pid, office="US", number=pid[2:], kind="B2", pub_date=20200101, title=title,
                        abstract=abstract, claims=claims, cpc=[cpc], figures=figures, refsigns=refsigns)
        texts = text.embed_texts([s.linked_text() for s in sheets])
        services.store.add_patent(patent, sheets, visual, texts, [Passage("abstract", abstract)],
                                  text.embed_texts([abstract]), source_sig=pid)
    return services


def hits_for(services, ids):
    """Hits in the given order (rank 1 first), as a search would return them."""
    return [make_hit(services, fid, r, 1.0 - r / 100, Breakdown(fused=1.0 - r / 100)) for r, fid in
            enumerate(ids, start=1)]


@pytest.fixture
def corpus(tmp_path):
    services = build_corpus(tmp_path / "idx")
    yield services
    services.close()


INTERLEAVED = ["US1-S1", "US2-S1", "US1-S2", "US2-S2", "US1-S3", "US2-S3"]


def test_silhouette_finds_the_two_groups_and_names_them_by_keywords(corpus):
    res = cluster_hits(corpus, hits_for(corpus, INTERLEAVED))
    assert res.k == 2
    assert res.k_method.startswith("silhouette over 2..5: best k=2 (")
    assert res.silhouette is not None and f"best k=2 ({res.silhouette:.2f})" in res.k_method
    first, second = res.clusters
    assert first.cluster_id == 1 and [h.rank for h in first.hits] == [1, 3, 5]
    assert {h.patent_id for h in second.hits} == {"US2"}
    # "gripping unit" is on all three hoist sheets, "hoist" on two (plus one description), "rail" on one
    assert first.keywords[:2] == ["gripping unit", "hoist"]
    assert "rail" in first.keywords and "motor" not in first.keywords
    assert first.title == " · ".join(first.keywords[:3]) and first.title_source == "keywords"
    assert second.keywords[0] in ("electric motor", "propeller")
    png = corpus.store.root / "renders"
    assert res.map_png.startswith(str(png)) and res.map_png.endswith(".png")
    with Image.open(res.map_png) as im:
        assert im.format == "PNG" and im.size == (880, 660)


def test_given_k_titler_and_unique_maps(corpus):
    seen = []

    def titler(keywords, descriptions):
        seen.append((keywords, descriptions))
        return '"Title: Hoist gripper."\nbecause of the keywords'

    hits = hits_for(corpus, INTERLEAVED)
    res = cluster_hits(corpus, hits, k=3, titler=titler)
    assert res.k == 3 and res.k_method == "given: k=3"
    assert [c.title for c in res.clusters] == ["Hoist gripper"] * 3
    assert all(c.title_source == "llm" for c in res.clusters)
    assert sum(len(c.hits) for c in res.clusters) == 6
    assert seen[0][1][0] == "FIG. 1 is a perspective view of the hoist."
    assert cluster_hits(corpus, hits, k=3).map_png != res.map_png


def test_failing_titler_falls_back_to_keywords_and_says_so(corpus):
    def broken(keywords, descriptions):
        raise ConnectionError("ollama is not running")

    res = cluster_hits(corpus, hits_for(corpus, INTERLEAVED), k=2, titler=broken)
    assert all(c.title_source == "keywords" for c in res.clusters)
    assert res.notes[0] == "Group 1 is named by its keywords: the language model did not answer."


def test_bad_input_is_refused_with_what_is_valid(corpus):
    hits = hits_for(corpus, INTERLEAVED)
    with pytest.raises(ToolError, match="at least 2 results; the current set has 1"):
        cluster_hits(corpus, hits[:1])
    with pytest.raises(ToolError, match=r"k must be a whole number from 1 to 6 \(the number of results\), not 7"):
        cluster_hits(corpus, hits, k=7)
    two = cluster_hits(corpus, hits[:2])
    assert two.k == 2 and two.k_method == "only 2 hits, too few for a silhouette score: k=2"


def test_keywords_prefer_terms_rare_in_other_clusters():
    groups = [[["gripping unit", "frame"], ["gripping unit", "frame"]], [["frame", "motor"], ["motor"]]]
    assert cluster_keywords(groups, n=2) == [["gripping unit", "frame"], ["motor", "frame"]]
    assert normalise_label("The Gripping Units") == "gripping unit"
    assert clean_title("  'Rail hoists.'  \nmore") == "Rail hoists"


def test_clusters_of_real_hits(fake_index):
    from tools.search import search_text

    hits = search_text(fake_index, "aircraft engine with propeller", k=20)
    res = cluster_hits(fake_index, hits)
    assert 2 <= res.k <= 8 and res.k_method.startswith(f"silhouette over 2..8: best k={res.k} (")
    assert sorted(h.rank for c in res.clusters for h in c.hits) == list(range(1, 21))
    assert 1 in [h.rank for h in res.clusters[0].hits]
    assert all(c.keywords and c.title == " · ".join(c.keywords[:3]) for c in res.clusters)
    with Image.open(res.map_png) as im:
        assert im.format == "PNG"
