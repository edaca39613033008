"""What a rough sketch finds: a few shapes drawn as a person draws them on the sketch pad, searched on an index.

Each sketch is drawn here with PIL the way the web app's pad makes one: black strokes (3 pixels wide, the pad's
pen; 2 and 5 to compare) on a transparent 600×600 pad. It goes through the app's own path
(`tools.sketch.sketch_query`: laid on white, framed around the strokes), then `tools.search.search_image` as
the chat's search runs it: the sketch alone, and the sketch with a few words (text weight 0.5, the app's
default). A hit counts as relevant when its patent's title names the drawn thing (a word list per sketch,
e.g. "wheel"); the sample has no bottle patent, so the bottle shows what a sketch finds when nothing in the
index is like it.

    python bench/sketch_queries.py --index /tmp/<copy of the whole-sample index>
    # writes bench/results/sketch_queries.txt and the sketches as PNGs under bench/results/sketch_queries/
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.defaults import DEFAULT_TEXT_WEIGHT  # noqa: E402
from core.settings import Settings  # noqa: E402
from patfig.wiring import build_services  # noqa: E402
from tools.phrasing import strength  # noqa: E402
from tools.relevance import calibrated  # noqa: E402
from tools.search import search_image, search_text  # noqa: E402
from tools.sketch import sketch_query  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
PAD = (600, 600)
PEN = 3  # the web pad's pen (ui.web.layout.SKETCH_PEN): its top hits are listed; --pens compares others
INK = (0, 0, 0, 255)
K = 10
SHOWN = 5


def _pad() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGBA", PAD, (0, 0, 0, 0))
    return img, ImageDraw.Draw(img)


def wheel(pen: int) -> Image.Image:
    """A wheel seen from the side: tyre, rim, hub and ten spokes."""
    img, d = _pad()
    c = 300
    for r in (230, 185, 40):
        d.ellipse((c - r, c - r, c + r, c + r), outline=INK, width=pen)
    for i in range(10):
        t = 2 * math.pi * i / 10
        d.line((c + 40 * math.cos(t), c + 40 * math.sin(t), c + 185 * math.cos(t), c + 185 * math.sin(t)),
               fill=INK, width=pen)
    return img


def shoe(pen: int) -> Image.Image:
    """A shoe's outline from the side: sole, toe, upper, collar and heel, with a few lace lines."""
    img, d = _pad()
    outline = [(70, 420), (520, 420), (548, 400), (545, 372), (500, 345), (420, 318), (350, 290), (300, 230),
               (250, 205), (140, 200), (105, 230), (85, 300), (70, 380), (70, 420)]
    d.line(outline, fill=INK, width=pen, joint="curve")
    d.line([(72, 392), (540, 392)], fill=INK, width=pen)  # the sole's upper edge
    for i in range(4):
        x = 300 + 32 * i
        d.line([(x, 240 + 18 * i), (x + 28, 262 + 18 * i)], fill=INK, width=pen)
    return img


def bottle(pen: int) -> Image.Image:
    """A bottle: body, shoulders, neck, cap and label."""
    img, d = _pad()
    body = [(270, 175), (270, 215), (215, 275), (215, 545), (385, 545), (385, 275), (330, 215), (330, 175)]
    d.line(body, fill=INK, width=pen, joint="curve")
    d.rectangle((260, 120, 340, 175), outline=INK, width=pen)  # the cap
    d.rectangle((215, 340, 385, 450), outline=INK, width=pen)  # the label
    return img


def keyboard(pen: int) -> Image.Image:
    """A keyboard from above: the case and four rows of keys."""
    img, d = _pad()
    d.rounded_rectangle((40, 200, 560, 410), radius=14, outline=INK, width=pen)
    for row in range(4):
        y = 222 + 46 * row
        for col in range(12):
            x = 58 + 41 * col
            d.rectangle((x, y, x + 33, y + 36), outline=INK, width=max(1, pen - 1))
    return img


def buckle(pen: int) -> Image.Image:
    """A belt buckle from the front: a rounded frame, its opening and the prong across it."""
    img, d = _pad()
    d.rounded_rectangle((130, 180, 470, 420), radius=40, outline=INK, width=pen)
    d.rounded_rectangle((180, 230, 420, 370), radius=20, outline=INK, width=pen)
    d.line([(155, 300), (445, 300)], fill=INK, width=pen)
    return img


# name → (drawing, words to add, title words that make a hit relevant)
SKETCHES: dict[str, tuple[Callable[[int], Image.Image], str, tuple[str, ...]]] = {
    "wheel": (wheel, "wheel", ("wheel",)),
    "shoe": (shoe, "shoe", ("shoe", "midsole")),
    "bottle": (bottle, "bottle", ("bottle",)),
    "keyboard": (keyboard, "keyboard", ("keyboard",)),
    "belt buckle": (buckle, "belt buckle", ("buckle",)),
}
MODES = (("alone", False), ("with words", True))


def run(index: Path, out: Path, pngs: Path | None, pens: list[int]) -> str:
    """Every sketch at every pen width, alone and with words; the top hits listed for the pad's own pen."""
    services = build_services(Settings(index_dir=index))
    stats = services.store.stats()
    titles = {p.patent_id: p.title or "?" for p in services.store.patents()}
    relevant_in_index = {name: sorted(pid for pid, t in titles.items() if any(w in t.lower() for w in words))
                         for name, (_, _, words) in SKETCHES.items()}
    lines = [
        "# What a sketch finds (bench/sketch_queries.py)",
        f"# {datetime.datetime.now().isoformat(timespec='minutes')}, index {index}: {stats['patents']} patents, "
        f"{stats['figures']} figures; encoders " + ", ".join(f"{k} {v['name']}" for k, v in stats["encoders"].items()),
        f"# sketches: black strokes on a {PAD[0]}x{PAD[1]} transparent pad, through tools.sketch.sketch_query; top {K};"
        " relevant = the patent's title names the drawn thing; top hits listed for the web pad's pen",
        f"# (ui.web.layout.SKETCH_PEN = {PEN} px); with words: text weight {DEFAULT_TEXT_WEIGHT:.2f} (the app's)",
        "",
    ]
    summary = []
    for pen in pens:
        firsts: dict[str, list[int | None]] = {m: [] for m, _ in MODES}
        times = []
        for name, (draw, words, title_words) in SKETCHES.items():
            query = sketch_query(draw(pen))
            detail = pen == PEN
            if detail and pngs is not None:
                pngs.mkdir(parents=True, exist_ok=True)
                query.convert("1").save(pngs / f"{name.replace(' ', '_')}.png", optimize=True)
            if detail:
                have = relevant_in_index[name]
                lines.append(f"## {name} (pen {pen} px): {len(have)} patent(s) in the index with it in the title: "
                             f"{', '.join(have) or 'none'}")
            for mode, with_words in MODES:
                text = words if with_words else None
                t0 = time.perf_counter()
                hits = search_image(services, query, text=text, text_weight=DEFAULT_TEXT_WEIGHT if text else 0.0, k=K)
                times.append(time.perf_counter() - t0)
                ranks = [h.rank for h in hits if any(w in titles.get(h.patent_id, "").lower() for w in title_words)]
                firsts[mode].append(ranks[0] if ranks else None)
                if not detail:
                    continue
                how = f"first relevant at #{ranks[0]}" if ranks else f"no relevant hit in the top {K}"
                label = f"with the words '{text}'" if text else "the sketch alone"
                lines.append(f"  {label}: {how}; {len(ranks)} relevant in the top {K}")
                for h in hits[:SHOWN]:
                    mark = "*" if h.rank in ranks else " "
                    word = strength(h.score) if calibrated(h) else "rank only"
                    lines.append(f"   {mark}#{h.rank:<2} {h.patent_id:<14} FIG {','.join(h.figs) or '?':<6} "
                                 f"{h.kind:<10} {h.score:.3f} {word:<6} {titles.get(h.patent_id, '?')[:58]}")
            if detail:
                lines.append("")
        for mode, got in firsts.items():
            found = [f for f in got if f]
            ranks_text = ", ".join(f"{n} #{f}" if f else f"{n} -" for n, f in zip(SKETCHES, got, strict=True))
            summary.append(f"pen {pen} px, {mode:<10}: relevant first for {sum(f == 1 for f in found)} of {len(got)}, "
                           f"in the top {K} for {len(found)} of {len(got)}  ({ranks_text})")
        summary.append(f"pen {pen} px: median search {1000 * sorted(times)[len(times) // 2]:.0f} ms")
    firsts_words = []
    for name, (_, words, title_words) in SKETCHES.items():  # the baseline: the words without a sketch
        hits = search_text(services, words, k=K)
        ranks = [h.rank for h in hits if any(w in titles.get(h.patent_id, "").lower() for w in title_words)]
        firsts_words.append(f"{name} #{ranks[0]}" if ranks else f"{name} -")
    summary.append(f"no sketch, the words alone (text search): {', '.join(firsts_words)}")
    services.close()
    text = "\n".join([*lines, "# Summary: first relevant rank per sketch ('-': none in the top 10)", *summary]) + "\n"
    out.write_text(text, encoding="utf-8")
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True, help="an index folder (a copy: searching may cache)")
    ap.add_argument("--out", type=Path, default=RESULTS / "sketch_queries.txt")
    ap.add_argument("--pngs", type=Path, default=RESULTS / "sketch_queries", help="where to save the sketches")
    ap.add_argument("--pens", default="2,3,5", help="pen widths in pad pixels to compare (comma-separated)")
    args = ap.parse_args()
    print(run(args.index, args.out, args.pngs, [int(p) for p in args.pens.split(",")]))


if __name__ == "__main__":
    main()
