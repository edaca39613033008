"""The CLIP visual encoder (open_clip): images and text in one space. It never downloads weights.

Weights come from ``ClipSettings.checkpoint`` (a local .pt/.bin/.safetensors file), or from open_clip's own
caches when the ``pretrained`` tag was downloaded before (the Hugging Face hub cache or ``~/.cache/clip``).
Both are checked on disk only; without them :class:`ClipEncoder` raises ModelUnavailable at once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from core.errors import ModelUnavailable
from core.settings import ClipSettings
from models.linedraw import ink_bounds

BATCH = 16
HOW_TO = (
    "set PATFIG_CLIP__CHECKPOINT=/path/to/open_clip_weights.pt (with PATFIG_CLIP__MODEL naming its architecture), "
    "or run once with internet: python -c \"import open_clip; open_clip.create_model('{model}', "
    "pretrained='{pretrained}')\" to fill the local cache"
)
_PREPROCESS_KEYS = {"mean": "image_mean", "std": "image_std", "interpolation": "image_interpolation",
                    "resize_mode": "image_resize_mode"}


def _hf_hub_cache() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def _url_cache() -> Path:
    return Path(os.path.expanduser("~")) / ".cache" / "clip"


def _how_to(s: ClipSettings) -> str:
    return HOW_TO.format(model=s.model, pretrained=s.pretrained)


def _tag_config(s: ClipSettings) -> dict[str, Any]:
    import open_clip

    return dict(open_clip.get_pretrained_cfg(s.model, s.pretrained) or {}) if s.pretrained else {}


def _cached_weights(cfg: dict[str, Any]) -> Path | None:
    """The weights of a pretrained tag if open_clip's caches already hold them (disk only, no network)."""
    if cfg.get("file") and Path(cfg["file"]).is_file():
        return Path(cfg["file"])
    if cfg.get("hf_hub"):
        from huggingface_hub import try_to_load_from_cache

        repo, filename = os.path.split(cfg["hf_hub"])  # "org/name/" or "org/name/file.bin", as open_clip reads it
        names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        for name in names:
            found = try_to_load_from_cache(repo, name, cache_dir=str(_hf_hub_cache()))
            if isinstance(found, str) and Path(found).is_file():
                return Path(found)
    if cfg.get("url"):
        local = _url_cache() / os.path.basename(cfg["url"])
        if local.is_file():
            return local
    return None


def locate_clip_weights(s: ClipSettings) -> tuple[Path, dict[str, Any]]:
    """The local weights file for the settings and the pretrained tag's config (may be empty).

    Raises ModelUnavailable, quickly and without network, when there is none.
    """
    if s.checkpoint is not None:
        path = Path(s.checkpoint).expanduser()
        if not path.is_file():
            raise ModelUnavailable(f"CLIP checkpoint {path} does not exist: fix PATFIG_CLIP__CHECKPOINT")
        try:
            cfg = _tag_config(s)
        except ImportError as e:
            raise ModelUnavailable("CLIP needs: pip install open_clip_torch") from e
        return path, cfg
    if s.pretrained and Path(s.pretrained).expanduser().is_file():
        return Path(s.pretrained).expanduser(), {}
    if not _hf_hub_cache().is_dir() and not _url_cache().is_dir():  # nothing was ever downloaded here
        raise ModelUnavailable(f"no CLIP weights on this machine for {s.model}/{s.pretrained}: {_how_to(s)}")
    try:
        cfg = _tag_config(s)
    except ImportError as e:
        raise ModelUnavailable("CLIP needs: pip install open_clip_torch") from e
    if not cfg:
        raise ModelUnavailable(
            f"open_clip knows no pretrained tag {s.pretrained!r} for model {s.model!r}: {_how_to(s)}"
        )
    found = _cached_weights(cfg)
    if found is None:
        raise ModelUnavailable(f"no CLIP weights on this machine for {s.model}/{s.pretrained}: {_how_to(s)}")
    return found, cfg


def _square_drawing(image: Image.Image) -> Image.Image:
    """The drawing cut to its ink (no page margins or header) and padded white to a square, in RGB."""
    gray = image.convert("L")
    box = ink_bounds(image)
    if box is not None:
        x0, y0, x1, y1 = box
        pad = max(4, round(0.02 * max(x1 - x0, y1 - y0)))
        gray = gray.crop((max(0, x0 - pad), max(0, y0 - pad), min(gray.width, x1 + pad), min(gray.height, y1 + pad)))
    side = max(gray.size)
    square = Image.new("L", (side, side), 255)
    square.paste(gray, ((side - gray.width) // 2, (side - gray.height) // 2))
    return square.convert("RGB")


class ClipEncoder:
    """open_clip image and text towers; loads at construction, so a failure shows at once."""

    cross_modal = True

    def __init__(self, settings: ClipSettings | None = None):
        self.settings = s = settings or ClipSettings()
        weights, cfg = locate_clip_weights(s)
        if s.checkpoint is not None:
            stem = Path(s.checkpoint).stem
        else:
            stem = weights.stem if Path(s.pretrained).expanduser().is_file() else s.pretrained
        self.name = f"open_clip:{s.model}/{stem}"
        self.weights = weights
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import open_clip
            import torch
        except ImportError as e:
            raise ModelUnavailable("CLIP needs: pip install open_clip_torch torch") from e
        kwargs = {arg: cfg[key] for key, arg in _PREPROCESS_KEYS.items() if cfg.get(key) is not None}
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                s.model, pretrained=str(weights), device=s.device,
                force_quick_gelu=bool(cfg.get("quick_gelu", False)), **kwargs,
            )
            self._tokenizer = open_clip.get_tokenizer(s.model)
        except Exception as e:  # bad file, wrong architecture, missing tokenizer files
            raise ModelUnavailable(f"cannot load CLIP {s.model} from {weights}: {e}. {_how_to(s)}") from e
        model.eval()
        self._torch = torch
        self._model = model
        self._preprocess = preprocess
        with torch.no_grad():
            self.dim = int(model.encode_text(self._tokenizer([""]).to(s.device)).shape[-1])

    def _normalised(self, x: Any) -> list[list[float]]:
        x = x.float()
        x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return x.cpu().tolist()

    def embed_images(self, images: Sequence[Image.Image]) -> list[list[float]]:
        """Unit vectors of the drawings (cut to their ink and padded square first)."""
        out: list[list[float]] = []
        for i in range(0, len(images), BATCH):
            batch = self._torch.stack([self._preprocess(_square_drawing(im)) for im in images[i : i + BATCH]])
            with self._torch.no_grad():
                out += self._normalised(self._model.encode_image(batch.to(self.settings.device)))
        return out

    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit vectors of the texts, comparable with embed_images."""
        out: list[list[float]] = []
        for i in range(0, len(texts), BATCH):
            tokens = self._tokenizer(list(texts[i : i + BATCH])).to(self.settings.device)
            with self._torch.no_grad():
                out += self._normalised(self._model.encode_text(tokens))
        return out
