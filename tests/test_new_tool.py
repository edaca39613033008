"""Adding a search tool: one row in `agent.lc_tools.TOOLS` and one in `agent.planner.vocabulary.TOOL_PHRASES`.

A small real search function ("the figures of the patents of one kind code") is added exactly as a developer
would add one, by extending those two tables, and then used as the model and the offline planner use any
tool: the LangChain tool exists and runs, the planner reads a phrase for it, the result set is pushed, and a
refinement that no figure of the set passes re-runs the search over the index with the filter. Runs on the
sample documents indexed without OCR (`fake_index`).
"""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, Field

import agent.actions.registry
import agent.lc_tools
import agent.planner.vocabulary
from agent.actions import Actions
from agent.events import Outcome
from agent.lc_tools import ToolSpec, make_tools, register_searches
from agent.planner import Planner, plan
from agent.planner.vocabulary import ToolPhrase
from agent.session import Session
from core.errors import ToolError
from core.filters import Filters
from core.types import Breakdown, Hit
from runtime.services import Services
from tools.search import check_k, make_hit


def find_kind_code(services: Services, code: str, *, k: int, filters: Filters | None = None) -> list[Hit]:
    """The figures of the patents with one kind code ("A1", "B2"), in patent and sheet order."""
    code = code.strip().upper()
    check_k(k)
    pids = sorted(p.patent_id for p in services.store.patents() if p.kind == code)
    if not pids:
        raise ToolError(f"no patent in the index has kind code {code!r}")
    sheets = [s for pid in pids for s in services.store.sheets(pid)]
    if filters is not None and not filters.is_empty():
        meta = services.store.metadata([s.figure_id for s in sheets])
        sheets = [s for s in sheets if s.figure_id in meta and filters.match(meta[s.figure_id])]
    hits = []
    for s in sheets[:k]:
        bd = Breakdown(query={"mode": "kind_code", "text": code}, filters=filters.describe() if filters else {})
        hit = make_hit(services, s.figure_id, len(hits) + 1, 1.0, bd)
        if hit is not None:
            hits.append(hit)
    return hits


class KindCodeArgs(BaseModel):
    code: str = Field(..., description="A kind code, e.g. 'A1' or 'B2'")


# What a developer writes: one TOOLS row and one vocabulary row.
ROW = ToolSpec("find_kind_code", KindCodeArgs,
               "The figures of the patents of one kind code ('A1' applications, 'B2' grants). New result set.",
               search=find_kind_code)
PHRASE = ToolPhrase(re.compile(r"^\s*(?:show |find )?(?:the )?figures of kind code\b", re.I), "find_kind_code", "code")


@pytest.fixture
def with_tool(monkeypatch):
    """The tables extended by the new rows (and restored after the test)."""
    monkeypatch.setattr(agent.actions.registry, "SEARCHES", dict(agent.actions.registry.SEARCHES))
    monkeypatch.setattr(agent.lc_tools, "TOOLS", (*agent.lc_tools.TOOLS, ROW))
    monkeypatch.setattr(agent.planner.vocabulary, "TOOL_PHRASES", (*agent.planner.vocabulary.TOOL_PHRASES, PHRASE))
    register_searches([ROW])  # what agent.lc_tools does for its own table on import


def test_the_langchain_tool_exists_and_pushes_a_set(with_tool, fake_index):
    session = Session()
    tools = {t.name: t for t in make_tools(Actions(fake_index, session, k=3))}
    assert "find_kind_code" in tools
    assert tools["find_kind_code"].tool_call_schema.model_json_schema()["properties"]["code"]["description"]
    m = tools["find_kind_code"].invoke({"type": "tool_call", "name": "find_kind_code", "args": {"code": "B2"},
                                        "id": "c-1"})
    assert m.status != "error" and isinstance(m.artifact, Outcome)
    rs = session.current
    assert rs is not None and rs.set_id == 1 and len(rs.hits) == 3
    assert {h.patent_id for h in rs.hits} <= {"US12448135", "US12448527", "US12448730", "US12448895", "US8765276"}
    assert m.content.startswith("Set 1: 3 figures (find kind code: 'B2').")
    recipe = session.recipe()
    assert (recipe.mode, recipe.tool, recipe.args) == ("tool", "find_kind_code", {"code": "B2"})
    bad = tools["find_kind_code"].invoke({"type": "tool_call", "name": "find_kind_code", "args": {"code": "Z9"},
                                          "id": "c-2"})
    assert bad.status == "error" and "no patent in the index has kind code 'Z9'" in bad.content


def test_the_planner_reads_a_phrase_for_it(with_tool):
    p = plan("figures of kind code 'A1'.")
    assert [(s.action, s.args) for s in p.steps] == [("run_search", {"tool": "find_kind_code", "code": "A1"})]
    p = plan("show the figures of kind code A1", has_results=True)
    assert p.steps[0].action == "run_search"
    assert plan("only flowcharts", has_results=True).steps[0].action == "filter"  # other requests unchanged


def test_a_refinement_re_runs_it_over_the_index(with_tool, fake_index):
    session = Session()
    planner = Planner()
    reply, steps = planner.run(Actions(fake_index, session, k=3), "figures of kind code A1")
    assert steps[0].error is None and session.current is not None
    first = session.current.hits
    assert [h.patent_id for h in first] == ["EP1577413"] * 3 and {h.kind for h in first} == {"drawing"}
    reply, steps = planner.run(Actions(fake_index, session, k=3), "only flowcharts")
    assert steps[0].action == "filter" and steps[0].error is None
    rs = session.current
    assert rs.set_id == 2 and rs.parent == 1
    assert reply.startswith("I searched the whole index again for flowcharts: 7 figures of the index qualify, "
                            "and here are the best 3.")
    assert [(h.patent_id, h.sheet_no) for h in rs.hits] == [
        ("EP3358703", 2), ("US20250250937", 7), ("US20250250937", 8)]
    assert session.recipe().filters.kinds == ["flowchart"] and session.recipe().tool == "find_kind_code"
