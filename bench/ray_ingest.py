"""Ingest on Ray against the local process pool: sheets per minute on the same cores, and 1 against 2 nodes.

    python bench/ray_ingest.py [--no-ocr] [--out bench/results/ray_ingest.txt]

The input is a weekly bundle built in a temp dir from the sample USPTO ZIPs (so bundles are measured too).
Each configuration ingests it into a fresh index with the real models (the default visual encoder of an
offline machine, MiniLM, PP-OCR):
  - the local pool: 2 worker processes;
  - Ray, one worker node with 2 CPUs (the same 2 cores: the Ray overhead);
  - Ray, one worker node with 1 CPU, and two worker nodes with 1 CPU each (1 against 2 nodes);
  - the local pool once more: the machine is shared, and its load moves between runs.
The Ray clusters are Ray's own `ray.cluster_utils.Cluster` on this machine (a head without CPUs, where the
driver connects, plus the worker raylets), started before the clock and stopped after each run. Wall time
includes starting the workers and loading their models, as a user's run does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.ingest_throughput import machine  # noqa: E402
from core.settings import Settings  # noqa: E402
from ingest.discover import discover  # noqa: E402
from ingest.pipeline import ingest_paths  # noqa: E402
from patfig.wiring import build_models, build_services  # noqa: E402

SAMPLES = Path(os.environ.get("PATFIG_SAMPLE_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
               / "patents") / "uspto"
CONFIGS = (("local pool, 2 worker processes", None), ("Ray, 1 worker node x 2 CPUs", [2]),
           ("Ray, 1 worker node x 1 CPU", [1]), ("Ray, 2 worker nodes x 1 CPU", [1, 1]),
           ("local pool again (the load moves)", None))


def make_bundle(folder: Path, samples: Path) -> Path:
    path = folder / "I20251021.tar"
    zips = sorted(samples.glob("*.ZIP"))
    if not zips:
        raise SystemExit(f"no sample ZIPs in {samples} (set PATFIG_SAMPLE_DATA)")
    with tarfile.open(path, "w") as tf:
        for z in zips:
            tf.add(z, arcname=f"20251021/UTIL0448/{z.name}")
    return path


def run(name: str, cpus: list[int] | None, bundle: Path, use_ocr: bool, index: Path) -> dict:
    cluster, ray_tmp = None, None
    if cpus is not None:
        from ray.cluster_utils import Cluster

        ray_tmp = tempfile.mkdtemp(prefix="pfrb", dir="/tmp")
        os.environ["RAY_TMPDIR"] = ray_tmp
        os.makedirs(f"{ray_tmp}/ray")
        small = {"object_store_memory": 100 << 20}
        cluster = Cluster(initialize_head=True, connect=False,
                          head_node_args={"num_cpus": 0, "include_dashboard": False, "temp_dir": ray_tmp, **small})
        for n in cpus:
            cluster.add_node(num_cpus=n, **small)
        cluster.wait_for_nodes()
    try:
        docs, problems = discover([str(bundle)])
        assert not problems, problems
        services = build_services(Settings(index_dir=index, visual_encoder="linedraw"), create=True)
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        report = ingest_paths(services, docs, use_ocr=use_ocr, workers=2, parts_factory=build_models,
                              ray_address=cluster.address if cluster else None)
        wall = time.perf_counter() - t0
        services.close()
        s = report.summary()
        assert s["failed"] == 0 and s["indexed"] == len(docs), s
        return {"name": name, "docs": s["indexed"], "sheets": s["sheets"], "wall": wall,
                "spm": s["sheets"] / wall * 60, "nodes": s["documents_per_node"],
                "load": (load0, os.getloadavg()[0])}
    finally:
        if cluster is not None:
            cluster.shutdown()
            os.environ.pop("RAY_TMPDIR", None)
            shutil.rmtree(str(ray_tmp), ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-ocr", action="store_true")
    ap.add_argument("--samples", type=Path, default=SAMPLES)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bundle = make_bundle(tmp, args.samples)
        for i, (name, cpus) in enumerate(CONFIGS):
            r = run(name, cpus, bundle, not args.no_ocr, tmp / f"index{i}")  # a fresh index each
            print(f"{r['name']}: {r['sheets']} sheets in {r['wall']:.1f} s = {r['spm']:.1f} sheets/min "
                  f"(load {r['load'][0]:.1f} -> {r['load'][1]:.1f}) {r['nodes'] or ''}", file=sys.stderr)
            rows.append(r)
    lines = [f"# patfig ingest: local process pool against Ray ({'no OCR' if args.no_ocr else 'with OCR'})",
             f"# machine: {machine()}; shared with other jobs while measured (load averages below), so every",
             "# figure is an upper bound on the time and a lower bound on the speed of an idle machine.",
             f"# command: python bench/ray_ingest.py{' --no-ocr' if args.no_ocr else ''}",
             f"# input: a weekly bundle of the {rows[0]['docs']} sample USPTO ZIPs ({rows[0]['sheets']} sheets), "
             "a fresh index per run, wall time incl. worker start and model loading",
             f"{'configuration':34} {'sheets':>6} {'seconds':>8} {'sheets/min':>10} {'load 1m before/after':>21}"]
    for r in rows:
        lines.append(f"{r['name']:34} {r['sheets']:6d} {r['wall']:8.1f} {r['spm']:10.1f} "
                     f"{r['load'][0]:10.1f}/{r['load'][1]:<10.1f}")
    base = (rows[0]["spm"] + rows[4]["spm"]) / 2
    same = rows[1]["spm"]
    lines.append(f"Ray on the same 2 cores against the mean of the two local-pool runs: {(same - base) / base:+.1%} "
                 "sheets/min (negative = Ray overhead)")
    lines.append(f"2 worker nodes against 1 (1 CPU each): x{rows[3]['spm'] / rows[2]['spm']:.2f} sheets/min")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
