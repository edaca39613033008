"""Word candidates for region queries on real sheets: a vocabulary learned from an index's stored features, every
unit's words built for an existing index and written at ingest for a new patent, and a region's own sheet found by
shared details when the global descriptor does not rank it first (tools.regions, models.visual_words)."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3

import numpy as np
import pytest
from PIL import Image

from bench.query_latency_image import LocalCopier, measure, query_pictures, read_local
from bench.query_latency_text import copy_real, pad, read_source
from ingest.pipeline import ingest_paths
from models import keypoints, visual_words
from store.index import VISUAL, FigureStore
from store.local_features import DETAILS, FEATURES, FILENAME, LocalFeatureStore
from tests.conftest import INDEX_DOCS, fake_services
from tools import regions, verify
from tools.search import search_image


def _ink_box(img: Image.Image) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(np.asarray(img.convert("L")) < 128)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def _half_res_region(img: Image.Image, share: float, dx: float, dy: float) -> Image.Image:
    """`share` of the drawing's inked width and height at (dx, dy) within it, at half resolution: a screenshot of
    a region a user clicked."""
    x0, y0, x1, y1 = _ink_box(img)
    w, h = (x1 - x0) * share, (y1 - y0) * share
    cx, cy = x0 + (x1 - x0 - w) * dx, y0 + (y1 - y0 - h) * dy
    cut = img.convert("L").crop((int(cx), int(cy), int(cx + w), int(cy + h)))
    return cut.resize((cut.width // 2, cut.height // 2), Image.Resampling.BOX)


@pytest.fixture(scope="module")
def worded(fake_index_root, tmp_path_factory):
    """A copy of the fast index given its vocabulary and words by `regions.build`, and the progress it reported."""
    root = tmp_path_factory.mktemp("worded") / "index"
    shutil.copytree(fake_index_root, root)
    services = fake_services(root)
    steps: list[tuple[int, int]] = []
    given = regions.build(services, lambda done, total: steps.append((done, total)), min_units=10)
    yield services, given, steps
    services.close()


def test_an_existing_index_is_given_a_vocabulary_and_every_units_words_once(worded):
    services, given, steps = worded
    ids = [s.figure_id for s in services.store.sheets()]
    fs = LocalFeatureStore(services.store.root)
    vocab = regions.load_vocabulary(fs)
    assert vocab is not None and len(vocab) >= visual_words.MIN_WORDS and vocab.name.startswith(keypoints.NAME)
    assert given == len(ids) and fs.without_words(keypoints.NAME, vocab.name) == []
    assert steps and steps[0][0] == 0 and steps[-1][0] == steps[-1][1]  # shown before learning, ends at its total
    words = dict(fs.all_words(vocab.name))
    feats = fs.get(ids, keypoints.NAME)
    assert set(words) == set(ids)
    some = ids[0]
    assert len(visual_words.unpack(words[some])) == len(keypoints.unpack(feats[some]))
    sift = regions.load_vocabulary(fs, DETAILS)  # SIFT's words, under a vocabulary of their own
    assert sift is not None and sift.name.startswith(keypoints.SIFT_NAME + "/") and sift.centres.shape[1] == 128
    assert fs.without_words(keypoints.SIFT_NAME, sift.name, DETAILS) == []
    details = fs.get(ids, keypoints.SIFT_NAME, DETAILS)
    sift_words = dict(fs.all_words(sift.name, DETAILS))
    assert set(sift_words) == set(ids) and dict(fs.all_words(sift.name)) == {}  # kept apart from ORB's
    assert len(visual_words.unpack(sift_words[some])) == len(keypoints.unpack(details[some]))
    assert regions.build(services, min_units=10) == 0  # nothing left to do


def test_a_vocabulary_of_older_features_is_learned_again(worded, tmp_path):
    """An index whose vocabulary was learned from the features of an older version (their name differs) gets a
    vocabulary of the current ones, and every unit its words under it, the next time it is built."""
    services, _, _ = worded
    root = tmp_path / "index"
    shutil.copytree(services.store.root, root)
    fs = LocalFeatureStore(root)
    current = regions.load_vocabulary(fs)
    assert current is not None
    older = "orb-500-v1/kmaj-256-v1"
    fs.set_vocabulary(older, visual_words.pack_vocabulary(visual_words.Vocabulary(current.centres[:256], older)))
    ids = [s.figure_id for s in services.store.sheets()]
    fs.put_words([(i, "", visual_words.pack(np.zeros(3, np.int32))) for i in ids[:2]], older)
    copy = fake_services(root)
    try:
        assert regions.build(copy, min_units=10) == len(ids)
        vocab = regions.load_vocabulary(LocalFeatureStore(root))
        assert vocab is not None and vocab.name.startswith(keypoints.NAME + "/") and vocab.name != older
        assert set(dict(LocalFeatureStore(root).all_words(vocab.name))) == set(ids)
        assert LocalFeatureStore(root).all_words(older) == []
    finally:
        copy.close()


def test_an_index_from_before_sift_is_given_it_by_the_next_build(worded, tmp_path):
    """An index whose units have ORB's features and words but not verification's SIFT features nor their words
    (made before they were stored) gets them for every unit the next time it is built, described from the sheet
    images as ingest describes them; its ORB features, vocabulary and words stay as they were."""
    services, _, _ = worded
    root = tmp_path / "index"
    shutil.copytree(services.store.root, root)
    fs = LocalFeatureStore(root)
    ids = [s.figure_id for s in services.store.sheets()]
    kept = fs.get(ids, keypoints.SIFT_NAME, DETAILS)
    orb = fs.get(ids, keypoints.NAME)
    vocab = regions.load_vocabulary(fs)
    assert vocab is not None
    orb_words = dict(fs.all_words(vocab.name))
    with sqlite3.connect(root / FILENAME) as con:
        for table in ("details", "detail_words", "detail_vocabulary"):
            con.execute(f"DELETE FROM {table}")
    assert fs.described(keypoints.SIFT_NAME, DETAILS) == set()
    copy = fake_services(root)
    try:
        steps: list[tuple[int, int]] = []
        assert regions.build(copy, lambda d, t: steps.append((d, t)), min_units=10) == len(ids)  # SIFT's words
        assert steps and steps[-1] == (2 * len(ids), 2 * len(ids))  # described, then given words
        fs = LocalFeatureStore(root)
        again = fs.get(ids, keypoints.SIFT_NAME, DETAILS)
        assert again == kept  # as ingest described them
        sift = regions.load_vocabulary(fs, DETAILS)
        assert sift is not None and set(dict(fs.all_words(sift.name, DETAILS))) == set(ids)
        assert fs.get(ids, keypoints.NAME) == orb and dict(fs.all_words(vocab.name)) == orb_words
    finally:
        copy.close()


def test_the_vocabulary_learns_from_a_bounded_sample_of_descriptors(worded):
    """Learning reads a sample of each unit's descriptors, about twice `visual_words.SAMPLE` in all, not every
    one (3.2 GB at 100k units)."""
    services, _, _ = worded
    fs = LocalFeatureStore(services.store.root)
    n = len(services.store.sheets())
    every = regions._descriptors(fs, n)
    assert len(every) == sum(len(keypoints.unpack(b)) for _, _, b in fs.features(keypoints.NAME, "", 10_000))
    some = regions._descriptors(fs, 1_000_000)  # as many units as that: 8 a unit
    assert len(some) <= 8 * n and some.shape[1] == keypoints.DESC_BYTES
    assert len(some) < len(every)


def test_a_reingested_patent_gets_its_words_at_ingest(worded, samples):
    services, _, _ = worded
    fs = LocalFeatureStore(services.store.root)
    vocab = regions.load_vocabulary(fs)
    assert vocab is not None
    doc = samples / INDEX_DOCS[6]  # a PDF
    report = ingest_paths(services, [doc], use_ocr=False, force=True)
    assert not report.failed
    pid = report.results[0].patent_id
    units = [s.figure_id for s in services.store.sheets(pid)]
    assert units and not set(units) & set(fs.without_words(keypoints.NAME, vocab.name))
    sift = regions.load_vocabulary(fs, DETAILS)
    assert sift is not None and not set(units) & set(fs.without_words(keypoints.SIFT_NAME, sift.name, DETAILS))
    for table in (FEATURES, DETAILS):
        index = regions.word_index(services, table)
        assert index is not None and set(units) <= set(index.ids)  # the in-memory index followed the write


def test_a_half_resolution_region_finds_its_sheet_by_shared_words(worded):
    services, _, _ = worded
    tried = found = found_sift = 0
    for s in services.store.sheets():
        if s.box is not None:
            continue
        img = Image.open(services.store.image_path(s))
        if (np.asarray(img.convert("L")) < 128).mean() < 0.01:
            continue
        cut = _half_res_region(img, 0.5, 0.3, 0.6)
        q = keypoints.describe_query(cut)
        if len(q) < 50:
            continue
        tried += 1
        found += s.figure_id in [i for i, _ in regions.candidates(services, q, n=5)]
        details = keypoints.describe_query_sift(keypoints.query_picture(cut))  # SIFT's words
        found_sift += s.figure_id in [i for i, _ in regions.candidates(services, details, n=5)]
        if tried == 8:
            break
    assert tried == 8 and found >= 7 and found_sift >= 7, (found, found_sift)


def test_regions_the_global_descriptor_misses_are_verified_through_their_words(worded):
    """Regions whose own sheet the global descriptor (and views) do not rank first: with only the first candidate
    of that list verified, most of them still find their own sheet first, through the candidates that share
    visual words with them (not all: a sparse drawing of smooth curves has few corners to share)."""
    services, _, _ = worded
    missed, fixed = 0, 0
    for s in services.store.sheets():
        if s.box is not None:
            continue
        img = Image.open(services.store.image_path(s))
        if (np.asarray(img.convert("L")) < 128).mean() < 0.01:
            continue
        cut = _half_res_region(img, 0.4, 0.7, 0.3)
        if len(keypoints.describe_query(cut)) < 50 or (np.asarray(cut) < 128).mean() > 0.15:
            continue  # line art, not a filled (photo-like) area
        before = search_image(services, cut, k=3, verify_top=0)
        if before[0].figure_id == s.figure_id:
            continue
        missed += 1
        hits = search_image(services, cut, k=3, verify_top=1)
        assert "found by shared details" in str(hits[0].breakdown.query["verified"])
        if hits[0].figure_id == s.figure_id:
            fixed += 1
            assert hits[0].breakdown.modalities["verified"].raw >= 10
        if missed == 6:
            break
    assert missed >= 3 and fixed >= missed / 2, (missed, fixed)


def test_vocabulary_round_trip_and_sizes():
    rng = np.random.default_rng(0)
    d = rng.integers(0, 256, (5000, keypoints.DESC_BYTES), dtype=np.uint8)
    vocab = visual_words.learn(d)
    assert len(vocab) == visual_words.vocabulary_size(5000) == visual_words.MIN_WORDS
    back = visual_words.unpack_vocabulary(visual_words.pack_vocabulary(vocab), vocab.name)
    assert (back.centres == vocab.centres).all()
    f = keypoints.Features(np.zeros((len(d[:300]), 2), np.float32), d[:300])
    w = visual_words.words(vocab, f)
    assert (visual_words.unpack(visual_words.pack(w)) == w).all() and w.max() < len(vocab)
    assert len(visual_words.query_words(vocab, f)) >= len(f)  # a descriptor's nearest word, and near ties
    assert visual_words.vocabulary_size(10**9) == visual_words.MAX_WORDS
    with pytest.raises(ValueError):
        visual_words.learn(d[:100])


def test_sift_vocabulary_round_trip_and_words():
    """SIFT's vocabulary: unit centres in RootSIFT's space, stored as float16 and read back the same; a descriptor
    near a centre takes that centre's word, in an indexed unit and in a query alike."""
    rng = np.random.default_rng(0)
    d = rng.integers(0, 256, (5000, keypoints.SIFT_BYTES)).astype(np.uint8)
    vocab = visual_words.learn_details(d)
    assert len(vocab) == visual_words.MIN_WORDS and vocab.name.startswith(keypoints.SIFT_NAME + "/")
    assert np.allclose(np.linalg.norm(vocab.centres.astype(np.float32), axis=1), 1.0, atol=1e-2)
    back = visual_words.unpack_vocabulary(visual_words.pack_vocabulary(vocab), vocab.name)
    assert back.centres.dtype == np.float16 and (back.centres == vocab.centres).all()
    f = keypoints.Features(np.zeros((300, 2), np.float32), d[:300])
    w = visual_words.words(vocab, f)
    assert len(w) == 300 and w.max() < len(vocab)
    assert (visual_words.query_words(vocab, f) == w).all()  # a SIFT query takes its nearest word only
    root = keypoints.rootsift(d[:300])
    assert (w == (root @ vocab.centres.astype(np.float32).T).argmax(axis=1)).all()
    with pytest.raises(ValueError):
        visual_words.learn_details(d[:100])


def test_the_web_apps_background_ingest_gives_the_index_its_words(fake_index_root, samples, tmp_path, monkeypatch):
    """`serve --ingest` finishes as `patfig ingest` does: an index it fills gets the visual words of region
    queries (here an existing index without them, one of its documents sent again: skipped, one process)."""
    from ingest.background import BackgroundIngest
    from tests.fakes import fake_models
    from ui.cli_index import finish_background_ingest

    monkeypatch.setattr(regions, "MIN_UNITS", 10)  # the fast index is smaller than a vocabulary's default minimum
    root = tmp_path / "index"
    shutil.copytree(fake_index_root, root)
    services = fake_services(root)
    assert regions.load_vocabulary(LocalFeatureStore(root)) is None
    run = BackgroundIngest(services, [samples / INDEX_DOCS[6]], workers=1, parts_factory=fake_models,
                           use_ocr=False, on_finish=finish_background_ingest).start()
    run.join(600)
    assert run.error is None and run.report is not None and not run.report.failed
    fs = LocalFeatureStore(root)
    vocab = regions.load_vocabulary(fs)
    assert vocab is not None and fs.without_words(keypoints.NAME, vocab.name) == []
    sift = regions.load_vocabulary(fs, DETAILS)
    assert sift is not None and fs.without_words(keypoints.SIFT_NAME, sift.name, DETAILS) == []


def test_the_postings_hold_each_units_words_with_their_counts(worded):
    """The inverted index read back unit by unit is every unit's stored words, each with its count, in order of
    units within a word (as `WordIndex.search` adds them up)."""
    services, _, _ = worded
    index = regions.word_index(services)
    assert index is not None
    words = dict(LocalFeatureStore(services.store.root).all_words(index.vocabulary.name))
    back: dict[int, dict[int, int]] = {}
    for w in range(len(index.vocabulary)):
        a, b = index.start[w], index.start[w + 1]
        units = index.units[a:b]
        assert np.all(np.diff(units) > 0)
        for u, c in zip(units.tolist(), index.counts[a:b].tolist(), strict=True):
            back.setdefault(u, {})[w] = c
    for pos, fid in enumerate(index.ids):
        uw, uc = np.unique(visual_words.unpack(words[fid]), return_counts=True)
        assert back.get(pos, {}) == {w: min(c, 255) for w, c in zip(uw.tolist(), uc.tolist(), strict=True)}
    df = np.diff(index.start)
    assert np.allclose(index.idf2, np.log((len(index.ids) + 1) / (df + 1)) ** 2)


def test_padded_copies_are_found_and_verified_like_their_originals(worded, tmp_path):
    """bench/query_latency_image.py pads an index with copies of its patents that an image query must treat as
    their originals: each copy's visual vector near its original's, its local features and visual words under its
    own id, so copies join the word index, become candidates and are verified like the units they copy (here, with
    this module's index, as the fixture is costly)."""
    services, _, _ = worded
    src = services.store
    source, local = read_source(src), read_local(src)
    root = tmp_path / "padded"
    dst = FigureStore.open(root, create=True)
    try:
        count = copy_real(src, dst, source)
        copier = LocalCopier(root, local, src.root.resolve())
        copier.copy_real([s for _, sheets in source.patents for s in sheets])
        count = pad(dst, source, count, 3 * count, [0], np.random.default_rng(0), visual_noise=True, also=copier)
        padded = dataclasses.replace(services, store=dst, extras={})
        assert LocalFeatureStore(root).stats()["units"] == count
        index, sift = regions.word_index(padded), regions.word_index(padded, DETAILS)
        assert index is not None and len(index.ids) == count
        assert sift is not None and len(sift.ids) == count  # SIFT's words copied too
        table = dst._table(VISUAL)
        assert table is not None
        first = source.patents[0][1][0].figure_id
        copy = "SYN0000000" + first[len(source.patents[0][0].patent_id):]
        cos = float(table.rows([first])[0] @ table.rows([copy])[0])
        assert 0.8 < cos < 0.9999  # near its original, not the same row
        # its sheet image is its own file, a link to its original's: read apart, as a distinct sheet would be
        copied_sheet, real_sheet = dst.sheets_by_id([copy])[copy], src.sheets_by_id([first])[first]
        assert copied_sheet.image_path != real_sheet.image_path
        assert dst.image_path(copied_sheet).resolve() == src.image_path(real_sheet).resolve()
        pictures = query_pictures(services, 2)  # from the real index's sheet images
        hits = search_image(padded, pictures[0][1], k=10)
        inliers = {h.figure_id: h.breakdown.modalities["verified"].raw for h in hits
                   if "verified" in h.breakdown.modalities}
        copies = [i for i in inliers if i.startswith("SYN")]
        assert copies, [h.figure_id for h in hits]
        pairs = 0
        for c in copies:  # a copy's stored features are its original's: the same inliers when both were verified
            pid, rest = c.split("-", 1)
            original = f"{source.patents[int(pid[3:]) % len(source.patents)][0].patent_id}-{rest}"
            if original in inliers:
                assert inliers[c] == inliers[original]
                pairs += 1
        assert pairs
        out = measure(padded, pictures, {"none": None}, reps=1)
        assert out["figures"] == out["local_features"] == out["word_index"]["units"] == count
        assert out["word_index"]["sift_units"] == count
        f = out["filters"]["none"]
        assert f["wall"]["n"] == 2 and f["wall"]["p95_ms"] >= f["wall"]["p50_ms"] > 0
        assert {"encode", "visual scan", "word candidates", "verification"} <= set(f["steps_ms"])
    finally:
        LocalFeatureStore(root).close()
        dst.close()


def test_units_added_beside_a_built_word_index_join_it_without_a_rebuild(worded, tmp_path, monkeypatch):
    """An ingest running beside the server adds units: their words go into a small second index beside the built
    one, scored with its idf and found as its units are. A unit whose words are written again (its patent
    ingested again) joins it too, and its old words stop counting; removing units makes the index rebuild."""
    services, _, _ = worded
    monkeypatch.setattr(regions, "DELTA_SHARE", 0.2)  # this index has 30 units: 4 written since is 13% of it
    root = tmp_path / "index"
    shutil.copytree(services.store.root, root)
    copy = fake_services(root)
    try:
        base = regions.word_index(copy)
        assert base is not None and base.delta is None
        fs = verify.feature_store(copy)
        words = dict(fs.all_words(base.vocabulary.name))
        some = base.ids[:3]
        fs.put_words([(f"{f}-copy", "COPY", words[f]) for f in some], base.vocabulary.name)
        grown = regions.word_index(copy)
        assert grown is not None and grown.delta is not None and grown.units is base.units  # not rebuilt
        assert grown.units_indexed == len(base.ids) + 3 and regions.word_index(copy) is grown
        found = dict(grown.search(visual_words.unpack(words[some[0]]), 10))
        assert found[f"{some[0]}-copy"] == pytest.approx(found[some[0]])
        fs.put_words([(some[1], "X", words[some[2]])], base.vocabulary.name)  # a unit's words replaced
        again = regions.word_index(copy)
        assert again is not None and again.delta is not None and again.units is base.units  # not rebuilt
        assert again.units_indexed == len(base.ids) + 3
        for probe in (some[1], some[2]):  # the replaced unit scores by its new words (some[2]'s), not its old ones
            got = dict(again.search(visual_words.unpack(words[probe]), len(base.ids)))
            assert got.get(some[1], 0.0) == pytest.approx(got.get(some[2], 0.0))
        assert sum(f == some[1] for f, _ in again.search(visual_words.unpack(words[some[1]]), len(base.ids))) <= 1
        con = sqlite3.connect(root / "local_features.sqlite")  # a unit's words removed: rebuilt
        with con:
            con.execute("DELETE FROM words WHERE figure_id=?", (some[0],))
        con.close()
        rebuilt = regions.word_index(copy)
        assert rebuilt is not None and rebuilt.delta is None and rebuilt.units_indexed == len(base.ids) + 2
    finally:
        copy.close()
