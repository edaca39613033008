"""Search defaults, in one place for every layer that needs them (tools, agent, UI)."""

DEFAULT_TEXT_WEIGHT = 0.5  # weight of text against the drawing in a fused image+text search
DEFAULT_MORE_LIKE_TEXT_WEIGHT = 0.3  # weight of a figure's linked text against its drawing in "more like this"
DEFAULT_K = 20  # hits a search returns unless asked for another number
WEAK_SCORE = 0.1  # a best score below this is a weak match: nothing in the index matches well (bench/weak_threshold.py)
STRONG_SCORE = 0.5  # from here a calibrated score says the figure is more likely relevant than not
