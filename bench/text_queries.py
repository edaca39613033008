"""Hand-written text queries against the figures a searcher would want: P@1, nDCG@10, R@20, MRR@10, weak calls.

The queries (bench/data/text_queries.json) were written by hand over the sample documents
(/work/shared/data/patents), the way examiners and R&D engineers type: part names ("hydrogen tank"),
paraphrases ("lift cabin hanging on hoist ropes" for an elevator car and its hoisting roping), plurals, everyday
words for design objects ("sneakers", "car wheel rim"), kinds of drawing ("flowchart of charging an electric
vehicle", "graph of tensile strength"), short and long.

How the judgments were made: for each query the documents were read (the ICE XML of the USPTO ZIPs and design
folders, the PDFs' text through `ingest.read.read_document`: brief description of the drawings, reference signs
and the sentences about them), and the drawing sheets were looked at (the PNGs an ingest stores) to decide which
figures truly show the thing asked for. Nothing was derived from the index's OCR-linked component labels or from
search results; after a first run on the whole-sample index (bench/results/text_queries_baseline.txt), the
unjudged first hits were looked at, and figures missed in the first pass were added on sight as related (grade
1): US12448749 FIG. 5B shows the wing hinge, US20250250937 FIGS. 4-5 the fuel nozzle inside the combustor,
US20190003215 FIGS. 6-7 a glovebox latch for "locking device". Nothing was removed.
A judgment names a patent and FIG labels, so it survives a re-ingest:

    {"patent": "US12448135", "figs": ["1A", "1B"], "grade": 2}
    {"patent": "USD917866", "figs": "*", "grade": 2}           # every figure of the patent (all views of a design)
    {"patent": "EP2679695", "figs": ["1"], "sheets": [1], "grade": 2}

grade 2: the figure shows exactly what was asked; grade 1: related or partial (the part is there but small,
schematic or one among many; a neighbouring view or embodiment). Patent families (the same drawings published as
US, EP and WO documents) are judged per publication: each publication's figure that shows the thing counts.
The queries are split by hand into a "tune" and a "check" set, about half each and mixed over topics and
phrasings: tune on "tune" (and the `patfig eval` protocols), and let "check" tell whether it holds.

How a hit is matched: a hit (one indexed unit: a whole sheet, or one figure cut out of a sheet that shows
several) takes the highest grade of the judgments of its patent that cover it. A judgment covers a unit when the
unit's `figs` meet the judged FIG labels (or the judgment says "*"), or when the unit shows a whole sheet (or has
no FIG label) and that sheet's number is in the judgment's optional "sheets": the drawing sheets on which the
judged figures are printed, recorded (from looking at the sheets) where an ingest misread or missed the FIG labels
of a sheet, so that a sheet that plainly shows the figure counts whatever labels OCR gave it. A cut-out figure
is matched by its labels alone. Ideal rankings (nDCG, recall) are computed over every unit in the index graded
the same way, so a figure split into several units, or several figures on one sheet, count as the index holds
them; judged figures that no unit carries are listed at the end of the report.

Metrics per query over the top k=20 hits, averaged per set ("tune", "check", "all"):

- P@1: the first hit has grade >= 1 (P@1 strict: grade 2);
- nDCG@10: gain 2^grade - 1, log2 discount, ideal from every unit in the index;
- R@20: relevant units (grade >= 1) in the top 20 over min(20, relevant units in the index), so a design with
  60 views can reach 1;
- MRR@10: 1 / rank of the first relevant hit within the top 10, else 0;
- weak relevant first: the first hit is relevant but its score is a calibrated relevance below
  core.defaults.WEAK_SCORE, i.e. what tools.relevance.strength_note calls "Nothing in the index matches well";
- nonsense called a match: a nonsense query whose best hit is a calibrated score >= WEAK_SCORE (no hit, or a
  weak one, is right);
- query time: the mean wall time of one `search_text` call (after one warm-up query that loads the model).

Run (opening an index may write to it; point --index at a copy of one that must stay untouched):

    python -m bench.text_queries --index DIR [--set tune|check|all] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.defaults import WEAK_SCORE

if TYPE_CHECKING:
    from runtime.services import Services

QUERIES = Path(__file__).resolve().parent / "data" / "text_queries.json"
K = 20
SETS = ("tune", "check")


# ---------------------------------------------------------------- judgments


@dataclass(frozen=True)
class Judgment:
    patent: str
    figs: tuple[str, ...] | None  # None: every figure of the patent ("*")
    grade: int
    sheets: tuple[int, ...] = ()  # the drawing sheets those figures are printed on, where recorded

    def grade_of(self, patent_id: str, figs: Sequence[str], sheet_no: int, whole_sheet: bool = True) -> int:
        """This judgment's grade for an indexed unit, 0 if it does not cover it. A unit is covered when its FIG
        labels meet the judged ones, or when it shows a whole sheet on which the judged figures are printed."""
        if patent_id.upper() != self.patent.upper():
            return 0
        if self.figs is None:
            return self.grade
        if {f.upper() for f in figs} & {f.upper() for f in self.figs}:
            return self.grade
        return self.grade if (whole_sheet or not figs) and sheet_no in self.sheets else 0


@dataclass(frozen=True)
class Query:
    qid: str
    text: str
    set: str
    judgments: tuple[Judgment, ...] = ()
    nonsense: bool = False
    kind: str = ""

    def grade(self, patent_id: str, figs: Sequence[str], sheet_no: int, whole_sheet: bool = True) -> int:
        return max((j.grade_of(patent_id, figs, sheet_no, whole_sheet) for j in self.judgments), default=0)


def load_queries(path: Path = QUERIES) -> list[Query]:
    """The real queries then the nonsense ones, as written in the judgment file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for q in data["queries"]:
        js = tuple(
            Judgment(
                patent=j["patent"],
                figs=None if j["figs"] == "*" else tuple(j["figs"]),
                grade=j["grade"],
                sheets=tuple(j.get("sheets", ())),
            )
            for j in q["judgments"]
        )
        out.append(Query(q["id"], q["query"], q["set"], js, kind=q.get("kind", "")))
    out += [Query(q["id"], q["query"], q["set"], nonsense=True, kind="nonsense") for q in data["nonsense"]]
    return out


# ---------------------------------------------------------------- metrics (grades of a ranking, best first)


def dcg(grades: Sequence[int], k: int) -> float:
    return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(grades[:k]))


def ndcg_at(grades: Sequence[int], ideal: Sequence[int], k: int = 10) -> float:
    """DCG of the ranking over that of the ideal one (every judged unit of the index, best first)."""
    best = dcg(sorted(ideal, reverse=True), k)
    return dcg(grades, k) / best if best > 0 else 0.0


def precision_at_1(grades: Sequence[int], min_grade: int = 1) -> float:
    return 1.0 if grades and grades[0] >= min_grade else 0.0


def recall_at(grades: Sequence[int], n_relevant: int, k: int = K) -> float:
    """Relevant hits in the top k over the most that could be there, min(k, relevant units)."""
    if n_relevant == 0:
        return 0.0
    return sum(g > 0 for g in grades[:k]) / min(k, n_relevant)


def mrr_at(grades: Sequence[int], k: int = 10) -> float:
    return next((1.0 / (i + 1) for i, g in enumerate(grades[:k]) if g > 0), 0.0)


# ---------------------------------------------------------------- running


@dataclass
class Outcome:
    query: Query
    seconds: float
    grades: list[int] = field(default_factory=list)
    first: str = ""  # the first hit: figure id and FIG labels
    first_score: float | None = None
    first_calibrated: bool = False
    ideal: list[int] = field(default_factory=list)  # grades of every relevant unit in the index
    unmatched: list[str] = field(default_factory=list)  # judged figures no unit of the index carries

    @property
    def weak(self) -> bool:
        """The first hit is what strength_note calls weak (or there is none)."""
        return self.first_score is None or (self.first_calibrated and self.first_score < WEAK_SCORE)

    def metrics(self) -> dict[str, float]:
        n_rel = sum(g > 0 for g in self.ideal)
        return {
            "p1": precision_at_1(self.grades),
            "p1_strict": precision_at_1(self.grades, 2),
            "ndcg10": ndcg_at(self.grades, self.ideal, 10),
            "r20": recall_at(self.grades, n_rel, K),
            "mrr10": mrr_at(self.grades, 10),
        }


def run(services: Services, queries: Sequence[Query], k: int = K) -> list[Outcome]:
    """Every query through the product path (`tools.search.search_text`), graded against the judgments."""
    from tools.relevance import calibrated  # the search stack (Chroma) only when a run needs it
    from tools.search import search_text

    units = [(s.patent_id, s.figs, s.sheet_no, s.box is None) for s in services.store.sheets()]
    search_text(services, "warm-up query for the text model", k=1)
    out = []
    for q in queries:
        t0 = time.perf_counter()
        hits = search_text(services, q.text, k=k)
        o = Outcome(q, time.perf_counter() - t0)
        o.grades = [q.grade(h.patent_id, h.figs, h.sheet_no, h.box is None) for h in hits]
        o.ideal = [g for g in (q.grade(*u) for u in units) if g > 0]
        for j in q.judgments:
            o.unmatched += [f"{j.patent} FIG {f}" for f in j.figs or ("*",) if not any(
                j.grade_of(p, fs, n, whole) and (f == "*" or n in j.sheets or f.upper() in {x.upper() for x in fs})
                for p, fs, n, whole in units)]
        if hits:
            h = hits[0]
            o.first = f"{h.figure_id} [{','.join(h.figs) or '-'}]"
            o.first_score = h.score
            o.first_calibrated = calibrated(h)
        out.append(o)
    return out


def summary(outcomes: Sequence[Outcome]) -> dict[str, float | int]:
    """Mean metrics over the real queries, the weak/nonsense counts and the mean query time."""
    real = [o for o in outcomes if not o.query.nonsense]
    nonsense = [o for o in outcomes if o.query.nonsense]
    out: dict[str, float | int] = {"queries": len(real), "nonsense": len(nonsense)}
    if real:
        ms = [o.metrics() for o in real]
        for key in ms[0]:
            out[key] = round(statistics.fmean(m[key] for m in ms), 3)
        out["weak_relevant_first"] = sum(o.grades[:1] and o.grades[0] > 0 and o.weak for o in real)
    out["nonsense_called_match"] = sum(not o.weak for o in nonsense)
    out["mean_query_ms"] = round(1000 * statistics.fmean(o.seconds for o in outcomes), 1) if outcomes else 0.0
    return out


def report(outcomes: Sequence[Outcome], which: str) -> tuple[str, dict[str, dict[str, float | int]]]:
    """The table per set, then one line per query; and the summaries as data."""
    sets = list(SETS) + ["all"] if which == "all" else [which]
    sums = {s: summary([o for o in outcomes if s == "all" or o.query.set == s]) for s in sets}
    cols = ("queries", "p1", "p1_strict", "ndcg10", "r20", "mrr10", "weak_relevant_first", "nonsense",
            "nonsense_called_match", "mean_query_ms")
    heads = ("set", "real", "P@1", "P@1(2)", "nDCG@10", "R@20", "MRR@10", "weak rel. 1st", "nonsense",
             "nonsense matched", "ms/query")
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for s, d in sums.items():
        lines.append("| " + " | ".join([s] + [str(d.get(c, "")) for c in cols]) + " |")
    kinds = sorted({o.query.kind for o in outcomes if not o.query.nonsense})
    lines += ["", "by kind of phrasing (the sets above together):", "| kind | real | P@1 | nDCG@10 | weak rel. 1st |",
              "|---|---|---|---|---|"]
    for kind in kinds:
        d = summary([o for o in outcomes if o.query.kind == kind and not o.query.nonsense])
        lines.append(f"| {kind} | {d['queries']} | {d['p1']} | {d['ndcg10']} | {d['weak_relevant_first']} |")
    lines += ["", "per query: id set | query | first hit | score | grade of first hit | first relevant rank"]
    for o in outcomes:
        score = f"{o.first_score:.3f}" if o.first_score is not None else "-"
        weak = " weak" if o.weak else ""
        if o.query.nonsense:
            verdict = "nonsense: " + ("ok (weak)" if o.weak else "CALLED A MATCH")
        else:
            rank = next((i + 1 for i, g in enumerate(o.grades) if g > 0), None)
            g1 = o.grades[0] if o.grades else 0
            verdict = f"grade {g1} {'relevant' if g1 else 'NOT relevant'}; first relevant at {rank or '>20'}"
        lines.append(f"{o.query.qid} {o.query.set:5} | {o.query.text} | {o.first or '(no hit)'} | {score}{weak} | "
                     f"{verdict}")
    missing = sorted({m for o in outcomes for m in o.unmatched})
    if missing:
        lines += ["", f"judged figures that no unit of the index carries ({len(missing)}; they count in no ideal "
                  "ranking): " + ", ".join(missing)]
    return "\n".join(lines), sums


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--set", choices=("tune", "check", "all"), default="all")
    ap.add_argument("--queries", type=Path, default=QUERIES)
    ap.add_argument("--out", type=Path, default=None, help="write the summaries and per-query rows as JSON")
    args = ap.parse_args()

    from core.settings import Settings
    from patfig.wiring import build_services

    queries = [q for q in load_queries(args.queries) if args.set == "all" or q.set == args.set]
    services = build_services(Settings(index_dir=args.index))
    try:
        outcomes = run(services, queries)
    finally:
        services.close()
    text, sums = report(outcomes, args.set)
    print(text)
    if args.out:
        rows = [{"id": o.query.qid, "set": o.query.set, "query": o.query.text, "nonsense": o.query.nonsense,
                 "first": o.first, "score": o.first_score, "weak": o.weak, "grades": o.grades,
                 "relevant_in_index": len(o.ideal), "seconds": round(o.seconds, 4),
                 **({} if o.query.nonsense else {k: round(v, 4) for k, v in o.metrics().items()})}
                for o in outcomes]
        args.out.write_text(json.dumps({"index": str(args.index), "k": K, "summary": sums, "queries": rows},
                                       indent=2))


if __name__ == "__main__":
    main()
