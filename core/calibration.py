"""Calibrated relevance: one fixed scale for every modality's raw similarity, the same for every query.

A raw cosine says little by itself: 0.4 is a close match for a short text query against linked text and a
poor one between two drawings' descriptors. A `Curve` maps one modality's raw similarity to the
probability that the figure is relevant, a logistic function fitted by `tools.calibrate` on the index's
own evaluation protocols (re-identification for drawings, components → figures for words) and stored with
the index. Because the mapping depends only on the raw score, a figure with the same raw similarity gets
the same calibrated score in every result set, and a cut-off ("at least 0.5") means the same thing for
every query.

When an index has no fitted curve for a modality, `DEFAULT_CURVES` holds curves fitted on the sample
index for the default encoders; for any other encoder the raw cosine, clipped to [0, 1], stands in and
the breakdown says so (`Curve.source`).
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field


def feature(name: str, raw: float) -> float:
    """What a curve is linear in: the raw cosine, or -log(1 - raw), which spreads the near-1 cosines
    of a descriptor whose every pair of drawings is alike (the line-drawing histogram's are 0.9 and up)."""
    if name == "logdist":
        return -math.log(max(1e-4, 1.0 - raw))
    if name == "log1p":  # a count (spatially verified matches): log(1 + n)
        return math.log1p(max(0.0, raw))
    return raw


def logit(p: float) -> float:
    p = min(1 - 1e-9, max(1e-9, p))
    return math.log(p / (1 - p))


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z > -500 else 0.0


class Curve(BaseModel):
    """p(relevant | raw) = sigmoid(slope * feature(raw) + bias), for one modality of one encoder."""

    slope: float
    bias: float
    feature: str = "raw"  # "raw", "logdist" or "log1p" (see `feature`), whichever fitted the index better
    encoder: str = ""  # the encoder whose scores it was fitted on ("" = any)
    source: str = "fitted"  # "fitted" (on this index), "default" (on the sample index) or "uncalibrated"
    pairs: int = 0  # (query, candidate) pairs it was fitted on
    positives: int = 0  # of which relevant

    def __call__(self, raw: float) -> float:
        if self.source == "uncalibrated":
            return min(1.0, max(0.0, raw))
        return sigmoid(self.slope * feature(self.feature, raw) + self.bias)

    def raw_for(self, p: float) -> float:
        """The raw similarity that calibrates to p (the inverse), for saying what a cut-off means."""
        if self.source == "uncalibrated":
            return p
        x = (logit(p) - self.bias) / self.slope
        if self.feature == "log1p":
            return math.expm1(x)
        return 1.0 - math.exp(-x) if self.feature == "logdist" else x


class FlooredCurve(Curve):
    """A `Curve` under which every raw score below `floor` calibrates as 0 does: weak evidence left out of the
    ranking, as when one candidate's strong evidence already settles what the query is."""

    floor: float = 0.0

    def __call__(self, raw: float) -> float:
        return super().__call__(raw if raw >= self.floor else 0.0)


UNCALIBRATED = Curve(slope=1.0, bias=0.0, source="uncalibrated")


class Calibration(BaseModel):
    """The curves of one index, by modality ("visual", "text", "clip_text")."""

    curves: dict[str, Curve] = Field(default_factory=dict)

    def curve(self, modality: str, encoder: str) -> Curve:
        """The fitted curve of a modality for this encoder, else the default one, else the raw cosine."""
        fitted = self.curves.get(modality)
        if fitted is not None and fitted.encoder in ("", encoder):
            return fitted
        return default_curve(modality, encoder)

    def relevance(self, modality: str, encoder: str, raw: float) -> float:
        return self.curve(modality, encoder)(raw)


# Fitted by `patfig calibrate` on the sample index of tests/conftest.py (9 patents, 30 sheets, OCR on), for an
# index of the default encoders that has not been fitted yet (or has too few patents to fit on); "words" and
# "text" (fitted together, tools.calibrate.fit_word_curves) on the whole sample folder with OCR (82 documents,
# 820 figures).
DEFAULT_CURVES: dict[tuple[str, str], Curve] = {
    ("visual", "linedraw:lbp-v1"): Curve(slope=1.8275, bias=-7.2938, feature="logdist", source="default"),
    ("words", "st:all-MiniLM-L6-v2"): Curve(slope=4.8045, bias=-4.1011, source="default"),
    ("text", "st:all-MiniLM-L6-v2"): Curve(slope=7.4964, bias=-4.1011, source="default"),
    ("text_sheet", "st:all-MiniLM-L6-v2"): Curve(slope=17.5047, bias=-9.5753, source="default"),
}


def default_curve(modality: str, encoder: str) -> Curve:
    """The sample index's curve for this modality and encoder, or the clipped raw cosine."""
    return DEFAULT_CURVES.get((modality, encoder), UNCALIBRATED)
