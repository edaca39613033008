"""The hand-written text benchmark (bench/text_queries.py): its judgment file is well formed and names real sample
patents, and its metrics compute the values worked out by hand on tiny rankings."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from bench.text_queries import (
    QUERIES,
    Judgment,
    Outcome,
    Query,
    load_queries,
    mrr_at,
    ndcg_at,
    precision_at_1,
    recall_at,
    report,
    summary,
)
from core.defaults import WEAK_SCORE
from tests.conftest import sample

FIG = re.compile(r"\d+(\.\d+)?[A-Z]?")


def patent_id_of(path: Path) -> str:
    """A sample file's patent id from its name: US12448135-20251021.ZIP, USD0907292-20210105, EP1577413A1.pdf."""
    stem = path.name.split("-")[0] if "-" in path.name else path.stem
    stem = re.sub(r"(A\d|B\d|S\d)$", "", stem)
    return re.sub(r"^USD0*", "USD", stem)


def sample_ids(samples: Path) -> set[str]:
    return {patent_id_of(p) for sub in ("uspto", "pdf") for p in (samples / sub).iterdir()}


def test_file_ids_are_what_the_readers_say():
    from ingest.read import read_document

    for rel in ("uspto/US20250250937A1-20250807.ZIP", "uspto/USD0907292-20210105", "pdf/WO2013173195A1.pdf"):
        with read_document(sample(rel)) as doc:
            assert doc.patent.patent_id == patent_id_of(sample(rel))


def test_judgment_file_is_well_formed(samples):
    data = json.loads(QUERIES.read_text(encoding="utf-8"))
    known = sample_ids(samples)
    assert len(known) >= 80
    real, nonsense = data["queries"], data["nonsense"]
    assert len(real) >= 40 and len(nonsense) >= 12
    ids = [q["id"] for q in real + nonsense]
    assert len(ids) == len(set(ids))
    texts = [q["query"].lower() for q in real + nonsense]
    assert len(texts) == len(set(texts)), "a query is written twice"
    for q in real:
        assert q["set"] in ("tune", "check"), q
        assert q["query"].strip() and q["judgments"], q
        assert any(j["grade"] == 2 for j in q["judgments"]), f"{q['id']}: no figure shows exactly what was asked"
        for j in q["judgments"]:
            assert set(j) <= {"patent", "figs", "grade", "sheets"}, j
            assert j["patent"] in known, f"{q['id']}: {j['patent']} is not in the sample folder"
            assert j["grade"] in (1, 2), j
            assert j["figs"] == "*" or (j["figs"] and all(FIG.fullmatch(f) for f in j["figs"])), j
            assert all(isinstance(s, int) and s >= 1 for s in j.get("sheets", [])), j
    for q in nonsense:
        assert q["set"] in ("tune", "check") and q["query"].strip(), q
    sets = [q["set"] for q in real]
    assert abs(sets.count("tune") - sets.count("check")) <= len(real) // 5, "tune and check should be about half each"
    loaded = load_queries()
    assert sum(q.nonsense for q in loaded) == len(nonsense) and len(loaded) == len(real) + len(nonsense)


def test_a_unit_takes_the_best_grade_of_the_judgments_that_cover_it():
    q = Query("t", "hydrogen tank", "tune", (
        Judgment("US12448135", ("1A",), 2),
        Judgment("US12448135", ("3",), 1, sheets=(4,)),
        Judgment("USD917866", None, 2),
    ))
    assert q.grade("US12448135", ["1A", "1B"], 1) == 2  # a sheet showing 1A and 1B
    assert q.grade("US12448135", ["1b"], 2) == 0
    assert q.grade("US12448135", ["3"], 4) == 1
    assert q.grade("US12448135", [], 4) == 1  # no FIG label found: matched by its sheet
    assert q.grade("US12448135", ["2"], 4) == 1  # a whole sheet whose labels OCR misread: matched by its sheet
    assert q.grade("US12448135", ["2"], 4, whole_sheet=False) == 0  # a figure cut out of it: by its labels alone
    assert q.grade("US12448135", [], 1) == 0
    assert q.grade("USD917866", ["5"], 3) == 2 and q.grade("USD917866", [], 9) == 2  # "*": every figure
    assert q.grade("US12448249", ["1A"], 1) == 0


def test_metrics_on_a_hand_worked_ranking():
    grades, ideal = [0, 2, 1], [2, 1, 1]
    assert precision_at_1(grades) == 0.0 and precision_at_1([1, 0]) == 1.0 and precision_at_1([1], 2) == 0.0
    assert precision_at_1([]) == 0.0
    assert mrr_at(grades) == 0.5 and mrr_at([0] * 10 + [2]) == 0.0
    dcg = 3 / math.log2(3) + 1 / math.log2(4)
    idcg = 3 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(grades, ideal) == pytest.approx(dcg / idcg) == pytest.approx(0.5792, abs=1e-4)
    assert ndcg_at([2, 1, 1], ideal) == pytest.approx(1.0) and ndcg_at([0, 0], []) == 0.0
    assert recall_at(grades, 3) == pytest.approx(2 / 3)
    assert recall_at([1] * 20, 57) == 1.0  # a design with 57 views: 20 of them fill the top 20
    assert recall_at([0, 1], 0) == 0.0


def test_summary_counts_weak_relevant_first_hits_and_nonsense_called_a_match():
    real = Query("r", "sneakers", "tune", (Judgment("USD917866", None, 2),))
    junk = Query("n", "xyzzy", "tune", nonsense=True)
    strong = Outcome(real, 0.1, grades=[2, 0], first="USD917866-S1 [1]", first_score=WEAK_SCORE + 0.2,
                     first_calibrated=True, ideal=[2])
    weak = Outcome(real, 0.3, grades=[2], first="USD917866-S1 [1]", first_score=WEAK_SCORE / 2,
                   first_calibrated=True, ideal=[2])
    wrong_weak = Outcome(real, 0.2, grades=[0, 2], first_score=WEAK_SCORE / 2, first_calibrated=True, ideal=[2, 2])
    junk_weak = Outcome(junk, 0.2, first_score=WEAK_SCORE / 3, first_calibrated=True)
    junk_match = Outcome(junk, 0.2, first_score=WEAK_SCORE, first_calibrated=True)
    junk_none = Outcome(junk, 0.2)
    s = summary([strong, weak, wrong_weak, junk_weak, junk_match, junk_none])
    assert s["queries"] == 3 and s["nonsense"] == 3
    assert s["weak_relevant_first"] == 1  # `wrong_weak` is weak but its first hit is not relevant
    assert s["nonsense_called_match"] == 1
    assert s["p1"] == pytest.approx(2 / 3, abs=1e-3) and s["mrr10"] == pytest.approx((1 + 1 + 0.5) / 3, abs=1e-3)
    assert s["mean_query_ms"] == pytest.approx(200.0)
    text, sums = report([strong, weak, wrong_weak, junk_weak, junk_match, junk_none], "all")
    assert sums["tune"] == s and sums["check"]["queries"] == 0
    assert "nonsense: CALLED A MATCH" in text and "grade 0 NOT relevant; first relevant at 2" in text
