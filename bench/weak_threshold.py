"""Where a "weak" match starts: the top calibrated score of nonsense queries against that of real ones.

Runs `tools.search.search_text` on an index for two fixed query lists: nonsense (made-up words and topics no
patent drawing shows) and real requests about the sample patents. A good WEAK_SCORE (core.defaults) lies
above every nonsense query's best score and below most real ones'. Writes the sorted top scores per list.

Run:  python -m bench.weak_threshold --index data/index [--out bench/results/weak_threshold.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.defaults import STRONG_SCORE, WEAK_SCORE
from core.settings import Settings
from patfig.wiring import build_services
from tools.search import search_text

NONSENSE = ("zzqx flibbertigibbet", "qwertyuiop asdf", "blorptang vexillum snoo", "lorem ipsum dolor sit amet",
            "purple monkey dishwasher", "xkcd 927", "banana bread recipe", "taylor swift concert tickets",
            "knitting pattern for a scarf", "medieval poetry sonnet", "gfhjk wqpzm", "the of and",
            "astrology horoscope for virgo", "football league results", "opera libretto")
REAL = ("hydrogen fuel system for an aircraft", "vehicle occupant sensing", "gripping unit of an overhead hoist",
        "fan blade", "flowchart of a method", "charging station for electric vehicles", "turbine cooling fluid",
        "solar panel on a wing", "fuel cell stack", "electric motor propeller", "heat exchanger",
        "battery charging", "wind turbine", "antimicrobial coating", "compressor", "hydrogen tank", "nacelle",
        "rail", "control unit", "sensor")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    services = build_services(Settings(index_dir=args.index))
    out: dict[str, object] = {"index": str(args.index), "weak_score": WEAK_SCORE, "strong_score": STRONG_SCORE}
    for name, queries in (("nonsense", NONSENSE), ("real", REAL)):
        tops = {q: (round(h[0].score, 3) if (h := search_text(services, q, k=1)) else 0.0) for q in queries}
        out[name] = tops
        below = sum(v < WEAK_SCORE for v in tops.values())
        print(f"{name}: {below} of {len(tops)} best scores below {WEAK_SCORE}; sorted: {sorted(tops.values())}")
    services.close()
    if args.out:
        args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
