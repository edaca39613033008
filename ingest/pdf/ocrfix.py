"""Undo the slips of a scanned publication's OCR text layer: spacing around punctuation, letters for digits."""

from __future__ import annotations

import re

_DIGIT_LOOKALIKES = str.maketrans("OoIl|", "00111")


def ocr_digits(s: str) -> str:
    """Letters OCR reads for digits turned back into digits: 'GOIR' → 'G01R', '2013O1064' → '2013001064'."""
    return s.translate(_DIGIT_LOOKALIKES)


def clean_ocr(text: str) -> str:
    """Undo OCR spacing: '( 54 )' -> '(54)', 'FIG . 1' -> 'FIG. 1', 'magnetic - resonance' -> 'magnetic-resonance'."""
    text = text.replace("\ufffe", "\u00ad").replace("\x02", "\u00ad")
    text = re.sub(r"(\d) , (\d{3})\b", r"\1,\2", text)
    text = re.sub(r"\s+([,.;:)\]])", r"\1", text)
    text = re.sub(r"([(\[])\s+", r"\1", text)
    text = re.sub(r"(\w) - (\w)", r"\1-\2", text)
    text = re.sub(r"(\d) / (\d)", r"\1/\2", text)
    text = re.sub(r"\b(FIGS?\.?|Figs?\.)\s*[Il](?=[\s.,;:])", r"\g<1> 1", text)
    return text
