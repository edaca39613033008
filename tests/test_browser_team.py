"""Served to a team, in a real browser: Gradio's sign-in page refuses a wrong password and lets a user in, an
upload over the size limit gets the page's message and the next upload works, and a user past the turn limit
is told in the chat how long to wait. The app over the fast index (real Chroma, real readers, no OCR), headless
Chromium; screenshots in test-artifacts/.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile

import pytest
from PIL import Image

from tests.browser_util import Shots, chromium, free_port
from tests.conftest import sample
from ui.users import Verifier, add_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHEET_ZIP = "uspto/US12448135-20251021.ZIP"
SHEET_MEMBER = "US12448135-20251021/US12448135-20251021-D00001.TIF"
LONG = 120_000


def test_sign_in_upload_limit_and_rate_limit_in_the_browser(fake_index, tmp_path):
    from playwright.sync_api import expect

    from agent.loop import Agent
    from ui.web.app import launch

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    services = dataclasses.replace(fake_index, settings=fake_index.settings.model_copy(update={"offline": True}))
    add_user(tmp_path / "users.txt", "alice", "correct horse")
    sheet = tmp_path / "D00001.TIF"
    with zipfile.ZipFile(sample(SHEET_ZIP)) as z:
        sheet.write_bytes(z.read(SHEET_MEMBER))
    big = tmp_path / "big.png"
    Image.effect_noise((1000, 1000), 128).convert("RGB").save(big)  # noise does not compress: about 3 MB
    assert big.stat().st_size > 1024 * 1024
    shot = Shots("team")

    port = free_port()
    demo = launch(services, Agent(services), port=port, block=False, cache_dir=tmp_path / "ui-cache",
                  auth=Verifier(tmp_path / "users.txt").gradio_auth, max_upload_mb=1, rate_limit=2)
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/")
            expect(page.get_by_text("patfig: sign in with the name and password")).to_be_visible(timeout=60_000)
            page.locator("input[data-testid=textbox]").fill("alice")
            page.locator("input[data-testid=password]").fill("wrong horse")
            page.get_by_role("button", name="Login").click()
            expect(page.get_by_text("Incorrect Credentials")).to_be_visible(timeout=30_000)
            shot(page, "wrong-password")
            page.locator("input[data-testid=textbox]").fill("alice")  # the form was cleared
            page.locator("input[data-testid=password]").fill("correct horse")
            page.get_by_role("button", name="Login").click()
            expect(page.locator("#hint")).to_contain_text("find patent drawings", timeout=60_000)

            page.set_input_files("#query-file input[type=file]", str(big))
            expect(page.get_by_text("exceed the maximum allowed size of 1.0 MB")).to_be_visible(timeout=30_000)
            shot(page, "upload-too-large")
            page.set_input_files("#query-file input[type=file]", str(sheet))
            expect(page.locator("#query-preview img")).to_be_visible(timeout=30_000)

            for n in (1, 2):
                page.fill("#chat-input textarea", "propeller blade")
                page.click("#send")
                expect(page.locator("#set-info")).to_contain_text(f"Result set #{n}", timeout=LONG)
            page.fill("#chat-input textarea", "gear")
            page.click("#send")
            expect(page.locator("#chat")).to_contain_text("You have sent 2 requests in the last minute",
                                                          timeout=LONG)
            expect(page.locator("#chat")).to_contain_text("seconds and ask again")
            expect(page.locator("#chat-input textarea")).to_have_value("gear")
            expect(page.locator("#set-info")).to_contain_text("Result set #2")
            shot(page, "rate-limited")
    finally:
        demo.close()
