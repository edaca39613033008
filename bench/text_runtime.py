"""Text encoding throughput, sentence-transformers (torch) against ONNX Runtime, on the batches ingest encodes.

Texts: paragraphs, claims and several-paragraph passages (past 256 word pieces) of the sample patents, in
batches of `TextSettings.batch_size` (32). Each runtime encodes the same texts at 1 thread (an ingest worker's
share of the 2-core machine) and at 2; the first call (load) is timed apart, then the best of `--repeats`.
Also reports the largest difference between the two runtimes' vectors.

    python -m bench.text_runtime [--n 512] [--repeats 3] [--out bench/results/text_runtime.json]
"""

from __future__ import annotations

import argparse
import json
import os
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


def timed(make, texts: list[str], threads: int, repeats: int) -> tuple[float, float, np.ndarray]:
    """(load + first batch s, best texts/s, vectors) of the encoder `make(threads)` on `texts`."""
    import torch

    torch.set_num_threads(threads)
    enc = make(threads)
    t = time.perf_counter()
    enc.embed_texts(texts[:32])
    first = time.perf_counter() - t
    best = float("inf")
    vecs = np.zeros(0)
    for _ in range(repeats):
        t = time.perf_counter()
        vecs = np.array(enc.embed_texts(texts))
        best = min(best, time.perf_counter() - t)
    return first, len(texts) / best, vecs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    from models.text import StTextEncoder
    from models.text_onnx import OnnxTextEncoder

    texts = sample_texts(args.n)
    rows = []
    vectors = {}
    for threads in (1, 2):
        for runtime, make in (("torch", lambda t: StTextEncoder(TextSettings())),
                              ("onnx", lambda t: OnnxTextEncoder(TextSettings(threads=t), strict=True))):
            first, rate, vecs = timed(make, texts, threads, args.repeats)
            vectors[runtime] = vecs
            rows.append({"runtime": runtime, "threads": threads, "load_and_first_batch_s": round(first, 2),
                         "texts_per_s": round(rate, 1)})
            print(f"{runtime:5s} threads={threads}: load+first batch {first:.2f} s, {rate:.1f} texts/s")
    diff = float(np.abs(vectors["torch"] - vectors["onnx"]).max())
    print(f"{len(texts)} texts, mean {np.mean([len(t) for t in texts]):.0f} chars; max |torch - onnx| = {diff:.2e}")
    if args.out:
        args.out.write_text(json.dumps({"texts": len(texts), "max_abs_diff": diff, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
