"""Cluster titles from the language model: the ``cluster_title`` prompt, rendered for one cluster.

`tools.cluster.cluster_hits` takes any `Titler`; the agent passes one made here when an LLM answers, and
the clusters keep their keyword titles otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

from prompts import load_prompt
from tools.cluster import Titler

MAX_DESCRIPTIONS = 6  # FIG descriptions quoted in the prompt
MAX_DESCRIPTION_CHARS = 300


def make_prompt_titler(complete: Callable[[str], str], max_descriptions: int = MAX_DESCRIPTIONS) -> Titler:
    """A titler that renders ``prompts/cluster_title.md`` and asks `complete` (an LLM call) for the title."""

    def titler(keywords: list[str], descriptions: list[str]) -> str:
        quoted = "\n".join(f"- {d[:MAX_DESCRIPTION_CHARS]}" for d in descriptions[:max_descriptions]) or "- (none)"
        prompt = load_prompt("cluster_title", keywords=", ".join(keywords) or "(none)", descriptions=quoted)
        return complete(prompt)

    return titler
