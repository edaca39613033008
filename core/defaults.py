"""Search defaults, in one place for every layer that needs them (tools, agent, UI)."""

DEFAULT_TEXT_WEIGHT = 0.5  # weight of text against the drawing in a fused image+text search
# Weight of a figure's linked text against its drawing in "more like this" (and in `patfig eval`'s fused modes, which
# query the same way), chosen with the "odds" fusion on the eval protocols (README, Retrieval quality).
DEFAULT_MORE_LIKE_TEXT_WEIGHT = 0.7
DEFAULT_K = 20  # hits a search returns unless asked for another number

# How a score on the calibrated scale is called in words (tools.phrasing.strength), set by measurement:
WEAK_SCORE = 0.1  # below: a weak match; above every nonsense query's best score (bench/weak_threshold.py)
STRONG_SCORE = 0.5  # from here: a strong match, more likely relevant than not (between the two: fair)
