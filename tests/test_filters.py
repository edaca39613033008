"""One filter semantics: Chroma's `where` and the in-memory `Filters.match` agree, on a real embedded Chroma.

A small index of sheets with varied facets (unknown dates, no CPC, no components among them) is queried
with many random filters; the ids Chroma returns must be exactly the ids whose stored metadata `match`es.
"""

from __future__ import annotations

import random

import pytest

from core.filters import FIELDS, Filters, holds, patent_metadata
from core.types import Component, Sheet
from core.vocab import KINDS, VIEWS
from store.index import EncoderId, FigureStore, Passage
from tests.fakes import HashEncoder, make_patent

ENC = HashEncoder()
OFFICES = ("US", "EP", "WO")
KIND_CODES = ("A1", "B2", "S1")
DATES = (None, 20100101, 20150615, 20200101, 20231231)  # None: the publication date is unknown
CPCS = ((), ("B66C1/42",), ("B64D27/353", "H01M8/04"), ("A61B5/00",), ("G06F3/01", "B66C13/08"))
CPC_ASKED = ("A", "B", "B64", "B64D", "B66C", "H01M", "G06F", "F03D")
ASKED_DATES = (20091231, 20100101, 20120101, 20150615, 20200101, 20211231, 20231231, 20250101)


def _sheet(pid: str, n: int, rng: random.Random) -> Sheet:
    comps = [Component(numeral="10", label="gripping unit")] if rng.random() < 0.6 else []
    return Sheet(figure_id=f"{pid}-S{n}", patent_id=pid, sheet_no=n, image_path=f"sheets/{pid}-S{n}.png",
                 figs=[str(n)], kind=rng.choice(KINDS), view=rng.choice(VIEWS), description=f"FIG. {n}",
                 components=comps)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    rng = random.Random(7)
    s = FigureStore.open(tmp_path_factory.mktemp("filters") / "idx", create=True)
    s.bind_encoders(EncoderId(ENC.name, ENC.dim), EncoderId(ENC.name, ENC.dim))
    for i in range(14):
        office = OFFICES[i % 3]
        pid = f"{office}{100 + i}"
        patent = make_patent(pid, office=office, date=DATES[i % len(DATES)], cpc=CPCS[i % len(CPCS)])
        patent = patent.model_copy(update={"kind": KIND_CODES[i % len(KIND_CODES)]})
        sheets = [_sheet(pid, n, rng) for n in range(1, 2 + i % 3)]
        vecs = ENC.embed_texts([s.figure_id for s in sheets])
        s.add_patent(patent, sheets, vecs, vecs, [Passage("abstract", patent.abstract)],
                     ENC.embed_texts([patent.abstract]))
    yield s
    s.close()


def _random_filters(rng: random.Random, patent_ids: list[str], figure_ids: list[str] = ()) -> Filters:
    def some(values: tuple[str, ...] | list[str]) -> list[str]:
        return rng.sample(list(values), rng.randint(1, min(3, len(values))))

    choices = {
        "kinds": lambda: some(KINDS),
        "views": lambda: some(VIEWS),
        "cpc": lambda: some(CPC_ASKED),
        "offices": lambda: some(OFFICES),
        "kind_codes": lambda: some(KIND_CODES),
        "date_from": lambda: rng.choice(ASKED_DATES),
        "date_to": lambda: rng.choice(ASKED_DATES),
        "include_ids": lambda: some([*patent_ids, "US999"]),
        "exclude_ids": lambda: some([*patent_ids, "US999"]),
        "has_components": lambda: rng.random() < 0.5,
        "exclude_kinds": lambda: some(KINDS),
        "exclude_views": lambda: some(VIEWS),
        "exclude_cpc": lambda: some(CPC_ASKED),
        "exclude_offices": lambda: some(OFFICES),
        "exclude_kind_codes": lambda: some(KIND_CODES),
        "figure_ids": lambda: some([*figure_ids, "US999-S1"]),
        "exclude_figures": lambda: some([*figure_ids, "US999-S1"]),
    }
    return Filters(**{name: make() for name, make in choices.items() if rng.random() < 0.25})


def test_every_filter_field_has_one_row():
    assert [f.name for f in FIELDS] == list(Filters.model_fields)


def test_chroma_where_and_match_agree_on_random_filters(store):
    metas = store.all_metadata()
    assert len(metas) > 20
    assert any(m["pub_date"] == 0 for m in metas.values()) and any(not m["cpc"] for m in metas.values())
    patent_ids = sorted({str(m["patent_id"]) for m in metas.values()})
    rng = random.Random(11)
    query = ENC.embed_texts(["anything"])[0]
    nonempty = 0
    for _ in range(300):
        filters = _random_filters(rng, patent_ids, sorted(metas))
        chroma = {h.id for h in store.query_visual(query, len(metas), filters)}
        memory = {fid for fid, meta in metas.items() if filters.match(meta)}
        assert chroma == memory, filters.describe()
        nonempty += bool(memory) and memory != set(metas)
    assert nonempty > 50  # the filters really cut: neither nothing nor everything passes


def test_passages_get_the_patent_level_filters(store):
    metas = {str(m["patent_id"]): m for m in store.all_metadata().values()}
    rng = random.Random(5)
    query = ENC.embed_texts(["anything"])[0]
    for _ in range(100):
        filters = _random_filters(rng, sorted(metas))
        found = {str(h.meta["patent_id"]) for h in store.query_passages(query, len(metas), filters)}
        expected = {pid for pid in metas if filters.patent_level().match(metas[pid])}
        assert found == expected, filters.describe()


def test_unknown_date_and_missing_cpc_pass_no_bound():
    unknown = patent_metadata(make_patent("US1", date=None, cpc=()))
    assert unknown["pub_date"] == 0
    for f in (Filters(date_from="1900"), Filters(date_to="2100"), Filters(date_from="1900", date_to="2100"),
              Filters(cpc=["A"])):
        assert not f.match(unknown), f.describe()
    assert Filters(offices=["US"]).match(unknown)
    assert Filters(date_to="2017-12-31").where() == {
        "$and": [{"pub_date": {"$gt": 0}}, {"pub_date": {"$lte": 20171231}}]
    }


def test_where_evaluator_follows_chroma_on_missing_keys_and_types():
    meta = {"office": "US", "n": 3, "flag": True}
    assert holds({"missing": {"$nin": ["x"]}}, meta) and holds({"missing": {"$ne": 1}}, meta)
    assert not holds({"missing": {"$in": ["x"]}}, meta) and not holds({"missing": {"$gt": 0}}, meta)
    assert not holds({"flag": 1}, meta) and holds({"flag": True}, meta)
    assert holds({"$or": [{"n": {"$gt": 5}}, {"office": "US"}]}, meta)
    with pytest.raises(ValueError, match="unknown where operator"):
        holds({"n": {"$like": 3}}, meta)


def test_an_exclusion_drops_what_it_names_and_keeps_the_rest(store):
    metas = store.all_metadata()
    query = ENC.embed_texts(["anything"])[0]
    for f, gone in ((Filters(exclude_offices=["ep"]), lambda m: m["office"] == "EP"),
                    (Filters(exclude_cpc=["B64"]), lambda m: "B64" in str(m["cpc"])),
                    (Filters(exclude_kind_codes=["B2"]), lambda m: m["kind_code"] == "B2")):
        found = {h.id for h in store.query_visual(query, len(metas), f)}
        assert found == {fid for fid, m in metas.items() if not gone(m)}, f.describe()
    assert Filters(exclude_views=["side"]).exclude_views[:3] == ["side", "left", "right"]
    assert not Filters(offices=["EP"], exclude_offices=["EP"]).match(next(iter(metas.values())))


def test_merged_exclusions_add_up_and_other_lists_replace():
    f = Filters(offices=["US"], exclude_offices=["EP"], exclude_kinds=["graph"])
    g = f.merged(Filters(offices=["WO"], exclude_offices=["WO"], exclude_views=["top"]))
    assert g.offices == ["WO"] and g.exclude_offices == ["EP", "WO"] and g.exclude_kinds == ["graph"]
    assert g.exclude_views == ["top"]
