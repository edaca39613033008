"""One-shot CLI queries: wall time and peak memory of `patfig search text|image` in a fresh process.

Each query runs `--runs` times as ``python -m patfig search ... --json`` under ``/usr/bin/time -v`` from each
checkout given with ``--repo`` (e.g. main before a change and a worktree after it), alternating the checkouts
so that both see the same load. Reports the median and the range of wall seconds, CPU seconds (user + system:
what the query costs, less sensitive than wall time to a shared machine's load) and peak RSS (MB), the load
average before the runs, and which heavy modules each query imported (one extra run with ``-X importtime``).
The index is copied to a temporary folder first (a query may add tables to an old index); the query image is
sheet 2 of US12448135 from the sample data, as PNG.

    python -m bench.one_shot_cli --index /tmp/pf_full --repo /work/main --repo . [--runs 5]
        [--out bench/results/one_shot_cli.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SAMPLES = Path(os.environ.get("PATFIG_SAMPLE_DATA", Path(__file__).resolve().parents[2] / "shared/data/patents"))
HEAVY = ("torch", "transformers", "sentence_transformers", "easyocr", "sklearn", "scipy", "langchain_core",
         "gradio", "onnxruntime", "chromadb")
ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATFIG_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def query_image(folder: Path) -> Path:
    """Sheet 2 of US12448135 as a PNG in `folder`."""
    from PIL import Image

    with zipfile.ZipFile(SAMPLES / "uspto/US12448135-20251021.ZIP") as zf:
        name = next(n for n in zf.namelist() if n.endswith("D00002.TIF"))
        image = Image.open(io.BytesIO(zf.read(name)))
        path = folder / "US12448135-D00002.png"
        image.save(path)
    return path


def timed_run(python: str, repo: Path, args: list[str]) -> dict[str, float]:
    """Wall seconds and peak RSS (MB) of one `python -m patfig ARGS` from `repo`."""
    cmd = ["/usr/bin/time", "-v", python, "-m", "patfig", *args]
    run = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, env={**os.environ, **ENV}, timeout=600)
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} from {repo} failed:\n{run.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", run.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr)
    cpu = [float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", run.stderr)]
    assert wall and rss and len(cpu) == 2, run.stderr[-1000:]
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    return {"wall_s": seconds, "cpu_s": sum(cpu), "rss_mb": int(rss.group(1)) / 1024}


def imported(python: str, repo: Path, args: list[str]) -> list[str]:
    """The heavy top-level packages one run imports (python -X importtime)."""
    run = subprocess.run([python, "-X", "importtime", "-m", "patfig", *args], cwd=repo, capture_output=True,
                         text=True, env={**os.environ, **ENV}, timeout=600)
    names = {line.split("|")[-1].strip().split(".")[0] for line in run.stderr.splitlines()
             if line.startswith("import time:")}
    return [h for h in HEAVY if h in names]


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    out = {}
    for key in ("wall_s", "cpu_s", "rss_mb"):
        values = [r[key] for r in runs]
        out |= {f"{key}_median": round(statistics.median(values), 2), f"{key}_min": round(min(values), 2),
                f"{key}_max": round(max(values), 2)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--repo", type=Path, action="append", required=True, help="A checkout to run from (repeat).")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--text", default="hydrogen tank")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="one_shot_") as tmp:
        index = Path(tmp) / "index"
        shutil.copytree(args.index, index)
        image = query_image(Path(tmp))
        queries = {"text": ["search", "text", args.text, "--index", str(index), "--json"],
                   "image": ["search", "image", str(image), "--index", str(index), "--json"]}
        for repo in args.repo:  # warm the page cache and any one-time export, untimed
            for q in queries.values():
                timed_run(args.python, repo.resolve(), q)
        load = os.getloadavg()
        runs: dict[tuple[str, str], list[dict[str, float]]] = {}
        for _ in range(args.runs):
            for name, q in queries.items():
                for repo in args.repo:
                    runs.setdefault((str(repo), name), []).append(timed_run(args.python, repo.resolve(), q))
        rows = []
        for (repo, name), rs in runs.items():
            row = {"repo": repo, "query": name, "runs": len(rs), **summary(rs),
                   "imports": imported(args.python, Path(repo).resolve(), queries[name])}
            rows.append(row)
            print(f"{name:5s} {repo:30s} wall {row['wall_s_median']:.2f} s ({row['wall_s_min']:.2f}-"
                  f"{row['wall_s_max']:.2f}), CPU {row['cpu_s_median']:.2f} s, "
                  f"peak RSS {row['rss_mb_median']:.0f} MB ({row['rss_mb_min']:.0f}-"
                  f"{row['rss_mb_max']:.0f}); imports {', '.join(row['imports'])}")
    print(f"load average before the runs: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
    if args.out:
        args.out.write_text(json.dumps({"index": str(args.index), "load_average": load, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
