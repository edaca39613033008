"""PP-OCR text detection (DB) and recognition (SVTR-LCNet, CTC) with ONNX Runtime.

The ONNX weights ship inside the `rapidocr-onnxruntime` wheel (PP-OCRv4 mobile det and rec); only the
model files are used, with our own pre- and post-processing, which is what makes them fast here:

- detection on the gray sheet padded (not stretched) to a multiple of 32, and boxes taken as the
  connected components of the probability map, grown by DB's unclip distance (axis-aligned: the caller
  works with upright boxes);
- recognition of crops 48 px high and only as wide as their text (rapidocr pads every crop to at least
  320 px, four times the work for a numeral, and loses the space in "112 113"), batched by width;
- CTC decoding restricted to printable ASCII: a hatched square does not read as a Chinese character.

DB finds text whichever way it runs (a numeral turned a quarter is still one box), so without a hint the
reader finds a sheet's orientation from one upright detection by turning crops, not the sheet.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import cv2
import numpy as np

from core.errors import ModelUnavailable

INSTALL_HINT = "pip install rapidocr-onnxruntime"
DET_MODEL = "ch_PP-OCRv4_det_infer.onnx"
REC_MODEL = "ch_PP-OCRv4_rec_infer.onnx"

DET_THRESH = 0.3  # probability above which a pixel is text
BOX_THRESH = 0.5  # mean probability a box must reach
UNCLIP = 1.6  # DB's unclip ratio: boxes grow by area * UNCLIP / perimeter
REC_HEIGHT = 48
REC_MIN_WIDTH = 64  # narrower crops are padded to this (PaddleOCR's 320 wastes work on numerals)
# Batching pays only for narrow crops: one thread, per crop, 48x64: 7.4 ms alone, 6.8 in fours; 48x96: 10.4
# and 8.7; but 48x128: 11.3 and 13.2, 48x256: 20 and 29 (the larger tensors leave the cache).
REC_BATCH = 16
REC_BATCH_WIDTH = 96  # crops wider than this (at 48 px high) are recognised one at a time
REC_BATCH_SPREAD = 1.3  # crops batched together differ in width by at most this factor


def model_dir() -> Path:
    """The folder of the ONNX models inside the installed `rapidocr-onnxruntime` package."""
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or spec.origin is None:
        raise ModelUnavailable(f"OCR engine 'rapidocr' needs its models: {INSTALL_HINT}")
    return Path(spec.origin).parent / "models"


class RapidOcrEngine:
    """PP-OCRv4 detection and recognition on CPU (ONNX Runtime), weights from the rapidocr wheel."""

    name = "rapidocr:PP-OCRv4-det+rec/onnx"
    rotation_tolerant = True  # detection finds text running any of the four ways
    min_conf = 0.5
    det_scale = 0.35  # the lowest that loses no sign on the sample ZIPs (0.30 lost 2 on US12448895)
    rec_scale = 1.0

    def __init__(self, threads: int = 1, models: Path | None = None):
        self.threads = threads
        self.models = models
        self._det = self._rec = None
        self._chars: np.ndarray | None = None
        self._allowed: np.ndarray | None = None

    def load(self) -> None:
        """Open both ONNX sessions (offline: the files are in the installed package)."""
        if self._det is not None:
            return
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise ModelUnavailable(f"OCR engine 'rapidocr' needs ONNX Runtime: {INSTALL_HINT}") from e
        folder = self.models or model_dir()
        missing = [f for f in (DET_MODEL, REC_MODEL) if not (folder / f).is_file()]
        if missing:
            raise ModelUnavailable(f"PP-OCR models {', '.join(missing)} not found in {folder}: {INSTALL_HINT}")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if self.threads > 0:
            opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        self._det = ort.InferenceSession(str(folder / DET_MODEL), opts, providers=providers)
        self._rec = ort.InferenceSession(str(folder / REC_MODEL), opts, providers=providers)
        chars = self._rec.get_modelmeta().custom_metadata_map["character"].splitlines()
        self._chars = np.array(["", *chars, " "], dtype=object)  # CTC blank first, space last
        self._allowed = np.array([i for i, c in enumerate(self._chars) if i == 0 or (c.isascii() and c.isprintable())])

    # -- detection

    def detect(self, img: np.ndarray) -> list[list[int]]:
        """Text boxes (x_min, x_max, y_min, y_max) on a gray image (white paper, dark ink)."""
        self.load()
        h, w = img.shape
        ph, pw = 32 * math.ceil(h / 32), 32 * math.ceil(w / 32)
        padded = np.full((ph, pw), 255, np.uint8)
        padded[:h, :w] = img
        x = padded.astype(np.float32) / 127.5 - 1.0
        x = np.ascontiguousarray(np.broadcast_to(x, (1, 3, ph, pw)))
        prob = self._det.run(None, {self._det.get_inputs()[0].name: x})[0][0, 0, :h, :w]
        mask = cv2.dilate((prob > DET_THRESH).astype(np.uint8), np.ones((2, 2), np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        boxes = []
        for x0, y0, bw, bh, _area in stats[1:n]:
            if min(bw, bh) < 3 or prob[y0 : y0 + bh, x0 : x0 + bw].mean() < BOX_THRESH:
                continue
            d = bw * bh * UNCLIP / (2 * (bw + bh))
            boxes.append(
                [
                    max(0, int(x0 - d)),
                    min(w, int(math.ceil(x0 + bw + d))),
                    max(0, int(y0 - d)),
                    min(h, int(math.ceil(y0 + bh + d))),
                ]
            )
        return boxes

    # -- recognition

    def recognize(self, img: np.ndarray, boxes: list[list[int]]) -> list[tuple[str, float]]:
        """Text and confidence of each box (x_min, x_max, y_min, y_max) of a gray image, in order."""
        self.load()
        out: list[tuple[str, float]] = [("", 0.0)] * len(boxes)
        crops = {}
        for i, (x0, x1, y0, y1) in enumerate(boxes):
            crop = img[max(0, y0) : y1, max(0, x0) : x1]
            if crop.shape[0] >= 2 and crop.shape[1] >= 2:
                crops[i] = crop
        widths = {i: max(1, math.ceil(REC_HEIGHT * c.shape[1] / c.shape[0])) for i, c in crops.items()}
        for batch in _batches(sorted(crops, key=widths.get), widths):
            width = max(REC_MIN_WIDTH, 8 * math.ceil(max(widths[i] for i in batch) / 8))
            x = np.zeros((len(batch), 3, REC_HEIGHT, width), np.float32)
            for row, i in enumerate(batch):
                w = min(width, widths[i])
                x[row, :, :, :w] = cv2.resize(crops[i], (w, REC_HEIGHT), interpolation=cv2.INTER_AREA) / 127.5 - 1.0
            probs = self._rec.run(None, {self._rec.get_inputs()[0].name: x})[0]
            for row, i in enumerate(batch):
                out[i] = self._decode(probs[row])
        return out

    def _decode(self, probs: np.ndarray) -> tuple[str, float]:
        """Greedy CTC decoding over the ASCII classes: text and the mean probability of its characters."""
        assert self._allowed is not None and self._chars is not None
        sub = probs[:, self._allowed]
        best = sub.argmax(axis=1)
        idx = self._allowed[best]
        conf = sub[np.arange(len(best)), best]
        keep = (idx != 0) & np.concatenate(([True], idx[1:] != idx[:-1]))
        if not keep.any():
            return "", 0.0
        return "".join(self._chars[idx[keep]]), float(conf[keep].mean())


def _batches(order: list[int], widths: dict[int, int]) -> list[list[int]]:
    """Cut crops sorted by width into batches of narrow crops of similar width (little padding), at most
    REC_BATCH each; wider crops go one at a time."""
    batches: list[list[int]] = []
    for i in order:
        last = batches[-1] if batches else []
        if (
            last
            and len(last) < REC_BATCH
            and widths[i] <= REC_BATCH_WIDTH
            and widths[i] <= REC_BATCH_SPREAD * widths[last[0]]
        ):
            last.append(i)
        else:
            batches.append([i])
    return batches
