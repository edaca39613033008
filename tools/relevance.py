"""The index's score calibration as search reads it: which curve maps each modality's raw score.

`tools.calibrate` fits the curves and stores them with the index; this module reads them for each search
(one row of the index's meta table; parsed again only when it changed, e.g. after a background ingest
refitted them) and picks, per modality, the curve for the encoder that built the index
(`core.calibration.Calibration.curve`).
"""

from __future__ import annotations

from collections.abc import Iterable

from core.calibration import Calibration, Curve
from runtime.services import Services

CACHE_KEY = "calibration"
# modality → the encoder whose scores it calibrates
ENCODER_OF = {"visual": "visual", "clip_text": "visual", "text": "text", "text_sheet": "text"}


def calibration_of(services: Services) -> Calibration:
    """The index's calibration as stored now (defaults where none was fitted)."""
    stored = services.store.calibration()
    cached = services.extras.get(CACHE_KEY)
    if isinstance(cached, tuple) and cached[0] == stored:
        return cached[1]
    calibration = Calibration.model_validate(stored) if stored else Calibration()
    services.extras[CACHE_KEY] = (stored, calibration)
    return calibration


def curves_for(services: Services, modalities: Iterable[str]) -> dict[str, Curve]:
    """The curve of each modality, for the encoders recorded on the index."""
    calibration = calibration_of(services)
    encoders = services.store.encoders()
    out = {}
    for m in modalities:
        enc = encoders.get(ENCODER_OF.get(m, m))
        out[m] = calibration.curve(m, enc.name if enc else "")
    return out
