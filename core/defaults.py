"""Default values shared by the tools and the agent, defined once."""

DEFAULT_TEXT_WEIGHT = 0.5  # weight of text against the drawing in a fused image+text search
