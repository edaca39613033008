"""The facet vocabulary: the figure views and kinds patfig knows, and nothing else."""

from __future__ import annotations

# Allowed values of the two figure facets. "unknown" means nothing in the text says.
VIEWS = (
    "perspective",
    "exploded",
    "sectional",
    "side",
    "plan",
    "front",
    "rear",
    "bottom",
    "detail",
    "schematic",
    "unknown",
)
KINDS = (
    "drawing",
    "flowchart",
    "block diagram",
    "graph",
    "circuit",
    "chemical structure",
    "table",
    "unknown",
)
