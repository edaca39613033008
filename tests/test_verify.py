"""Spatial verification on real sheets: local features stored at ingest, region queries re-ranked by them,
an index without stored features verified from its sheet images, and bad pictures answered without a
traceback (tools.verify, models.keypoints, store.local_features)."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
from PIL import Image, ImageFilter

from core.calibration import sigmoid
from core.errors import ToolError
from models import keypoints, lines
from store.local_features import DETAILS, FILENAME, LocalFeatureStore
from tests.conftest import fake_services
from tools import verify
from tools.explain import contributions, explain_hit, explain_pair
from tools.search import search_image
from ui.views import breakdown_markdown


def _ink_box(img: Image.Image) -> tuple[int, int, int, int]:
    arr = np.asarray(img.convert("L")) < 128
    ys, xs = np.nonzero(arr)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def _region(img: Image.Image, share: float = 0.5, dx: float = 0.5, dy: float = 0.5) -> tuple[int, int, int, int]:
    """A box of `share` of the drawing's inked area's width and height, placed at (dx, dy) within it: a user's
    two clicks around part of a drawing."""
    x0, y0, x1, y1 = _ink_box(img)
    w, h = (x1 - x0) * share, (y1 - y0) * share
    cx, cy = x0 + (x1 - x0 - w) * dx, y0 + (y1 - y0 - h) * dy
    return int(cx), int(cy), int(cx + w), int(cy + h)


def _whole_sheets(services, n: int):
    """Up to n units that are whole sheets (no box), one per patent, of drawings with plenty of ink."""
    seen, out = set(), []
    for s in services.store.sheets():
        if s.box is None and s.patent_id not in seen:
            img = Image.open(services.store.image_path(s))
            if (np.asarray(img.convert("L")) < 128).mean() > 0.01:
                seen.add(s.patent_id)
                out.append((s, img))
        if len(out) >= n:
            break
    return out


def test_features_are_stored_at_ingest_for_every_unit(fake_index):
    fs = LocalFeatureStore(fake_index.store.root)
    ids = [s.figure_id for s in fake_index.store.sheets()]
    blobs = fs.get(ids, keypoints.NAME)
    assert set(blobs) == set(ids)
    stats = fs.stats()
    assert stats["units"] >= len(ids)
    assert 1_000 < stats["mean_bytes"] < 4 + keypoints.N_FEATURES * 36 + 1
    f = keypoints.unpack(next(iter(blobs.values())))
    assert len(f) > 50 and f.descriptors.shape[1] == keypoints.DESC_BYTES
    details = fs.get(ids, keypoints.SIFT_NAME, DETAILS)  # verification's SIFT features, beside ORB's
    assert set(details) == set(ids) and fs.described(keypoints.SIFT_NAME, DETAILS) == set(ids)
    assert 1_000 < stats["details_mean_bytes"] < 4 + keypoints.SIFT_FEATURES * 132 + 1
    g = keypoints.unpack(details[ids[0]])
    assert len(g) > 50 and g.descriptors.shape[1] == keypoints.SIFT_BYTES


def test_lines_are_kept_at_ingest_as_the_sheet_shows_them(fake_index):
    """Each unit's lines, kept in two tones at its features' scale, are its sheet image's ink there."""
    fs = LocalFeatureStore(fake_index.store.root)
    units = fake_index.store.sheets()
    kept = fs.get_lines([u.figure_id for u in units])
    assert set(kept) == {u.figure_id for u in units}
    assert max(len(b) for b in kept.values()) < 60_000
    for u in units[:: max(1, len(units) // 5)]:
        drawn = lines.unpack(kept[u.figure_id])
        assert drawn is not None and set(np.unique(drawn)) <= {0, 255}
        picture = verify.unit_array(fake_index.store, u)
        assert picture is not None and drawn.shape == picture.shape
        assert np.array_equal(drawn == 0, picture < lines.INK)
    assert lines.unpack(b"junk") is None and lines.unpack(b"") is None


def test_pack_round_trip_and_nothing_to_describe():
    rng = np.random.default_rng(0)
    for width in (keypoints.DESC_BYTES, keypoints.SIFT_BYTES):  # ORB's, SIFT's
        f = keypoints.Features(rng.uniform(0, 999, (40, 2)).astype(np.float32),
                               rng.integers(0, 255, (40, width), dtype=np.uint8))
        g = keypoints.unpack(keypoints.pack(f))
        assert np.allclose(g.points, f.points, atol=0.5) and (g.descriptors == f.descriptors).all()
        assert len(keypoints.unpack(keypoints.pack(f)[:-1])) == 0  # cut short: no features, no error
    assert len(keypoints.unpack(b"junk")) == 0
    for blank in (Image.new("L", (800, 600), 255), Image.new("L", (800, 600), 0), Image.new("L", (1, 1), 255)):
        assert len(keypoints.describe_query(blank)) == 0
        assert len(keypoints.describe_query_sift(keypoints.query_picture(blank))) == 0


def test_a_region_of_a_sheet_finds_its_sheet_first_verified(fake_index):
    for sheet, img in _whole_sheets(fake_index, 3):
        box = _region(img, 0.5, 0.4, 0.4)
        hits = search_image(fake_index, img, crop=box, k=5)
        top = hits[0]
        assert top.figure_id == sheet.figure_id, (sheet.figure_id, [h.figure_id for h in hits])
        verified = top.breakdown.modalities["verified"]
        assert verified.raw >= 15 and verified.path == "local_features"
        assert verified.calibrated == pytest.approx(verify.CURVE(verified.raw), abs=1e-5)
        others = [h.breakdown.modalities["verified"].raw for h in hits[1:] if "verified" in h.breakdown.modalities]
        assert all(verified.raw > r for r in others)
        assert "verified by local features" in str(top.breakdown.query["verified"])
        text = explain_hit(fake_index, hits, 1).text
        assert f"{int(verified.raw)} matching details in the same arrangement" in text
        for h in hits:  # each kind of evidence's part, held at its own floor, adds up to the fused score
            parts = contributions(h.breakdown)
            assert sigmoid(sum(c["contribution"] for c in parts.values())) == pytest.approx(h.score, abs=1e-4)


def test_verification_weighs_more_for_a_part_or_a_copy_of_a_drawing_than_for_a_new_one(fake_index):
    """A region covers a share of the sheet it matches best, and its global descriptor compares a part with a
    whole: verification then takes `PART_SHARE` of the drawing's weight. So it does for a copy of a drawing (the
    sheet itself uploaded: hundreds of details match). A drawing no candidate shares many details with (the
    sheet's patent left out) keeps `SHARE`, so small counts do not reorder what the other evidence ranked. (A USPTO
    sheet: the sample's EPO and WIPO sheets share a header, a page number and "FIG. 1" in one arrangement.)"""
    sheet, img = next((s, i) for s, i in _whole_sheets(fake_index, 8) if s.patent_id.startswith("US"))
    part = search_image(fake_index, img, crop=_region(img, 0.5, 0.4, 0.4), k=5)
    whole = search_image(fake_index, img, k=5)
    own_patent = [s.figure_id for s in fake_index.store.sheets() if s.patent_id == sheet.patent_id]
    new = search_image(fake_index, img, k=5, exclude=own_patent)
    assert part[0].figure_id == sheet.figure_id and whole[0].figure_id == sheet.figure_id
    note = str(part[0].breakdown.query["verified"])
    covers = int(note.split("it covers ")[1].split("%")[0])
    # half the ink's width and height, of a sheet with its margins
    assert "a part of a drawing" in note and 2 <= covers < 100 * verify.PART_FOOTPRINT, note
    note = str(whole[0].breakdown.query["verified"])
    assert "a part of a drawing" not in note
    assert f"a copy of a drawing ({int(whole[0].breakdown.modalities['verified'].raw)} matching details)" in note
    # and the small counts of the rest say nothing: they calibrate as none does, and do not reorder them
    weak = [h.breakdown.modalities["verified"] for h in whole[1:]]
    assert any(0 < m.raw < verify.COPY_INLIERS for m in weak)
    assert all(m.calibrated == pytest.approx(verify.CURVE(0), abs=1e-6) for m in weak if m.raw < verify.COPY_INLIERS)
    assert max(h.breakdown.modalities["verified"].raw for h in new) < verify.COPY_INLIERS
    assert "a copy of a drawing" not in str(new[0].breakdown.query["verified"])

    def verified_share(hit) -> float:
        w = hit.breakdown.weights
        drawing = w.get("visual", 0.0) + w.get("views", 0.0) + w["verified"]
        return w["verified"] / drawing

    # and a part's count holds a candidate sharing no detail with it below the common clip (`verify.PART_FLOOR`)
    assert part[0].breakdown.query["floors"][verify.MODALITY] == verify.PART_FLOOR  # (and `exact`'s, its pixels)
    assert "floors" not in whole[0].breakdown.query and "floors" not in new[0].breakdown.query
    assert verified_share(part[0]) == pytest.approx(verify.PART_SHARE)
    assert verified_share(whole[0]) == pytest.approx(verify.PART_SHARE)
    assert verified_share(new[0]) == pytest.approx(verify.SHARE)


def test_a_copy_stands_out_from_every_other_patent(fake_index):
    """A query is a copy of a drawing when its best candidate's count reaches `COPY_INLIERS` and `COPY_MARGIN`
    times any other patent's: a new view of a design matching an unrelated design by chance about as well as its
    own is not one. The same patent's other units do not count against it."""
    by_patent: dict[str, list[str]] = {}
    for u in fake_index.store.sheets():
        by_patent.setdefault(u.patent_id, []).append(u.figure_id)
    patent = next(p for p, v in by_patent.items() if len(v) > 1)
    own, sibling = by_patent[patent][:2]
    other = next(v[0] for p, v in by_patent.items() if p != patent)

    def counts(**n: int) -> verify.Verification:
        return verify.Verification(inliers={{"own": own, "sibling": sibling, "other": other}[k]: v
                                            for k, v in n.items()})

    assert verify.copied(fake_index, counts(own=300, sibling=150, other=40)) == 300
    assert verify.copied(fake_index, counts(own=31, sibling=29, other=20)) == 31  # 31 ≥ 1.5 × 20
    assert verify.copied(fake_index, counts(own=29, other=25)) is None  # an unrelated drawing about as close
    assert verify.copied(fake_index, counts(own=19, other=2)) is None  # under COPY_INLIERS
    assert verify.copied(fake_index, verify.Verification()) is None


def _split_sheet(services):
    """US8765276's sheet 2, two flowcharts one above the other, split into its two figures; and its image."""
    units = [u for u in services.store.sheets() if u.patent_id == "US8765276" and u.sheet_no == 2 and u.box]
    if len(units) != 2:
        pytest.skip(f"US8765276's sheet 2 is not split into two figures in this index: {units}")
    return units, Image.open(services.store.image_path(units[0])).convert("L")


@pytest.mark.slow
def test_a_region_spanning_two_figures_counts_its_sheets_details(sample_index):
    """A region cut across the border of two figures of one sheet: each figure's unit holds a part of it. Their
    matches fitted again together on the sheet count more than either's, for the unit holding more of it, and its
    lines are laid over both figures' (`verify.Span`), so the region finds its sheet by all of its details. (The
    sample index: sheets are split into figures by the FIG labels OCR reads.)"""
    units, img = _split_sheet(sample_index)
    a, b = units
    # from the middle of one figure to the middle of the other, across the gap between them, where both reach
    a_box, b_box = a.box, b.box
    if min(a_box.y1, b_box.y1) <= max(a_box.y0, b_box.y0):  # one above the other
        x0, x1 = max(a_box.x0, b_box.x0), min(a_box.x1, b_box.x1)
        y0, y1 = sorted(((a_box.y0 + a_box.y1) / 2, (b_box.y0 + b_box.y1) / 2))
    else:  # side by side
        y0, y1 = max(a_box.y0, b_box.y0), min(a_box.y1, b_box.y1)
        x0, x1 = sorted(((a_box.x0 + a_box.x1) / 2, (b_box.x0 + b_box.x1) / 2))
    crop = (int(x0), int(y0), int(x1), int(y1))
    cut = img.crop(crop)
    picture = verify.query_picture(cut)
    queries = {keypoints.NAME: verify.describe_picture(picture), keypoints.SIFT_NAME: verify.describe_details(picture)}
    ids = [a.figure_id, b.figure_id]
    stored = LocalFeatureStore(sample_index.store.root)
    feats = {n: {i: keypoints.unpack(blob) for i, blob in stored.get(ids, n, kind).items()}
             for n, kind in ((keypoints.NAME, verify.FEATURES), (keypoints.SIFT_NAME, DETAILS))}
    alone = {i: sum(keypoints.match(q, feats[n][i]).inliers for n, q in queries.items()) for i in ids}
    assert min(alone.values()) >= verify.SPAN_INLIERS, alone  # each figure holds a part of the region
    v = verify.verify(sample_index, queries, ids)
    top = max(alone, key=lambda i: alone[i])
    assert set(v.spans) == {top}
    assert v.inliers[top] > alone[top] and v.inliers[top] <= sum(alone.values())
    other = next(i for i in ids if i != top)
    assert v.inliers[other] == alone[other]
    laid = verify.overlaid(sample_index, picture, v, ids)
    alone_laid = lines.coincidence(picture, verify.unit_lines(sample_index, [top])[top], v.models[top])
    assert laid[top] > alone_laid + 0.1, (laid, alone_laid)
    hits = search_image(sample_index, img, crop=crop, k=5)
    assert hits[0].figure_id == top
    assert hits[0].breakdown.modalities["verified"].raw > alone[top]  # (RANSAC's draws differ by a detail or two)
    assert f"the region spans figures of a sheet, counted together for {top}" in hits[0].breakdown.query["verified"]


def test_matches_are_mutual_nearest_details(fake_index):
    """Drawings repeat details (dashes, hatching, identical screws), so a true match's second-nearest detail is
    often a copy of it. `keypoints.match` keeps a query detail's nearest unit detail at a looser ratio when each
    is the other's nearest: a sketch-like copy of each sheet (strokes thickened, scaled by 0.95) keeps more
    distinct details in one arrangement with its sheet than the ratio test of 0.8 alone, and other patents' sheets
    stay far below."""
    import cv2

    def ratio_alone(q: keypoints.Features, u: keypoints.Features) -> int:  # the matching before
        pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(q.descriptors, u.descriptors, k=2)
        good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
        model, mask = cv2.estimateAffinePartial2D(q.points[[m.queryIdx for m in good]],
                                                  u.points[[m.trainIdx for m in good]], method=cv2.RANSAC,
                                                  ransacReprojThreshold=keypoints.RANSAC_PX)
        if model is None:
            return 0
        # distinct unit details: a query described over a finer pyramid than the unit's may find one detail twice
        return len({good[i].trainIdx for i in np.flatnonzero(mask.ravel())})

    sheets = _whole_sheets(fake_index, 5)
    units = {s.patent_id: keypoints.describe_unit(img, img.width, img.height) for s, img in sheets}
    before = after = 0
    for sheet, img in sheets:
        sketch = img.convert("L").filter(ImageFilter.MinFilter(5))
        q = keypoints.describe_query(sketch.resize((int(img.width * 0.95), int(img.height * 0.95))))
        own = keypoints.match(q, units[sheet.patent_id]).inliers
        others = [keypoints.match(q, u).inliers for pid, u in units.items() if pid != sheet.patent_id]
        assert own >= 2 * max(others) and own >= verify.COPY_INLIERS, (sheet.figure_id, own, others)
        before, after = before + ratio_alone(q, units[sheet.patent_id]), after + own
    assert after > before


def test_sift_keeps_a_half_resolution_region_in_its_sheet_better_than_orb(fake_index):
    """ORB's corners and binary tests are fragile across scales on thin lines, SIFT's blobs and gradients less so
    (`models.keypoints`): a region of each sheet at half resolution, as a screenshot, keeps about twice as many of
    SIFT's details in one arrangement with its own sheet as ORB's, and its sheet leads the other patents' sheets on
    SIFT's. (USPTO sheets: the sample's EPO and WIPO sheets share a header, a page number and "FIG. 1" in one
    arrangement.)"""
    sheets = [(s, img) for s, img in _whole_sheets(fake_index, 12) if s.patent_id.startswith("US")]
    assert len(sheets) >= 3
    units = {}
    for s, img in sheets:
        arr = keypoints.unit_scaled(img, img.width, img.height)
        units[s.patent_id] = (keypoints.describe_scaled(arr), keypoints.describe_sift(arr))
    orb = sift = 0
    for sheet, img in sheets:
        crop = img.crop(_region(img, 0.5, 0.4, 0.4))
        picture = keypoints.query_picture(crop.resize((crop.width // 2, crop.height // 2), Image.Resampling.LANCZOS))
        q_orb, q_sift = keypoints.describe_query_picture(picture), keypoints.describe_query_sift(picture)
        own = keypoints.match(q_sift, units[sheet.patent_id][1]).inliers
        others = [keypoints.match(q_sift, u[1]).inliers for pid, u in units.items() if pid != sheet.patent_id]
        assert own > max(others), (sheet.figure_id, own, others)
        orb, sift = orb + keypoints.match(q_orb, units[sheet.patent_id][0]).inliers, sift + own
    assert sift > 1.5 * orb, (sift, orb)  # 876 against 416 on the sample's first five USPTO sheets


def test_the_lines_of_the_sheet_a_region_was_cut_from_coincide_with_it(fake_index):
    """Lines laid over lines: laid over a region by the similarity its details agree on, the sheet it was cut from
    coincides line for line; the other candidates laid over it coincide less, and the explanation says how much."""
    for sheet, img in _whole_sheets(fake_index, 2):
        hits = search_image(fake_index, img, crop=_region(img, 0.5, 0.4, 0.4), k=20)
        assert hits[0].figure_id == sheet.figure_id
        laid = {h.figure_id: h.breakdown.modalities[verify.LINES] for h in hits
                if verify.LINES in h.breakdown.modalities}
        own = laid.pop(sheet.figure_id)
        assert own.raw > max(0.8, verify.LINES_FOUND) and own.path == verify.LINES_PATH
        assert own.calibrated == pytest.approx(verify.LINES_CURVE(own.raw), abs=1e-5)
        assert laid and all(m.raw < own.raw for m in laid.values())
        assert len(laid) < verify.LINES_TOP
        assert "laid over the query's" in str(hits[0].breakdown.query["verified"])
        text = explain_hit(fake_index, hits, 1).text
        assert f"{round(100 * own.raw)}% of the lines coincide with the query's" in text


def test_lines_coincide_only_where_the_alignment_puts_them(fake_index):
    """`models.lines.coincidence` on a real sheet: a region laid over its sheet by the similarity verification
    found coincides; shifted by a few pixels, or laid over a blank page, it does not (a line drawing: a filled
    area counts by its outline)."""
    sheet, img = min(_whole_sheets(fake_index, 3), key=lambda s: (np.asarray(s[1].convert("L")) < 128).mean())
    cut = img.crop(_region(img, 0.5, 0.5, 0.5))
    q = keypoints.describe_query(cut)
    unit = keypoints.describe_unit(img, img.width, img.height)
    m = keypoints.match(q, unit)
    assert m.model is not None and m.inliers >= 15
    query = keypoints.scaled(np.asarray(cut.convert("L")), keypoints.query_scale(*cut.size))
    page = keypoints.scaled(np.asarray(img.convert("L")), keypoints.sheet_scale(img.width, img.height))
    assert lines.coincidence(query, page, m.model) > 0.9
    shifted = m.model.copy()
    shifted[:, 2] += (6, 6)  # across horizontal and vertical lines alike
    assert lines.coincidence(query, page, shifted) < 0.6
    assert lines.coincidence(query, np.full_like(page, 255), m.model) == 0.0


def test_the_querys_lines_kept_for_the_next_candidate_give_the_same_shares(fake_index):
    """`overlaid` lays many candidates over one query: the query's lines, drawn once for each size they are compared
    at (`kept`), give every candidate the share it gets drawn afresh, whether the query is compared at its own
    scale or brought down to a coarser unit's."""
    sheet, img = min(_whole_sheets(fake_index, 3), key=lambda s: (np.asarray(s[1].convert("L")) < 128).mean())
    page = keypoints.scaled(np.asarray(img.convert("L")), keypoints.sheet_scale(img.width, img.height))
    cut = img.crop(_region(img, 0.5, 0.5, 0.5))
    query = keypoints.scaled(np.asarray(cut.convert("L")), keypoints.query_scale(*cut.size))
    m = keypoints.match(keypoints.describe_query(cut), keypoints.describe_unit(img, img.width, img.height))
    assert m.model is not None
    models = [m.model * 0.6, m.model, m.model * 1.3]
    models += [mm + np.array([[0, 0, 3], [0, 0, -2]]) for mm in models]
    kept: dict = {}
    for model in models:  # shrunk, as is, enlarged; shifted; again, now from what was kept
        for _ in range(2):
            assert lines.coincidence(query, page, model, kept) == lines.coincidence(query, page, model)
    assert len(kept) >= 2  # the query at its own size, and brought down for the coarser models
    assert lines.coincidence(query, page, m.model, kept) > 0.9


def test_a_region_coincides_with_its_sheet_at_full_and_half_resolution_alike(fake_index, monkeypatch):
    """A small region cut at full resolution is described at up to twice its sheet's scale: its lines are compared
    with the sheet's at the sheet's (the coarser) scale, so it coincides as well as its half-resolution copy does.
    Compared at the query's scale (the sheet's kept lines enlarged), the full-resolution region coincided less."""

    def aligned(picture: Image.Image, stored: keypoints.Features) -> tuple[np.ndarray, np.ndarray] | None:
        q = verify.query_picture(picture)
        m = keypoints.match(verify.describe_details(q), stored)
        return (q, m.model) if m.model is not None and m.inliers >= 15 else None

    tried = []
    for sheet, img in _whole_sheets(fake_index, 12):
        details = verify.feature_store(fake_index).get([sheet.figure_id], keypoints.SIFT_NAME, DETAILS)
        stored = keypoints.unpack(details[sheet.figure_id])
        cut = img.convert("L").crop(_region(img, 0.25, 0.4, 0.4))  # ~500 pixels: described at full scale
        full, half = aligned(cut, stored), aligned(cut.resize((cut.width // 2, cut.height // 2)), stored)
        tried.append(sheet.figure_id)
        if full is not None and half is not None:
            break
    else:
        pytest.fail(f"no small region of these sheets verifies at both resolutions: {tried}")
    unit = verify.unit_lines(fake_index, [sheet.figure_id])[sheet.figure_id]
    assert float(np.hypot(full[1][0, 0], full[1][1, 0])) < 0.7  # the region is finer than its sheet's kept lines
    at_full, at_half = lines.coincidence(full[0], unit, full[1]), lines.coincidence(half[0], unit, half[1])
    assert at_full > 0.9 and at_half > 0.9 and abs(at_full - at_half) < 0.06, (at_full, at_half)
    monkeypatch.setattr(lines, "MIN_SCALE", 1.0)  # compared at the query's scale: the unit's lines enlarged
    enlarged = lines.coincidence(full[0], unit, full[1])
    assert enlarged < at_full - 0.1, (enlarged, at_full)


def test_a_small_region_at_full_resolution_is_also_described_at_its_sheets_scale(fake_index, monkeypatch):
    """A region of a fifth of a sheet's drawing, cut at the sheet's resolution, is described at twice its unit's scale
    or more, where its finest details (text, hatching) are a few pixels in the unit. Described at its sheet's scale
    too (`keypoints.coarser`), its own sheet verifies with more details than at its own scale alone: on the sample's
    first eight sheets 352 against 98 (a flowchart's text: 141 against 12). A region of a whole sheet at half
    resolution is described once."""
    sheets = _whole_sheets(fake_index, 8)
    assert len(sheets) >= 6

    def counts() -> list[float]:
        out = []
        for sheet, img in sheets:
            hits = search_image(fake_index, img, crop=_region(img, 0.2, 0.4, 0.4), k=10)
            own = next((h.breakdown.modalities["verified"].raw for h in hits if h.figure_id == sheet.figure_id), 0.0)
            out.append(own)
        return out

    both = counts()
    monkeypatch.setattr(keypoints, "COARSE_STEP", float("inf"))  # as before: at the query's own scale alone
    alone = counts()
    assert sum(both) > 2 * sum(alone), (both, alone)
    assert all(b >= a for a, b in zip(alone, both, strict=True)), (both, alone)
    monkeypatch.undo()

    sheet, img = sheets[0]
    small = img.crop(_region(img, 0.2, 0.4, 0.4))
    described = verify.describe(small)
    assert set(described.coarse) == {keypoints.NAME, keypoints.SIFT_NAME}
    for name, joined in described.features.items():  # both scales, positions in the query picture's frame
        assert len(joined) > len(described.coarse[name])
        assert joined.points[:, 0].max() <= described.picture.shape[1] + 1
    whole = img.resize((img.width // 2, img.height // 2))
    assert keypoints.coarser(*whole.size) is None and not verify.describe(whole).coarse


def test_a_half_resolution_turned_region_is_still_verified(fake_index):
    sheet, img = _whole_sheets(fake_index, 1)[0]
    cut = img.crop(_region(img, 0.6, 0.5, 0.5))
    cut = cut.resize((cut.width // 2, cut.height // 2), Image.Resampling.BOX).transpose(Image.Transpose.ROTATE_90)
    hits = search_image(fake_index, cut, k=3)
    assert hits[0].figure_id == sheet.figure_id
    assert hits[0].breakdown.modalities["verified"].raw >= 10


def test_an_index_without_stored_features_is_verified_from_its_images(fake_index_root, tmp_path):
    root = tmp_path / "old"
    shutil.copytree(fake_index_root, root)
    (root / FILENAME).unlink()
    services = fake_services(root)
    try:
        sheet, img = _whole_sheets(services, 1)[0]
        hits = search_image(services, img, crop=_region(img), k=3)
        assert hits[0].figure_id == sheet.figure_id
        assert hits[0].breakdown.modalities["verified"].raw >= 15
        assert LocalFeatureStore(root).stats()["details_units"] > 0  # described once, kept for the next query
        assert LocalFeatureStore(root).get_lines([hits[0].figure_id])  # its lines too
    finally:
        services.close()


@pytest.mark.parametrize("crop", [(10, 10, 10, 10), (10, 10, 11, 11), (5000, 5000, 5100, 5100), (-50, -50, -10, -10)])
def test_degenerate_regions_get_a_clear_answer(fake_index, crop):
    sheet, img = _whole_sheets(fake_index, 1)[0]
    with pytest.raises(ToolError) as e:
        search_image(fake_index, img, crop=crop)
    assert "crop box" in str(e.value)


@pytest.mark.parametrize(("tone", "word"), [(255, "white"), (0, "black")])
def test_a_flat_upload_or_region_is_refused_with_a_reason(fake_index, tone, word):
    with pytest.raises(ToolError, match=f"the picture is blank \\(all {word}\\)"):
        search_image(fake_index, Image.new("L", (900, 700), tone), k=3)
    sheet, img = _whole_sheets(fake_index, 1)[0]
    if tone == 255:  # a region clicked in the sheet's margin
        with pytest.raises(ToolError, match="the selected region is blank"):
            search_image(fake_index, img, crop=(0, 0, 60, 60))


def test_a_picture_too_small_to_verify_is_searched_unverified(fake_index):
    sheet, img = _whole_sheets(fake_index, 1)[0]
    x0, y0, x1, y1 = _ink_box(img)
    tiny = img.crop((x0, y0, x0 + 200, y0 + 200)).resize((24, 24))
    hits = search_image(fake_index, tiny, k=3)
    assert hits and "verified" not in hits[0].breakdown.modalities
    assert "too few distinct details" in str(hits[0].breakdown.query["verified"])


def test_a_very_wide_image_below_the_pixel_limit_answers_in_bounded_time(fake_index):
    sheet, img = _whole_sheets(fake_index, 1)[0]
    wide = Image.new("L", (20_000, 400), 255)
    strip = img.convert("L").resize((400, 400))
    for x in range(0, 20_000, 2_000):
        wide.paste(strip, (x, 0))
    t0 = time.perf_counter()
    hits = search_image(fake_index, wide, k=3)
    assert hits and time.perf_counter() - t0 < 20


@pytest.fixture(scope="module")
def published_twice(tmp_path_factory, samples):
    """Services over an index of one drawing published twice: WO2018223038 and its US publication, US20180350056,
    print the same sheets (rendered apart)."""
    from ingest.pipeline import ingest_paths

    services = fake_services(tmp_path_factory.mktemp("published_twice"), create=True)
    report = ingest_paths(services, [samples / "pdf/WO2018223038A1.pdf", samples / "pdf/US20180350056A1.pdf"],
                          use_ocr=False)
    assert not report.failed, report.summary()["failures"]
    yield services
    services.close()


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_a_region_finds_the_very_sheet_it_was_cut_from_before_its_copy(published_twice, scale):
    """Cut from either publication's sheet 4 (a flowchart), at full or half resolution, a region's details and
    lines coincide with both copies alike; its pixels are the sheet's it was cut from, which comes first, and
    the explanation says why."""
    units = {s.patent_id: s for s in published_twice.store.sheets() if s.sheet_no == 4 and s.box is None}
    assert set(units) == {"WO2018223038", "US20180350056"}, sorted(units)
    for pid, sheet in units.items():
        img = Image.open(published_twice.store.image_path(sheet)).convert("L")
        cut = img.crop(_region(img, 0.45, 0.3, 0.5))
        cut = cut.resize((round(cut.width * scale), round(cut.height * scale)), Image.Resampling.BOX)
        hits = search_image(published_twice, cut, k=5)
        copy = next(h for h in hits if h.figure_id == units[pid == "WO2018223038" and "US20180350056"
                                                              or "WO2018223038"].figure_id)
        assert hits[0].figure_id == sheet.figure_id, [(h.figure_id, h.score) for h in hits]
        assert copy.breakdown.modalities[verify.LINES].raw >= verify.LINES_FOUND  # the copy coincides too
        exact = hits[0].breakdown.modalities[verify.EXACT]
        assert exact.raw > 0.98 and exact.path == verify.EXACT_PATH and verify.EXACT not in copy.breakdown.modalities
        assert f"its pixels are {sheet.figure_id}'s" in str(hits[0].breakdown.query["verified"])
        assert "the picture it was cut from" in explain_hit(published_twice, hits, 1).text
        for h in hits:  # the others held at no evidence either way, each part still adds up to the fused score
            parts = contributions(h.breakdown)
            assert sigmoid(sum(c["contribution"] for c in parts.values())) == pytest.approx(h.score, abs=1e-4)


def test_pixels_agree_with_their_own_picture_and_not_with_a_shifted_one():
    """`models.pixels.agreement`: a piece of a picture agrees with it (1), nearly so when the alignment given is off
    by a pixel (the refinement finds it), and not with another drawing; a flat piece has nothing to compare."""
    from models import pixels

    rng = np.random.default_rng(7)
    sheet = np.full((400, 500), 255, np.uint8)
    for _ in range(40):  # strokes
        x0, y0 = rng.integers(0, 480), rng.integers(0, 380)
        sheet[y0:y0 + rng.integers(2, 20), x0:x0 + rng.integers(2, 20)] = 0
    piece = sheet[100:300, 150:400].copy()
    at = np.array([[1.0, 0, 150], [0, 1.0, 100], [0, 0, 1]])
    assert pixels.agreement(piece, sheet, at) == pytest.approx(1.0, abs=1e-3)
    off = at @ np.array([[1.0, 0, 1.2], [0, 1.0, -0.8], [0, 0, 1]])
    assert pixels.agreement(piece, sheet, off) > 0.99
    other = np.full_like(sheet, 255)
    other[::37, :] = 0
    assert (pixels.agreement(piece, other, at) or 0.0) < 0.5
    assert pixels.agreement(np.full((50, 50), 255, np.uint8), sheet, at) is None


def test_a_large_query_shrunk_once_agrees_as_when_shrunk_for_each_candidate():
    """`verify.exact` brings a large query (a whole sheet uploaded) down to `pixels.SIDE` once for all its
    candidates (`pixels.shrunk`, `pixels.compared`): each agreement is the one `pixels.agreement` gives."""
    from models import pixels

    rng = np.random.default_rng(11)
    sheet = np.full((1800, 1400), 255, np.uint8)
    for _ in range(300):  # strokes
        x0, y0 = rng.integers(0, 1380), rng.integers(0, 1780)
        sheet[y0:y0 + rng.integers(2, 40), x0:x0 + rng.integers(2, 40)] = 0
    query = sheet[100:1700, 200:1300].copy()  # larger than SIDE: shrunk
    small, to_query = pixels.shrunk(query)
    assert max(small.shape) == pixels.SIDE
    for dx, dy in ((200, 100), (201.5, 99.2), (230, 140)):  # its place, off by a pixel or two, elsewhere
        at = np.array([[1.0, 0, dx], [0, 1.0, dy], [0, 0, 1]])
        assert pixels.compared(small, sheet, at @ to_query) == pixels.agreement(query, sheet, at)
    assert pixels.compared(small, sheet, np.array([[1.0, 0, 200], [0, 1.0, 100], [0, 0, 1]]) @ to_query) > 0.99


@pytest.fixture(scope="module")
def one_picture_twice(tmp_path_factory, samples):
    """Services over an index of USD930095, a design that prints one picture twice: its FIG. 4 and FIG. 12 differ
    in their labels only."""
    from ingest.pipeline import ingest_paths

    services = fake_services(tmp_path_factory.mktemp("one_picture_twice"), create=True)
    report = ingest_paths(services, [samples / "uspto/USD0930095-20210907"], use_ocr=False)
    assert not report.failed, report.summary()["failures"]
    yield services
    services.close()


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_one_picture_indexed_twice_is_told_apart_by_its_label_and_else_said_to_be_alike(one_picture_twice, scale):
    """A region of FIG. 12 without its label is as much FIG. 4's: both come first, neither is called the picture
    it was cut from, and the query's record says their pixels agree alike. With the label in it, FIG. 12's own
    sheet comes first, its pixels the query's."""
    by_sheet = {s.sheet_no: s for s in one_picture_twice.store.sheets()}
    own, twin = by_sheet[11], by_sheet[4]  # FIG. 12 and FIG. 4, as their labels say (ingested without OCR here)
    img = Image.open(one_picture_twice.store.image_path(own)).convert("L")
    for box, labelled in (((0.05, 0.05, 0.55, 0.55), False), ((0.45, 0.5, 0.95, 0.99), True)):
        cut = img.crop(tuple(round(f * (img.width if i % 2 == 0 else img.height)) for i, f in enumerate(box)))
        cut = cut.resize((round(cut.width * scale), round(cut.height * scale)), Image.Resampling.BOX)
        hits = search_image(one_picture_twice, cut, k=5)
        note = str(hits[0].breakdown.query["verified"])
        if labelled:
            assert hits[0].figure_id == own.figure_id, [(h.figure_id, h.score) for h in hits]
            assert f"its pixels are {own.figure_id}'s" in note
            assert verify.EXACT in hits[0].breakdown.modalities
        else:
            assert {h.figure_id for h in hits[:2]} == {own.figure_id, twin.figure_id}, [(h.figure_id, h.score)
                                                                                        for h in hits]
            assert "its pixels agree alike with" in note and own.figure_id in note and twin.figure_id in note
            assert not any(verify.EXACT in h.breakdown.modalities for h in hits)
            alike = hits[0].breakdown.query[verify.SAME_PICTURE]
            assert set(alike) == {own.figure_id, twin.figure_id} and min(alike.values()) >= verify.EXACT_LEAST
            assert "one picture indexed twice" in explain_pair(one_picture_twice, hits, 1, 2).text
            assert f"as {hits[1].figure_id}'s" in explain_hit(one_picture_twice, hits, 1).text
            assert "agree alike" not in explain_pair(one_picture_twice, hits, 1, 3).text
            assert breakdown_markdown(hits[0]).count(f"{own.figure_id} ") == 1  # the query's record, shown


def test_pictures_agreeing_alike_are_one_picture_twice_and_a_standout_is_the_source():
    """`verify.exactest` and `verify.same_pictures` on agreements: a clear leader is the source; two within the
    margin, both high, are one picture twice; low agreements are neither."""
    assert verify.exactest({"a": 0.997, "b": 0.980}) == "a" and verify.same_pictures({"a": 0.997, "b": 0.980}) == []
    alike = {"a": 0.9955, "b": 0.9960, "c": 0.95}
    assert verify.exactest(alike) is None and verify.same_pictures(alike) == ["b", "a"]
    assert verify.same_pictures({"a": 0.97, "b": 0.97}) == [] and verify.same_pictures({"a": 0.999}) == []


def test_a_repeated_drawing_has_more_candidates_laid_over(one_picture_twice, monkeypatch):
    """When `verify.TWINS` of the candidates laid over coincide with a region (a design drawing one picture many
    times), the next verified candidates are laid over too, up to `verify.LINES_MORE`, so the own view further
    down the list is compared as well. USD930095 repeats its views twice: with TWINS at 2 the region of FIG. 12
    has more laid over than `LINES_TOP`; at its default it does not."""
    own = next(s for s in one_picture_twice.store.sheets() if s.sheet_no == 11)
    img = Image.open(one_picture_twice.store.image_path(own)).convert("L")
    cut = img.crop((round(0.05 * img.width), round(0.05 * img.height), round(0.55 * img.width),
                    round(0.55 * img.height)))

    def laid_over() -> int:
        note = str(search_image(one_picture_twice, cut, k=5)[0].breakdown.query["verified"])
        return int(note.split("; lines of ")[1].split(" laid over")[0])

    assert laid_over() == verify.LINES_TOP
    monkeypatch.setattr(verify, "TWINS", 2)
    assert verify.LINES_TOP < laid_over() <= verify.LINES_MORE
