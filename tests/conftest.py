"""Shared fixtures: the real sample patents, and two indexes built from them by the real pipeline.

- `sample_index` (slow tests only): real readers, real OCR (the default engine) on the real sheets, the
  real text encoder (offline all-MiniLM-L6-v2), the weight-free visual encoder, and a real embedded
  ChromaDB. Nothing is mocked. Built once per session unless
  $PATFIG_TEST_INDEX names a folder holding one.
- `fake_index` (the default suite): the same documents read by the real readers into a real embedded
  ChromaDB in a temporary folder, without OCR (no sheet has OCR-linked components), with the real
  weight-free visual encoder and a fake text encoder that ranks by shared words (`tests.fakes`).
  Built in about 20 seconds.

Tests that need OCR-linked components or the real text model's rankings are marked `slow` and use
`sample_index`; everything else uses `fake_index`.

Server mode: with `PATFIG_TEST_CHROMA=server`, the session starts a real Chroma server (`chroma run` on a
free loopback port) and every index built through `Settings` keeps its vectors there (each index folder
in its own namespace); `scripts/test.sh` runs the search and chat modules so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
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


@pytest.fixture(scope="session", autouse=True)
def chroma_server_mode(tmp_path_factory) -> Iterator[tuple[str, int] | None]:
    """(host, port) of the session's Chroma server with PATFIG_TEST_CHROMA=server, else None (embedded).

    The server's address goes into the environment (PATFIG_CHROMA_HOST/PORT), which `Settings` reads, so
    the tests run unchanged against it; it is stopped, and the environment restored, at the session's end.
    """
    mode = os.environ.get("PATFIG_TEST_CHROMA", "embedded")
    if mode == "embedded":
        yield None
        return
    if mode != "server":
        raise pytest.UsageError(f"PATFIG_TEST_CHROMA={mode!r}: use 'embedded' (the default) or 'server'")
    from tests.chroma_server import forget_clients, running_chroma

    with running_chroma(tmp_path_factory.mktemp("chroma-server") / "data") as (host, port):
        env = pytest.MonkeyPatch()
        env.setenv("PATFIG_CHROMA_HOST", host)
        env.setenv("PATFIG_CHROMA_PORT", str(port))
        try:
            yield host, port
        finally:
            env.undo()
            forget_clients(port)


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


def fake_settings(root: Path, **update: object):
    """Settings of the fast index: linedraw visual encoder, OCR off."""
    from core.settings import OcrSettings, Settings

    return Settings(index_dir=root, visual_encoder="linedraw", ocr=OcrSettings(enabled=False), **update)


def fake_services(root: Path, *, create: bool = False, **update: object):
    """Services over the fast index at `root`: the encoders it is built with, and no OCR."""
    from models.linedraw import LineDrawEncoder
    from patfig.wiring import build_services
    from tests.fakes import NoOcr, WordBagEncoder

    return build_services(fake_settings(root, **update), create=create, visual=LineDrawEncoder(),
                          text=WordBagEncoder(), ocr=NoOcr())


@pytest.fixture(scope="session")
def fake_index_root(tmp_path_factory, samples) -> Path:
    """Folder of a real index over INDEX_DOCS built by the real pipeline without OCR and with fake text vectors."""
    from ingest.pipeline import ingest_paths

    services = fake_services(tmp_path_factory.mktemp("fake_index"), create=True)
    report = ingest_paths(services, [samples / d for d in INDEX_DOCS], use_ocr=services.settings.ocr.enabled)
    root = services.store.root
    services.close()
    assert not report.failed, report.summary()["failures"]
    return root


@pytest.fixture(scope="session")
def fake_index(fake_index_root):
    """Services over the fast index (shared by the session: tests must not write to it)."""
    services = fake_services(fake_index_root)
    yield services
    services.close()


@pytest.fixture
def fake_index_dir(fake_index_root, monkeypatch) -> Path:
    """The fast index's folder, for code that opens an index by path (the CLI): the composition root is
    patched for this test to wire the fast index's encoders and no OCR."""
    import patfig.wiring
    from tests.fakes import NoOcr, WordBagEncoder

    monkeypatch.setattr(patfig.wiring, "build_text_encoder", lambda settings: WordBagEncoder())
    monkeypatch.setattr(patfig.wiring, "NumeralReader", lambda settings: NoOcr())
    return fake_index_root
