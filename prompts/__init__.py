"""Prompt templates as files (``prompts/<name>.md``), loaded by name with strict variables.

Templates use ``string.Template`` syntax (``$keywords``, ``${descriptions}``; ``$$`` is a literal dollar).
A variable the template names but the caller does not give raises ``KeyError``, so a renamed variable
fails loudly instead of sending "$keywords" to a model.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")


def prompt_names() -> list[str]:
    """The names of all prompt templates shipped in this package."""
    return sorted(p.stem for p in PROMPTS_DIR.glob("*.md"))


def prompt_variables(name: str) -> set[str]:
    """The variables a template expects (``$name`` and ``${name}``)."""
    template = string.Template(_read(name))
    return {
        m.group("named") or m.group("braced")
        for m in template.pattern.finditer(template.template)
        if m.group("named") or m.group("braced")
    }


def load_prompt(name: str, **variables: object) -> str:
    """The template ``prompts/<name>.md`` with its variables substituted.

    Raises ``KeyError`` naming a missing variable, ``FileNotFoundError`` listing the templates that exist.
    """
    return string.Template(_read(name)).substitute({k: str(v) for k, v in variables.items()})


def _read(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a prompt name; prompt names look like 'cluster_title'")
    path = PROMPTS_DIR / f"{name}.md"
    if not path.is_file():
        raise FileNotFoundError(f"no prompt {name!r}; available prompts: {', '.join(prompt_names()) or 'none'}")
    return path.read_text(encoding="utf-8")
