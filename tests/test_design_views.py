"""Views of one design through the product's image search: the same ranking as `patfig eval`'s visual_views,
and an indexed view uploaded is searched the right way up.

The index is real (embedded Chroma + SQLite, built by the real ingest pipeline without OCR from three sample
design patents and one utility ZIP, word-bag text vectors). Its visual encoder is the weight-free ``lbp``
descriptor, also asked for the picture's four 90° turns as lbp+CRAFT is (`embed_turns`): lbp is nearly turn
invariant, so a turned sheet's vector is close to the upright one (cosine about 0.995) without being it, as
CRAFT's are. The index's visual whitening and α-query expansion are fitted as for lbp+CRAFT (8 dims, k=3).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from PIL import Image

from ingest.segment import figure_crop
from models.lbp_craft import WHITENING_PLANS, WhiteningPlan
from models.linedraw import LineDrawEncoder
from runtime.services import Services
from tests.conftest import SAMPLES, fake_settings
from tools import views
from tools.evaluate import K, design_queries, views_ranking
from tools.relevance import curves_for
from tools.search import _image_vector, search_image

DOCS = ("uspto/USD0907292-20210105", "uspto/USD0919623-20210518", "uspto/USD0913174-20210316",
        "uspto/US12448135-20251021.ZIP")
PLAN = WhiteningPlan(dims=8, min_rows=8)


class TurningLbp(LineDrawEncoder):
    """The lbp descriptor with `embed_turns`: each turn's vector is that of the turned picture."""

    def embed_turns(self, image: Image.Image) -> list[list[float]]:
        turns = (None, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)
        return self.embed_images([image if t is None else image.transpose(t) for t in turns])


def open_services(root, *, create: bool = False) -> Services:
    from patfig.wiring import build_services
    from tests.fakes import NoOcr, WordBagEncoder

    return build_services(fake_settings(root), create=create, visual=TurningLbp(), text=WordBagEncoder(),
                          ocr=NoOcr())


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    from ingest.pipeline import ingest_paths
    from tools.whiten import fit_index_whitening

    missing = [d for d in DOCS if not (SAMPLES / d).exists()]
    if missing:
        pytest.skip(f"sample documents missing under {SAMPLES}: {missing}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(WHITENING_PLANS, TurningLbp().name, PLAN)
        services = open_services(tmp_path_factory.mktemp("design_views") / "idx", create=True)
        report = ingest_paths(services, [SAMPLES / d for d in DOCS], use_ocr=False)
        assert not report.failed, report.summary()["failures"]
        note = fit_index_whitening(services)
        assert note.startswith("PCA whitening") and services.store.whitening() is not None, note
        yield services
        services.close()


def picture(services: Services, unit_id: str) -> Image.Image:
    """A unit's picture as ingest cut it: what a user uploads when the view is one of the index's."""
    unit = services.store.sheet(unit_id)
    assert unit is not None
    with Image.open(services.store.image_path(unit)) as im:
        return figure_crop(im.convert("RGB"), unit.box)


def design_units(services: Services) -> list[tuple[str, set[str]]]:
    doc_type = {s.patent_id: ("utility" if s.patent_id.startswith("US1") else "design")
                for s in services.store.sheets()}
    return [(q.figure_id, relevant) for q, relevant, _ in design_queries(services.store.sheets(), doc_type)]


def test_an_indexed_view_is_searched_upright(index):
    """Compared after α-query expansion, a turn of an indexed view takes the view itself in as a neighbour
    and beats the upright picture, whose identical copy the expansion leaves out; the turns are compared
    before it, so the upright picture (the stored vector) is kept."""
    store = index.store
    trapped = 0
    for fid, _ in design_units(index):
        pic = picture(index, fid)
        turns = index.visual.embed_turns(pic)
        expanded = [store.query_visual(v, 1)[0].similarity for v in turns]
        trapped += int(max(expanded[1:]) > expanded[0])
        chosen = np.asarray(_image_vector(index, pic))
        assert np.allclose(chosen, turns[0], atol=1e-6), fid
        assert np.allclose(chosen, store.vectors("visual", [fid])[fid], atol=1e-5)
    assert trapped >= 3  # the expanded comparison would have turned these views (the trap is real here)


def ranking(services: Services, vector: Sequence[float], fid: str) -> list[str]:
    sheets = services.store.sheets()
    patent_of = {s.figure_id: s.patent_id for s in sheets}
    units_of: dict[str, list[str]] = {}
    for s in sheets:
        units_of.setdefault(s.patent_id, []).append(s.figure_id)
    curve = curves_for(services, ("visual",))["visual"]
    return views_ranking(services.store.query_visual, list(vector), fid, None, curve, patent_of, units_of)


def test_the_product_ranks_a_design_view_as_the_eval_mode_does(index):
    """`search_image` of a view's picture (the view left out, verification off) gives the ranking that
    `patfig eval --modes visual_views` scores."""
    for fid, _ in design_units(index):
        hits = search_image(index, picture(index, fid), k=K, exclude=[fid], verify_top=0)
        stored = index.store.vectors("visual", [fid])[fid]
        assert [h.figure_id for h in hits] == ranking(index, stored, fid)[: len(hits)], fid
        assert all(h.breakdown.modalities[views.MODALITY].path == views.PATH for h in hits)

