"""The offline planner: how requests are read (a pure table), and what they produce on the real sample index.

Part 1 checks `plan()` on varied phrasings. Part 2 runs each request through the offline Agent over the
sample index, after a base search, and checks the resulting set: after "only the flowcharts" every hit
is a flowchart, after "drop US12448135" none is from it, after "undo" the set id goes back, and so on.
Part 3 checks that every reply of both tables is plain sentences for a patent searcher: no file path, no
snake_case field name, no two sentences run together.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

import core.vocab
from agent.actions import Actions
from agent.loop import Agent
from agent.planner import HELP, Step, extract, parse_dates, plan, ranks_in, vocabulary
from agent.planner.execution import resolve_step
from agent.session import Session
from core.defaults import WEAK_SCORE
from core.filters import Filters
from core.patnum import patent_ids_in
from core.types import Hit
from core.vocab import KINDS, UNKNOWN, VIEWS, ViewTerm
from tests.fakes import HashEncoder
from tools.cpc_topics import cpc_for_topic
from tools.filtering import make_filters
from tools.narrow import topic_members
from tools.phrasing import strength
from tools.search import search_text

# ---------------------------------------------------------------- part 1: reading requests

PARSES: list[tuple[str, dict, list[tuple[str, dict]]]] = [
    # new searches
    ("show me drawings of a gripping unit on an overhead hoist", {},
     [("search", {"query": "gripping unit on an overhead hoist"})]),
    ("find turbine blades", {"has_results": True}, [("search", {"query": "turbine blades"})]),
    ("Could you search for figures showing a wind turbine nacelle?", {},
     [("search", {"query": "wind turbine nacelle"})]),
    ("I'm looking for an elevator car with a counterweight", {},
     [("search", {"query": "elevator car with a counterweight"})]),
    ("hydrogen tank in an aircraft wing", {}, [("search", {"query": "hydrogen tank in an aircraft wing"})]),
    ("flowcharts of a method for charging an electric vehicle", {},
     [("search", {"query": "method for charging an electric vehicle", "_filters": {"kinds": ["flowchart"]}})]),
    # a filter or topic stated inside the first request
    ("exploded views of a hinge", {}, [("search", {"query": "hinge", "_filters": {"views": ["exploded"]}})]),
    ("flowcharts of a method for charging after 2018", {},
     [("search", {"query": "method for charging", "_filters": {"kinds": ["flowchart"], "date_from": 20190101}})]),
    ("EP drawings of a wind turbine", {}, [("search", {"query": "wind turbine", "_filters": {"offices": ["EP"]}})]),
    ("a hinge, exploded views only", {}, [("search", {"query": "hinge", "_filters": {"views": ["exploded"]}})]),
    ("wind turbines but no EP", {}, [("search", {"query": "wind turbines", "_filters": {"exclude_offices": ["EP"]}})]),
    ("show me charging stations from WO published before 2020", {},
     [("search", {"query": "charging stations", "_filters": {"date_to": 20191231, "offices": ["WO"]}})]),
    ("hinge without springs", {}, [("search", {"query": "hinge without springs"})]),
    ("give me 50 drawings of a hinge", {}, [("search", {"query": "hinge", "k": 50})]),
    ("the top 5 results for wind turbine blades", {"has_results": True},
     [("search", {"query": "wind turbine blades", "k": 5})]),
    ("show 10 flowcharts of a charging method", {},
     [("search", {"query": "charging method", "_filters": {"kinds": ["flowchart"]}, "k": 10})]),
    ("100 kW motor", {}, [("search", {"query": "100 kW motor"})]),
    ("windmill AND turbine", {}, [("keyword_search", {"query": "windmill AND turbine"})]),
    ('title:"wind turbine" NOT claims:blade', {"has_results": True},
     [("keyword_search", {"query": 'title:"wind turbine" NOT claims:blade'})]),
    ("find figures with the component 'nacelle'", {}, [("find_part_figures", {"name": "nacelle"})]),
    # images
    ("", {"has_image": True}, [("search", {"query": "", "use_image": True})]),
    ("find figures like this one", {"has_image": True}, [("search", {"query": "", "use_image": True})]),
    ("like this but with a cooling channel", {"has_image": True, "has_results": True},
     [("search", {"query": "cooling channel", "use_image": True})]),
    ("similar to this sketch, with a propeller", {"has_image": True},
     [("search", {"query": "propeller", "use_image": True})]),
    # facet refinements
    ("only the flowcharts", {"has_results": True}, [("filter", {"kinds": ["flowchart"]})]),
    ("just flow diagrams please", {"has_results": True}, [("filter", {"kinds": ["flowchart"]})]),
    ("keep only block diagrams", {"has_results": True}, [("filter", {"kinds": ["block diagram"]})]),
    ("just perspective views", {"has_results": True}, [("filter", {"views": ["perspective"]})]),
    ("show only cross-sections", {"has_results": True}, [("filter", {"views": ["sectional"]})]),
    ("only top views", {"has_results": True}, [("filter", {"views": ["top"]})]),
    ("keep only plan views", {"has_results": True}, [("filter", {"views": ["plan"]})]),
    ("just side views", {"has_results": True}, [("filter", {"views": ["side"]})]),
    ("only left side views", {"has_results": True}, [("filter", {"views": ["left"]})]),
    ("just the right-hand views", {"has_results": True}, [("filter", {"views": ["right"]})]),
    ("only views from the left", {"has_results": True}, [("filter", {"views": ["left"]})]),
    ("only left and right side views", {"has_results": True}, [("filter", {"views": ["left", "right"]})]),
    ("only top and bottom views", {"has_results": True}, [("filter", {"views": ["top", "bottom"]})]),
    ("remove the left side views", {"has_results": True}, [("filter", {"exclude_views": ["left"]})]),
    ("only EP documents after 2015", {"has_results": True},
     [("filter", {"offices": ["EP"], "date_from": 20160101})]),
    ("only US patents published before 2020", {"has_results": True},
     [("filter", {"offices": ["US"], "date_to": 20191231})]),
    ("restrict them to european ones since 2018", {"has_results": True},
     [("filter", {"offices": ["EP"], "date_from": 20180101})]),
    ("between 2010 and 2016", {"has_results": True}, [("filter", {"date_from": 20100101, "date_to": 20161231})]),
    ("only granted patents", {"has_results": True}, [("filter", {"granted": True})]),
    ("only US12448135", {"has_results": True}, [("filter", {"only_patents": ["US12448135"]})]),
    ("only figures with components", {"has_results": True}, [("filter", {"has_components": True})]),
    ("only sectional flowcharts from WO", {"has_results": True},
     [("filter", {"kinds": ["flowchart"], "views": ["sectional"], "offices": ["WO"]})]),
    # domains
    ("only autonomous-driving drawings", {"has_results": True}, [("narrow", {"topic": "autonomous driving"})]),
    ("restrict to wind turbines", {"has_results": True}, [("narrow", {"topic": "wind turbines"})]),
    ("just the ones about batteries", {"has_results": True}, [("narrow", {"topic": "batteries"})]),
    ("only EP flowcharts about electric vehicle charging", {"has_results": True},
     [("filter", {"kinds": ["flowchart"], "offices": ["EP"]}), ("narrow", {"topic": "electric vehicle charging"})]),
    # dropping
    ("drop US12448135", {"has_results": True}, [("drop", {"patent_ids": ["US12448135"], "ranks": []})]),
    ("remove US 12,448,135 B2 please", {"has_results": True},
     [("drop", {"patent_ids": ["US12448135"], "ranks": []})]),
    ("drop #2 and #4", {"has_results": True}, [("drop", {"patent_ids": [], "ranks": [2, 4]})]),
    ("remove the flowcharts", {"has_results": True}, [("filter", {"exclude_kinds": ["flowchart"]})]),
    ("no graphs", {"has_results": True}, [("filter", {"exclude_kinds": ["graph"]})]),
    ("exclude WO documents", {"has_results": True}, [("filter", {"exclude_offices": ["WO"]})]),
    # exclusion inside a filter, and several constraints in one sentence
    ("drop the graphs", {"has_results": True}, [("filter", {"exclude_kinds": ["graph"]})]),
    ("anything except EP", {"has_results": True}, [("filter", {"exclude_offices": ["EP"]})]),
    ("everything but the flowcharts", {"has_results": True}, [("filter", {"exclude_kinds": ["flowchart"]})]),
    ("without perspective views", {"has_results": True}, [("filter", {"exclude_views": ["perspective"]})]),
    ("no side views", {"has_results": True}, [("filter", {"exclude_views": ["side"]})]),
    ("not before 2015", {"has_results": True}, [("filter", {"date_from": 20150101})]),
    ("not after 2018", {"has_results": True}, [("filter", {"date_to": 20181231})]),
    ("nothing published before 2016 please", {"has_results": True}, [("filter", {"date_from": 20160101})]),
    ("only flowcharts but no EP", {"has_results": True},
     [("filter", {"kinds": ["flowchart"], "exclude_offices": ["EP"]})]),
    ("only EP flowcharts but not graphs", {"has_results": True},
     [("filter", {"kinds": ["flowchart"], "offices": ["EP"], "exclude_kinds": ["graph"]})]),
    ("only US patents, but no B2", {"has_results": True},
     [("filter", {"offices": ["US"], "exclude_kind_codes": ["B2"]})]),
    ("keep US documents after 2015 except the block diagrams", {"has_results": True},
     [("filter", {"date_from": 20160101, "offices": ["US"], "exclude_kinds": ["block diagram"]})]),
    ("except CPC B64", {"has_results": True}, [("filter", {"exclude_cpc": ["B64"]})]),
    ("show everything except the graphs", {"has_results": True}, [("filter", {"exclude_kinds": ["graph"]})]),
    ("I don't want flowcharts", {"has_results": True}, [("filter", {"exclude_kinds": ["flowchart"]})]),
    ("keep the flowcharts, but not the ones from WO", {"has_results": True},
     [("filter", {"kinds": ["flowchart"], "exclude_offices": ["WO"]})]),
    ("drop everything from WO", {"has_results": True}, [("filter", {"exclude_offices": ["WO"]})]),
    ("remove the ones before 2015", {"has_results": True}, [("filter", {"date_from": 20150101})]),
    ("no granted patents", {"has_results": True}, [("filter", {"applications": True})]),
    # references to results and patents
    ("just that patent, #3", {"has_results": True}, [("filter", {"_rank_patent": 3})]),
    ("only the patent of #4", {"has_results": True}, [("filter", {"_rank_patent": 4})]),
    ("show me the patent of #2", {"has_results": True}, [("filter", {"_rank_patent": 2})]),
    ("all figures of the second one", {"has_results": True}, [("filter", {"_rank_patent": 2})]),
    ("only this patent", {"has_results": True}, [("filter", {"_rank_patent": 0})]),
    ("drop that patent", {"has_results": True}, [("drop", {"_rank_patents": [0]})]),
    ("just #3's patent", {"has_results": True}, [("filter", {"_rank_patent": 3})]),
    ("who is the applicant of #2?", {"has_results": True}, [("applicant", {"rank": 2})]),
    ("which company filed that patent?", {"has_results": True}, [("applicant", {"_rank_patent": 0})]),
    ("remove the patent of #5", {"has_results": True}, [("drop", {"_rank_patents": [5]})]),
    ("the same applicant as #2", {"has_results": True}, [("same_applicant", {"rank": 2})]),
    ("more from the same applicant", {"has_results": True}, [("same_applicant", {"_rank_patent": 0})]),
    ("patents by the applicant of US12448135", {"has_results": True},
     [("same_applicant", {"patent_id": "US12448135"})]),
    # ordering a set
    ("sort by date", {"has_results": True}, [("order", {"by": "date"})]),
    ("order them by publication date, newest first", {"has_results": True},
     [("order", {"by": "date", "descending": True})]),
    ("newest first", {"has_results": True}, [("order", {"by": "date", "descending": True})]),
    ("oldest first please", {"has_results": True}, [("order", {"by": "date", "descending": False})]),
    ("sort them chronologically", {"has_results": True}, [("order", {"by": "date"})]),
    ("sort by date descending", {"has_results": True}, [("order", {"by": "date", "descending": True})]),
    ("sort by score", {"has_results": True}, [("order", {"by": "score"})]),
    ("order by relevance, lowest first", {"has_results": True}, [("order", {"by": "score", "descending": False})]),
    ("sort by patent", {"has_results": True}, [("order", {"by": "patent"})]),
    ("arrange the results by patent number", {"has_results": True}, [("order", {"by": "patent"})]),
    ("sort these into 3 groups", {"has_results": True}, [("cluster", {"k": 3})]),
    ("group by patent", {"has_results": True}, [("order", {"by": "patent"})]),
    ("group them by similarity", {"has_results": True}, [("cluster", {"k": None})]),
    ("reverse the order", {"has_results": True}, [("order", {"_reverse": True})]),
    ("most recent first", {"has_results": True}, [("order", {"by": "date", "descending": True})]),
    # how many results
    ("give me 50", {"has_results": True}, [("resize", {"k": 50})]),
    ("show 40 results", {"has_results": True}, [("resize", {"k": 40})]),
    ("only the top 5", {"has_results": True}, [("resize", {"k": 5})]),
    ("just the first ten", {"has_results": True}, [("resize", {"k": 10})]),
    ("top 5", {"has_results": True}, [("resize", {"k": 5})]),
    ("10 more", {"has_results": True}, [("resize", {"_add": 10})]),
    ("more", {"has_results": True}, [("resize", {"more": True})]),
    ("more results please", {"has_results": True}, [("resize", {"more": True})]),
    ("show me more", {"has_results": True}, [("resize", {"more": True})]),
    ("fewer", {"has_results": True}, [("resize", {"_fewer": True})]),
    # a question about one figure or FIG of a result
    ("what is shown in FIG 2 of #4?", {"has_results": True}, [("figure", {"rank": 4, "fig": "2"})]),
    ("what does #2 show?", {"has_results": True}, [("figure", {"rank": 2})]),
    ("describe figure 3 of the second result", {"has_results": True}, [("figure", {"rank": 2, "fig": "3"})]),
    ("describe #3", {"has_results": True}, [("figure", {"rank": 3})]),
    ("what is in the last one?", {"has_results": True}, [("figure", {"rank": -1})]),
    ("tell me about FIG. 5 of US12448135", {"has_results": True},
     [("figure", {"patent_id": "US12448135", "fig": "5"})]),
    ("what am I looking at in #1?", {"has_results": True}, [("figure", {"rank": 1})]),
    ("describe this figure", {"has_results": True}, [("figure", {})]),
    ("show me FIG 3 of #2", {"has_results": True}, [("figure", {"rank": 2, "fig": "3"})]),
    ("explain what #4 shows", {"has_results": True}, [("figure", {"rank": 4})]),
    # more like, weights
    ("more like #3", {"has_results": True}, [("more_like", {"rank": 3})]),
    ("similar to the third one", {"has_results": True}, [("more_like", {"rank": 3})]),
    ("show me more like US12448895-S1", {"has_results": True}, [("more_like", {"figure_id": "US12448895-S1"})]),
    ("give text more weight", {"has_results": True}, [("reweight", {"more_text": True})]),
    ("put more emphasis on the words", {"has_results": True}, [("reweight", {"more_text": True})]),
    ("rely more on the image", {"has_results": True}, [("reweight", {"more_text": False})]),
    ("set the text weight to 0.8", {"has_results": True}, [("reweight", {"text_weight": 0.8})]),
    ("text weight 30%", {"has_results": True}, [("reweight", {"text_weight": 0.3})]),
    # undo, sets
    ("undo", {"has_results": True}, [("undo", {})]),
    ("back to the previous results", {"has_results": True}, [("undo", {})]),
    ("go back", {"has_results": True}, [("undo", {})]),
    ("go back to set 2", {"has_results": True}, [("goto", {"set_id": 2})]),
    ("show the results", {"has_results": True}, [("show", {})]),
    # groups
    ("cluster these into 4 groups", {"has_results": True}, [("cluster", {"k": 4})]),
    ("group them into three clusters", {"has_results": True}, [("cluster", {"k": 3})]),
    ("group them", {"has_results": True}, [("cluster", {"k": None})]),
    ("what is in group 2", {"has_results": True}, [("group", {"group": 2, "keep": False})]),
    ("keep group 1", {"has_results": True}, [("group", {"group": 1, "keep": True})]),
    # understanding
    ("why is #1 ranked first?", {"has_results": True}, [("explain", {"rank": 1})]),
    ("why is the top result there?", {"has_results": True}, [("explain", {"rank": 1})]),
    ("explain #3", {"has_results": True}, [("explain", {"rank": 3})]),
    ("why is #2 above #5?", {"has_results": True},
     [("explain", {"rank": 2, "other_rank": 5, "_other_patent": None})]),
    ("#2 vs #7", {"has_results": True}, [("explain", {"rank": 2, "other_rank": 7})]),
    ("what do these patents have in common and what differentiates them?", {"has_results": True},
     [("compare", {})]),
    ("how are they different?", {"has_results": True}, [("compare", {})]),
    ("compare #1 and #4", {"has_results": True}, [("compare", {"ranks": [1, 4]})]),
    ("compare US12448135 and EP3358703", {"has_results": True},
     [("compare", {"patent_ids": ["US12448135", "EP3358703"]})]),
    ("what is part 104 in this figure?", {"has_results": True}, [("part", {"sign": "104"})]),
    ("what does 104 refer to in #2?", {"has_results": True}, [("part", {"sign": "104", "rank": 2})]),
    ("what's 12a", {"has_results": True}, [("part", {"sign": "12a"})]),
    ("what is reference sign 20 in US12448895?", {"has_results": True},
     [("part", {"sign": "20", "patent_id": "US12448895"})]),
    ("where is the nacelle in this figure?", {"has_results": True}, [("part", {"sign": "nacelle"})]),
]


@pytest.mark.parametrize(("text", "ctx", "expected"), PARSES, ids=[p[0] or "<image only>" for p in PARSES])
def test_plan_reads_the_request(text, ctx, expected):
    p = plan(text, **ctx)
    assert [(s.action, s.args) for s in p.steps] == expected


def test_parse_table_is_big_enough():
    assert len(PARSES) >= 40
    assert len({t for t, _, _ in PARSES}) == len(PARSES)


def test_every_view_and_kind_of_core_vocab_is_understood():
    for view in VIEWS:
        if view != UNKNOWN:
            assert plan(f"only {view} views", has_results=True).steps == [Step("filter", {"views": [view]})]
    for kind in KINDS:
        if kind not in (UNKNOWN, "drawing"):  # "drawings" alone is any figure
            assert plan(f"only {kind}s", has_results=True).steps == [Step("filter", {"kinds": [kind]})]


def test_a_view_or_kind_new_in_core_vocab_is_understood_by_its_own_word(monkeypatch):
    terms = (*core.vocab.VIEW_TERMS, ViewTerm("aerial", 4, (r"\baerial view\b",), broader="plan"))
    monkeypatch.setattr(core.vocab, "VIEW_TERMS", terms)
    monkeypatch.setattr(vocabulary, "VIEWS", (*VIEWS, "oblique", "aerial"))
    monkeypatch.setattr(vocabulary, "KINDS", (*KINDS, "photo"))
    views = [v for _, v in vocabulary._view_words()]
    assert views[-1] == "oblique" and views.index("aerial") < views.index("plan")  # a refinement before its view
    monkeypatch.setattr(extract, "VIEW_WORDS", vocabulary._view_words())
    monkeypatch.setattr(extract, "KIND_WORDS", vocabulary._kind_words())
    assert plan("only oblique views", has_results=True).steps == [Step("filter", {"views": ["oblique"]})]
    assert plan("only aerial views", has_results=True).steps == [Step("filter", {"views": ["aerial"]})]
    assert plan("only photos", has_results=True).steps == [Step("filter", {"kinds": ["photo"]})]


def test_no_side_views_drops_the_left_and_right_views_too(fake_index):
    session = Session()
    views = ["side", "left", "right", "front", "perspective"]
    session.push([Hit(rank=i + 1, figure_id=f"US1-S{i}", patent_id="US1", sheet_no=i, view=v)
                  for i, v in enumerate(views)], "hand-made", None)
    actions = Actions(fake_index, session)
    for said, kept in (("no side views", ["front", "perspective"]),
                       ("remove the left side views", ["side", "right", "front", "perspective"])):
        step = plan(said, has_results=True).steps[0]
        f = make_filters(**resolve_step(actions, step))
        assert [v for v in views if f.match({"view": v})] == kept


def test_help_and_small_parsers():
    assert plan("help").reply == "help" and plan("what can you do?").reply == "help"
    assert plan("drop the lizards", has_results=True).reply.startswith("I can drop patents")
    assert ranks_in("#2, number 4, the third one and the last result") == [2, 4, 3, -1]
    assert patent_ids_in("US 12,448,135 B2 and EP1577413A1, WO 2013/173195") == \
        ["US12448135", "EP1577413", "WO2013173195"]
    assert parse_dates("published after 2015")[0] == {"date_from": 20160101}
    assert parse_dates("before 2019-05-01")[0] == {"date_to": 20190430}
    assert parse_dates("in 2019")[0] == {"date_from": 20190101, "date_to": 20191231}
    assert parse_dates("2012-2014")[0] == {"date_from": 20120101, "date_to": 20141231}


def test_domain_phrases_map_to_cpc_classes_present_in_the_index():
    present = ["B60L", "B60W", "B64C", "B64D", "B64U", "C21D", "C22C", "F01D", "F03D", "G05D", "H01M", "H02J"]
    assert cpc_for_topic("autonomous driving", present) == ["B60W", "G05D"]
    assert cpc_for_topic("self-driving cars", present) == ["B60W", "G05D"]
    assert cpc_for_topic("aircraft", present) == ["B64C", "B64D", "B64U"]
    assert cpc_for_topic("wind turbines", present) == ["F03D"]
    assert cpc_for_topic("electric vehicle charging", present) == ["B60L"]
    assert cpc_for_topic("batteries", present) == ["B60L", "H01M", "H02J"]
    assert cpc_for_topic("steel metallurgy", present) == ["C21D", "C22C"]
    assert cpc_for_topic("autonomous driving", ["B64D", "H01M"]) == []  # only classes the index holds
    assert cpc_for_topic("knitting patterns", present) == []
    assert cpc_for_topic("devices", present) == []  # only words too common in CPC titles: no match, no error
    assert cpc_for_topic("devices and apparatus", present, HashEncoder()) == []  # nor a guess by embedding


# ---------------------------------------------------------------- part 2: results on the sample index

BASE = "hydrogen energy system of an aircraft"
K = 25


@pytest.fixture
def offline_services(request):
    """The sample documents without OCR (`fake_index`), or the real sample index for the cases marked slow."""
    index = request.getfixturevalue("sample_index" if request.node.get_closest_marker("slow") else "fake_index")
    _ = index.visual, index.text  # built once on the shared services, so that every copy shares them
    return dataclasses.replace(index, settings=index.settings.model_copy(update={"offline": True}))


@pytest.fixture
def agent(offline_services):
    a = Agent(offline_services)
    assert a.mode == "offline" and a.status()["backend"] == "offline"
    return a


@pytest.fixture
def query_image(offline_services):
    sheet = offline_services.store.sheet("US20250250937-S3")
    return str(offline_services.store.image_path(sheet))


@dataclass
class Case:
    say: str
    check: Callable
    pre: list[str] = field(default_factory=lambda: [BASE])
    image: bool = False
    pre_image: bool = False


def meta(agent, hits):
    return agent.services.store.metadata([h.figure_id for h in hits])


def drawing_weight(hit) -> float:
    """The drawing's share of a hit's weights: its visual score, its patent's best view and verified details."""
    return sum(hit.breakdown.weights.get(m, 0.0) for m in ("visual", "views", "verified", "lines"))


def new_set(s, r, parent=1):
    assert r.result_set is not None and r.result_set is s.current
    assert s.current.set_id == len(s.sets) and s.current.parent == parent
    assert s.current.hits and [h.rank for h in s.current.hits] == list(range(1, len(s.current.hits) + 1))
    return s.current.hits


def unchanged(s, r, set_id=1):
    assert r.result_set is None and s.current.set_id == set_id and len(s.sets) == set_id


def all_kind(kind):
    def check(s, r, a):
        assert all(h.kind == kind for h in new_set(s, r))
    return check


def all_view(view):
    def check(s, r, a):
        assert all(h.view == view for h in new_set(s, r))
    return check


def fresh(a, **filters):
    """The figure ids of a fresh search for the base request with these filters: what a refinement must give."""
    return [h.figure_id for h in search_text(a.services, BASE, k=K, filters=Filters(**filters))]


def searched_again(**filters):
    """A refinement searches the whole index again: the set is a fresh filtered search (a full top K)."""
    def check(s, r, a):
        hits = new_set(s, r)
        assert [h.figure_id for h in hits] == fresh(a, **filters)
        assert len(hits) == min(K, len(a.services.store.ids(Filters(**filters))))
        assert r.reply.startswith("I searched the whole index again for ")
    return check


def none_from(pid):
    def check(s, r, a):
        hits = new_set(s, r)
        assert pid in {h.patent_id for h in s.sets[0].hits} and all(h.patent_id != pid for h in hits)
        searched_again(exclude_ids=[pid])(s, r, a)
    return check


def topic_kept(topic, prefixes):
    def check(s, r, a):
        hits = new_set(s, r)
        members, _ = topic_members(a.services, topic, prefixes)
        assert {h.figure_id for h in hits} <= members and len(hits) == min(K, len(members))
        for h in hits:
            why = h.breakdown.filters["topic"]
            assert why.startswith(f"{topic} (")
            if "CPC" in why:
                flags = meta(a, [h])[h.figure_id]
                assert any(flags.get(f"cpc_{p}") for p in prefixes)
            else:
                assert float(why.rsplit(" ", 1)[1].rstrip(")")) >= 0.45
        assert r.reply.startswith(f"I searched the whole index again for figures about {topic} (in CPC")
    return check


def explained(rank):
    def check(s, r, a):
        unchanged(s, r)
        ex = next(e.payload for e in r.events if e.kind == "explanation")
        hit = s.current.hits[rank - 1]
        assert ex["kind"] == "hit" and ex["facts"]["figure_id"] == hit.figure_id
        assert ex["facts"]["fused"] == hit.breakdown.fused
        assert f"Its score is {hit.breakdown.fused:.3f}" in r.reply or f"Its score {hit.breakdown.fused:.3f}" in r.reply
        assert s.focus == hit.figure_id
    return check


def pair(a_rank, b_rank):
    def check(s, r, a):
        unchanged(s, r)
        facts = next(e.payload for e in r.events if e.kind == "explanation")["facts"]
        hi, lo = sorted((a_rank, b_rank))
        assert facts["higher"]["rank"] == hi and facts["lower"]["rank"] == lo
        gap = s.current.hits[hi - 1].breakdown.fused - s.current.hits[lo - 1].breakdown.fused
        assert f"{gap:.3f} less." in r.reply
        if a_rank > b_rank:
            assert f"#{a_rank} is below #{b_rank}, not above it." in r.reply
    return check


def weight(w):
    def check(s, r, a):
        hits = new_set(s, r, parent=len(s.sets) - 1)
        assert s.recipe().text_weight == w and drawing_weight(hits[0]) == pytest.approx(1 - w, abs=1e-4)
        words = hits[0].breakdown.weights  # the text's weight is shared by dense passages and word matching
        assert round(words["text"] + words.get("words", 0.0), 4) == w
    return check


def check_base(s, r, a):
    hits = new_set(s, r, parent=None)
    assert len(hits) == K and s.current.origin == f"text search '{BASE}'"
    assert hits[0].patent_id == "US12448135"
    assert r.reply.startswith(f"Set 1: {K} figures (text search '{BASE}').")
    weak = sum(h.score < WEAK_SCORE for h in hits)  # the reply says how many are weak matches
    assert f"The last {weak} of these score below {WEAK_SCORE:.2f}, which makes them weak matches." in r.reply
    best = hits[0]  # how good the best is, from its calibrated score; the list itself stays in the gallery
    assert f"The best, #1 US12448135 FIG {','.join(best.figs)}, is a {strength(best.score)} match" in r.reply
    assert "\n#1 US12448135 sheet" not in r.reply and "“list them”" in r.reply


def check_undo(s, r, a):
    assert r.result_set is not None and r.result_set.set_id == 1 and s.current.set_id == 1
    assert r.reply.startswith("Back to the previous results. Set 1:")


def check_clusters(k):
    def check(s, r, a):
        unchanged(s, r)
        res = next(e.payload for e in r.events if e.kind == "clusters")
        assert (res.k == k) if k else 2 <= res.k <= 8
        assert s.clusters is res and sum(len(c.hits) for c in res.clusters) == K
        assert r.reply.startswith(f"I sorted the {K} figures of set 1 into {res.k} groups of similar drawings.")
        assert res.map_png not in r.reply and ".png" not in r.reply  # the map goes to the UI, not into words
    return check


def check_group(s, r, a):
    unchanged(s, r)
    g = s.clusters.clusters[1]
    assert r.reply.startswith(f"Group 2 of set 1 has {len(g.hits)} figure")


def check_compare_ranks(s, r, i, j):
    unchanged(s, r)
    a, b = s.current.hits[i - 1].patent_id, s.current.hits[j - 1].patent_id
    if a == b:
        return r.reply == (f"I could not do that: these results all come from {a}; compare needs figures of at "
                           "least two different patents")
    facts = next(e.payload for e in r.events if e.kind == "explanation")["facts"]
    return r.reply.startswith(f"Comparison of #{i}, #{j} of set 1 ({a}, {b}):") and facts["patent_ids"] == [a, b]


def check_part(s, r, a):
    from tools.refsigns import lookup_refsign

    unchanged(s, r)
    assert r.reply.startswith("Reference sign 104 of US12448135:")
    assert "US12448135 reference sign 104: permanent magnet synchronous motors" in r.reply
    found = lookup_refsign(a.services, "US12448135", "104")
    overlays = [e.payload for e in r.events if e.kind == "overlay"]
    if found.sheets:
        where = ", ".join(f"sheet {m.sheet_no} (FIG {','.join(m.figs) or '?'})" for m in found.sheets)
        assert f"104 was read on {where}." in r.reply and ".png" not in r.reply
        assert len(overlays) == 1 and overlays[0]["numerals"] == ["104"]
        assert overlays[0]["figure_id"] in {m.figure_id for m in found.sheets}
        assert s.focus == overlays[0]["figure_id"]
    else:
        assert "104 was not read on any sheet of US12448135." in r.reply and not overlays


def check_more_like(rank):
    def check(s, r, a):
        src = s.sets[0].hits[rank - 1]
        hits = new_set(s, r)
        assert s.current.origin.startswith(f"more like #{rank} ({src.patent_id} FIG")
        assert src.figure_id not in {h.figure_id for h in hits} and s.focus == src.figure_id
        assert hits[0].breakdown.query["figure_id"] == src.figure_id
    return check


def same_figures(s, r, a):
    hits = new_set(s, r)
    assert sorted(h.figure_id for h in hits) == sorted(h.figure_id for h in s.sets[-2].hits)
    return hits


def ordered_by(key, descending, reply):
    def check(s, r, a):
        values = [key(h) for h in same_figures(s, r, a) if key(h) is not None]
        assert values == sorted(values, reverse=descending) and len(set(values)) > 1
        assert r.reply.startswith(reply) and s.recipe().order_by
    return check


def sized(n, *, same_top=False):
    def check(s, r, a):
        hits = new_set(s, r)
        assert (len(hits) == n) if n > 0 else len(hits) > K
        assert s.recipe().k == (n if n > 0 else s.recipe().k) and s.recipe().text == BASE
        if same_top:  # the same search with another k: the same first figures
            assert [h.figure_id for h in hits] == [h.figure_id for h in s.sets[0].hits[:n]]
    return check


def only_patent_of(rank, set_index=0):
    def check(s, r, a):
        pid = s.sets[set_index].hits[rank - 1].patent_id
        assert {h.patent_id for h in new_set(s, r, parent=set_index + 1)} == {pid}
    return check


def none(test, parent=1):
    """No hit of the new set passes `test` (an excluded facet), and the set is not empty."""
    def check(s, r, a):
        hits = new_set(s, r, parent=parent)
        assert not [h.figure_id for h in hits if test(h, a)]
    return check


def figure_answer(rank, fig):
    def check(s, r, a):
        from tools.search import patent_of

        unchanged(s, r, set_id=len(s.sets))
        hit = s.current.hits[rank - 1]
        doc = patent_of(a.services, hit.patent_id)
        if fig:
            desc = doc.figure(fig).text
            sheet = next(x for x in a.services.store.sheets(hit.patent_id) if fig in x.figs)
            assert r.reply.startswith(f"FIG {fig} of {hit.patent_id} is ")
        else:
            sheet = a.services.store.sheet(hit.figure_id)
            desc = sheet.description
            assert r.reply.startswith(f"#{rank} of set {s.current.set_id} ({hit.patent_id}, FIG ")
        assert f"Description: {desc.split()[0]}" in r.reply and f"It is drawn on sheet {sheet.sheet_no}" in r.reply
        assert s.focus == sheet.figure_id and not [e for e in r.events if e.kind == "tool_call" and
                                                   e.payload.name in ("search", "filter")]
    return check


def not_understood(start):
    def check(s, r, a):
        unchanged(s, r)
        assert r.reply.startswith(start) and "I can " in r.reply
    return check


RUNS: list[Case] = [
    Case(BASE, check_base, pre=[]),
    Case("find figures of a turbine blade", lambda s, r, a: new_set(s, r, parent=None)
         and s.current.origin == "text search 'turbine blade'" and len(s.current.hits) == K, pre=[]),
    Case("search for charging stations for electric vehicles", lambda s, r, a: new_set(s, r, parent=None)[0]
         .patent_id in ("EP3358703", "WO2013173195"), pre=[]),
    Case("turbine AND blade", lambda s, r, a: "US12448895" in {h.patent_id for h in new_set(s, r, parent=None)}
         and s.current.origin == "keyword search turbine AND blade", pre=[]),
    Case("flowcharts of a method for charging an electric vehicle",
         lambda s, r, a: all(h.kind == "flowchart" for h in new_set(s, r, parent=None)), pre=[]),
    Case("only the flowcharts", all_kind("flowchart")),
    Case("just flowcharts please", all_kind("flowchart")),
    Case("show only flow diagrams", all_kind("flowchart")),
    Case("only block diagrams", all_kind("block diagram")),
    Case("keep only the graphs", all_kind("graph")),
    Case("just perspective views", all_view("perspective")),
    Case("only sectional views", all_view("sectional")),
    Case("restrict to schematics", all_view("schematic")),
    Case("only EP documents after 2015", lambda s, r, a: all(h.office == "EP" and h.pub_date >= 20160101
                                                            for h in new_set(s, r))),
    Case("only European patents", lambda s, r, a: all(h.office == "EP" for h in new_set(s, r))),
    Case("only US patents published before 2020", lambda s, r, a: all(
        h.office == "US" and h.pub_date <= 20191231 for h in new_set(s, r))),
    Case("only WO", lambda s, r, a: all(h.office == "WO" for h in new_set(s, r))),
    Case("between 2010 and 2016", lambda s, r, a: all(20100101 <= h.pub_date <= 20161231 for h in new_set(s, r))),
    Case("only documents published in 2025", lambda s, r, a: all(h.pub_date // 10000 == 2025
                                                                 for h in new_set(s, r))),
    Case("only granted patents", lambda s, r, a: all(m["kind_code"].startswith("B")
                                                     for m in meta(a, new_set(s, r)).values())),
    Case("drop US12448135", none_from("US12448135")),
    Case("remove US 12,448,135 B2", none_from("US12448135")),
    Case("exclude WO documents", lambda s, r, a: all(h.office != "WO" for h in new_set(s, r))),
    Case("drop #2", lambda s, r, a: s.sets[0].hits[1].figure_id not in {h.figure_id for h in new_set(s, r)}
         and [h.figure_id for h in s.current.hits] == fresh(a, exclude_figures=[s.sets[0].hits[1].figure_id])),
    Case("drop #1 and #3", lambda s, r, a: len(new_set(s, r)) == K
         and s.current.hits[0].figure_id == s.sets[0].hits[1].figure_id),
    Case("no flowcharts", lambda s, r, a: all(h.kind != "flowchart" for h in new_set(s, r))
         and len(s.current.hits) == min(K, len(a.services.store.ids(s.recipe().filters)))),
    Case("only the flowcharts among these", lambda s, r, a: [h.figure_id for h in new_set(s, r)] == [
        h.figure_id for h in s.sets[0].hits if h.kind == "flowchart"] and "as you asked, only among the current "
        "results" in r.reply),
    Case("only the flowcharts", searched_again(kinds=["flowchart"])),
    Case("only EP", searched_again(offices=["EP"])),
    Case("only drawings published after 2020", searched_again(date_from=20210101)),
    Case("only US12448135", lambda s, r, a: {h.patent_id for h in new_set(s, r)} == {"US12448135"}),
    Case("only the aircraft ones", topic_kept("aircraft", ["B64"])),
    Case("just the ones about batteries", topic_kept("batteries", ["H01M", "H02J", "B60L"])),
    Case("restrict to electric vehicle charging", topic_kept("electric vehicle charging", ["B60L"])),
    Case("only autonomous-driving drawings", lambda s, r, a: unchanged(s, r) or r.reply.startswith(
        "I found no figures about autonomous driving (linked text close to the topic, since no CPC class of the "
        "index matches it) in the index, so nothing was searched.")),
    Case("more like #3", check_more_like(3)),
    Case("similar to the second one", check_more_like(2)),
    Case("find more like US12448895-S1", lambda s, r, a: "US12448895-S1" not in {
        h.figure_id for h in new_set(s, r)} and s.current.origin.startswith("more like US12448895-S1")),
    Case("like this but with a cooling channel", lambda s, r, a: new_set(s, r, parent=None)
         and s.recipe().mode == "image+text" and s.recipe().text == "cooling channel"
         and drawing_weight(s.current.hits[0]) == pytest.approx(0.5)
         and s.current.hits[0].breakdown.weights["text"] == s.current.hits[0].breakdown.weights["words"] == 0.25,
         pre=[], image=True),
    Case("find figures like this one", lambda s, r, a: new_set(s, r, parent=None)
         and s.recipe().mode == "image" and s.current.hits[0].figure_id == "US20250250937-S3", pre=[], image=True),
    Case("give text more weight", weight(0.7), pre=["like this but with a cooling channel"], pre_image=True),
    Case("rely more on the image", weight(0.3), pre=["like this but with a cooling channel"], pre_image=True),
    Case("set the text weight to 0.8", weight(0.8), pre=["like this but with a cooling channel"], pre_image=True),
    Case("give text more weight", lambda s, r, a: unchanged(s, r) or r.reply.startswith(
        "Set 1 was found from words only, so the text already has all the weight.")),
    Case("undo", check_undo, pre=[BASE, "only the flowcharts"]),
    Case("back to the previous results", check_undo, pre=[BASE, "no flowcharts"]),
    Case("go back to set 1", lambda s, r, a: s.current.set_id == 1 and len(s.sets) == 3,
         pre=[BASE, "only US patents", "only the flowcharts"]),
    Case("undo", lambda s, r, a: unchanged(s, r) or r.reply == "There is nothing to undo: set 1 is the first set."),
    Case("cluster these into 4 groups", check_clusters(4)),
    Case("group them", check_clusters(None)),
    Case("what is in group 2", check_group, pre=[BASE, "cluster these into 3 groups"]),
    Case("keep group 1", lambda s, r, a: new_set(s, r) and [h.figure_id for h in s.current.hits] == [
        h.figure_id for h in s.sets[0].hits if h.figure_id in {x.figure_id for x in s.current.hits}]
        and r.reply.startswith(f"Kept group 1 ({len(s.current.hits)} figures)."),
        pre=[BASE, "cluster these into 3 groups"]),
    Case("why is #1 ranked first?", explained(1)),
    Case("explain the third result", explained(3)),
    Case("why is #2 above #5?", pair(2, 5)),
    Case("why does #4 rank higher than #1", pair(4, 1)),
    Case("what do these patents have in common and what differentiates them?", lambda s, r, a: unchanged(s, r)
         or r.reply.startswith("Comparison of the first 5 patents of set 1 (US12448135, ")),
    Case("compare #1 and #4", lambda s, r, a: check_compare_ranks(s, r, 1, 4)),
    Case("what is part 104 in this figure?", check_part),
    Case("what does 104 refer to in #1?", check_part),
    Case("what is reference sign 999 in #1?", lambda s, r, a: unchanged(s, r) or
         "Not found: US12448135 has no reference sign '999'; its signs include: " in r.reply),
    Case("help", lambda s, r, a: unchanged(s, r) or r.reply == HELP),
    Case("more like #99", lambda s, r, a: unchanged(s, r) or r.reply ==
         f"I could not do that: there is no #99 in result set 1; it has #1 to #{K}"),
    # exclusions, and several constraints in one sentence
    Case("anything except EP", none(lambda h, a: h.office == "EP")),
    Case("everything but the flowcharts", none(lambda h, a: h.kind == "flowchart")),
    Case("drop the graphs", none(lambda h, a: h.kind == "graph")),
    Case("no side views", none(lambda h, a: h.view in ("side", "left", "right"))),
    Case("not before 2015", none(lambda h, a: not h.pub_date or h.pub_date < 20150101)),
    Case("not after 2018", none(lambda h, a: not h.pub_date or h.pub_date > 20181231)),
    Case("except CPC B64", none(lambda h, a: any(c.startswith("B64") for c in h.cpc))),
    Case("no granted patents", none(lambda h, a: meta(a, [h])[h.figure_id]["kind_code"].startswith("B"))),
    Case("only US patents but no flowcharts", none(lambda h, a: h.office != "US" or h.kind == "flowchart")),
    Case("keep documents after 2015 except the US ones", none(
        lambda h, a: h.office == "US" or not h.pub_date or h.pub_date < 20160101)),
    Case("no lizards", not_understood("I can leave out offices, figure kinds, views")),
    Case("show everything except the graphs", none(lambda h, a: h.kind == "graph")),
    Case("I don't want flowcharts", none(lambda h, a: h.kind == "flowchart")),
    # references to results and patents
    Case("just that patent, #3", only_patent_of(3)),
    Case("only the patent of #4", only_patent_of(4)),
    Case("show me all figures of the second one", only_patent_of(2)),
    Case("only this patent", only_patent_of(2), pre=[BASE, "what does #2 show?"]),
    Case("drop the patent of #2", lambda s, r, a: none_from(s.sets[0].hits[1].patent_id)(s, r, a)),
    Case("patents by the applicant of US8765276", lambda s, r, a: {h.patent_id for h in new_set(s, r)} <= {
        "US8765276", "WO2013173195"} and r.reply.startswith("Tesla Motors, Inc applied for US8765276 and 1 other")),
    Case("the second one", not_understood("I did not understand what to do with #2.")),
    Case("who is the applicant of #1?", lambda s, r, a: unchanged(s, r) or r.reply.startswith(
        "The document of #1 (US12448135) names 2 applicants:\nApplicant: Eric Gavizon\nApplicant: HELIOS")
        and s.current.set_id == 1),
    Case("#3 please", not_understood("I did not understand what to do with #3.")),
    # ordering a set
    Case("sort by date, newest first", ordered_by(lambda h: h.pub_date, True,
                                                  "Ordered by publication date, newest first.")),
    Case("oldest first", ordered_by(lambda h: h.pub_date, False, "Ordered by publication date, oldest first.")),
    Case("sort by patent", ordered_by(lambda h: h.patent_id, False, "Ordered by patent number, first to last.")),
    Case("order by score, weakest first", ordered_by(lambda h: h.score, False, "Ordered by score, weakest first.")),
    Case("sort by colour", not_understood("I can order the results by publication date")),
    Case("reverse the order", ordered_by(lambda h: h.score, False, "Ordered by score, weakest first.")),
    Case("group by patent", ordered_by(lambda h: h.patent_id, False, "Ordered by patent number, first to last.")),
    Case("only the flowcharts", lambda s, r, a: all(h.kind == "flowchart" for h in new_set(s, r, parent=2)) and [
        h.pub_date for h in s.current.hits] == sorted((h.pub_date for h in s.current.hits), reverse=True),
        pre=[BASE, "newest first"]),  # a sorted set stays sorted when it is refined
    # how many results
    Case("give me 10", sized(10, same_top=True)),
    Case("only the top 5", sized(5, same_top=True)),
    Case("more", sized(0)),
    Case("show me more results", sized(0)),
    Case("fewer", sized(K // 2, same_top=True)),
    Case("give me 10", lambda s, r, a: [h.pub_date for h in new_set(s, r, parent=2)] == sorted(
        (h.pub_date for h in s.current.hits), reverse=True), pre=[BASE, "newest first"]),
    # a question about one figure or FIG of a result: answered from the index, no search, the set unchanged
    Case("what is shown in FIG 2 of #1?", figure_answer(1, "2")),
    Case("what does #2 show?", figure_answer(2, None)),
    Case("describe figure 1B of the first result", figure_answer(1, "1B")),
    Case("describe #3", figure_answer(3, None)),
    Case("what is shown in FIG 99 of #1?", lambda s, r, a: unchanged(s, r) or r.reply.startswith(
        "I could not do that: US12448135 has no FIG 99; its figures are FIG 1A, 1B")),
    # a filter or topic stated inside the first request
    Case("flowcharts of a method for charging after 2012", lambda s, r, a: all(
        h.kind == "flowchart" and h.pub_date >= 20130101 for h in new_set(s, r, parent=None)), pre=[]),
    Case("EP drawings of a wind turbine", lambda s, r, a: all(
        h.office == "EP" for h in new_set(s, r, parent=None)), pre=[]),
    Case("charging stations but no EP", lambda s, r, a: all(
        h.office != "EP" for h in new_set(s, r, parent=None)) and s.recipe().text == "charging stations", pre=[]),
    Case("give me 8 drawings of a turbine blade", lambda s, r, a: len(new_set(s, r, parent=None)) == 8
         and s.recipe().k == 8 and s.recipe().text == "turbine blade", pre=[]),
    Case("an aircraft, perspective views only", lambda s, r, a: all(
        h.view == "perspective" for h in new_set(s, r, parent=None)), pre=[]),
]


def test_run_table_is_big_enough():
    assert len(RUNS) >= 40


# Cases whose checks need the real index: OCR-linked reference signs (the overlay of part 104), or the real
# text model's ranking (set 1 must hold WO figures to exclude them). They run on `sample_index`.
REAL_INDEX = ("exclude WO documents", "what is part 104 in this figure?", "what does 104 refer to in #1?")


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c.say in REAL_INDEX else c
                                  for c in RUNS], ids=[f"{i:02d} {c.say}" for i, c in enumerate(RUNS)])
def test_offline_request_produces_its_result(agent, query_image, case):
    session = Session()
    for i, msg in enumerate(case.pre):
        agent.run(session, msg, k=K, image=query_image if case.pre_image and i == 0 else None)
    r = agent.run(session, case.say, k=K, image=query_image if case.image else None)
    assert "Traceback" not in r.reply
    if r.reply.startswith("Offline mode:"):  # the first reply of a session starts with the offline notice
        r = dataclasses.replace(r, reply=r.reply.split("\n\n", 1)[1])
    outcome = case.check(session, r, agent)
    assert outcome is None or outcome is True
    assert not reply_faults(r.reply), (reply_faults(r.reply), r.reply)


def test_first_offline_reply_says_so_and_how_to_enable_chat(agent):
    session = Session()
    r = agent.run(session, BASE, k=K)
    assert r.reply.startswith("Offline mode: no language model is answering (offline mode was asked for")
    assert "run `ollama pull qwen2.5:7b`" in r.reply
    assert [e.kind for e in r.events][:1] == ["notice"]
    r2 = agent.run(session, "only the flowcharts")
    assert not r2.reply.startswith("Offline mode") and r2.events[0].kind == "notice"


# ---------------------------------------------------------------- part 3: replies in plain sentences

PATH = re.compile(r"(?:^|[\s(])(?:~|\.{1,2})?/[\w.-]+(?:/[\w.-]+)+|\b[\w-]+\.(?:png|jpe?g|json|sqlite|db|html?|"
                  r"pdf|xml|zip|tiff?|csv|md|py|txt)\b", re.I)
SNAKE = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]*[a-z0-9]\b")
RUN_ON = re.compile(r"[a-z0-9)'\"]\s+(?:The|Set|No|None|I|It|This|These|There|Try|Say|Use|Back|Kept|Ordered|"
                    r"Dropped|Nothing|Group|Comparison|Explanation|Reference|OCR)\s|[a-z]{2}\.[A-Z][a-z]")
ITEM = re.compile(r"^\s*(?:#\d|-|\.\.\.|[A-Z][\w ]{0,20}: )")  # list items and labelled lines


def reply_faults(reply: str) -> list[str]:
    """What makes a reply unfit for a patent searcher: file paths, field names, sentences run together."""
    faults = [f"path {m.group(0).strip()!r}" for m in PATH.finditer(reply)]
    faults += [f"field name {m.group(0)!r}" for m in SNAKE.finditer(reply)]
    faults += [f"run-on at {reply[max(0, m.start() - 30): m.end() + 10]!r}" for m in RUN_ON.finditer(reply)]
    for line in reply.splitlines():
        if line.strip() and not ITEM.match(line) and not re.search(r"[.!?:)…\"']\s*$", line):
            faults.append(f"line without an end: {line[-60:]!r}")
    return faults


def test_reply_faults_are_found():
    assert reply_faults("Set 1 stays current Set 2 is new.") and reply_faults("see data/sheets/US1-S1.png.")
    assert reply_faults("name a filter: kind_codes or date_from.") and reply_faults("No figure passes\nSet 1 has.")
    assert not reply_faults("Set 2: 5 figures (text search 'hinge').\n#1 US1 sheet 2 FIG 1 (drawing, side view)")


@pytest.mark.parametrize(("text", "ctx"), [pytest.param(t, c) for t, c, _ in PARSES],
                         ids=[p[0] or "<image only>" for p in PARSES])
def test_every_reply_of_the_table_is_plain_sentences(agent, query_image, text, ctx):
    session = Session()
    if ctx.get("has_results"):
        agent.run(session, BASE, k=K)
    r = agent.run(session, text, k=K, image=query_image if ctx.get("has_image") else None)
    reply = r.reply.split("\n\n", 1)[1] if r.reply.startswith("Offline mode:") else r.reply
    assert reply and not reply_faults(reply), (reply_faults(reply), reply)
