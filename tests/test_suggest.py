"""Example requests under the chat box: real part names of the indexed patents, phrased as a person asks."""

from __future__ import annotations

import re

import pytest

from core.textnorm import normalise_label
from tools.search import patent_of
from tools.suggest import LEADING_JUNK, NOT_A_PART, TEMPLATES, example_requests, noun_phrase, usable_label


@pytest.mark.parametrize(("label", "phrase"), [
    ("MR scanner bore", "an MR scanner bore"),
    ("hydrogen tank", "a hydrogen tank"),
    ("Hydrogen Tanks", "hydrogen tanks"),
    ("User interface", "a user interface"),
    ("outer liner", "an outer liner"),
    ("UAV", "a UAV"),
    ("PEM device", "a PEM device"),
    ("avionics", "avionics"),
    ("upper V limb", "an upper V limb"),
])
def test_labels_become_noun_phrases(label, phrase):
    assert noun_phrase(label) == phrase


@pytest.mark.parametrize("label", ["more fuel supply lines", "process", "first material", "Li—S batteries",
                                   "second fuel nozzle 12", "compressed air", "upper side", "ab cd"])
def test_labels_that_name_no_part_are_left_out(label):
    assert not usable_label(label)


def test_examples_name_real_parts_of_different_patents(fake_index):
    examples = example_requests(fake_index, n=4)
    assert len(examples) == 4 and len(set(examples)) == 4
    labels = {}
    for pid in fake_index.store.complete_ids():
        patent = patent_of(fake_index, pid)
        for sign in patent.refsigns.values():
            labels.setdefault(normalise_label(sign.label), set()).add(pid)
    owners = []
    for i, example in enumerate(examples):
        prefix = TEMPLATES[i % len(TEMPLATES)].format("")
        assert example.startswith(prefix), example
        phrase = example.removeprefix(prefix)
        label = re.sub(r"^(a|an) ", "", phrase)
        assert normalise_label(label) in labels, f"{label!r} is no reference-sign label of the index"
        owners.append(labels[normalise_label(label)])
        words = label.lower().split()
        assert words[0] not in LEADING_JUNK and words[-1] not in NOT_A_PART
        assert not re.search(r"\d", label) and label == label.strip()
        assert not re.search(r"\b[A-Z][a-z]", label), "only acronyms keep capitals"
        assert phrase == noun_phrase(label)  # the article matches the label
    assert all(owners[i] - set().union(*owners[:i]) for i in range(1, len(owners)))  # different patents
