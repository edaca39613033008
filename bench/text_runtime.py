"""Text encoding throughput, sentence-transformers (torch) against ONNX Runtime, on the batches ingest encodes.

Texts: paragraphs, claims and several-paragraph passages (past 256 word pieces) of the sample patents, in
batches of `TextSettings.batch_size` (32). Each runtime encodes the same texts at 1 thread (an ingest worker's
share of the 2-core machine) and at 2; the first call (load) is timed apart, then `--rounds` rounds in which the
two runtimes take turns (a shared machine's load falls on both alike); the median round counts. Also reports the
largest difference between the two runtimes' vectors.

    python -m bench.text_runtime [--n 256] [--rounds 5] [--out bench/results/text_runtime.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from core.settings import TextSettings

SAMPLES = Path(os.environ.get("PATFIG_SAMPLE_DATA", Path(__file__).resolve().parents[2] / "shared/data/patents"))


def sample_texts(n: int) -> list[str]:
    """n real texts of the sample patents: paragraphs, claims and 4-paragraph passages."""
    from ingest.uspto import read_uspto

    texts: list[str] = []
    for z in sorted((SAMPLES / "uspto").glob("*.ZIP")):
        p = read_uspto(z).patent
        paras = [d.text for d in p.description]
        texts += paras + p.claims + [" ".join(paras[i:i + 4]) for i in range(0, len(paras), 4)]
        if len(texts) >= n:
            break
    return texts[:n]


def interleaved(encoders: dict, texts: list[str], rounds: int) -> dict[str, list[float]]:
    """Seconds per round of each encoder over `texts`, the encoders taking turns so they share the machine's load."""
    times: dict[str, list[float]] = {name: [] for name in encoders}
    for _ in range(rounds):
        for name, enc in encoders.items():
            t = time.perf_counter()
            enc.embed_texts(texts)
            times[name].append(time.perf_counter() - t)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    import torch

    from models.text import StTextEncoder
    from models.text_onnx import OnnxTextEncoder

    texts = sample_texts(args.n)
    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        encoders = {"torch": StTextEncoder(TextSettings()), "onnx": OnnxTextEncoder(TextSettings(threads=threads),
                                                                                     strict=True)}
        loads = {}
        for name, enc in encoders.items():
            t = time.perf_counter()
            enc.embed_texts(texts[:32])
            loads[name] = time.perf_counter() - t
        a, b = (np.array(e.embed_texts(texts)) for e in encoders.values())
        diff = float(np.abs(a - b).max())
        for name, secs in interleaved(encoders, texts, args.rounds).items():
            rate = len(texts) / statistics.median(secs)
            rows.append({"runtime": name, "threads": threads, "load_and_first_batch_s": round(loads[name], 2),
                         "texts_per_s_median": round(rate, 1), "texts_per_s_best": round(len(texts) / min(secs), 1),
                         "max_abs_diff": diff})
            print(f"{name:5s} threads={threads}: load+first batch {loads[name]:.2f} s, {rate:.1f} texts/s median "
                  f"({len(texts) / min(secs):.1f} best) over {args.rounds} interleaved rounds")
    diff = max(r["max_abs_diff"] for r in rows)
    print(f"{len(texts)} texts, mean {np.mean([len(t) for t in texts]):.0f} chars; max |torch - onnx| = {diff:.2e}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.out:
        args.out.write_text(json.dumps({"texts": len(texts), "load_average": os.getloadavg(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
