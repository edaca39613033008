import numpy as np
import pytest

from core.calibration import UNCALIBRATED, Curve
from core.filters import Filters, cpc_prefixes, sheet_metadata
from tests.fakes import make_patent, make_sheet
from tools.calibrate import fit_logistic
from tools.fusion import fuse, normalise, ranks


def test_normalise_and_ranks():
    assert normalise({"a": 0.2, "b": 0.6, "c": 0.4}) == pytest.approx({"a": 0.0, "b": 1.0, "c": 0.5})
    assert normalise({"a": 0.3, "b": 0.3}) == {"a": 1.0, "b": 1.0}
    assert ranks({"a": 0.2, "b": 0.6, "c": 0.4}) == {"b": 1, "c": 2, "a": 3}


CURVES = {"visual": Curve(slope=10.0, bias=-5.0), "text": Curve(slope=8.0, bias=-4.0)}


def test_minmax_fusion_keeps_breakdown():
    lists = {"visual": {"x": 0.9, "y": 0.5, "z": 0.1}, "text": {"x": 0.2, "y": 0.8, "z": 0.6}}
    fused = fuse(lists, {"visual": 0.5, "text": 0.5}, "minmax")
    by_id = {f.id: f for f in fused}
    # x: visual norm 1.0, text norm 0.0 -> 0.5; y: visual 0.5, text 1.0 -> 0.75; z: 0, 0.667 -> 0.333
    assert [f.id for f in fused] == ["y", "x", "z"]
    assert by_id["y"].score == pytest.approx(0.75)
    assert by_id["x"].modalities["visual"].norm == 1.0 and by_id["x"].modalities["visual"].rank == 1
    assert by_id["z"].modalities["text"].raw == 0.6


def test_calibrated_avg_is_the_weighted_mean_of_the_curves():
    lists = {"visual": {"x": 0.9, "y": 0.5, "z": 0.1}, "text": {"x": 0.2, "y": 0.8, "z": 0.6}}
    fused = {f.id: f for f in fuse(lists, {"visual": 0.5, "text": 0.5}, "avg", curves=CURVES)}
    for i in "xyz":
        pv, pt = CURVES["visual"](lists["visual"][i]), CURVES["text"](lists["text"][i])
        assert fused[i].modalities["visual"].calibrated == pytest.approx(pv, abs=1e-6)
        assert fused[i].score == pytest.approx(0.5 * pv + 0.5 * pt, abs=1e-6)
    # two modalities that agree on a relevance give that relevance
    same = {"visual": {"a": 0.7}, "text": {"a": 0.75}}
    a = fuse(same, {"visual": 0.5, "text": 0.5}, "avg", curves=CURVES)[0]
    assert a.score == pytest.approx(CURVES["visual"](0.7), abs=1e-6) == pytest.approx(CURVES["text"](0.75), abs=1e-6)


def test_odds_is_the_weighted_mean_of_the_clipped_log_odds():
    """The default fusion: sigmoid of the weighted mean of logit(p), each p held within [0.01, 0.99]."""
    from core.calibration import logit, sigmoid

    lists = {"visual": {"x": 0.9, "y": 0.5, "z": 0.1}, "text": {"x": 0.2, "y": 0.8, "z": 0.6}}
    fused = {f.id: f for f in fuse(lists, {"visual": 0.3, "text": 0.7}, curves=CURVES)}
    for i in "xyz":
        pv, pt = (min(0.99, max(0.01, CURVES[m](lists[m][i]))) for m in ("visual", "text"))
        assert fused[i].score == pytest.approx(sigmoid(0.3 * logit(pv) + 0.7 * logit(pt)), abs=1e-6)
    # agreeing modalities give that relevance; a near-certain look-alike in one modality cannot outweigh a
    # near-certain match in the other that weighs more, as a plain average lets it
    same = {"visual": {"a": 0.7}, "text": {"a": 0.75}}
    agreed = fuse(same, {"visual": 0.5, "text": 0.5}, curves=CURVES)[0].score
    assert agreed == pytest.approx(CURVES["text"](0.75), abs=1e-6)
    split = {"visual": {"member": 0.45, "lookalike": 0.99}, "text": {"member": 0.99, "lookalike": 0.55}}
    weights = {"visual": 0.3, "text": 0.7}
    assert fuse(split, weights, curves=CURVES)[0].id == "member"
    assert fuse(split, {"visual": 0.5, "text": 0.5}, "avg", curves=CURVES)[0].id == "lookalike"
    # a candidate missing from one list counts as relevance 0 there, held at 0.01
    gap = {"visual": {"a": 0.9}, "text": {"b": 0.9}}
    by_id = {f.id: f.score for f in fuse(gap, {"visual": 0.5, "text": 0.5}, curves=CURVES)}
    pa = CURVES["visual"](0.9)
    assert by_id["a"] == pytest.approx(sigmoid(0.5 * logit(pa) + 0.5 * logit(0.01)), abs=1e-6)


def test_a_floor_below_the_clip_lets_evidence_against_a_candidate_count():
    """A query may hold a modality at a lower floor than the 0.01 clip (search does so for the verified count of a
    part of a drawing, `verify.PART_FLOOR`): a look-alike the global descriptor favours but that shares no detail
    with the region falls behind the drawing that shares a few, where at the clip the two counts weighed the same."""
    from core.calibration import logit, sigmoid
    from tools import verify
    from tools.fusion import ODDS_CLIP, clipped_logit

    floor = verify.PART_FLOOR
    assert verify.CURVE(0) < floor < verify.CURVE(10) <= ODDS_CLIP + 1e-3
    assert clipped_logit(0.0, floor) == pytest.approx(logit(floor))
    assert clipped_logit(0.0) == pytest.approx(logit(ODDS_CLIP))
    lists = {"visual": {"hub": 0.62, "own": 0.45}, verify.MODALITY: {"hub": 1.0, "own": 12.0}}
    weights = {"visual": 0.3, verify.MODALITY: 0.7}
    curves = {"visual": CURVES["visual"], verify.MODALITY: verify.CURVE}
    floors = {verify.MODALITY: floor}
    fused = fuse(lists, weights, curves=curves, floors=floors)
    assert [f.id for f in fused] == ["own", "hub"]
    for f in fused:  # the fused score is the weighted log-odds, each modality held at its own floor
        expected = sum(w * clipped_logit(curves[m](lists[m][f.id]), floors.get(m, ODDS_CLIP))
                       for m, w in weights.items())
        assert f.score == pytest.approx(sigmoid(expected), abs=1e-6)
    # at the common clip both counts are "none", and the look-alike's visual score wins
    assert fuse(lists, weights, curves=curves)[0].id == "hub"


def test_a_calibrated_score_does_not_depend_on_the_other_candidates():
    """Min-max scores always run from 1 to 0; calibrated ones depend only on the figure's raw score."""
    weak = {"text": {"a": 0.2, "b": 0.1}}
    strong = {"text": {"a": 0.2, "c": 0.9}}
    one = {f.id: f.score for f in fuse(weak, {"text": 1.0}, "avg", curves=CURVES)}
    two = {f.id: f.score for f in fuse(strong, {"text": 1.0}, "avg", curves=CURVES)}
    assert one["a"] == two["a"] == pytest.approx(CURVES["text"](0.2), abs=1e-6)
    assert fuse(weak, {"text": 1.0}, "minmax")[0].score == 1.0  # what min-max made of a weak list


def test_curves_fit_and_invert():
    rng = np.random.default_rng(0)
    raw = rng.uniform(0, 1, 4000)
    truth = Curve(slope=12.0, bias=-6.0)
    relevant = rng.uniform(0, 1, raw.size) < np.array([truth(x) for x in raw])
    slope, bias, _ = fit_logistic(raw.tolist(), relevant.tolist())
    assert slope == pytest.approx(12.0, rel=0.15) and bias == pytest.approx(-6.0, rel=0.15)
    for c in (truth, Curve(slope=2.0, bias=-7.0, feature="logdist")):
        assert c(c.raw_for(0.3)) == pytest.approx(0.3, abs=1e-6)
    assert UNCALIBRATED(1.7) == 1.0 and UNCALIBRATED(-0.2) == 0.0


def test_weights_shift_the_ranking():
    lists = {"visual": {"x": 0.9, "y": 0.5, "z": 0.1}, "text": {"x": 0.2, "y": 0.8, "z": 0.6}}
    assert fuse(lists, {"visual": 0.9, "text": 0.1}, "avg", curves=CURVES)[0].id == "x"
    assert fuse(lists, {"visual": 0.1, "text": 0.9}, "avg", curves=CURVES)[0].id == "y"


def test_max_and_rrf():
    lists = {"visual": {"x": 0.9, "y": 0.5}, "text": {"x": 0.1, "y": 0.8}}
    mx = fuse(lists, {"visual": 0.5, "text": 0.5}, "max")  # no curves: the raw cosine, clipped
    assert {f.id: f.score for f in mx} == {"x": 0.9, "y": 0.8}
    rrf = fuse(lists, {"visual": 1.0, "text": 1.0}, "rrf")
    assert rrf[0].score == pytest.approx(1 / 61 + 1 / 62, abs=1e-6)
    with pytest.raises(ValueError, match="unknown fusion method"):
        fuse(lists, {"visual": 1.0}, "median")


def test_filters_match_metadata():
    meta = sheet_metadata(make_patent("US1", office="EP", date=20180505, cpc=("B66C1/42",)),
                          make_sheet("US1", kind="flowchart", view="unknown"))
    assert Filters(kinds=["flowchart"]).match(meta)
    assert not Filters(kinds=["graph"]).match(meta)
    assert Filters(cpc=["B66"]).match(meta) and Filters(cpc=["b66c"]).match(meta)
    assert not Filters(cpc=["H01M"]).match(meta)
    assert Filters(offices=["ep"], date_from="2015").match(meta)
    assert not Filters(date_to="2017-12-31").match(meta)
    assert not Filters(exclude_ids=["us1"]).match(meta)
    assert Filters(has_components=True).match(meta)
    assert cpc_prefixes(["B64D27/353"]) == {"B", "B64", "B64D"}


def test_filters_reject_bad_values_with_the_valid_ones():
    with pytest.raises(ValueError, match="valid kinds: drawing, flowchart"):
        Filters(kinds=["photo"])
    with pytest.raises(ValueError, match="not a CPC prefix"):
        Filters(cpc=["64B"])
    with pytest.raises(ValueError, match="not a date"):
        Filters(date_from="last year")
