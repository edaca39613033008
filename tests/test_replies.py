"""Chat replies read as plain words: a whole offline conversation on the fast index shows no file path, no
field name (snake_case or key=value) and no tool name in what the user reads."""

from __future__ import annotations

import dataclasses
import re

import pytest

from agent.loop import Agent
from agent.session import Session

CONVERSATION = (
    "hydrogen energy system of an aircraft",
    "why is #1 ranked first?",
    "why is #2 above #5?",
    "why is #6 above #2?",
    "compare #1 and #6",
    "cluster these into 3 groups",
    "show group 2",
    "what is 104 in #1",
    "only flowcharts",
    "undo",
    "only EP documents",
    "more like #2",
    "explain #3",
)
SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")
KEY_VALUE = re.compile(r"\b[a-z_]+=")
HIT_LINE = re.compile(r"^#\d+ [A-Z]{2}\d")  # a listed hit: its title is document text


def our_words(reply: str) -> list[str]:
    """The lines of a reply in our own words: not listed hits, not quoted document sentences or quotes."""
    lines = [ln for ln in reply.splitlines() if not HIT_LINE.match(ln) and not ln.startswith(("Text: ", "Title: "))]
    return [re.sub(r'"[^"]*"', '""', ln) for ln in lines]


@pytest.fixture
def conversation(fake_index):
    services = dataclasses.replace(fake_index, settings=fake_index.settings.model_copy(update={"offline": True}))
    agent, session = Agent(services), Session()
    return [(msg, agent.run(session, msg)) for msg in CONVERSATION]


def test_replies_carry_no_path_field_name_or_tool_name(conversation, fake_index):
    root = str(fake_index.store.root)
    kinds = set()
    for msg, result in conversation:
        kinds |= {e.kind for e in result.events}
        assert root not in result.reply and ".png" not in result.reply, msg
        for line in our_words(result.reply):
            assert not SNAKE.search(line), f"{msg!r}: {line}"
            assert not KEY_VALUE.search(line), f"{msg!r}: {line}"
    assert {"explanation", "clusters", "result_set"} <= kinds  # the conversation did reach those replies


def test_explanations_are_sentences(conversation):
    for msg, result in conversation:
        explained = [e.payload for e in result.events if e.kind == "explanation"]
        for ex in explained:
            for line in ex["text"].splitlines():
                assert line[0].isupper() or line[0] in "#(", f"{msg!r}: {line}"
                assert line.endswith((".", ".)")), f"{msg!r}: {line}"
