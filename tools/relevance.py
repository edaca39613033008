"""The index's score calibration as search reads it: which curve maps each modality's raw score.

`tools.calibrate` fits the curves and stores them with the index; this module reads them for each search
(one row of the index's meta table; parsed again only when it changed, e.g. after a background ingest
refitted them) and picks, per modality, the curve for the encoder that built the index
(`core.calibration.Calibration.curve`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from core.calibration import Calibration, Curve
from core.defaults import WEAK_SCORE
from core.types import Hit
from runtime.services import Services

CACHE_KEY = "calibration"
# modality → the encoder whose scores it calibrates
ENCODER_OF = {"visual": "visual", "clip_text": "visual", "text": "text", "text_sheet": "text", "words": "text"}


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


def calibrated(hit: Hit) -> bool:
    """Whether a hit's score is a calibrated relevance (every search's is, but reciprocal-rank fusion's)."""
    mods = hit.breakdown.modalities.values()
    return bool(mods) and hit.breakdown.method != "rrf" and all(m.calibrated is not None for m in mods)


def strength_note(hits: Sequence[Hit]) -> str:
    """A sentence on how well the best hits match, from their calibrated scores ("" when they are not)."""
    if not hits or not calibrated(hits[0]):
        return ""
    best = hits[0].score
    if best < WEAK_SCORE:
        return (f"Nothing in the index matches well: the best figure scores {best:.2f}, and scores below "
                f"{WEAK_SCORE:.2f} are weak matches, so treat these results as loose leads.")
    weak = sum(h.score < WEAK_SCORE for h in hits)
    if weak:
        return (f"The last {weak} of these score below {WEAK_SCORE:.2f}, which makes them weak matches." if weak > 1
                else f"The last one scores below {WEAK_SCORE:.2f}, which makes it a weak match.")
    return ""
