"""Reference-sign overlays: a stored sheet with its OCR-read numerals boxed and labelled ("104 motor").

Boxes come from `Sheet.components[i].boxes`, in the coordinates of the stored sheet image. Renders are
cached under the index's ``renders`` folder, keyed by the sheet's image, its components and the
numerals asked for.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from core.errors import ToolError
from core.types import Component
from runtime.services import Services

RENDER_VERSION = "1"
COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#e377c2", "#8c564b")
MAX_LABEL = 40


@lru_cache(maxsize=1)
def _font_path() -> str | None:
    """DejaVuSans from matplotlib's bundled fonts, if matplotlib is installed."""
    try:
        from matplotlib import font_manager
    except ImportError:
        return None
    try:
        return font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans"), fallback_to_default=False)
    except ValueError:
        return None


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = _font_path()
    if path:
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def _numeral_key(n: str) -> str:
    return n.strip().lower().replace("’", "'")


def _select(components: list[Component], numerals: list[str] | str | None, figure_id: str) -> list[Component]:
    if numerals is None:
        return list(components)
    asked = [numerals] if isinstance(numerals, str) else list(numerals)
    wanted = [_numeral_key(x) for part in asked for x in re.split(r"[,\s;]+", str(part)) if x.strip()]
    have = {_numeral_key(c.numeral): c for c in components}
    unknown = [w for w in wanted if w not in have]
    if unknown:
        found = ", ".join(sorted(have, key=lambda s: (len(s), s))) or "none"
        raise ToolError(f"numeral {unknown[0]!r} was not read on {figure_id}; numerals read there: {found}")
    return [have[w] for w in dict.fromkeys(wanted)]


def render_overlay(services: Services, figure_id: str, numerals: list[str] | str | None = None) -> Path:
    """The stored sheet as a PNG with each component's OCR boxes drawn and labelled "104 motor".

    `numerals` (a list or "104, 106") restricts which reference signs are drawn; None draws all
    OCR-linked components. A sheet without any gets a note in its corner instead. Raises ToolError
    for an unknown figure id or a numeral not read on the sheet.
    """
    sheet = services.store.sheet(figure_id)
    if sheet is None:
        raise ToolError(f"no figure {figure_id!r} in the index; figure ids look like 'US12448135-S1'")
    chosen = _select(sheet.components, numerals, figure_id)
    src = services.store.image_path(sheet)
    if not src.is_file():
        raise ToolError(f"the image of {figure_id} is missing from the index ({src.name}); re-ingest its patent")
    key = hashlib.sha1(
        "|".join([RENDER_VERSION, str(src.stat().st_mtime_ns), sheet.box.model_dump_json() if sheet.box else "",
                  *(c.model_dump_json() for c in chosen), str(numerals is None)]).encode()
    ).hexdigest()[:12]
    out_dir = services.store.root / "renders"
    out = out_dir / f"overlay-{re.sub(r'[^A-Za-z0-9_-]', '_', figure_id)}-{key}.png"
    if out.is_file():
        return out
    out_dir.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        img = im.convert("RGB")
    draw = ImageDraw.Draw(img)
    short = min(img.size)
    font = _font(max(12, round(short / 55)))
    line = max(2, round(short / 400))
    pad = max(2, line)
    if sheet.box is not None:  # the figure's region on its sheet
        b = sheet.box
        draw.rectangle((b.x0, b.y0, b.x1, b.y1), outline="#7f7f7f", width=line)
    if not sheet.components:
        draw.text((pad * 4, pad * 4), "no reference numerals were read on this figure", fill="#d62728", font=font)
    for i, comp in enumerate(chosen):
        colour = COLOURS[i % len(COLOURS)]
        text = f"{comp.numeral} {comp.label}".strip()
        if len(text) > MAX_LABEL:
            text = text[: MAX_LABEL - 1] + "…"
        for b in comp.boxes:
            x0, y0, x1, y1 = min(b.x0, b.x1), min(b.y0, b.y1), max(b.x0, b.x1), max(b.y0, b.y1)
            draw.rectangle((x0 - pad, y0 - pad, x1 + pad, y1 + pad), outline=colour, width=line)
            tx0, ty0, tx1, ty1 = draw.textbbox((0, 0), text, font=font)
            tw, th = tx1 - tx0, ty1 - ty0
            lx = min(max(0, x0 - pad), max(0, img.width - tw - 2 * pad))
            ly = y0 - pad - th - 3 * pad
            if ly < 0:  # no room above: put the label under the box
                ly = min(img.height - th - 2 * pad, y1 + pad + line)
            draw.rectangle((lx, ly, lx + tw + 2 * pad, ly + th + 2 * pad), fill="white", outline=colour, width=1)
            draw.text((lx + pad - tx0, ly + pad - ty0), text, fill=colour, font=font)
    tmp = out.with_name(f"{out.stem}.{os.getpid()}-{threading.get_ident()}.tmp")  # sessions render in parallel:
    img.save(tmp, format="PNG", optimize=False)  # one that finds `out` must never read it half written
    os.replace(tmp, out)
    return out
