"""Shared fixtures: the real sample patents, and a real index built from them by the real pipeline.

The index is built once per test session in a temporary folder: real readers, real EasyOCR on the real
sheets, the real text encoder (offline all-MiniLM-L6-v2), the weight-free visual encoder, and a real
embedded ChromaDB. Nothing here is mocked.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("PATFIG_SAMPLE_DATA", REPO.parent / "shared" / "data" / "patents"))

# A mix of offices, kinds of drawing and orientations, small enough to OCR in a few minutes.
INDEX_DOCS = (
    "uspto/US12448135-20251021.ZIP",  # aircraft powerplant, landscape sheets, 60 tagged signs
    "uspto/US12448527-20251021.ZIP",
    "uspto/US12448895-20251021.ZIP",
    "uspto/US12448730-20251021.ZIP",
    "uspto/US20250250937A1-20250807.ZIP",  # an application
    "pdf/EP1577413A1.pdf",
    "pdf/EP3358703A1.pdf",
    "pdf/WO2013173195A1.pdf",
    "pdf/US8765276B2.pdf",
)


def sample(rel: str) -> Path:
    """A sample document by its path under the sample folder; skips the test if the data is absent."""
    p = SAMPLES / rel
    if not p.exists():
        pytest.skip(f"sample data not found: {p} (set PATFIG_SAMPLE_DATA)")
    return p


@pytest.fixture(scope="session")
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"sample data not found at {SAMPLES} (set PATFIG_SAMPLE_DATA)")
    return SAMPLES


@pytest.fixture(scope="session")
def sample_index_dir(tmp_path_factory, samples) -> Path:
    """Folder of a real index over INDEX_DOCS, built by the real ingest pipeline with OCR."""
    from core.settings import Settings
    from ingest.pipeline import ingest_paths
    from patfig.wiring import build_services

    env = os.environ.get("PATFIG_TEST_INDEX")  # a developer may keep one built index between runs
    root = Path(env) if env else tmp_path_factory.mktemp("sample_index")
    if not (root / "patfig.sqlite").exists():
        settings = Settings(index_dir=root, visual_encoder="linedraw")
        services = build_services(settings, create=True)
        report = ingest_paths(services, [samples / d for d in INDEX_DOCS])
        services.close()
        assert not report.failed, report.summary()["failures"]
    return root


@pytest.fixture(scope="session")
def sample_index(sample_index_dir):
    """Services over the real sample index (shared by the session: tests must not write to it)."""
    from core.settings import Settings
    from patfig.wiring import build_services

    services = build_services(Settings(index_dir=sample_index_dir, visual_encoder="linedraw"))
    yield services
    services.close()
