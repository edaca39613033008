"""Stemming is safe across threads: the web app's sessions stem their queries and hits at the same time."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import snowballstemmer

from core import textnorm


def test_concurrent_stems_equal_a_single_threads():
    words = ("vehicles", "charging", "connectivity", "turbines", "generalization", "electrically", "blades",
             "hopefulness", "sensational", "conditioning", "relational", "rotors") * 40
    reference = snowballstemmer.stemmer("english")
    # Distinct words per call so the cache in front of the stemmer does not answer them all.
    batches = [[f"{'ab' * (i + 1)}{w}" for w in words[j:] + words[:j]] for i, j in enumerate(range(0, 400, 25))]
    expected = [[reference.stemWord(w) for w in batch] for batch in batches]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns often, as a busy server's do
    try:
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(lambda batch: [textnorm.stem(w) for w in batch], batches))
    finally:
        sys.setswitchinterval(switch)
    assert got == expected
    assert textnorm.stem("vehicles") == "vehicl"


def test_the_copied_english_stopwords_are_scikit_learns():
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from core.textnorm import CONTENT_STOPWORDS
    from core.textnorm import ENGLISH_STOP_WORDS as copied

    assert copied == frozenset(ENGLISH_STOP_WORDS) and copied <= CONTENT_STOPWORDS
