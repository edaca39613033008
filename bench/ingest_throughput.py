"""Ingest throughput: sheets per minute end to end, and the share of time spent reading, on OCR,
encoding and storing.

    python bench/ingest_throughput.py [PATH ...] [--workers N] [--no-ocr] [--json out.json]

Reports sheets per minute (wall clock), the time split summed over documents (read, OCR, encode,
store), and the peak memory of each worker process.

Defaults to every sample patent in ../shared/data/patents, indexed into a fresh temporary folder.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from core.settings import Settings  # noqa: E402
from ingest.discover import discover  # noqa: E402
from ingest.pipeline import ingest_paths  # noqa: E402
from patfig.wiring import build_models, build_services  # noqa: E402


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "patents"
    ap.add_argument("paths", nargs="*", default=[str(default)])
    ap.add_argument("--no-ocr", action="store_true")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: one per core)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    docs, problems = discover(args.paths)
    with tempfile.TemporaryDirectory() as tmp:
        services = build_services(Settings(index_dir=Path(tmp), visual_encoder="linedraw"), create=True)
        t0 = time.perf_counter()
        report = ingest_paths(services, docs, use_ocr=not args.no_ocr, workers=args.workers,
                              parts_factory=build_models,
                              progress=lambda r: print(f"  {r.patent_id or r.source}: {r.status}, {r.sheets} sheets, "
                                                       + ", ".join(f"{k} {v:.1f}s" for k, v in r.seconds.items()),
                                                       file=sys.stderr))
        wall = time.perf_counter() - t0
        stats = services.store.stats()
        services.close()
    summary = report.summary() | {"wall_seconds": round(wall, 1), "documents": len(docs), "machine": machine(),
                                  "ocr": not args.no_ocr, "problems": problems,
                                  "ocr_engine": services.settings.ocr.model_dump().get("engine", "easyocr"),
                                  "figures_with_components": stats["figures_with_components"],
                                  "linked_numerals": stats["linked_numerals"]}
    summary["sheets_per_minute_wall"] = round(summary["sheets"] / wall * 60, 1) if wall else 0.0
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
