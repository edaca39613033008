"""Helpers for the end-to-end browser tests: serve the app on a free port, drive Debian's Chromium headless."""

from __future__ import annotations

import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("PATFIG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served_app(services, agent, cache_dir: Path):
    """The real app served in a background thread; yields its URL, closes it afterwards."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from ui.web.app import launch

    port = free_port()
    demo = launch(services, agent, host="127.0.0.1", port=port, block=False, cache_dir=cache_dir)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@contextmanager
def chromium():
    """A headless Debian Chromium driven by Playwright (skips when either is missing)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set PATFIG_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Shots:
    """Numbered full-page screenshots in test-artifacts/ (look at them after a run)."""

    def __init__(self, prefix: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.prefix, self.n = prefix, 0

    def __call__(self, page, name: str) -> Path:
        self.n += 1
        path = ARTIFACTS / f"{self.prefix}-{self.n:02d}-{name}.png"
        time.sleep(0.3)  # let the last render settle
        page.screenshot(path=str(path), full_page=True)
        return path
