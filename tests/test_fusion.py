import pytest

from core.filters import Filters, cpc_prefixes, sheet_metadata
from tests.fakes import make_patent, make_sheet
from tools.fusion import fuse, normalise, ranks


def test_normalise_and_ranks():
    assert normalise({"a": 0.2, "b": 0.6, "c": 0.4}) == pytest.approx({"a": 0.0, "b": 1.0, "c": 0.5})
    assert normalise({"a": 0.3, "b": 0.3}) == {"a": 1.0, "b": 1.0}
    assert ranks({"a": 0.2, "b": 0.6, "c": 0.4}) == {"b": 1, "c": 2, "a": 3}


def test_avg_fusion_keeps_breakdown():
    lists = {"visual": {"x": 0.9, "y": 0.5, "z": 0.1}, "text": {"x": 0.2, "y": 0.8, "z": 0.6}}
    fused = fuse(lists, {"visual": 0.5, "text": 0.5}, "avg")
    by_id = {f.id: f for f in fused}
    # x: visual norm 1.0, text norm 0.0 -> 0.5; y: visual 0.5, text 1.0 -> 0.75; z: 0, 0.667 -> 0.333
    assert [f.id for f in fused] == ["y", "x", "z"]
    assert by_id["y"].score == pytest.approx(0.75)
    assert by_id["x"].modalities["visual"].norm == 1.0 and by_id["x"].modalities["visual"].rank == 1
    assert by_id["z"].modalities["text"].raw == 0.6


def test_weights_shift_the_ranking():
    lists = {"visual": {"x": 0.9, "y": 0.5, "z": 0.1}, "text": {"x": 0.2, "y": 0.8, "z": 0.6}}
    assert fuse(lists, {"visual": 0.9, "text": 0.1}, "avg")[0].id == "x"
    assert fuse(lists, {"visual": 0.1, "text": 0.9}, "avg")[0].id == "y"


def test_max_and_rrf():
    lists = {"visual": {"x": 0.9, "y": 0.5}, "text": {"x": 0.1, "y": 0.8}}
    mx = fuse(lists, {"visual": 0.5, "text": 0.5}, "max")
    assert {f.id: f.score for f in mx} == {"x": 0.5, "y": 0.5}
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
