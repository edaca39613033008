"""The CRAFT backbone's ``relu4_3`` features in ONNX Runtime: the same map as `models.craft_features`, no torch.

The VGG16-BN slices up to ``relu4_3`` are exported once from the CRAFT weights into the ONNX cache
(`models.onnx_cache`; ``scripts/setup.sh`` exports it, else the first use does, which needs torch and EasyOCR
that one time). Queries then run without importing torch. GeM pooling is numpy (float64, as the torch path).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from models.craft_features import DEFAULT_GEM_P, DEFAULT_SIDE, INSTALL_HINT, prepare
from models.onnx_cache import cache_dir, ensure_graph, graph_path

RECIPE = "craft-vgg16bn-relu4_3/opset17/v1"  # change it when the export below changes


def export_relu4_3(weights: Path, out: Path) -> None:
    """Write the ONNX graph image (1×3×H×W, normalised) → ReLU(slice3(slice2(slice1))) to `out`."""
    import warnings

    import torch
    from easyocr.craft import CRAFT
    from easyocr.detection import copyStateDict

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = CRAFT(pretrained=False, freeze=False)
        net.load_state_dict(copyStateDict(torch.load(weights, map_location="cpu", weights_only=False)))
    base = net.eval().basenet

    class Relu43(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.base = base

        def forward(self, x):
            return torch.relu(self.base.slice3(self.base.slice2(self.base.slice1(x))))

    axes = {2: "height", 3: "width"}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Relu43(), (torch.zeros((1, 3, 64, 48)),), str(out), dynamo=False,
                          input_names=["image"], output_names=["relu4_3"],
                          dynamic_axes={"image": axes, "relu4_3": axes}, opset_version=17, do_constant_folding=True)


def craft_graph(weights: Path, cache: Path | None = None) -> Path:
    """The exported relu4_3 graph of these CRAFT weights in the ONNX cache, exporting it first if needed."""
    return ensure_graph(graph_path(cache_dir(cache), "craft-relu4_3", [weights], RECIPE),
                        lambda tmp: export_relu4_3(weights, tmp))


def gem_np(fmap: np.ndarray, p: float = DEFAULT_GEM_P) -> np.ndarray:
    """Generalised-mean pooling of a C×H×W map, L2-normalised, float64 (as `models.craft_features.gem`)."""
    x = np.clip(fmap.astype(np.float64), 1e-6, None)
    v = (x**p).mean(axis=(1, 2)) ** (1.0 / p) if p != np.inf else x.max(axis=(1, 2))
    return v / max(float(np.linalg.norm(v)), 1e-12)


class OnnxCraftBackbone:
    """relu4_3 of the CRAFT backbone in ONNX Runtime on CPU; exports and loads on first use, thread-safe."""

    def __init__(self, weights: Path, threads: int = 0, cache: Path | None = None):
        self.weights = Path(weights)
        self.threads = threads
        self.cache = cache
        self._session: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        """The ONNX Runtime session (exports the graph first if it is not in the cache); raises if impossible."""
        with self._lock:
            if self._session is None:
                try:
                    import onnxruntime as ort
                except ImportError as e:
                    raise RuntimeError(f"onnxruntime is not installed: {INSTALL_HINT}") from e
                graph = craft_graph(self.weights, self.cache)
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = self.threads
                opts.log_severity_level = 3
                self._session = ort.InferenceSession(str(graph), opts, providers=["CPUExecutionProvider"])
        return self._session

    def relu4_3(self, image: Image.Image, side: int = DEFAULT_SIDE) -> np.ndarray:
        """The relu4_3 feature map (C×H×W float32) of the prepared drawing."""
        x = np.ascontiguousarray(prepare(image, side).transpose(2, 0, 1)[None])
        return self.load().run(None, {"image": x})[0][0]
