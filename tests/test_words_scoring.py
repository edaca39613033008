"""How words are weighed per figure: a part named among many, hyphenated words, lists of parts, shared titles.

Pure scoring functions on their own, then the same behaviour through `search_text` over a small real index (real
FTS5 in SQLite, real Chroma in a temp folder, the word-bag fake text encoder).
"""

from __future__ import annotations

import pytest

from core.figure_text import field_stems, figure_passages
from tests.test_words import _encoders, _patent, _sheet
from tools import words
from tools.search import search_text
from tools.words import coverage, part_factor, part_match, query_items

VEHICLE_PARTS = {"100": "vehicle", "102": "wheels", "104": "processor", "106": "memory", "108": "ultrasonic sensor",
                 "110": "radar", "112": "cameras", "114": "transceiver", "116": "steering angle sensor"}


def test_a_part_counts_less_the_more_unnamed_parts_the_figure_shows():
    comps = list(VEHICLE_PARTS.items())
    one = part_factor({"wheel"}, comps)
    assert one < 1.0
    assert part_factor({"wheel", "processor", "memori"}, comps) > one  # more of its parts named
    every = {s for label in VEHICLE_PARTS.values() for s in field_stems(label)}
    assert part_factor(every, comps) == 1.0  # a list of all its parts
    assert part_factor({"wheel"}, [("7", "wheel")]) == 1.0  # the figure's only part
    assert part_factor({"wheel"}, []) == 1.0


def test_coverage_of_a_part_among_many_is_below_the_figures_own_description():
    idf = {"wheels": 3.0}
    vehicle = {"description": "FIG. 1 is a schematic diagram of a vehicle.", "sentences": "", "title": "Turn signals",
               "components": "\n".join(f"{n} {label}" for n, label in VEHICLE_PARTS.items())}
    wheel = {"description": "FIG. 1 is a perspective view of a wheel.", "components": "", "sentences": "",
             "title": "Wheel"}
    part, places = coverage(["wheels"], idf, vehicle)
    own, _ = coverage(["wheels"], idf, wheel)
    assert places == {"wheels": "component 102 'wheels'"}
    one_of_nine = part_factor({"wheel"}, list(VEHICLE_PARTS.items()))
    assert part == pytest.approx(words.FIELD_WEIGHTS["components"] * one_of_nine)
    assert own == pytest.approx(words.FIELD_WEIGHTS["description"]) and own > part


def test_hyphenated_words_match_their_parts_both_ways():
    idf = {"hot": 1.0, "dip": 2.0}
    fields = {"description": "FIG. 2 shows a hot-dip plating equipment", "components": "", "sentences": "",
              "title": ""}
    share, places = coverage(["hot", "dip"], idf, fields)
    assert share == pytest.approx(words.FIELD_WEIGHTS["description"])
    assert places == {"hot": "description", "dip": "description"}
    assert words._parts("b-pillar") == ["pillar"] and words._parts("lithium-ion") == ["lithium", "ion"]


def test_a_listed_part_is_matched_by_the_part_name_it_equals():
    items = query_items("vehicle, vehicle seat; occupant")
    assert items == [["vehicle"], ["vehicle", "seat"], ["occupant"]]
    idf = {"vehicle": 1.0, "seat": 2.0, "occupant": 2.0}
    exact = {"components": "100 vehicle\n106 vehicle seat\n202 occupant"}
    seat_only = {"components": "106 vehicle seat\n202 occupant\n302 seat back"}
    assert part_match(items, idf, exact) == pytest.approx(1.0)
    assert part_match(items, idf, seat_only) < part_match(items, idf, exact)
    assert part_match(items, idf, {"components": ""}) == 0.0
    assert query_items("hydrogen tank") == [["hydrogen", "tank"]]  # one item: nothing is listed


DOCS = [
    (_patent("US2000001", "Vehicle technologies for turn signaling", signs=VEHICLE_PARTS),
     [_sheet("US2000001", 1, "FIG. 1 is a schematic diagram of a vehicle.", VEHICLE_PARTS),
      _sheet("US2000001", 2, "FIG. 2 is a schematic diagram of the sensors.",
             {"108": "ultrasonic sensor", "110": "radar"})]),
    (_patent("USD900002", "Wheel", doc_type="design"),
     [_sheet("USD900002", 1, "FIG. 1 is a perspective view of a wheel showing my new design", {}),
      _sheet("USD900002", 2, "FIG. 2 is a front view thereof (Wheel)", {})]),
    (_patent("US2000003", "Vector computational unit"),
     [_sheet("US2000003", 1, "FIG. 1 is a flow diagram of a process for loading the instructions of the vector "
             "computational unit into memory.", {}),
      _sheet("US2000003", 2, "FIG. 2 is a block diagram of the vector computational unit and its memory.", {})]),
    (_patent("EP3000001", "Hot-dipped steel sheet"),
     [_sheet("EP3000001", 1, "FIG. 1 is a schematic diagram of a hot-dip plating line.", {}),
      _sheet("EP3000001", 2, "FIG. 2 is a graph of the coating weight.", {})]),
]


@pytest.fixture
def parts_index(tmp_path):
    from patfig.wiring import build_services
    from tests.conftest import fake_settings
    from tests.fakes import FixedVisual, NoOcr, WordBagEncoder

    services = build_services(fake_settings(tmp_path / "idx"), create=True, visual=FixedVisual(),
                              text=WordBagEncoder(), ocr=NoOcr())
    services.store.bind_encoders(*_encoders(services))
    for patent, sheets in DOCS:
        fp = figure_passages(patent, sheets)
        services.store.add_patent(
            patent, sheets, [[1.0] + [0.0] * 7 for _ in sheets],
            services.text.embed_texts([s.linked_text() for s in sheets]), [], [], figure_passages=fp,
            figure_passage_vectors=services.text.embed_texts([p.text for p in fp]))
    yield services
    services.close()


def test_the_design_that_is_the_thing_comes_before_a_figure_listing_it_as_a_part(parts_index):
    hits = search_text(parts_index, "wheels", k=4)
    assert hits[0].patent_id == "USD900002"
    vehicle = next(h for h in hits if h.figure_id == "US2000001-S1")  # still found, below
    assert vehicle.breakdown.matched_in and vehicle.score < hits[0].score
    # its part's passage is the exact word, weighed as one of nine parts
    assert vehicle.breakdown.passage == "wheels" and vehicle.breakdown.passage_kind == "component"
    one_of_nine = part_factor({"wheel"}, list(VEHICLE_PARTS.items()))
    assert vehicle.breakdown.modalities["text"].raw == pytest.approx(words.KIND_FACTOR["component"] * one_of_nine,
                                                                     abs=1e-4)


def test_a_list_of_a_figures_parts_finds_that_figure(parts_index):
    top = search_text(parts_index, "wheels, processor, memory, radar, cameras", k=3)[0]
    assert top.figure_id == "US2000001-S1"


def test_words_split_by_a_hyphen_in_the_figure_are_found(parts_index):
    top = search_text(parts_index, "hot dip galvanizing line", k=3)[0]
    assert top.figure_id == "EP3000001-S1"
    assert top.breakdown.matched_in == {"hot": "description", "dip": "description", "line": "description"}


def test_the_figures_own_passage_decides_among_figures_that_share_the_title_named(parts_index):
    hits = search_text(parts_index, "vector computational unit", k=2)
    # both FIG descriptions hold every word and the title is the query itself: the title's passage is each
    # figure's best, and the closer FIG description (the block diagram of the unit) breaks the tie
    assert [h.figure_id for h in hits] == ["US2000003-S2", "US2000003-S1"]
    assert {h.breakdown.passage_kind for h in hits} == {"title"}
    assert hits[0].score > hits[1].score


def test_a_query_of_no_content_words_finds_no_word_in_any_figure(parts_index):
    from core.defaults import WEAK_SCORE

    hits = search_text(parts_index, "the of and", k=3)
    assert hits and all(h.breakdown.modalities["words"].raw == 0.0 for h in hits)
    assert hits[0].score < WEAK_SCORE  # nothing matched: called weak, not carried by the dense side alone
