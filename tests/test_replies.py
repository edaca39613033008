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


# ---------------------------------------------------------------- a calm reply after a search


SENTENCE_END = re.compile(r"[.?!](?:\s|$)")


def test_a_search_reply_is_a_few_sentences_without_the_list(conversation):
    msg, result = conversation[0]  # the first turn also carries the offline notice: look past it
    rs = result.result_set
    reply = result.reply.split("\n\n")[-1]
    assert not any(HIT_LINE.match(ln) for ln in reply.splitlines()), reply  # the gallery shows the set
    assert reply.startswith(f"Set 1: {len(rs.hits)} figures (text search '{msg}').")  # what, how many
    assert "The best, #1 " in reply and "match (score " in reply  # how good the best ones are
    assert reply.splitlines()[-1].startswith("You can say ")  # what the user can say next
    assert len(SENTENCE_END.findall(reply)) <= 5, reply


def test_the_model_still_gets_the_list(fake_index):
    from agent.actions import Actions

    services = dataclasses.replace(fake_index, settings=fake_index.settings.model_copy(update={"offline": True}))
    out = Actions(services, Session()).search("hydrogen energy system of an aircraft", k=6)
    listed = [ln for ln in out.for_model().splitlines() if HIT_LINE.match(ln)]
    assert len(listed) == 6 and listed[0].startswith("#1 US12448135 sheet")  # inside the data block
    assert not any(HIT_LINE.match(ln) for ln in out.for_user().splitlines())
    assert "You can say" not in out.for_model()  # the hint is for the person


def test_list_them_lists_the_set_in_words(fake_index):
    services = dataclasses.replace(fake_index, settings=fake_index.settings.model_copy(update={"offline": True}))
    agent, session = Agent(services), Session()
    agent.run(session, "propeller blade")
    for ask in ("list them", "list the results", "show them as a list"):
        r = agent.run(session, ask)
        lines = [ln for ln in r.reply.splitlines() if HIT_LINE.match(ln)]
        assert len(lines) == 10 and lines[0].startswith(f"#1 {session.current.hits[0].patent_id} sheet"), ask
        assert r.result_set is None and len(session.sets) == 1  # listing changes nothing


def test_every_suggested_next_request_is_understood(conversation):
    from agent.planner import plan

    suggested = set()
    for _, result in conversation:
        last = result.reply.splitlines()[-1]
        if last.startswith("You can say "):
            suggested |= set(re.findall(r"“([^”]+)”", last))
    assert {"more like #1", "why is #1 first?", "list them"} <= suggested
    for ask in sorted(suggested):
        p = plan(ask, has_image=False, has_results=True)
        assert p.steps and p.steps[0].action != "search", ask  # a step on the current set, not a new search
