"""The default CLIP (an ``hf-hub:`` open_clip model) end to end, offline.

A tiny open_clip model with random weights is laid out in a temporary Hugging Face cache exactly as the hub
client stores ``hf-hub:patentclip/PatentCLIP_Vit_B`` (blobs, a snapshot of symlinks, ``refs/main``). The real
wiring with default settings then finds it without network, ingests real sample documents into a real
Chroma, records the encoder, and searches image→image, text→image (CLIP's text tower) and both fused.
Without weights, the product falls back to the line-drawing descriptor and says so once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import ModelUnavailable
from core.settings import ClipSettings, OcrSettings, Settings
from ingest.pipeline import ingest_paths
from models.clip_hub import pull_clip_weights
from models.factory import describe_models
from patfig.wiring import build_services
from tests.conftest import REPO, sample
from tools.search import search_image, search_text

HUB_MODEL = "hf-hub:patentclip/PatentCLIP_Vit_B"
HUB_NAME = f"open_clip:{HUB_MODEL}"
DOCS = ("uspto/US12448135-20251021.ZIP", "uspto/US12448527-20251021.ZIP")
TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}
PREPROCESS_CFG = {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
                  "interpolation": "bicubic", "resize_mode": "shortest"}  # as the hub's ViT-B configs have


def lay_out_hub_model(cache: Path, repo: str = "patentclip/PatentCLIP_Vit_B") -> Path:
    """Write a tiny random open_clip model into `cache` as huggingface_hub stores a downloaded repo."""
    open_clip = pytest.importorskip("open_clip")
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = open_clip.model.CLIP(**TINY_CFG)
    folder = cache / ("models--" + repo.replace("/", "--"))
    blobs, commit = folder / "blobs", "0123456789abcdef0123456789abcdef01234567"
    snapshot = folder / "snapshots" / commit
    blobs.mkdir(parents=True)
    snapshot.mkdir(parents=True)
    staged = folder / "staged.bin"
    torch.save(model.state_dict(), staged)
    files = {"open_clip_config.json": json.dumps({"model_cfg": TINY_CFG, "preprocess_cfg": PREPROCESS_CFG}).encode(),
             "open_clip_pytorch_model.bin": staged.read_bytes()}
    staged.unlink()
    for name, data in files.items():
        blob = hashlib.sha256(data).hexdigest()
        (blobs / blob).write_bytes(data)
        (snapshot / name).symlink_to(Path("..", "..", "blobs", blob))  # relative, as the hub client links
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache (and home) for this test only; HF_HUB_OFFLINE=1 comes from conftest."""
    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def default_settings(root: Path) -> Settings:
    """The product's defaults (visual encoder auto, PatentCLIP), with OCR off to keep the test fast."""
    return Settings(index_dir=root, ocr=OcrSettings(enabled=False))


def test_default_clip_model_is_patentclip_from_the_hub():
    s = Settings()
    assert s.visual_encoder == "auto" and s.clip.model == HUB_MODEL and s.clip.pretrained == ""


@pytest.mark.slow
def test_hub_cached_clip_ingests_and_searches_by_image_words_and_both(hub_cache, tmp_path, samples, caplog):
    from tests.fakes import WordBagEncoder

    snapshot = lay_out_hub_model(hub_cache)
    with caplog.at_level(logging.WARNING):
        services = build_services(default_settings(tmp_path / "index"), create=True, text=WordBagEncoder())
        report = ingest_paths(services, [sample(d) for d in DOCS], use_ocr=False)
    assert not report.failed and report.summary()["indexed"] == len(DOCS)
    assert services.visual.name == HUB_NAME and services.visual.dim == 32
    assert Path(services.visual.weights).parent == snapshot  # type: ignore[attr-defined]
    assert services.store.encoders()["visual"].name == HUB_NAME
    assert not any("linedraw" in r.getMessage() for r in caplog.records)
    (row,) = [r for r in describe_models(default_settings(tmp_path / "index")) if r["kind"] == "clip"]
    assert row["available"] is True and row["active"] is True and str(snapshot) in str(row["note"])
    services.close()

    services = build_services(default_settings(tmp_path / "index"), text=WordBagEncoder())  # a later query: disk only
    words = "aircraft engine with a propeller"
    text_hits = search_text(services, words, k=10)
    assert text_hits and text_hits[0].breakdown.query["clip"] is True
    text_vec = np.array(services.visual.embed_texts([words])[0])
    stored = services.store.vectors("visual", [h.figure_id for h in text_hits])
    for hit in text_hits:  # the CLIP text→image score is the cosine of the words and the stored drawing
        clip = hit.breakdown.modalities["clip_text"]
        assert clip.path == "clip_text_to_image"
        assert clip.raw == pytest.approx(float(text_vec @ np.array(stored[hit.figure_id])), abs=1e-4)

    query = text_hits[-1]
    image_hits = search_image(services, query.image_path, k=5)
    assert image_hits[0].figure_id == query.figure_id
    assert image_hits[0].breakdown.modalities["visual"].raw == pytest.approx(1.0, abs=1e-3)

    fused = search_image(services, query.image_path, text=words, text_weight=0.4, k=5)
    b = fused[0].breakdown
    assert b.query["mode"] == "image+text"
    assert set(b.modalities) == {"visual", "views", "verified", "lines", "exact", "text", "words", "clip_text"}
    # the drawing's 0.6: its own score and its patent's best view half each, then 0.7 of that to verified details
    # (the query is an indexed sheet: a copy of a drawing), then 0.3 of it all to the lines laid over (its own
    # lines coincide); the words' 0.4: half to CLIP's text side, half to the linked text (passages and words);
    # then 0.3 of everything to the pixels laid over (the sheet's own pixels: the picture it is)
    assert "a copy of a drawing" in str(b.query["verified"])
    assert f"its pixels are {query.figure_id}'s" in str(b.query["verified"])
    assert b.weights == pytest.approx({"visual": 0.0441, "views": 0.0441, "verified": 0.2058, "lines": 0.126,
                                       "text": 0.07, "words": 0.07, "clip_text": 0.14, "exact": 0.3})
    services.close()


def test_without_weights_the_first_ingest_says_once_and_uses_linedraw(hub_cache, tmp_path, samples, caplog):
    from tests.fakes import WordBagEncoder

    with caplog.at_level(logging.WARNING):
        services = build_services(default_settings(tmp_path / "index"), create=True, text=WordBagEncoder())
        report = ingest_paths(services, [sample(DOCS[0])], use_ocr=False)
        hits = search_text(services, "propeller", k=3)
    assert not report.failed
    assert services.store.encoders()["visual"].name == "linedraw:lbp-craft-v1"
    said = [r.getMessage() for r in caplog.records if "linedraw" in r.getMessage()]
    assert len(said) == 1, said
    assert HUB_MODEL in said[0] and "patfig models pull" in said[0] and "HF_HUB_OFFLINE is set" in said[0]
    assert hits and hits[0].breakdown.query["clip"] is False
    services.close()


def test_pull_refuses_at_once_when_offline_is_set(hub_cache):
    with pytest.raises(ModelUnavailable, match="PATFIG_OFFLINE is set"):
        pull_clip_weights(ClipSettings(), offline=True)
    with pytest.raises(ModelUnavailable, match="nothing to fetch"):
        pull_clip_weights(ClipSettings(model="ViT-B-16", checkpoint=Path("/models/vit.pt")))


def test_checkpoint_needs_an_architecture_not_a_hub_name(tmp_path, hub_cache):
    from models.visual import locate_clip_weights

    checkpoint = tmp_path / "vit.pt"
    checkpoint.write_bytes(b"weights")
    with pytest.raises(ModelUnavailable, match="PATFIG_CLIP__MODEL to name its open_clip architecture"):
        locate_clip_weights(ClipSettings(checkpoint=checkpoint))


@pytest.mark.slow
def test_models_pull_without_a_reachable_hub_fails_fast_with_what_to_do(tmp_path):
    """The real command, online mode, against a hub address that refuses connections."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env |= {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_CACHE": str(tmp_path / "hub"), "HOME": str(tmp_path),
            "PYTHONPATH": str(REPO), "PATFIG_OFFLINE": "0"}
    run = subprocess.run([sys.executable, "-m", "patfig", "models", "pull"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    said = " ".join(run.stderr.split())
    assert run.returncode == 2, run.stderr
    assert "cannot reach 127.0.0.1:9" in said and "PATFIG_CLIP__CHECKPOINT" in said
    assert not (tmp_path / "hub").exists() or not any((tmp_path / "hub").iterdir())
