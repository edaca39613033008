"""The sketch pad in a real browser: the app served on the fast sample index, headless Chromium draws with the
mouse. An empty pad is refused with a message; a wheel drawn stroke by stroke (rim and spokes) is searched and
fills the gallery, and the sketch becomes the query drawing. Screenshots go to test-artifacts/."""

from __future__ import annotations

import dataclasses
import math

import pytest

from tests.browser_util import Shots, chromium, served_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LONG = 180_000  # ms: the first search loads the models on two shared cores


def stroke(page, points: list[tuple[float, float]]) -> None:
    """One pen stroke through the points: press, move, release."""
    page.mouse.move(*points[0])
    page.mouse.down()
    for p in points[1:]:
        page.mouse.move(*p, steps=3)
    page.mouse.up()


def draw_wheel(page, box: dict) -> None:
    """A wheel in the middle of the pad: the rim as one stroke, then six spokes."""
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    r = 0.3 * min(box["width"], box["height"])
    stroke(page, [(cx + r * math.cos(a / 32 * 2 * math.pi), cy + r * math.sin(a / 32 * 2 * math.pi))
                  for a in range(33)])
    for deg in range(0, 360, 60):
        t = math.radians(deg)
        stroke(page, [(cx, cy), (cx + r * math.cos(t), cy + r * math.sin(t))])


def test_a_sketch_drawn_with_the_mouse_is_searched(fake_index, tmp_path):
    from playwright.sync_api import expect

    from agent.loop import Agent

    services = dataclasses.replace(fake_index, settings=fake_index.settings.model_copy(update={"offline": True}))
    n_sheets = services.store.stats()["sheets"]
    shot = Shots("sketch")
    with served_app(services, Agent(services), tmp_path / "ui-cache") as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(url)
        expect(page.locator("#set-info")).to_contain_text("No results yet", timeout=60_000)
        page.get_by_role("tab", name="Sketch").click()
        canvas = page.locator("#sketch canvas").first
        expect(canvas).to_be_visible()
        canvas.scroll_into_view_if_needed()

        # an empty pad: a clear message, no search
        page.click("#sketch-search")
        expect(page.locator("#query-msg")).to_contain_text("The sketch pad has no strokes", timeout=LONG)
        expect(page.locator("#set-info")).to_contain_text("No results yet")

        # a wheel, drawn stroke by stroke
        draw_wheel(page, canvas.bounding_box())
        shot(page, "wheel-drawn")
        page.click("#sketch-search")
        expect(page.locator("#set-info")).to_contain_text("Result set #1", timeout=LONG)
        expect(page.locator("#set-info")).to_contain_text("search with your drawing")
        expect(page.locator("#gallery .caption-label")).to_have_count(min(20, n_sheets))
        expect(page.locator("#chat")).to_contain_text("Search with my sketch")
        expect(page.locator("#chat")).to_contain_text("A sketch's scores are calibrated on patent drawings")
        expect(page.locator("#query-msg")).to_have_text("")
        expect(page.locator("#query-preview img").first).to_be_visible()  # the sketch is now the query drawing
        shot(page, "wheel-searched")
