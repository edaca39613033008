"""Encoders on real inputs: the offline text model, the line-drawing descriptor on real sheets, the factory,
and the CLIP loading path with a tiny random-init open_clip checkpoint."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import ModelUnavailable
from core.settings import ClipSettings, Settings, TextSettings
from models.base import TextEncoder, VisualEncoder
from models.factory import build_text_encoder, build_visual_encoder, describe_models
from models.lbp_craft import LbpCraftEncoder
from models.linedraw import LineDrawEncoder, descriptor_fn, ink_bounds
from tests.conftest import sample


def tiff_sheet(zip_rel: str, member_suffix: str) -> Image.Image:
    with zipfile.ZipFile(sample(zip_rel)) as zf:
        name = next(n for n in zf.namelist() if n.endswith(member_suffix))
        image = Image.open(io.BytesIO(zf.read(name)))
        image.load()
    return image


@pytest.fixture(scope="module")
def sheets() -> dict[str, Image.Image]:
    return {
        "a1": tiff_sheet("uspto/US12448135-20251021.ZIP", "D00001.TIF"),  # aircraft, landscape sheet
        "a2": tiff_sheet("uspto/US12448135-20251021.ZIP", "D00002.TIF"),
        "b": tiff_sheet("uspto/US12448749-20251021.ZIP", "D00003.TIF"),  # another patent
    }


def shifted_scaled(image: Image.Image, scale: float = 0.8, offset: tuple[int, int] = (120, 60)) -> Image.Image:
    gray = image.convert("L")
    gray = gray.resize((round(gray.width * scale), round(gray.height * scale)), Image.Resampling.BILINEAR)
    canvas = Image.new("L", (gray.width + 300, gray.height + 200), 255)
    canvas.paste(gray, offset)
    return canvas


@pytest.fixture
def no_clip_cache(tmp_path, monkeypatch) -> None:
    """A home and Hugging Face cache with nothing in them, wherever the tests run."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))


# ---------------------------------------------------------------- the line-drawing descriptor


def test_linedraw_vectors_are_deterministic_unit_and_of_declared_dim(sheets):
    enc = LineDrawEncoder()
    assert enc.name == "linedraw:lbp-v1" and enc.dim == 139 and enc.cross_modal is False
    assert isinstance(enc, VisualEncoder)
    first = enc.embed_images([sheets["a1"], sheets["b"]])
    again = enc.embed_images([sheets["a1"], sheets["b"]])
    assert first == again
    v = np.array(first)
    assert v.shape == (2, 139)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_linedraw_sheet_is_closest_to_its_shifted_scaled_copy(sheets):
    enc = LineDrawEncoder()
    v = np.array(enc.embed_images([sheets["a1"], shifted_scaled(sheets["a1"]), sheets["b"]]))
    to_copy, to_other = float(v[0] @ v[1]), float(v[0] @ v[2])
    assert to_copy > 0.97  # measured 0.984
    assert to_other < 0.90  # measured 0.845
    assert to_copy > to_other


def test_linedraw_same_patent_sheets_are_closer_than_another_patent(sheets):
    v = np.array(LineDrawEncoder().embed_images([sheets["a1"], sheets["a2"], sheets["b"]]))
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.05  # measured 0.980 vs 0.845


def test_linedraw_is_rotation_invariant(sheets):
    """Landscape sheets are printed turned on the page; an upright query must still match."""
    enc = LineDrawEncoder()
    upright = sheets["a1"].transpose(Image.Transpose.ROTATE_90)
    v = np.array(enc.embed_images([sheets["a1"], upright]))
    assert float(v[0] @ v[1]) > 0.999


def test_linedraw_half_resolution_screenshot_still_matches(sheets):
    """Scale comes from the stroke width, so a copy at half the resolution lands at the same scale."""
    a1 = sheets["a1"].convert("L")
    half = a1.resize((a1.width // 2, a1.height // 2), Image.Resampling.BOX)
    v = np.array(LineDrawEncoder().embed_images([a1, half, sheets["b"]]))
    assert float(v[0] @ v[1]) > float(v[0] @ v[2])


def test_linedraw_drops_the_page_header(samples):
    """A US publication page: the drawing box starts below the 'Sheet 1 of 2' header line."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(sample("pdf/US8765276B2.pdf")))
    try:
        page = doc[1]
        assert "Sheet 1 of" in page.get_textpage().get_text_range()
        image = page.render(scale=200 / 72, grayscale=True).to_pil()
    finally:
        doc.close()
    x0, y0, x1, y1 = ink_bounds(image)
    gray = np.asarray(image.convert("L"))
    header_rows = np.flatnonzero((gray[: int(0.1 * gray.shape[0])] < 160).sum(axis=1) > 0)
    assert header_rows.size > 0  # the header is there on the page...
    assert y0 > header_rows.max()  # ...and left out of the drawing box
    assert (x1 - x0) * (y1 - y0) > 0.2 * image.width * image.height


def test_linedraw_blank_image_gives_a_finite_unit_vector():
    v = np.array(LineDrawEncoder().embed_images([Image.new("L", (400, 300), 255)])[0])
    assert np.isfinite(v).all() and abs(np.linalg.norm(v) - 1.0) < 1e-5


def test_linedraw_refuses_text_and_says_how_to_get_clip():
    with pytest.raises(ModelUnavailable, match="PATFIG_CLIP__CHECKPOINT"):
        LineDrawEncoder().embed_texts(["wind turbine"])


def test_other_descriptors_are_available_by_name(sheets):
    mask_fn = descriptor_fn("hog+ahdh-r4")
    enc = LineDrawEncoder("ahdh")
    assert enc.name == "linedraw:ahdh-v1" and len(enc.embed_images([sheets["b"]])[0]) == enc.dim
    assert mask_fn(np.ones((20, 30), dtype=bool)).shape == (LineDrawEncoder("hog").dim + enc.dim,)
    with pytest.raises(ValueError, match="unknown line-drawing descriptor 'sift'"):
        descriptor_fn("sift")


# ---------------------------------------------------------------- factory


def test_auto_falls_back_to_linedraw_with_a_loud_warning(no_clip_cache, caplog):
    with caplog.at_level(logging.WARNING, logger="models.factory"):
        enc = build_visual_encoder(Settings(visual_encoder="auto"))
    assert isinstance(enc, LbpCraftEncoder)
    assert any("linedraw:lbp-craft-v1" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_clip_mode_without_weights_says_how_to_enable(no_clip_cache):
    with pytest.raises(ModelUnavailable, match="PATFIG_CLIP__CHECKPOINT"):
        build_visual_encoder(Settings(visual_encoder="clip"))
    missing = ClipSettings(checkpoint=Path("/nonexistent/vit.pt"))
    with pytest.raises(ModelUnavailable, match="PATFIG_CLIP__CHECKPOINT"):
        build_visual_encoder(Settings(visual_encoder="clip", clip=missing))


def test_linedraw_mode_is_the_fallback():
    assert build_visual_encoder(Settings(visual_encoder="linedraw")).name == "linedraw:lbp-craft-v1"
    assert build_visual_encoder(Settings(visual_encoder="linedraw", linedraw="lbp")).name == "linedraw:lbp-v1"


def test_describe_models_lists_both_visual_encoders_and_the_text_encoder(no_clip_cache):
    rows = {r["name"]: r for r in describe_models(Settings())}
    clip = rows["open_clip:hf-hub:patentclip/PatentCLIP_Vit_B"]
    line, text = rows["linedraw:lbp-craft-v1"], rows["st:all-MiniLM-L6-v2"]
    assert clip["available"] is False and clip["active"] is False
    assert "patfig models pull" in clip["why_not"] and "PATFIG_CLIP__CHECKPOINT" in clip["why_not"]
    assert line["available"] is True and line["active"] is True and line["role"] == "visual"
    assert text["available"] is True and text["role"] == "text"
    assert all(isinstance(r["note"], str) and r["note"] for r in rows.values())


def test_any_open_clip_architecture_and_tag_stays_configurable(no_clip_cache):
    tag = ClipSettings(model="ViT-B-16", pretrained="laion400m_e32")
    (row,) = [r for r in describe_models(Settings(clip=tag)) if r["kind"] == "clip"]
    assert row["name"] == "open_clip:ViT-B-16/laion400m_e32" and row["available"] is False
    assert "patfig models pull" in str(row["why_not"])


def test_text_model_that_cannot_load_offline_says_what_to_configure():
    with pytest.raises(ModelUnavailable, match="PATFIG_TEXT__MODEL"):
        build_text_encoder(Settings(text=TextSettings(model="/nonexistent/model-folder")))
    with pytest.raises(ModelUnavailable, match="not available offline"):
        build_text_encoder(Settings(text=TextSettings(model="some-org/never-downloaded-model")))


# ---------------------------------------------------------------- real models


@pytest.mark.slow
def test_text_encoder_loads_offline_and_ranks_by_meaning():
    enc = build_text_encoder(Settings())
    assert enc.name == "st:all-MiniLM-L6-v2"
    texts = ["wind turbine blade", "rotor blade of a wind power plant", "steel sheet annealing", ""]
    v = np.array(enc.embed_texts(texts))
    assert enc.dim == 384 and v.shape == (4, 384)
    assert isinstance(enc, TextEncoder)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    close, far = float(v[0] @ v[1]), float(v[0] @ v[2])
    assert close > 0.7 and far < 0.35 and close > far  # measured 0.807 and 0.212
    assert enc.embed_texts([]) == []
    one = enc.embed_texts(["wind turbine blade"])  # a query: encoded once, then kept
    one[0][0] = 99.0  # what a caller does with its list never reaches the kept vector
    again = enc.embed_texts(["wind turbine blade"])
    assert np.allclose(again[0], v[0], atol=1e-5) and len(enc._queries) == 1


@pytest.mark.slow
def test_text_encoders_of_parallel_sessions_give_the_vectors_of_one_at_a_time():
    """The web app encodes the queries of several sessions at once: each gets its own text's vector."""
    from concurrent.futures import ThreadPoolExecutor

    enc = build_text_encoder(Settings())
    texts = [f"figures of part {i} of a wind turbine" for i in range(16)]
    alone = np.array(enc.embed_texts(texts))
    enc._queries.clear()
    with ThreadPoolExecutor(8) as pool:
        together = np.array([v[0] for v in pool.map(lambda t: enc.embed_texts([t]), texts)])
    assert np.allclose(together, alone, atol=1e-5)


TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def tiny_clip_checkpoint(tmp_path_factory) -> Path:
    """A real open_clip model with random weights, registered under a test name and saved to disk."""
    open_clip = pytest.importorskip("open_clip")
    torch = pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("clip")
    config = folder / "patfig-tiny-test.json"
    config.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    model = open_clip.create_model("patfig-tiny-test", pretrained=None)
    path = folder / "tiny-random.pt"
    torch.save(model.state_dict(), path)
    return path


@pytest.mark.slow
def test_clip_encoder_loads_a_local_checkpoint(tiny_clip_checkpoint, sheets, no_clip_cache, caplog):
    from models.visual import ClipEncoder

    clip = ClipSettings(model="patfig-tiny-test", checkpoint=tiny_clip_checkpoint)
    enc = ClipEncoder(clip)
    assert enc.name == "open_clip:patfig-tiny-test/tiny-random" and enc.dim == 32 and enc.cross_modal
    assert isinstance(enc, VisualEncoder)
    images = np.array(enc.embed_images([sheets["a1"], sheets["b"]]))
    texts = np.array(enc.embed_texts(["wind turbine", "gear"]))
    assert images.shape == (2, 32) and texts.shape == (2, 32)
    assert np.allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    assert np.allclose(images, enc.embed_images([sheets["a1"], sheets["b"]]), atol=1e-6)

    settings = Settings(visual_encoder="auto", clip=clip)
    with caplog.at_level(logging.WARNING, logger="models.factory"):
        assert build_visual_encoder(settings).name == enc.name
    assert any("open_clip:patfig-tiny-test/tiny-random" in r.getMessage() for r in caplog.records)
    row = next(r for r in describe_models(settings) if r["name"] == enc.name)
    assert row["available"] is True and row["active"] is True


@pytest.mark.slow
def test_broken_clip_checkpoint_is_unavailable_and_auto_falls_back(tiny_clip_checkpoint, tmp_path, no_clip_cache):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    clip = ClipSettings(model="patfig-tiny-test", checkpoint=broken)
    with pytest.raises(ModelUnavailable, match="cannot load CLIP"):
        build_visual_encoder(Settings(visual_encoder="clip", clip=clip))
    assert build_visual_encoder(Settings(visual_encoder="auto", clip=clip)).name == "linedraw:lbp-craft-v1"
