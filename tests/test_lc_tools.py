"""The LangChain tool layer: typed schemas, injected session state, content vs artifact, errors as text.

Runs on a small real index (embedded Chroma + SQLite, bag-of-words text vectors; see tests/test_cluster).
"""

from __future__ import annotations

import pytest
from langchain_core.messages import ToolMessage

from agent.actions import Actions
from agent.events import Outcome
from agent.lc_tools import TOOL_NAMES, make_tools
from agent.render import DATA_BEGIN, DATA_END
from agent.session import Session
from core.filters import Filters
from runtime.services import Services
from tests.fakes import BagEncoder
from tests.test_cluster import build_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    services = build_corpus(tmp_path_factory.mktemp("lc") / "idx")
    yield services
    services.close()


@pytest.fixture
def kit(corpus):
    session = Session()
    tools = {t.name: t for t in make_tools(Actions(corpus, session, k=6))}
    return session, tools


def invoke(tools, name: str, **args) -> ToolMessage:
    return tools[name].invoke({"type": "tool_call", "name": name, "args": args, "id": f"c-{name}"})


def test_tools_are_typed_with_few_visible_arguments(kit):
    _, tools = kit
    assert tuple(tools) == TOOL_NAMES
    sizes = {}
    for name, tool in tools.items():
        schema = tool.tool_call_schema.model_json_schema()
        assert tool.description and len(tool.description) < 300, name
        assert tool.response_format == "content_and_artifact"
        for prop in schema["properties"].values():
            assert prop.get("description"), (name, prop)
        sizes[name] = len(schema["properties"])
    assert sizes["filter_results"] == 11 and sizes["exclude_from_results"] == 5  # ten filters and within_set
    assert max(v for k, v in sizes.items() if k not in ("filter_results", "exclude_from_results")) == 3
    assert sizes["go_back"] == 1 and sizes["explain_ranking"] == 2
    kinds = tools["filter_results"].tool_call_schema.model_json_schema()["properties"]["kinds"]
    assert "flowchart" in str(kinds) and "block diagram" in str(kinds)  # the model sees the allowed values


def test_search_then_refine_through_injected_session_state(kit, corpus):
    session, tools = kit
    m = invoke(tools, "search_figures", query="gripping unit on a rail")
    assert m.status != "error" and isinstance(m.artifact, Outcome)
    rs = session.current
    assert rs.set_id == 1 and len(rs.hits) == 6
    assert m.content.startswith("Set 1: 6 figures (text search 'gripping unit on a rail').")
    # hits go to the model as fenced data, one line each, with rank, patent, sheet, FIG, kind, view and score
    assert m.content.count(DATA_BEGIN) == 1 and m.content.rstrip().endswith(DATA_END)
    h = rs.hits[0]
    assert (f"#1 {h.patent_id} sheet {h.sheet_no} FIG {h.figs[0]} ({h.kind}, {h.view} view) score {h.score:.3f}"
            in m.content)
    assert m.artifact.artifact["result_set"]["hits"][0]["figure_id"] == h.figure_id
    assert [e.kind for e in m.artifact.events] == ["result_set"]

    m2 = invoke(tools, "filter_results", views=["side"])
    assert session.current.set_id == 2 and session.current.parent == 1
    assert all(x.view in ("side", "left", "right") for x in session.current.hits)  # "side" takes in left, right
    n = len(session.current.hits)
    assert n == min(6, len(corpus.store.ids(Filters(views=["side"]))))  # every side view of the index
    assert m2.content.startswith(f"I searched the whole index again for side, left or right views: {n} figures "
                                 f"of the index qualify, and here they all are.")

    m3 = invoke(tools, "go_back")
    assert session.current.set_id == 1 and m3.content.startswith("Back to the previous results. Set 1:")
    invoke(tools, "go_back", set_id=2)
    assert session.current.set_id == 2


def test_tool_errors_come_back_as_text_the_model_can_act_on(kit):
    session, tools = kit
    m = invoke(tools, "more_like", rank=3)
    assert m.status == "error"
    assert m.content == ("Error: there are no results yet: search first (describe the drawing or attach an image). "
                         "Correct the arguments and call the tool again, or ask the user.")
    invoke(tools, "search_figures", query="electric motor")
    m = invoke(tools, "more_like", rank=99)
    assert m.status == "error" and "there is no #99 in result set 1; it has #1 to #6" in m.content
    m = invoke(tools, "explain_ranking", rank=0)
    assert m.status == "error"
    assert m.content == ("Error: invalid arguments: rank: Input should be greater than or equal to 1 (got 0). "
                         "Correct them and call the tool again.")
    m = invoke(tools, "filter_results", kinds=["photo"])
    assert m.status == "error" and "kinds.0: Input should be 'drawing', 'flowchart'" in m.content
    m = invoke(tools, "filter_results", cpc=["H04L"])
    assert m.status == "error" and "no patent in the index has CPC 'H04L'; CPC classes present: B64, B64D, B66, " \
                                   "B66C" in m.content
    m = invoke(tools, "drop_results", patent_ids=["US777"])
    assert m.status == "error" and "no patent 'US777' in the index; patents in the current set: US1, US2" in m.content
    m = invoke(tools, "show_group", group=1)
    assert "set 1 has not been clustered yet" in m.content
    assert all(s.set_id == 1 for s in session.sets)  # failed calls made no sets


def test_index_problems_are_reported_not_raised(corpus):
    other = Services(settings=corpus.settings, store=corpus.store, _visual=corpus._visual,
                     _text=BagEncoder("fake:other"))
    tools = {t.name: t for t in make_tools(Actions(other, Session()))}
    m = invoke(tools, "search_figures", query="hoist")
    assert m.status == "error"
    assert m.content.startswith("Error: the index or a model is not usable here: this index's text vectors were "
                                "built with fake:bag256; querying them with fake:other")


def test_cluster_group_explain_compare_and_part_tools(kit):
    session, tools = kit
    invoke(tools, "search_figures", query="hoist gripping unit rail motor propeller")
    m = invoke(tools, "cluster_results", k=2)
    assert m.content.startswith("I sorted the 6 figures of set 1 into 2 groups of similar drawings.\n")
    assert "Group 1, " in m.content and ".png" not in m.content
    assert session.clusters is not None and session.clusters_of == 1
    assert [e.kind for e in m.artifact.events] == ["clusters"]
    group2 = [h.figure_id for h in session.clusters.clusters[1].hits]
    g = invoke(tools, "show_group", group=2, keep=True)
    assert session.current.set_id == 2 and [h.figure_id for h in session.current.hits] == group2
    assert [h.rank for h in session.current.hits] == list(range(1, len(group2) + 1))
    assert g.content.startswith(f"Kept group 2 ({len(group2)} figures). Set 2:")
    assert session.clusters is None  # set 2 is not clustered...
    invoke(tools, "go_back")
    assert session.clusters_of == 1  # ...and set 1 keeps its clusters after undo
    e = invoke(tools, "explain_ranking", rank=1, other_rank=2)
    assert "Explanation of #1 versus #2 of set 1, from the score breakdown:" in e.content
    assert e.artifact.events[0].kind == "explanation"
    c = invoke(tools, "compare_results")
    assert c.content.startswith("Comparison of the first 2 patents of set 1 (")
    top = session.current.hits[0]
    sign = "10" if top.patent_id == "US1" else "20"
    p = invoke(tools, "lookup_part", part=sign)
    assert p.content.startswith(f"Reference sign {sign} of {top.patent_id}:")
    overlay = p.artifact.events[0]
    assert overlay.kind == "overlay" and overlay.payload["numerals"] == [sign]
    assert overlay.payload["path"].endswith(".png")
    assert session.focus == overlay.payload["figure_id"]


def test_order_count_exclude_and_figure_tools_check_their_arguments(kit):
    session, tools = kit
    invoke(tools, "search_figures", query="hoist gripping unit rail motor propeller")
    m = invoke(tools, "order_results", by="colour")
    assert m.status == "error" and "by: Input should be 'date', 'score' or 'patent' (got 'colour')" in m.content
    m = invoke(tools, "set_result_count", k=0)
    assert m.status == "error" and "k: Input should be greater than or equal to 1" in m.content
    m = invoke(tools, "exclude_from_results")
    assert m.status == "error" and "name something to leave out" in m.content
    m = invoke(tools, "exclude_from_results", offices=["JP"])
    assert m.status == "error" and "no office 'JP' in the index; valid values: US" in m.content
    top = session.current.hits[0]
    m = invoke(tools, "describe_figure", rank=1, fig="99")
    assert m.status == "error" and f"{top.patent_id} has no FIG 99; its figures are FIG" in m.content
    m = invoke(tools, "describe_figure", rank=1)
    assert m.status != "error" and m.content.startswith(f"#1 of set 1 ({top.patent_id}, FIG {top.figs[0]}) is ")
    assert "Components: " in m.content and session.focus == top.figure_id
    m = invoke(tools, "order_results", by="patent", descending=True)
    ids = [h.patent_id for h in session.current.hits]
    assert ids == sorted(ids, reverse=True) and session.current.set_id == 2
    assert all(s.set_id <= 2 for s in session.sets)  # the failed calls and the question made no sets
