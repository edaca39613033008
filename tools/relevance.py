"""The index's score calibration as search reads it: which curve maps each modality's raw score.

`tools.calibrate` fits the curves and stores them with the index; this module reads them for each search
(one row of the index's meta table; parsed again only when it changed, e.g. after a background ingest
refitted them) and picks, per modality, the curve for the encoder that built the index
(`core.calibration.Calibration.curve`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from core.calibration import Calibration, Curve
from core.defaults import STRONG_SCORE, WEAK_SCORE
from core.types import Hit
from runtime.services import Services
from tools.phrasing import strength

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


def strength_summary(hits: Sequence[Hit]) -> str:
    """How good the best hits are, in a sentence or two: the best one's strength on the calibrated scale, how many
    are strong, and the weak ones at the end (`strength_note`). Scores that only rank (a keyword or part-name
    search) are said to be so. "" for no hits."""
    if not hits:
        return ""
    if not calibrated(hits[0]):
        return ("Their scores only put them in order (they count matching words or parts), so they do not say "
                "how good a match is.")
    best = max(hits, key=lambda h: h.score)
    if best.score < WEAK_SCORE:
        return strength_note(hits)
    which = f"#{best.rank} {best.patent_id} FIG {','.join(best.figs) or '?'}"
    head = f"The best, {which}, is a {strength(best.score)} match (score {best.score:.2f}"
    strong = sum(h.score >= STRONG_SCORE for h in hits)
    if strong > 1:
        head += f"), and {strong} of the {len(hits)} are strong ({STRONG_SCORE:.2f} or more)."
    elif strong == 0:
        head += f"; a strong one scores {STRONG_SCORE:.2f} or more)."
    else:
        head += ")."
    tail = strength_note(hits)
    return f"{head} {tail}" if tail else head
