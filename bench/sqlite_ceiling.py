"""The ceiling of the index's single-node part: the SQLite store of documents, sheets and the FTS5 table.

With a Chroma server the vectors scale out, but every patent is still written to one SQLite file by one
writer. This measures how fast that writer can go and how big the file gets, with nothing else in the way:

- documents are the real patents and sheets of an existing index (default: $PATFIG_TEST_INDEX), cycled
  with new patent and figure ids, so each copy has the real text, claims, descriptions and sheet records;
- each is written exactly as `FigureStore.add_patent` writes SQLite (`record_pending`, then
  `complete_patent`: two transactions per document, WAL journal, the default synchronous mode); the
  Chroma writes are left out, since they go elsewhere in server mode;
- after every batch: documents/s over the batch (wall and CPU time of this process), and the file's size
  after a WAL checkpoint, per figure.

The size at 1M figures is a linear extrapolation (least squares) from the measured sizes against figure
counts; nothing else is extrapolated.

Run:  python -m bench.sqlite_ceiling [--index DIR] [--docs 20000] [--batch 2000] [--budget 420]
Writes bench/results/sqlite_ceiling.json and sqlite_ceiling.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from core.types import Patent, Sheet
from store.index import FigureStore

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
TARGET_FIGURES = 1_000_000


def source_documents(index: Path) -> list[tuple[Patent, list[Sheet]]]:
    """The complete patents of an index with their sheets: the documents to copy."""
    store = FigureStore.open(index)
    try:
        return [(p, store.sheets(p.patent_id)) for p in store.patents()]
    finally:
        store.close()


def copy_of(patent: Patent, sheets: list[Sheet], n: int) -> tuple[Patent, list[Sheet]]:
    """Document `n`: the patent and its sheets under the new id XX<n>."""
    pid = f"XX{n:08d}"
    new_sheets = [s.model_copy(update={"patent_id": pid, "figure_id": f"{pid}-S{s.sheet_no}"}) for s in sheets]
    return patent.model_copy(update={"patent_id": pid}), new_sheets


def file_size(store: FigureStore) -> int:
    """Bytes of the SQLite file after folding the WAL into it."""
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in store.root.glob("patfig.sqlite*"))


def run(docs: list[tuple[Patent, list[Sheet]]], total: int, batch: int, budget: float, root: Path) -> list[dict]:
    """Write up to `total` documents in batches (stopping when the time budget is spent); one row per batch."""
    store = FigureStore.open(root, create=True)
    rows, written, figures, start = [], 0, 0, time.perf_counter()
    try:
        while written < total and time.perf_counter() - start < budget:
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(batch):
                patent, sheets = copy_of(*docs[written % len(docs)], written)
                store.record_pending(patent)
                store.complete_patent(patent, sheets)
                written, figures = written + 1, figures + len(sheets)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            size = file_size(store)
            rows.append({"documents": written, "figures": figures, "docs_per_s": round(batch / wall, 1),
                         "docs_per_cpu_s": round(batch / cpu, 1), "bytes": size,
                         "bytes_per_figure": round(size / figures)})
            print(rows[-1], flush=True)
    finally:
        store.close()
    return rows


def extrapolate(rows: list[dict], figures: int) -> float:
    """Size at `figures` figures by a least-squares line through the measured (figures, bytes) points."""
    xs, ys = [r["figures"] for r in rows], [r["bytes"] for r in rows]
    if len(xs) < 2:
        return ys[0] / xs[0] * figures
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return my + slope * (figures - mx)


def markdown(report: dict) -> str:
    rows = ["| documents | figures | documents/s (wall) | documents/CPU-s | file size | bytes/figure |",
            "|---|---|---|---|---|---|"]
    for r in report["batches"]:
        rows.append(f"| {r['documents']:,} | {r['figures']:,} | {r['docs_per_s']} | {r['docs_per_cpu_s']} | "
                    f"{r['bytes'] / 1e6:.1f} MB | {r['bytes_per_figure']:,} |")
    return "\n".join([
        f"`{report['command']}` on {report['date']}: {report['machine']}; source documents: "
        f"{report['source_documents']} patents with {report['source_figures']} sheets from {report['index']}.", "",
        *rows, "",
        f"Size at {TARGET_FIGURES:,} figures, linear from the measured points: "
        f"{report['extrapolated_bytes_1m'] / 1e9:.1f} GB. Load average at the end: {report['load_avg_end']} "
        "(other jobs shared the machine's cores and disk).", ""])


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=Path(os.environ.get("PATFIG_TEST_INDEX", "data/index")))
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=2_000)
    ap.add_argument("--budget", type=float, default=420, help="seconds; no new batch starts after this")
    ap.add_argument("--out", type=Path, default=RESULTS / "sqlite_ceiling.json")
    args = ap.parse_args()
    docs = source_documents(args.index)
    with tempfile.TemporaryDirectory(prefix="patfig-sqlite-") as tmp:
        batches = run(docs, args.docs, args.batch, args.budget, Path(tmp) / "index")
    report = {"command": "python -m bench.sqlite_ceiling " + " ".join(sys.argv[1:]), "date": time.strftime("%Y-%m-%d"),
              "machine": machine(), "index": str(args.index), "source_documents": len(docs),
              "source_figures": sum(len(s) for _, s in docs), "batches": batches,
              "extrapolated_bytes_1m": round(extrapolate(batches, TARGET_FIGURES)),
              "load_avg_end": round(os.getloadavg()[0], 2)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
