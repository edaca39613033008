"""Pure display helpers for the web app: hits, breakdowns, reference signs and clusters → gallery items,
table rows and markdown. No search logic lives here; nothing here calls a tool or the agent.

Images are only ever downscaled for display (thumbnails, previews); searches use the original files.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from core.types import Box, Breakdown, Hit, Patent, ResultSet, Sheet
from ingest.segment import figure_crop
from tools.phrasing import source_words

THUMB_SIDE = 420  # gallery tiles
READABLE_SIDE = 1600  # figure detail: readable, but not the multi-megapixel original
PREVIEW_SIDE = 900  # the query drawing in which a crop is selected
CropBox = tuple[float, float, float, float]

BREAKDOWN_HEADERS = ["modality", "how", "raw score", "normalised (0-1)", "rank in modality", "fusion weight"]
REFSIGN_HEADERS = ["numeral", "component", "on this sheet", "linked sentences"]
MODALITY_NAMES = {
    "visual": "drawing similarity",
    "text": "linked text",
    "clip_text": "words → drawing (CLIP)",
    "lexical": "boolean text (bm25)",
    "passage": "patent text passages",
    "component": "component names",
}


# ---------------------------------------------------------------- images


def _cache_name(path: Path, side: int, extra: str = "") -> str:
    st = path.stat()
    key = f"{path.resolve()}|{st.st_mtime_ns}|{st.st_size}|{side}|{extra}"
    return hashlib.sha1(key.encode()).hexdigest()[:20]


def _cached_picture(src: Path, cache_dir: Path, max_side: int, extra: str,
                    make: Callable[[Image.Image], Image.Image | None]) -> str:
    """A cached PNG, no larger than `max_side`, of what `make` draws from the image at `src` (None: the original
    itself will do). Cached by path, mtime, size, side and `extra`; sessions that ask for the same new picture
    at once: one makes it, the others wait for it."""
    out = cache_dir / f"{src.stem[:40]}-{_cache_name(src, max_side, extra)}.png"
    if out.exists():
        return str(out)
    with _making(out):
        if out.exists():
            return str(out)
        with Image.open(src) as im:
            img = make(im)
        if img is None:
            return str(src)
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        cache_dir.mkdir(parents=True, exist_ok=True)
        save_png(img, out, optimize=True)
    return str(out)


def downscaled(path: str | Path, cache_dir: Path, max_side: int) -> str:
    """A PNG copy of an image no larger than `max_side` on its longest side (the original if already small
    enough and a PNG/JPEG a browser can show). Cached by path, mtime and size."""

    def make(img: Image.Image) -> Image.Image | None:
        if max(img.size) <= max_side and img.format in ("PNG", "JPEG"):
            return None
        return img.convert("L" if img.mode in ("1", "L", "I;16") else "RGB")

    return _cached_picture(Path(path), cache_dir, max_side, "", make)


def figure_picture(path: str | Path, box: Box | None, cache_dir: Path, max_side: int, *, frame: bool = False) -> str:
    """The picture of a figure no larger than `max_side`: its region cut from the sheet (`frame` False, gallery
    tiles), or the whole sheet with the region framed in red (`frame` True, the figure's detail). A figure that
    is the whole sheet (`box` None) is the downscaled sheet. Cached like `downscaled`."""
    if box is None:
        return downscaled(path, cache_dir, max_side)

    def make(im: Image.Image) -> Image.Image:
        img = im.convert("RGB")
        if not frame:
            return figure_crop(img, box)
        line = max(3, round(min(img.size) / 250))
        ImageDraw.Draw(img).rectangle((box.x0, box.y0, box.x1, box.y1), outline=(220, 30, 30), width=line)
        return img

    coords = f"{box.x0:.0f},{box.y0:.0f},{box.x1:.0f},{box.y1:.0f}"
    return _cached_picture(Path(path), cache_dir, max_side, f"{frame}|{coords}", make)


_MAKING: dict[Path, threading.Lock] = {}  # a lock per cached picture being made (see `_making`)
_MAKING_LOCK = threading.Lock()


@contextlib.contextmanager
def _making(out: Path) -> Iterator[None]:
    """Hold the lock of one cached picture while it is made; the lock is dropped when nobody needs it."""
    with _MAKING_LOCK:
        lock = _MAKING.setdefault(out, threading.Lock())
    with lock:
        try:
            yield
        finally:
            with _MAKING_LOCK:
                _MAKING.pop(out, None)


def save_png(img: Image.Image, out: Path, **options: object) -> None:
    """Write a PNG under a temporary name, then rename it: a session that finds `out` (another session may be
    writing the same cached picture at this moment) never reads half of it."""
    tmp = out.with_name(f"{out.stem}.{os.getpid()}-{threading.get_ident()}.tmp")
    img.save(tmp, format="PNG", **options)
    os.replace(tmp, out)


def crop_preview(
    image: Image.Image, cache_dir: Path, key: str, crop: CropBox | None = None,
    corner: tuple[float, float] | None = None, max_side: int = PREVIEW_SIDE,
) -> tuple[str, float]:
    """The query drawing downscaled for display, with the crop box (in original pixels) drawn on it and
    a pending first corner marked. Returns the PNG path and the factor from preview to original pixels."""
    scale = max(image.size) / max_side if max(image.size) > max_side else 1.0
    shown = image.convert("RGB")
    if scale > 1.0:
        shown = shown.resize((max(1, round(image.width / scale)), max(1, round(image.height / scale))),
                             Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(shown)
    if crop is not None:
        x0, y0, x1, y1 = (c / scale for c in crop)
        draw.rectangle((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), outline=(220, 30, 30), width=3)
    if corner is not None:
        cx, cy = corner[0] / scale, corner[1] / scale
        draw.ellipse((cx - 6, cy - 6, cx + 6, cy + 6), outline=(220, 30, 30), width=3)
        draw.line((cx - 10, cy, cx + 10, cy), fill=(220, 30, 30), width=1)
        draw.line((cx, cy - 10, cx, cy + 10), fill=(220, 30, 30), width=1)
    tag = hashlib.sha1(f"{key}|{crop}|{corner}".encode()).hexdigest()[:16]
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = cache_dir / f"query-{tag}.png"
    save_png(shown, out)
    return str(out), scale


def normalise_crop(values: Sequence[float | None]) -> CropBox | None:
    """Four crop fields → a box with x0 <= x1 and y0 <= y1, or None when no crop is set (all empty or 0)."""
    vals = [float(v) if v not in (None, "") else 0.0 for v in values]
    if len(vals) != 4 or not any(vals):
        return None
    x0, y0, x1, y1 = vals
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


# ---------------------------------------------------------------- results


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def figs_text(figs: Sequence[str]) -> str:
    return ", ".join(figs) if figs else "?"


def tile_caption(hit: Hit) -> str:
    """Rank, patent number, FIG numbers, figure kind and fused score of a gallery tile."""
    return f"#{hit.rank} {hit.patent_id} · FIG {figs_text(hit.figs)} · {hit.kind} · {hit.score:.3f}"


def gallery_items(hits: Iterable[Hit], cache_dir: Path) -> list[tuple[str, str]]:
    """Gallery (thumbnail, caption) pairs, most relevant first. Hits whose image is missing are skipped."""
    items = []
    for h in sorted(hits, key=lambda h: h.rank):
        if h.image_path and Path(h.image_path).is_file():
            items.append((figure_picture(h.image_path, h.box, cache_dir, THUMB_SIDE), tile_caption(h)))
    return items


def set_label(rs: ResultSet) -> str:
    parent = f", from #{rs.parent}" if rs.parent else ""
    return f"#{rs.set_id}: {rs.origin} ({plural(len(rs.hits), 'hit')}{parent})"


def set_summary(rs: ResultSet | None) -> str:
    """Markdown above the gallery: which set is shown and how it came to be."""
    if rs is None:
        return "No results yet. Ask in the chat, upload a drawing, or try an example."
    if not rs.hits:
        return f"**Result set #{rs.set_id}** — no figures match ({_md(rs.origin)}). Step back or loosen the filters."
    parent = f" · refined from #{rs.parent}" if rs.parent else ""
    return (f"**Result set #{rs.set_id}** — {plural(len(rs.hits), 'figure')} · {_md(rs.origin)}{parent}  \n"
            "Click a tile for the figure, its reference signs and why it ranks where it does.")


def history_choices(sets: Iterable[ResultSet]) -> list[tuple[str, int]]:
    """Dropdown choices (label, set id) for the result-set history, newest first."""
    return [(set_label(rs), rs.set_id) for rs in sorted(sets, key=lambda r: -r.set_id)]


# ---------------------------------------------------------------- figure detail


def _date(d: int | None) -> str:
    if not d:
        return "?"
    s = str(d)
    return f"{s[:4]}-{s[4:6]}-{s[6:]}" if len(s) == 8 else s


def figure_markdown(hit: Hit, patent: Patent | None, sheet: Sheet | None) -> str:
    """Bibliographic data and the figure description of a hit."""
    lines = [f"### #{hit.rank} · {hit.patent_id} · sheet {hit.sheet_no} · FIG {figs_text(hit.figs)}"]
    title = patent.title if patent else hit.title
    if title:
        lines.append(f"**{_md(title)}**")
    kind_code = f" {patent.kind}" if patent and patent.kind else ""
    facts = [f"{hit.office or '?'}{kind_code}", f"published {_date(hit.pub_date)}", f"{hit.kind}, {hit.view} view"]
    if patent and patent.applicants:
        facts.append(_md(", ".join(patent.applicants[:3])))
    lines.append(" · ".join(facts))
    if hit.cpc:
        lines.append("CPC: " + ", ".join(f"`{c}`" for c in hit.cpc[:8]))
    desc = sheet.description if sheet and sheet.description else hit.description
    lines.append(f"> {_md(desc)}" if desc else "_No figure description found in the text for this sheet._")
    if hit.passages:
        lines.append("**Matching passages**\n" + "\n".join(f"- {_md(p[:300])}" for p in hit.passages[:3]))
    if sheet is not None:
        lines.append(f"_{len(sheet.components)} reference signs linked on this sheet by OCR "
                     f"(FIG numbers from {sheet.figs_from})._")
    return "\n\n".join(lines)


def refsign_rows(sheet: Sheet | None, patent: Patent | None, max_sentences: int = 2) -> list[list[str]]:
    """The reference-sign table: numeral, component, how often OCR found it on the sheet, linked sentences."""
    if sheet is None:
        return []
    rows = []
    signs = patent.refsigns if patent else {}
    for c in sorted(sheet.components, key=lambda c: _numeral_key(c.numeral)):
        sign = signs.get(c.numeral)
        sentences = sign.sentences[:max_sentences] if sign else []
        text = " | ".join(_clip(s, 220) for s in sentences)
        rows.append([c.numeral, c.label or (sign.label if sign else ""), str(len(c.boxes)), text])
    return rows


def _numeral_key(n: str) -> tuple[int, str]:
    digits = "".join(ch for ch in n if ch.isdigit())
    return (int(digits) if digits else 10**9, n)


# ---------------------------------------------------------------- explanation


def breakdown_rows(bd: Breakdown) -> list[list[Any]]:
    """Per-modality scores and ranks with their fusion weights, one row per modality."""
    rows = []
    for name, m in sorted(bd.modalities.items(), key=lambda kv: -bd.weights.get(kv[0], 0.0)):
        rows.append([MODALITY_NAMES.get(name, name), source_words(name, m.path), round(m.raw, 4), round(m.norm, 4),
                     m.rank, round(bd.weights.get(name, 0.0), 3)])
    return rows


def breakdown_markdown(hit: Hit) -> str:
    """Fused score, method, matched terms and components, filters and query of a hit, as markdown."""
    bd = hit.breakdown
    method = {"odds": "weighted mean of log-odds", "avg": "weighted average",
              "max": "maximum", "rrf": "reciprocal-rank fusion",
              "single": "one modality"}.get(bd.method, bd.method)
    lines = [f"**Fused score {bd.fused:.3f}** ({method}) for #{hit.rank} {hit.patent_id} FIG {figs_text(hit.figs)}"]
    lines.append("Matched terms: " + (", ".join(f"`{t}`" for t in bd.matched_terms) or "none"))
    if bd.matched_components:
        lines.append("Matched components: " + ", ".join(f"{c.numeral} {_md(c.label)}" for c in bd.matched_components))
    if bd.filters:
        lines.append("Filters: " + _md(", ".join(f"{k}={v}" for k, v in bd.filters.items())))
    q = {k: _query_value(k, v) for k, v in bd.query.items() if v not in (None, "", [])}
    if q:
        lines.append("Query: " + _md(", ".join(f"{k}={v}" for k, v in q.items())))
    return "  \n".join(lines)


def _query_value(key: str, value: Any) -> Any:
    if key == "image":
        return Path(str(value)).name
    if key == "crop" and isinstance(value, list | tuple):
        return "(" + ", ".join(f"{float(c):.0f}" for c in value) + ")"
    if key == "same_picture" and isinstance(value, dict):  # one picture indexed twice (tools.verify.SAME_PICTURE)
        return "(" + ", ".join(f"{i} {float(a):.1%}" for i, a in value.items()) + ")"
    return value


def explanation_markdown(text: str, facts: dict[str, Any] | None = None) -> str:
    out = _md_block(text)
    if facts:
        out += "\n\n<details><summary>facts used</summary>\n\n" + "\n".join(
            f"- **{html.escape(str(k))}**: {html.escape(_clip(str(v), 300))}" for k, v in facts.items()
        ) + "\n\n</details>"
    return out


# ---------------------------------------------------------------- clusters


def cluster_heading(cluster: Any) -> str:
    """Title, keywords and size of one cluster (a tools.cluster.Cluster)."""
    src = " (LLM title)" if getattr(cluster, "title_source", "") == "llm" else ""
    kws = ", ".join(cluster.keywords[:8]) if cluster.keywords else "no keywords"
    return f"**{cluster.cluster_id}. {_md(cluster.title)}**{src} · {plural(len(cluster.hits), 'figure')} · _{_md(kws)}_"


def clusters_summary(result: Any) -> str:
    how = getattr(result, "k_method", "")
    return f"**{result.k} groups** of the current set (k chosen by {how or 'the caller'}). Each row scrolls."


# ---------------------------------------------------------------- chat and status


def tool_step(name: str, args: dict[str, Any], summary: str, ok: bool, error: str | None) -> dict[str, Any]:
    """A collapsible chat step for one tool call: the title names the tool, the body its arguments."""
    shown = {k: v for k, v in args.items() if v not in (None, "", [], {})}
    arg_lines = "\n".join(f"- **{k}**: {_md(_clip(str(v), 200))}" for k, v in shown.items()) or "- (no arguments)"
    body = (summary or "") + ("\n\n" if summary else "") + arg_lines
    if not ok:
        body = f"⚠ {_md(error or 'failed')}\n\n" + arg_lines
    title = f"{'⚙' if ok else '⚠'} {name}"
    return {"role": "assistant", "content": body, "metadata": {"title": title, "status": "done"}}


def notice_message(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": _md_block(text), "metadata": {"title": "ℹ Notice", "status": "done"}}


def status_markdown(status: dict[str, Any], stats: dict[str, Any]) -> str:
    """The status panel: index, encoders and the LLM backend with its state."""
    enc = stats.get("encoders", {})
    lines = [
        f"**Index** `{stats.get('index', '?')}`: {stats.get('patents', 0)} patents, {stats.get('sheets', 0)} "
        f"drawing sheets, {stats.get('figures', stats.get('sheets', 0))} figures "
        f"({stats.get('figures_with_components', 0)} with OCR-linked reference signs)",
        "**Encoders**: " + (", ".join(f"{k} `{v['name']}`" for k, v in enc.items()) or "none recorded"),
    ]
    backend = str(status.get("backend", "?"))
    model = status.get("model", "")
    if backend == "offline":
        state = "offline planner" + (f": {status['reason']}" if status.get("reason") else "")
    else:
        state = "answering" if status.get("reachable") else f"not reachable ({status.get('reason', '')})"
    shown_model = f" `{html.escape(str(model)).replace('`', '')}`" if model else ""
    lines.append(f"**Chat backend**: {_md(backend)}{shown_model} — {_md(state)}")
    return "  \n".join(lines)


# ---------------------------------------------------------------- text helpers


def _clip(s: str, n: int) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def _md(s: str) -> str:
    """Text from documents shown as markdown: escape the characters that would become markup."""
    out = html.escape(str(s), quote=False)
    for ch in ("*", "_", "`", "#", "[", "]", "|"):
        out = out.replace(ch, "\\" + ch)
    return out


def _md_block(s: str) -> str:
    return html.escape(str(s), quote=False)
