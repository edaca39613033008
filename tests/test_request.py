"""Requests stripped to what they are about, and bad input, through every way a search is asked for.

Part 1 reads real phrasings with `core.request.search_words` (request words off, the words about the drawing
kept, "" when nothing is left). Part 2 checks that the offline planner plans on those words and still reads
kinds, views and refinements. Part 3 runs searches on the sample documents (`fake_index`: the real pipeline,
the real line-drawing descriptor, word-bag text vectors): through the offline agent, the LangChain tools
driven by a scripted chat model, and an uploaded drawing with only request words. Part 4 sends bad input
(empty, stopwords only, FTS5 syntax inside plain words, a 5,000-character paste) through the planner, the
tools and `patfig search text|lexical`: each gets a clear answer or a sensible search, never a traceback,
and the index does not change.
"""

from __future__ import annotations

import dataclasses
import re
import time
import zipfile

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from typer.testing import CliRunner

from agent.actions import Actions
from agent.lc_tools import make_tools
from agent.loop import Agent
from agent.planner import plan
from agent.planner.parsing import NOTHING_ASKED, PASTE_CHARS
from agent.session import Session
from core.request import MAX_QUERY_CHARS, first_part, nothing_to_search, query_of, search_words
from tests.conftest import sample
from tests.fakes import ScriptedChat
from tools.search import search_image, search_text

# ---------------------------------------------------------------- part 1: the words a request is about

STRIPPED = [
    # request words before the thing
    ("figures showing a hydrogen tank", "hydrogen tank"),
    ("show me hydrogen tanks", "hydrogen tanks"),
    ("drawings of a gripping unit on an overhead hoist", "gripping unit on an overhead hoist"),
    ("find a wind turbine nacelle", "wind turbine nacelle"),
    ("find me the propeller blades", "propeller blades"),
    ("search for a charging station", "charging station"),
    ("Could you search for figures showing a wind turbine nacelle?", "wind turbine nacelle"),
    ("can you find me some drawings of a hinge please?", "hinge"),
    ("I'm looking for an elevator car with a counterweight", "elevator car with a counterweight"),
    ("I’m looking for a fuel cell stack", "fuel cell stack"),  # a typographic apostrophe
    ("any figures that show a shoe?", "shoe"),
    ("pictures of a sneaker sole", "sneaker sole"),
    ("patent drawings depicting a dispenser bottle please", "dispenser bottle"),
    ("I need images of a hydrogen tank in an aircraft wing", "hydrogen tank in an aircraft wing"),
    ("do you have illustrations of a car wheel rim", "car wheel rim"),
    ("please show the solar panels", "solar panels"),
    ("what about wind turbines?", "wind turbines"),
    ("hydrogen tank figures please", "hydrogen tank"),
    ("display the charging stations", "charging stations"),
    ('search for "hydrogen tank"', "hydrogen tank"),
    ("figure of a skate blade", "skate blade"),
    ("patents about solar panels on an aircraft", "solar panels on an aircraft"),
    ("search for a search engine", "search engine"),
    ("show the flap in that area of the wing", "flap in that area of the wing"),
    # references to the user's own drawing
    ("search with this drawing", ""),
    ("find figures like this one", ""),
    ("similar to this", ""),
    ("figures that look like this one", ""),
    ("search using the uploaded image", ""),
    ("use this drawing", ""),
    ("like this but with a cooling channel", "cooling channel"),
    ("similar to this sketch, with a propeller", "propeller"),
    ("show me figures like my drawing but with two wheels", "two wheels"),
    ("something similar to this with a handle", "handle"),
    ("like this, only with a handle", "handle"),
    # nothing about the drawing at all
    ("show me the", ""),
    ("figures", ""),
    ("drawings please?", ""),
    ("find", ""),
    ("hello", ""),
    ("", ""),
    ("   ", ""),
]

KEPT = [  # words that must stay: request words inside other words, and words that name a kind or a view
    "finder for a camera",
    "viewfinder housing",
    "showerhead with massage jets",
    "drawing frame",
    "figure skate blade",
    "search engine architecture",
    "display device with a touch screen",
    "return spring assembly",
    "all-terrain vehicle",
    "flowchart of charging",
    "flowcharts of charging an electric vehicle",
    "block diagram of a battery charger",
    "technical drawings of a hinge",
    "line drawings of a gear",
    "exploded views of a hinge",
    "sectional view of a valve",
    "hinge technical drawings",
    "100 kW motor",
    "a/b",
    '"NEAR" tank',
    "tank AND valve",
]

DRAWING_ONLY = {"visual", "views", "verified", "lines", "exact"}  # the drawing's evidence: no words searched


@pytest.mark.parametrize(("asked", "words"), STRIPPED, ids=[a or "<empty>" for a, _ in STRIPPED])
def test_request_words_come_off(asked, words):
    assert search_words(asked) == words


@pytest.mark.parametrize("asked", KEPT)
def test_words_about_the_drawing_stay(asked):
    assert search_words(asked) == asked


def test_kept_words_inside_a_request():
    assert search_words("I'm looking for a drawing frame") == "drawing frame"
    assert search_words("can you find a showerhead") == "showerhead"
    assert search_words("show me the finder of a camera") == "finder of a camera"
    assert search_words("figures showing a flowchart of charging") == "flowchart of charging"


def test_reading_twice_changes_nothing():
    for asked in [a for a, _ in STRIPPED] + KEPT:
        once = search_words(asked)
        assert search_words(once) == once, asked


def _paste() -> str:
    """5,000 characters of a real patent's description, as a person would paste it."""
    with zipfile.ZipFile(sample("uspto/US12448135-20251021.ZIP")) as z:
        xml = next(n for n in z.namelist() if n.endswith(".XML"))
        text = z.read(xml).decode("utf-8", "replace")
    text = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    start = text.index("BACKGROUND")
    return text[start: start + 5000]


def test_a_long_paste_is_cut_at_a_sentence_and_said_so():
    paste = _paste()
    assert len(paste) == 5000
    words, note = query_of(paste)
    assert len(words) <= MAX_QUERY_CHARS and paste.startswith(words) and words.endswith(".")
    assert len(words) > MAX_QUERY_CHARS // 2
    assert note.startswith("Your text is 5,000 characters long; I searched with its first ")
    assert query_of("hydrogen tank") == ("hydrogen tank", "")
    assert first_part("short text") == "short text"
    assert first_part("word " * 1000, limit=103) == ("word " * 20).strip()  # no sentence end: the last space


def test_nothing_to_search_says_why():
    assert "the query is empty" in nothing_to_search("")
    msg = nothing_to_search("show me the")
    assert msg.startswith("'show me the' asks for a search but does not say for what")


# ---------------------------------------------------------------- part 2: the planner plans on those words


def steps(text: str, **ctx) -> list[tuple[str, dict]]:
    return [(s.action, s.args) for s in plan(text, **ctx).steps]


def test_planner_searches_for_what_the_request_is_about():
    assert steps("figures showing a hydrogen tank") == [("search", {"query": "hydrogen tank"})]
    assert steps("any figures that show a shoe?") == [("search", {"query": "shoe"})]
    assert steps("patent drawings depicting a dispenser bottle please") == [
        ("search", {"query": "dispenser bottle"})]
    assert steps("I'm looking for a drawing frame") == [("search", {"query": "drawing frame"})]
    assert steps("can you find a showerhead") == [("search", {"query": "showerhead"})]


def test_planner_keeps_reading_kinds_views_and_refinements():
    assert steps("figures showing flowcharts of charging an electric vehicle") == [
        ("search", {"query": "charging an electric vehicle", "_filters": {"kinds": ["flowchart"]}})]
    assert steps("show me exploded views of a hinge please") == [
        ("search", {"query": "hinge", "_filters": {"views": ["exploded"]}})]
    assert steps("only flowcharts", has_results=True) == [("filter", {"kinds": ["flowchart"]})]
    assert steps("windmill AND turbine") == [("keyword_search", {"query": "windmill AND turbine"})]


def test_planner_with_a_drawing_and_only_request_words_searches_the_drawing_alone():
    for said in ("search with this drawing", "find figures like this one", "similar to this please",
                 "search using my sketch", "show me drawings like this", ""):
        assert steps(said, has_image=True) == [("search", {"query": "", "use_image": True})], said
    assert steps("like this one but with a cooling channel", has_image=True) == [
        ("search", {"query": "cooling channel", "use_image": True})]


def test_planner_answers_a_request_with_nothing_to_search_for():
    for said in ("show me the", "figures please", "find me some drawings"):
        assert plan(said).reply == NOTHING_ASKED and not plan(said).steps, said


def test_planner_takes_a_long_paste_as_text_to_search():
    paste = _paste()
    p = plan(paste)  # its words would read as commands ("compare", "only", dates); it is searched as text
    assert len(paste) > PASTE_CHARS and [s.action for s in p.steps] == ["search"]
    assert p.steps[0].args == {"query": paste}
    assert plan(paste, has_image=True).steps[0].args == {"query": paste, "use_image": True}


def test_a_paste_of_filler_or_punctuation_is_read_at_once():
    for paste in ("a " * 10000, "x" * 20000, '"' * 20000, "." * 19999 + "x", "x," * 10000, "like this one " * 1500):
        start = time.perf_counter()
        words = search_words(paste)
        p = plan(paste)
        assert time.perf_counter() - start < 2.0, paste[:20]  # a pattern that backtracks takes seconds here
        assert (p.reply == NOTHING_ASKED) == (words == ""), paste[:20]


# ---------------------------------------------------------------- part 3: searches on the sample documents


@pytest.fixture
def services(fake_index):
    _ = fake_index.visual, fake_index.text
    return dataclasses.replace(fake_index, settings=fake_index.settings.model_copy(update={"offline": True}))


@pytest.fixture
def drawing(services):
    """An indexed figure's sheet image, uploaded as the query drawing."""
    return services.store.sheet("US20250250937-S3"), str(services.store.image_path(
        services.store.sheet("US20250250937-S3")))


def test_offline_agent_searches_the_words_about_the_drawing(services):
    session = Session()
    r = Agent(services).run(session, "figures showing a hydrogen tank", k=10)
    rs = r.result_set
    assert rs is not None and session.recipe().text == "hydrogen tank"
    assert "text search 'hydrogen tank'" in rs.origin
    assert [h.figure_id for h in rs.hits] == [h.figure_id for h in search_text(services, "hydrogen tank", k=10)]
    assert rs.hits[0].breakdown.query["text"] == "hydrogen tank"


def test_a_drawing_with_only_request_words_is_searched_as_the_drawing_alone(services, drawing):
    sheet, path = drawing
    session = Session()
    r = Agent(services).run(session, "search with this drawing", image=path, k=10)
    recipe, top = session.recipe(), r.result_set.hits[0]
    assert recipe.mode == "image" and recipe.text == "" and recipe.text_weight == 0.0
    assert set(top.breakdown.modalities) <= DRAWING_ONLY and top.breakdown.query["text_weight"] == 0.0
    assert top.figure_id == sheet.figure_id  # the uploaded figure itself comes first
    # what it was before: the words "this drawing" mixed in at weight 0.5 pull the same figure's score down
    mixed = search_image(services, path, text="this drawing", text_weight=0.5, k=10)
    assert mixed[0].figure_id == sheet.figure_id and top.score > mixed[0].score


def test_a_drawing_with_words_keeps_only_the_words_about_it(services, drawing):
    _, path = drawing
    session = Session()
    Agent(services).run(session, "find figures like this one but with a fuel cell", image=path, k=10)
    recipe = session.recipe()
    assert recipe.mode == "image+text" and recipe.text == "fuel cell" and recipe.text_weight == 0.5


def call(name: str, n: int = 1, **args) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call_{name}_{n}"}])


def test_llm_tool_call_with_request_words_searches_what_they_are_about(services):
    model = ScriptedChat(messages=iter([call("search_figures", query="figures showing a hydrogen tank"),
                                        "Set 1 shows hydrogen tanks."]))
    session = Session()
    r = Agent(services, backend=model).run(session, "figures showing a hydrogen tank", k=8)
    assert [c.name for c in r.tool_calls] == ["search_figures"] and r.tool_calls[0].ok
    assert session.recipe().text == "hydrogen tank"
    assert all(h.breakdown.query["text"] == "hydrogen tank" for h in r.result_set.hits)
    seen = [m for m in model.seen[-1] if isinstance(m, ToolMessage)][0]
    assert "text search 'hydrogen tank'" in seen.content


def test_llm_tool_call_with_a_drawing_and_request_words_searches_the_drawing_alone(services, drawing):
    sheet, path = drawing
    model = ScriptedChat(messages=iter([call("search_figures", query="this drawing", use_image=True), "Done."]))
    session = Session()
    r = Agent(services, backend=model).run(session, "search with this drawing", image=path, k=8)
    assert session.recipe().mode == "image" and session.recipe().text_weight == 0.0
    assert r.result_set.hits[0].figure_id == sheet.figure_id
    assert set(r.result_set.hits[0].breakdown.modalities) <= DRAWING_ONLY


def test_llm_tool_call_with_only_request_words_gets_an_error_it_can_act_on(services):
    model = ScriptedChat(messages=iter([call("search_figures", query="show me the"),
                                        call("search_figures", 2, query="hydrogen tank"), "Found them."]))
    session = Session()
    r = Agent(services, backend=model).run(session, "show me the", k=5)
    first, second = r.tool_calls
    assert not first.ok and "'show me the' asks for a search but does not say for what" in first.error
    assert second.ok and session.recipe().text == "hydrogen tank" and r.reply == "Found them."


# ---------------------------------------------------------------- part 4: bad input, everywhere

PASTE = "paste"  # stands for the 5,000-character paste in the tables
NOTHING = ["show me the", "*", "()", ":", "figures:"]  # nothing to search for
OPERATORS = ["tank AND", "AND", "OR NOT", "NOT valve"]  # boolean operators without terms: not a sensible keyword query
PLAIN = ["a/b", '"hydrogen" tank', "NEAR tank", "tank NEAR/3 valve", "tank*", "tank (valve)", "^tank", "tank -valve",
         "hydrogen + tank", "{tank}", "tank:valve", "title:", "(tank", 'tank "valve', "tank; DROP TABLE figures"]
BAD = ["", *NOTHING, *OPERATORS, *PLAIN, PASTE]
# FTS5 syntax inside plain words: a keyword search reads them as words, never as an FTS5 syntax error
KEYWORD_OK = ["a/b", '"hydrogen" tank', "NEAR tank", "tank NEAR/3 valve", "tank*", "tank (valve)", "^tank",
              "tank -valve", "hydrogen + tank", "{tank}", "tank; DROP TABLE figures", "show me the"]


def _bad(text: str) -> str:
    return _paste() if text == PASTE else text


def _index_state(services) -> tuple:
    """What a write would change: the index version (every write to a patent moves it) and the counts."""
    return services.store.version(), services.store.counts()


def test_keyword_terms_are_read_as_the_index_splits_words():
    from tools.lexical import to_fts

    assert to_fts("a/b") == '"a b"'
    assert to_fts("tank (valve OR pipe)") == '"tank" AND ( "valve" OR "pipe" )'
    assert to_fts("hydrogen + tank") == '"hydrogen" "tank"'
    assert to_fts('title:"wind turbine" NOT claims:blade') == 'title:"wind turbine" NOT claims:"blade"'
    assert to_fts("hoist*") == '"hoist"*'


@pytest.mark.parametrize("text", BAD)
def test_bad_input_through_the_planner(services, text):
    before = _index_state(services)
    session = Session()
    r = Agent(services).run(session, _bad(text), k=5)
    reply = r.reply.split("\n\n", 1)[1] if r.reply.startswith("Offline mode:") else r.reply
    assert reply.strip() and "Traceback" not in reply and "fts5" not in reply
    if text == "":
        assert reply.startswith("I can search patent drawings")  # the help
    elif text in NOTHING:
        assert reply == NOTHING_ASKED and r.result_set is None
    elif text in OPERATORS:
        assert reply == f"I could not do that: {text!r} has an operator without a term on both sides"
    elif text == PASTE:
        assert r.result_set is not None and "Your text is 5,000 characters long" in reply
        assert len(session.recipe().text) <= MAX_QUERY_CHARS and _paste().startswith(session.recipe().text)
    else:  # a search by the words
        assert r.result_set is not None or reply.startswith(("No figure in the index matches", "No patent text"))
    assert _index_state(services) == before


@pytest.mark.parametrize("text", BAD)
def test_bad_input_through_the_llm_tools(services, text):
    before = _index_state(services)
    tools = {t.name: t for t in make_tools(Actions(services, Session(), k=5))}
    for name in ("search_figures", "keyword_search"):
        m = tools[name].invoke({"type": "tool_call", "name": name, "args": {"query": _bad(text)}, "id": "c1"})
        assert isinstance(m, ToolMessage) and m.content and "Traceback" not in m.content
        assert "fts5" not in m.content and "could not parse" not in m.content, m.content
        if m.status == "error":
            assert m.content.startswith("Error: ") and "call the tool again" in m.content, m.content
        if name == "search_figures":
            assert (m.status == "error") == (text in ("", *NOTHING, "AND")), m.content  # "and" asks, names nothing
            if m.status != "error":
                hits = m.artifact.events[0].payload.hits
                assert hits and len(hits[0].breakdown.query["text"]) <= MAX_QUERY_CHARS
            if text == PASTE:
                assert "Your text is 5,000 characters long" in m.content
        elif text in KEYWORD_OK:
            assert m.status != "error", m.content
    assert _index_state(services) == before


def _cli():
    from patfig.cli import WIRING
    from ui.cli import build_app

    return build_app(WIRING)


@pytest.mark.parametrize("text", BAD)
def test_bad_input_through_the_cli(fake_index_dir, fake_index, text):
    before = _index_state(fake_index)
    app = _cli()
    for cmd in ("text", "lexical"):
        res = CliRunner().invoke(app, ["search", cmd, _bad(text), "--index", str(fake_index_dir), "-k", "3"])
        assert res.exception is None or isinstance(res.exception, SystemExit), (cmd, text, res.exception)
        assert "Traceback" not in res.output
        assert "fts5" not in res.output and "could not parse" not in res.output, res.output
        if res.exit_code != 0:
            assert res.exit_code == 2 and "error:" in res.output, (cmd, text, res.output)
        else:
            assert f"{cmd}: " in res.stdout, (cmd, text, res.output)
        if cmd == "text":  # refused only when nothing is left to search for
            assert (res.exit_code == 2) == (text in ("", *NOTHING, "AND")), (text, res.output)
        elif text in KEYWORD_OK:
            assert res.exit_code == 0, (text, res.output)
    assert _index_state(fake_index) == before


def test_cli_text_search_says_which_words_it_searched(fake_index_dir):
    res = CliRunner().invoke(_cli(), ["search", "text", "figures showing a hydrogen tank", "--index",
                                      str(fake_index_dir), "-k", "3"])
    assert res.exit_code == 0, res.output
    assert "Searching for 'hydrogen tank' (request words dropped)." in res.output
    assert "text: hydrogen tank" in res.stdout
    paste = CliRunner().invoke(_cli(), ["search", "text", _paste(), "--index", str(fake_index_dir), "-k", "3"])
    assert paste.exit_code == 0 and "Your text is 5,000 characters long" in paste.output
