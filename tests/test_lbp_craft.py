"""The offline lbp+CRAFT encoder on real design sheets, its fallback, and the index's visual whitening."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import store.vectors as index_module  # the vector search: its thresholds and loaders
from core.settings import Settings
from core.whitening import Whitening, alpha_qe, fit_whitening
from models.factory import build_visual_encoder
from models.lbp_craft import WHITENING_PLANS, LbpCraftEncoder
from runtime.services import Services
from store.index import EncoderId, FigureStore, Passage
from tests.conftest import sample
from tests.fakes import HashEncoder, make_patent, make_sheet
from tools.whiten import fit_index_whitening

DESIGNS = ("USD0907292-20210105", "USD0913174-20210316", "USD0921834-20210608")


def design_sheets(folder: str, n: int = 4) -> list[Image.Image]:
    """The first n drawing sheets (D00001..) of a sample design patent."""
    paths = sorted(Path(sample(f"uspto/{folder}")).glob("*-D0000[1-9].TIF"))[:n]
    return [Image.open(p) for p in paths]


def add_sheets(store: FigureStore, pid: str, vectors: list[list[float]], text: HashEncoder) -> None:
    p = make_patent(pid)
    sheets = [make_sheet(pid, i + 1) for i in range(len(vectors))]
    store.add_patent(p, sheets, vectors, text.embed_texts([s.figure_id for s in sheets]),
                     [Passage("abstract", p.abstract)], text.embed_texts([p.abstract]), source_sig=pid)


def test_missing_craft_weights_fall_back_to_lbp_with_one_line(tmp_path, caplog):
    settings = Settings(index_dir=tmp_path / "idx", visual_encoder="linedraw", ocr={"model_dir": tmp_path})
    with caplog.at_level(logging.WARNING):
        enc = build_visual_encoder(settings)
    assert enc.name == "linedraw:lbp-v1" and enc.dim == 139
    lines = [r.getMessage() for r in caplog.records if "lbp-craft" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "linedraw:lbp-v1 instead of linedraw:lbp-craft-v1" in lines[0] and "craft_mlt_25k.pth" in lines[0]


def test_settings_choose_lbp_alone():
    assert build_visual_encoder(Settings(visual_encoder="linedraw", linedraw="lbp")).name == "linedraw:lbp-v1"


def test_whitening_round_trips_through_a_real_index(tmp_path, monkeypatch):
    """Fit on the stored vectors, store, reopen: queries rank by the whitened, α-expanded cosine."""
    enc = HashEncoder("fake:sha16", 16)
    root = tmp_path / "idx"
    store = FigureStore.open(root, create=True)
    store.bind_encoders(EncoderId(enc.name, enc.dim), EncoderId(enc.name, enc.dim))
    for n in range(12):
        add_sheets(store, f"US{n}", enc.embed_texts([f"US{n}-{i}" for i in range(3)]), enc)
    ids = [s.figure_id for s in store.sheets()]
    db = np.array([v for _, v in sorted(store.vectors("visual", ids).items())], dtype=np.float32)
    white = fit_whitening(db, 8, 0.5, enc.name, qe_k=2, qe_alpha=3.0)
    q = np.array(enc.embed_texts(["a query"])[0], dtype=np.float32)
    raw_top = store.query_visual(q.tolist(), 3)
    store.set_whitening(white)
    store.close()

    store = FigureStore.open(root)
    got = store.whitening()
    assert got is not None and np.array_equal(got.proj, white.proj) and np.array_equal(got.mean, white.mean)
    assert (got.qe_k, got.qe_alpha, got.rows, got.encoder) == (2, 3.0, 36, enc.name)
    wdb = white.apply(db)
    expected = wdb @ alpha_qe(white.apply(q)[None], wdb, 2, 3.0)[0]
    hits = store.query_visual(q.tolist(), 5)
    order = np.argsort(-expected)[:5]
    assert [h.id for h in hits] == [sorted(ids)[i] for i in order]
    assert [h.similarity for h in hits] == pytest.approx(expected[order].tolist(), abs=1e-5)
    # too many rows for an exact scan: HNSW finds candidates with the raw query, the table scores them
    # whitened (so the candidates are those of the raw ranking: an approximation)
    monkeypatch.setattr(index_module, "EXACT_MAX_FLOATS", 0)
    via_hnsw = store.query_visual(q.tolist(), 5)
    exact = dict(zip(sorted(ids), expected.tolist(), strict=True))
    assert [h.similarity for h in via_hnsw] == pytest.approx([exact[h.id] for h in via_hnsw], abs=1e-5)
    assert [h.similarity for h in via_hnsw] == sorted((h.similarity for h in via_hnsw), reverse=True)
    assert via_hnsw[0].id == hits[0].id
    monkeypatch.undo()
    # Chroma's own path has no whitened copies: raw cosine there
    store.in_memory = False
    assert [h.id for h in store.query_visual(q.tolist(), 3)] == [h.id for h in raw_top]
    store.in_memory = True
    store.set_whitening(None)  # removing it brings the raw table back
    assert [h.similarity for h in store.query_visual(q.tolist(), 3)] == pytest.approx(
        [h.similarity for h in raw_top], abs=1e-5)
    store.close()


def test_whitening_blob_round_trip():
    x = np.random.default_rng(0).normal(size=(40, 10)).astype(np.float32)
    w = fit_whitening(x, 4, 1.0, "enc", qe_k=3)
    back = Whitening.from_bytes(w.to_bytes())
    assert np.array_equal(back.apply(x), w.apply(x)) and back.qe_k == 3
    y = w.apply(x)
    assert y.shape == (40, 4) and np.allclose(np.linalg.norm(y, axis=1), 1, atol=1e-5)


@pytest.fixture(scope="module")
def encoder() -> LbpCraftEncoder:
    return LbpCraftEncoder()


@pytest.mark.slow
def test_encoder_gives_deterministic_unit_vectors_and_finds_the_same_design(encoder):
    images = [im for folder in DESIGNS[:2] for im in design_sheets(folder, 3)]
    a = np.array(encoder.embed_images(images))
    b = np.array(encoder.embed_images(images[:2]))
    assert encoder.name == "linedraw:lbp-craft-v1" and a.shape == (6, encoder.dim) == (6, 651)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a[:2], b)  # deterministic
    sims = a @ a.T
    for d in (0, 1):  # raw cosine: the views of one design are closer to each other than to the other design
        own = slice(3 * d, 3 * d + 3)
        other = slice(3 * (1 - d), 3 * (1 - d) + 3)
        within = (sims[own, own].sum() - 3) / 6
        assert within > sims[own, other].mean() + 0.01
    turns = np.array(encoder.embed_turns(images[0]))
    assert turns.shape == (4, 651) and np.allclose(turns[0], a[0], atol=1e-6)
    assert np.allclose(turns[:, :139], turns[0, :139])  # the lbp part is turn invariant; CRAFT's is not
    assert not np.allclose(turns[1], turns[0])


@pytest.mark.slow
def test_index_whitening_fitted_on_real_vectors(encoder, tmp_path, monkeypatch):
    monkeypatch.setitem(WHITENING_PLANS, encoder.name,
                        dataclasses.replace(encoder.whitening, min_rows=8, dims=8))
    text = HashEncoder("fake:sha16", 16)
    store = FigureStore.open(tmp_path / "idx", create=True)
    store.bind_encoders(EncoderId(encoder.name, encoder.dim), EncoderId(text.name, text.dim))
    for folder in DESIGNS:
        add_sheets(store, folder.split("-")[0], encoder.embed_images(design_sheets(folder)), text)
    services = Services(settings=Settings(index_dir=tmp_path / "idx"), store=store)
    note = fit_index_whitening(services)
    white = store.whitening()
    assert white is not None and white.dim == 8 and white.rows == 12 and white.encoder == encoder.name
    assert "651->8" in note
    query = encoder.embed_images(design_sheets(DESIGNS[1], 1))[0]
    hits = store.query_visual(query, 4)
    assert hits[0].id == "USD0913174-S1" and hits[0].similarity == pytest.approx(1.0, abs=0.05)
    assert sum(h.id.startswith("USD0913174") for h in hits) >= 2  # its own sheet and another view of it
    store.close()
