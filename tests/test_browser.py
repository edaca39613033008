"""End to end in a real browser: the app served on the sample index, driven by headless Chromium.

1. upload a sheet (after a bad upload), search, see the gallery;  2. crop a region with the mouse, search
again (and group the results);  3. refine by chat ("only perspective views");  4. open a figure's detail and
its explanation;  5. export CSV;  and a second tab keeps its own session. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import zipfile
from pathlib import Path

import pytest

from tests.browser_util import Shots, chromium, served_app
from tests.conftest import sample

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHEET_ZIP = "uspto/US12448135-20251021.ZIP"
SHEET_MEMBER = "US12448135-20251021/US12448135-20251021-D00001.TIF"
LONG = 180_000  # ms: a search on two shared cores can take a while the first time (models load)


def wait_for_new_image(page, selector: str, old_src: str | None) -> None:
    """Wait until the image at `selector` shows another file than `old_src`, fully loaded."""
    page.wait_for_function(
        "([sel, old]) => { const i = document.querySelector(sel);"
        " return i && i.getAttribute('src') !== old && i.complete && i.naturalWidth > 0; }",
        arg=[selector, old_src], timeout=30_000)


def run_flow(services, tmp_path: Path) -> None:
    """The whole user journey; `services` is an index the offline agent searches."""
    from playwright.sync_api import expect

    from agent.loop import Agent

    services = dataclasses.replace(services, settings=services.settings.model_copy(update={"offline": True}))
    sheet = tmp_path / "D00001.TIF"
    with zipfile.ZipFile(sample(SHEET_ZIP)) as z:
        sheet.write_bytes(z.read(SHEET_MEMBER))
    not_image = tmp_path / "notes.png"
    not_image.write_text("not a drawing", encoding="utf-8")
    shot = Shots("browser")
    n_sheets = services.store.stats()["sheets"]

    with served_app(services, Agent(services), tmp_path / "ui-cache") as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(url)
        expect(page.locator("#hint")).to_contain_text("find patent drawings", timeout=60_000)
        expect(page.locator("#offline-banner")).to_contain_text("Offline mode")
        expect(page.locator("#set-info")).to_contain_text("No results yet")
        shot(page, "first-screen")

        # 1. a bad upload is refused visibly; a real sheet is searched
        page.set_input_files("#query-file input[type=file]", str(not_image))
        expect(page.locator("#query-msg")).to_contain_text("notes.png is not a readable image", timeout=30_000)
        page.locator("#query-file button[aria-label='Clear']").first.click()
        page.set_input_files("#query-file input[type=file]", str(sheet))
        expect(page.locator("#query-preview img")).to_be_visible(timeout=30_000)
        expect(page.locator("#query-msg")).to_have_text("")
        page.click("#send")
        expect(page.locator("#set-info")).to_contain_text("Result set #1", timeout=LONG)
        tiles = page.locator("#gallery .caption-label")
        expect(tiles.first).to_contain_text("#1 US12448135 · FIG")
        expect(tiles).to_have_count(min(20, n_sheets))
        expect(page.locator("#chat")).to_contain_text("Search with my drawing")
        shot(page, "drawing-search")

        # 2. crop a region with two clicks on the preview, search again
        preview = page.locator("#query-preview img").first
        preview.scroll_into_view_if_needed()
        box = preview.bounding_box()
        before = preview.get_attribute("src")
        page.mouse.click(box["x"] + box["width"] * 0.15, box["y"] + box["height"] * 0.15)
        expect(page.locator("#query-msg")).to_contain_text("First corner set")
        wait_for_new_image(page, "#query-preview img", before)  # the corner mark is drawn: click again
        page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.55)
        expect(page.locator("#query-msg")).to_contain_text("Region selected")
        x0, y0, x1, y1 = (float(page.locator(f"#crop-{k} input").input_value()) for k in ("x0", "y0", "x1", "y1"))
        assert 0 < x0 < x1 and 0 < y0 < y1
        shot(page, "crop-selected")
        page.click("#send")
        expect(page.locator("#set-info")).to_contain_text("Result set #2", timeout=LONG)
        expect(page.locator("#set-info")).to_contain_text(f"cropped to ({x0:.0f}, {y0:.0f}, {x1:.0f}, {y1:.0f})")
        expect(page.locator("#chat")).to_contain_text("Search with the selected region of my drawing")
        shot(page, "crop-search")

        # groups of the current set: titled rows and the 2-D map
        page.get_by_role("tab", name="Groups").click()
        page.click("#group")
        expect(page.locator("#groups-md")).to_contain_text("groups of the current set", timeout=LONG)
        expect(page.locator("#group-map img")).to_be_visible()
        expect(page.locator("#group-0-title")).to_contain_text("1. ")
        expect(page.locator("#chat")).to_contain_text("cluster")
        shot(page, "groups")

        # 3. refine by chat
        page.fill("#chat-input textarea", "only perspective views")
        page.press("#chat-input textarea", "Enter")
        expect(page.locator("#set-info")).to_contain_text("Result set #3", timeout=LONG)
        expect(page.locator("#set-info")).to_contain_text("refined from #2")
        n_refined = int(re.search(r"(\d+) figures?", page.locator("#set-info").inner_text()).group(1))
        assert 0 < n_refined < min(20, n_sheets)
        expect(page.locator("#gallery .caption-label")).to_have_count(n_refined)
        expect(page.locator("#chat")).to_contain_text("filter")
        shot(page, "refined-by-chat")

        # 4. a figure's detail and its explanation
        page.locator("#gallery button.thumbnail-item").first.click()
        expect(page.locator("#detail-md h3")).to_contain_text("#1 · US", timeout=LONG)
        expect(page.locator("#detail-image img")).to_be_visible()
        expect(page.locator("#overlay-image img")).to_be_visible()
        expect(page.locator("#breakdown-table")).to_contain_text("drawing similarity")
        expect(page.locator("#breakdown-md")).to_contain_text("Fused score")
        expect(page.locator("#explanation-md")).to_contain_text("#1")
        shot(page, "figure-detail")

        # 5. export the current set as CSV
        page.get_by_role("tab", name="Results").click()
        page.click("#export-csv")
        link = page.locator("#export-file a").first
        expect(link).to_be_visible(timeout=60_000)
        body = page.request.get(link.get_attribute("href")).text()
        rows = list(csv.DictReader(io.StringIO(body)))
        assert len(rows) == n_refined and rows[0]["rank"] == "1"
        shot(page, "export")

        # a second tab has its own conversation and result sets
        other = browser.new_context().new_page()
        other.set_viewport_size({"width": 1500, "height": 1000})
        other.goto(url)
        expect(other.locator("#set-info")).to_contain_text("No results yet", timeout=60_000)
        other.click("#example-0")  # a newcomer's first click: an example query drawn from the index
        expect(other.locator("#set-info")).to_contain_text("Result set #1", timeout=LONG)
        expect(page.locator("#set-info")).to_contain_text("Result set #3")
        expect(other.locator("#chat")).not_to_contain_text("only perspective views")
        shot(other, "second-tab")


def test_search_crop_refine_explain_export(sample_index, tmp_path):
    run_flow(sample_index, tmp_path)
