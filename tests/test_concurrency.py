"""Several sessions at once, as the web app runs them (one Gradio worker thread per turn): the store gives each
thread its own SQLite connection and answers as it does one at a time, and tabs that chat at the same moment
each keep only their own state. Real index (`fake_index`), real agent (offline planner), real callbacks."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor

from agent.loop import Agent
from ui.web.callbacks import Callbacks

QUERIES = ("propeller blade", "solar cell layers", "charging station", "turbine cooling", "battery pack",
           "microbicidal coating")


def test_store_answers_the_same_from_parallel_threads(fake_index):
    store = fake_index.store
    vector = fake_index.text.embed_texts(["charging station"])[0]

    def read(_: int) -> tuple:
        return (len(store.sheets()), [h.id for h in store.query_text(vector, 10)],
                [r[0] for r in store.lexical("charging OR turbine")], id(store.db))

    alone = read(0)
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(read, range(32)))
    assert {t[:3] == alone[:3] for t in together} == {True}
    assert len({t[3] for t in together}) > 1  # the threads had connections of their own


def test_tabs_chatting_at_once_keep_their_own_state(fake_index, tmp_path):
    services = dataclasses.replace(fake_index, settings=fake_index.settings.model_copy(update={"offline": True}))
    cb = Callbacks(services, Agent(services), tmp_path / "ui-cache")
    start = threading.Barrier(len(QUERIES))

    def tab(query: str):
        start.wait()
        st = list(cb.send(None, query, 0.5, 8))[-1][0]
        st = list(cb.ask(st, "only US patents"))[-1][0]
        return list(cb.ask(st, "why is #1 ranked first?"))[-1][0]

    with ThreadPoolExecutor(len(QUERIES)) as pool:
        states = list(pool.map(tab, QUERIES))
    for query, st in zip(QUERIES, states, strict=True):
        assert [m["content"] for m in st.chat if m["role"] == "user"] == [query, "only US patents",
                                                                          "why is #1 ranked first?"]
        assert [s.set_id for s in st.session.sets] == [1, 2]
        assert st.session.sets[0].origin == f"text search '{query}'"
        assert {h.office for h in st.session.current.hits} == {"US"}
        assert not any(m["content"].startswith("⚠") for m in st.chat if isinstance(m["content"], str))
    assert len({id(st.session) for st in states}) == len(QUERIES)
