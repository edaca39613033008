"""Results a searcher can trust: refinements search again, and scores are calibrated relevances.

- Ten filter and topic refinements on the sample documents: each refined set holds min(k, figures of the
  index that pass) figures, every one passes, and the set equals a fresh filtered search for the same words.
- A figure's calibrated score depends on its raw similarity only, not on the other candidates; nonsense
  queries score below the "weak" threshold and the reply says nothing matches well.
- The calibration fitted on the real sample index (slow): a curve per modality, stored with the index,
  and `patfig eval` reports calibrated fusion next to the old min-max fusion.
"""

from __future__ import annotations

import shutil

import pytest

from agent.actions import Actions
from agent.loop import Agent
from agent.session import Session
from core.defaults import WEAK_SCORE
from core.filters import Filters
from tools.calibrate import calibrate_index
from tools.evaluate import evaluate
from tools.narrow import topic_members
from tools.relevance import calibration_of
from tools.search import search_text

BASE = "hydrogen energy system of an aircraft"
K = 12
NONSENSE = ("zzqx flibbertigibbet", "qwertyuiop asdf", "purple monkey dishwasher")

# (request, the filter it must add, or the topic and CPC prefixes it must narrow to)
REFINEMENTS = [
    ("only the flowcharts", Filters(kinds=["flowchart"]), None),
    ("keep only the graphs", Filters(kinds=["graph"]), None),
    ("just sectional views", Filters(views=["sectional"]), None),
    ("only EP", Filters(offices=["EP"]), None),
    ("only US patents published before 2020", Filters(offices=["US"], date_to=20191231), None),
    ("only documents published in 2025", Filters(date_from=20250101, date_to=20251231), None),
    ("drop US12448135", Filters(exclude_ids=["US12448135"]), None),
    ("only figures with reference signs", Filters(has_components=True), None),
    ("only the aircraft ones", None, ("aircraft", ["B64C", "B64D", "B64U"])),
    ("restrict to electric vehicle charging", None, ("electric vehicle charging", ["B60L"])),
]


@pytest.fixture(scope="module")
def agent(fake_index):
    return Agent(fake_index)


@pytest.mark.parametrize(("request_", "filters", "topic"), REFINEMENTS, ids=[r[0] for r in REFINEMENTS])
def test_a_refinement_is_a_fresh_filtered_search(agent, fake_index, request_, filters, topic):
    session = Session()
    agent.run(session, BASE, k=K)
    r = agent.run(session, request_, k=K)
    if filters is not None:
        expected = filters
    else:
        members, _ = topic_members(fake_index, topic[0], topic[1])
        assert session.recipe().topics == [(topic[0], topic[1])]
        expected = Filters(figure_ids=sorted(members))
    passing = fake_index.store.ids(expected)
    hits = session.current.hits if session.current.set_id == 2 else []
    assert len(hits) == min(K, len(passing)), r.reply
    meta = fake_index.store.metadata([h.figure_id for h in hits])
    assert all(expected.match(meta[h.figure_id]) for h in hits)
    fresh = search_text(fake_index, BASE, k=K, filters=expected)
    assert [h.figure_id for h in hits] == [h.figure_id for h in fresh]
    if hits:
        qualify = f"{len(passing)} figures of the index qualify" if len(passing) != 1 else "1 figure of the index"
        assert r.reply.startswith("I searched the whole index again for ") and qualify in r.reply


def test_among_these_cuts_the_current_list(agent, fake_index):
    session = Session()
    first = agent.run(session, BASE, k=K).result_set
    r = agent.run(session, "only the flowcharts among these", k=K)
    assert [h.figure_id for h in r.result_set.hits] == [h.figure_id for h in first.hits if h.kind == "flowchart"]
    assert "as you asked, only among the current results" in r.reply


def test_a_calibrated_score_is_the_same_whatever_the_other_candidates(fake_index):
    """One figure in two result sets with different candidate pools (unfiltered, filtered) scores the same."""
    everything = {h.figure_id: h for h in search_text(fake_index, BASE, k=50)}
    drawings = {h.figure_id: h for h in search_text(fake_index, BASE, k=50, filters=Filters(kinds=["drawing"]))}
    shared = [fid for fid in drawings if fid in everything]
    assert len(shared) >= 5
    for fid in shared:
        a, b = everything[fid], drawings[fid]
        assert a.breakdown.modalities.keys() == b.breakdown.modalities.keys() == {"text", "words"}
        for m, ms in a.breakdown.modalities.items():
            assert (ms.raw, ms.calibrated) == (b.breakdown.modalities[m].raw, b.breakdown.modalities[m].calibrated)
        assert a.score == b.score
    # under min-max, the best of each list scored 1.0 however good it was
    assert search_text(fake_index, BASE, k=5, method="minmax")[0].score == 1.0


def test_nonsense_is_called_a_weak_match(agent, fake_index):
    for query in NONSENSE:
        hits = search_text(fake_index, query, k=5)
        assert hits and hits[0].score < WEAK_SCORE
        r = agent.run(Session(), query, k=5)
        assert "Nothing in the index matches well: the best figure scores" in r.reply


def test_min_score_keeps_only_hits_at_or_above_it(fake_index):
    hits = search_text(fake_index, BASE, k=30)
    cut = hits[len(hits) // 2].score
    kept = search_text(fake_index, BASE, k=30, min_score=cut)
    assert kept and all(h.score >= cut for h in kept)
    assert [h.figure_id for h in kept] == [h.figure_id for h in hits if h.score >= cut]
    session = Session()
    Actions(fake_index, session, k=30, min_score=cut).search(BASE)
    assert [h.figure_id for h in session.current.hits] == [h.figure_id for h in kept]
    assert session.recipe().min_score == cut


@pytest.mark.slow
def test_calibration_fitted_on_the_real_sample_index(sample_index_dir, tmp_path):
    from core.settings import Settings
    from patfig.wiring import build_services

    root = tmp_path / "idx"
    shutil.copytree(sample_index_dir, root)
    services = build_services(Settings(index_dir=root, visual_encoder="linedraw"))
    try:
        notes = calibrate_index(services)
        curves = calibration_of(services).curves
        assert set(curves) == {"visual", "text", "words", "text_sheet"}, notes
        assert all(c.slope > 0 and c.source == "fitted" and c.pairs > c.positives > 0 for c in curves.values())
        assert services.store.calibration()["curves"]["visual"]["encoder"] == "linedraw:lbp-craft-v1"
        for query in NONSENSE:  # the real text model, on the real index's curves
            assert search_text(services, query, k=3)[0].score < WEAK_SCORE
        report = evaluate(services, protocols=("reid", "family"))
        for p in report.protocols:
            assert {"fused_avg", "fused_minmax"} <= set(p.results)
    finally:
        services.close()
