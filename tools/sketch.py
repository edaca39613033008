"""A hand-drawn sketch as a query drawing: flattened onto white, checked for strokes, framed around its ink.

A sketch pad gives a picture with a transparent ground (or a white one) and dark strokes. Searched as it is,
a transparent ground would turn black when the picture becomes RGB, so it is laid on white first, like the
paper of a patent drawing. A pad with no strokes is refused with a message rather than searched: it would
match blank sheets. The drawing is then cut to its strokes plus a margin, so a small shape in a corner of a
big pad is framed the way an indexed figure is.
"""

from __future__ import annotations

from PIL import Image

from core.errors import ToolError

INK_LEVEL = 160  # a grey below this (0 black .. 255 white) is a stroke
MIN_INK_PIXELS = 40  # fewer stroke pixels than this: the pad is taken as empty (a stray click, a speck)
MARGIN = 0.06  # white kept around the strokes, as a share of the strokes' longer side
EMPTY_SKETCH = "the sketch pad has no strokes: draw a shape with the pen (or upload a drawing), then search"


def on_white(image: Image.Image) -> Image.Image:
    """The picture laid on a white ground (transparency → white), in grey levels."""
    rgba = image.convert("RGBA")
    ground = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(ground, rgba).convert("L")


def ink_pixels(gray: Image.Image) -> tuple[int, tuple[int, int, int, int] | None]:
    """How many pixels of a grey picture are strokes, and the box (x0, y0, x1, y1) around them (None if none)."""
    ink = gray.point([255 if v < INK_LEVEL else 0 for v in range(256)])
    return ink.histogram()[255], ink.getbbox()


def sketch_query(image: Image.Image | None) -> Image.Image:
    """The query drawing of a sketch: black strokes on white, framed around them, as RGB.

    Raises ToolError when there is no picture or it has (almost) no strokes.
    """
    if image is None:
        raise ToolError(EMPTY_SKETCH)
    gray = on_white(image)
    n, box = ink_pixels(gray)
    if box is None or n < MIN_INK_PIXELS:
        raise ToolError(EMPTY_SKETCH)
    x0, y0, x1, y1 = box
    pad = round(MARGIN * max(x1 - x0, y1 - y0)) + 2
    framed = gray.crop((max(0, x0 - pad), max(0, y0 - pad), min(gray.width, x1 + pad), min(gray.height, y1 + pad)))
    return framed.convert("RGB")
