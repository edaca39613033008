"""The CLIP visual encoder (open_clip): images and text in one space. It never downloads weights.

Weights come from ``ClipSettings.checkpoint`` (a local .pt/.bin/.safetensors file), from the Hugging Face hub
cache for an ``hf-hub:org/name`` model (the default, PatentCLIP; `patfig models pull` fetches it), or from
open_clip's own caches when a ``pretrained`` tag was downloaded before (the hub cache or ``~/.cache/clip``).
All are checked on disk only; without them :class:`ClipEncoder` raises ModelUnavailable at once. A hub model
is loaded from its cached snapshot folder (open_clip's ``local-dir:``), the same files open_clip's
``hf-hub:`` loader would use, so a query never waits on the network.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from core.errors import ModelUnavailable
from core.settings import ClipSettings
from models.clip_hub import hf_hub_cache, hub_repo, locate_hub_weights
from models.linedraw import ink_bounds

BATCH = 16
HOW_TO = (
    "run `patfig models pull` once with internet, or set PATFIG_CLIP__CHECKPOINT=/path/to/open_clip_weights.pt "
    "(with PATFIG_CLIP__MODEL naming its architecture)"
)
_PREPROCESS_KEYS = {"mean": "image_mean", "std": "image_std", "interpolation": "image_interpolation",
                    "resize_mode": "image_resize_mode"}


def _url_cache() -> Path:
    return Path(os.path.expanduser("~")) / ".cache" / "clip"


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
            found = try_to_load_from_cache(repo, name, cache_dir=str(hf_hub_cache()))
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
        if hub_repo(s.model) is not None:
            raise ModelUnavailable(
                f"PATFIG_CLIP__CHECKPOINT={path} needs PATFIG_CLIP__MODEL to name its open_clip architecture "
                f"(e.g. ViT-B-16), not the hub model {s.model}"
            )
        return path, cfg
    if (repo := hub_repo(s.model)) is not None:
        return locate_hub_weights(repo, HOW_TO), {}
    if s.pretrained and Path(s.pretrained).expanduser().is_file():
        return Path(s.pretrained).expanduser(), {}
    if not hf_hub_cache().is_dir() and not _url_cache().is_dir():  # nothing was ever downloaded here
        raise ModelUnavailable(f"no CLIP weights on this machine for {s.model}/{s.pretrained}: {HOW_TO}")
    try:
        cfg = _tag_config(s)
    except ImportError as e:
        raise ModelUnavailable("CLIP needs: pip install open_clip_torch") from e
    if not cfg:
        raise ModelUnavailable(
            f"open_clip knows no pretrained tag {s.pretrained!r} for model {s.model!r}: {HOW_TO}"
        )
    found = _cached_weights(cfg)
    if found is None:
        raise ModelUnavailable(f"no CLIP weights on this machine for {s.model}/{s.pretrained}: {HOW_TO}")
    return found, cfg


def clip_name(s: ClipSettings) -> str:
    """The encoder's name as the index records it: the model, and the checkpoint or pretrained tag if any."""
    if s.checkpoint is not None:
        return f"open_clip:{s.model}/{Path(s.checkpoint).stem}"
    if hub_repo(s.model) is not None:
        return f"open_clip:{s.model}"
    tag = Path(s.pretrained).expanduser()
    return f"open_clip:{s.model}/{tag.stem if tag.is_file() else s.pretrained}"


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
        self.name = clip_name(s)
        self.weights = weights
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import open_clip
            import torch
        except ImportError as e:
            raise ModelUnavailable("CLIP needs: pip install open_clip_torch torch") from e
        kwargs = {arg: cfg[key] for key, arg in _PREPROCESS_KEYS.items() if cfg.get(key) is not None}
        hub = hub_repo(s.model) is not None and s.checkpoint is None
        arch = f"local-dir:{weights.parent}" if hub else s.model  # the hub snapshot: config and weights side by side
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                arch, pretrained=None if hub else str(weights), device=s.device,
                force_quick_gelu=bool(cfg.get("quick_gelu", False)), **kwargs,
            )
            self._tokenizer = open_clip.get_tokenizer(arch)
        except Exception as e:  # bad file, wrong architecture, missing tokenizer files
            raise ModelUnavailable(f"cannot load CLIP {s.model} from {weights}: {e}. {HOW_TO}") from e
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
