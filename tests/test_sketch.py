"""A sketch as a query drawing: transparency laid on white, strokes kept black, the picture framed around them;
an empty pad (or a speck) is refused with a message; and through the web app's callback a sketch, alone or
with words, is searched on the sample index, while an empty pad starts no search."""

from __future__ import annotations

import dataclasses

import pytest
from PIL import Image, ImageDraw

from core.errors import ToolError
from tools.sketch import EMPTY_SKETCH, MIN_INK_PIXELS, sketch_query


def pad(size=(600, 600), ground=(0, 0, 0, 0)) -> Image.Image:
    """An empty sketch pad as the browser sends it: RGBA, transparent (or white) ground."""
    return Image.new("RGBA", size, ground)


def wheel(img: Image.Image, cx=200, cy=260, r=90) -> Image.Image:
    """A wheel in black strokes: rim, hub and six spokes."""
    d = ImageDraw.Draw(img)
    d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(0, 0, 0, 255), width=5)
    d.ellipse((cx - 15, cy - 15, cx + 15, cy + 15), outline=(0, 0, 0, 255), width=5)
    for dx, dy in ((1, 0), (0.5, 0.87), (-0.5, 0.87), (-1, 0), (-0.5, -0.87), (0.5, -0.87)):
        d.line((cx + 15 * dx, cy + 15 * dy, cx + r * dx, cy + r * dy), fill=(0, 0, 0, 255), width=5)
    return img


def test_transparent_ground_becomes_white_and_strokes_stay_black():
    q = sketch_query(wheel(pad()))
    assert q.mode == "RGB"
    assert q.getpixel((2, 2)) == (255, 255, 255)  # the ground, transparent black in the pad, is white paper
    dark = sum(1 for px in q.convert("L").getdata() if px < 100)
    assert dark > 1000  # the rim, hub and spokes are still there, in black


def test_the_picture_is_framed_around_the_strokes():
    q = sketch_query(wheel(pad(), cx=150, cy=420, r=60))
    side = 2 * 60 + 5  # the rim's outer size
    assert side <= q.width <= side + 30 and side <= q.height <= side + 30
    inner = q.convert("L").crop((4, 4, q.width - 4, q.height - 4))
    assert inner.getextrema()[0] == 0  # strokes inside the frame...
    edge = [q.convert("L").getpixel((x, 0)) for x in range(q.width)]
    assert min(edge) == 255  # ...and white margin at its edge


def test_a_white_ground_works_the_same():
    q = sketch_query(wheel(pad(ground=(255, 255, 255, 255))))
    assert q.getpixel((2, 2)) == (255, 255, 255) and q.convert("L").getextrema()[0] == 0


@pytest.mark.parametrize("picture", [None, pad(), pad(ground=(255, 255, 255, 255))])
def test_an_empty_pad_is_refused_with_a_message(picture):
    with pytest.raises(ToolError, match="no strokes"):
        sketch_query(picture)


def test_a_speck_is_not_a_sketch():
    img = pad()
    ImageDraw.Draw(img).ellipse((100, 100, 104, 104), fill=(0, 0, 0, 255))  # a stray click: ~20 pixels
    with pytest.raises(ToolError, match="no strokes"):
        sketch_query(img)
    assert MIN_INK_PIXELS > 20


def test_light_grey_marks_are_not_strokes():
    img = pad()
    ImageDraw.Draw(img).rectangle((100, 100, 400, 400), outline=(230, 230, 230, 255), width=6)
    with pytest.raises(ToolError):
        sketch_query(img)


# ---------------------------------------------------------------- through the web app's callback


@pytest.fixture
def cb(fake_index, tmp_path):
    from agent.loop import Agent
    from ui.web.callbacks import Callbacks

    services = dataclasses.replace(fake_index, settings=fake_index.settings.model_copy(update={"offline": True}))
    return Callbacks(services, Agent(services), tmp_path / "ui-cache")


def editor_value(picture: Image.Image | None) -> dict:
    """What Gradio's Sketchpad hands the callback (type="pil")."""
    return {"background": None, "layers": [], "composite": picture}


def test_an_empty_sketch_gets_a_message_and_no_search(cb):
    with pytest.warns(UserWarning, match="no strokes"):
        outs = list(cb.search_sketch(None, editor_value(pad(ground=(255, 255, 255, 255))), "", 0.5, 10))
    st, chat, _, msg = outs[-1][:4]
    assert msg == f"⚠ {EMPTY_SKETCH[0].upper()}{EMPTY_SKETCH[1:]}."
    assert st.session.sets == [] and chat == [] and st.image is None
    with pytest.warns(UserWarning, match="no strokes"):
        outs = list(cb.search_sketch(None, None, "", 0.5, 10))  # the pad cleared with its bin button
    assert outs[-1][0].session.sets == []


def test_a_sketch_alone_is_searched_and_becomes_the_query_drawing(cb):
    outs = list(cb.search_sketch(None, editor_value(wheel(pad())), "", 0.5, 8))
    assert len({len(o) for o in outs}) == 1  # every update fills the same outputs
    st, chat, _, msg, _, gallery, info, _, preview, *crop = next(o for o in reversed(outs) if "value" in o[5])
    last = outs[-1][1][-1]  # then, once, what a sketch's scores are worth
    assert last["role"] == "assistant" and last["content"].startswith("_A sketch's scores")
    assert msg == "" and chat[0] == {"role": "user", "content": "Search with my sketch"}
    assert chat[1]["content"]["mime_type"] == "image/png"  # the sketch's thumbnail in the chat
    rs = st.session.current
    assert rs is not None and len(rs.hits) == 8 == len(gallery["value"])
    assert rs.origin.startswith("search with your drawing") and st.session.recipe().mode == "image"
    assert info.startswith("**Result set #1** — 8 figures")
    with Image.open(st.image) as q:  # the searched picture: the framed sketch, black on white
        assert q.getpixel((1, 1)) == (255, 255, 255) and q.size == st.image_size
    assert preview and crop == [None, None, None, None]


def test_a_sketch_with_words_searches_both(cb):
    st = list(cb.search_sketch(None, editor_value(wheel(pad())), "", 0.5, 6))[-1][0]
    outs = list(cb.search_sketch(st, editor_value(wheel(pad())), "propeller blade", 0.4, 6))
    st, chat = outs[-1][:2]
    chat = [m for m in chat if m["role"] == "user"][2:]  # this turn's (after the first search's text and picture)
    assert chat[0] == {"role": "user", "content": "propeller blade"}
    assert sum("A sketch's scores" in m["content"] for m in st.chat if isinstance(m["content"], str)) == 1
    recipe = st.session.recipe()
    assert recipe.mode == "image+text" and recipe.text == "propeller blade"
    assert recipe.text_weight == pytest.approx(0.4)
    assert len(st.session.current.hits) == 6
