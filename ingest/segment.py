"""Placeholder until the figure splitter lands: every sheet is one figure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from core.types import Box, OcrToken


@dataclass(frozen=True)
class FigureRegion:
    box: Box
    fig: str | None
    source: str


def split_sheet(image: Image.Image, tokens: Sequence[OcrToken], figs: Sequence[str]) -> list[FigureRegion]:
    return [FigureRegion(Box(x0=0, y0=0, x1=image.width, y1=image.height), figs[0] if len(figs) == 1 else None,
                         "whole")]
