"""Server mode (`PATFIG_CHROMA_HOST`): a real `chroma run` server on a free loopback port, started and stopped
by the test; real readers on real sample documents; fake encoders, no OCR.

The whole fast suite also runs against a server with `PATFIG_TEST_CHROMA=server` (scripts/test.sh does);
this module checks what only server mode has: several indexes on one server, an index opened where its
vectors are not, and two ingest worker processes writing through one writer into the server.
"""

from __future__ import annotations

import pytest

from core.errors import StoreError
from core.settings import Settings
from ingest.pipeline import ingest_paths
from patfig.wiring import build_services
from store.index import FigureStore
from tests.chroma_server import HOST, forget_clients, free_port, running_chroma
from tests.conftest import sample
from tests.fakes import HashEncoder, fake_models

DOCS = ("uspto/US12448527-20251021.ZIP", "uspto/US12448730-20251021.ZIP", "pdf/EP1577413A1.pdf")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real Chroma server for this module: (host, port)."""
    with running_chroma(tmp_path_factory.mktemp("chroma") / "data") as address:
        yield address
    forget_clients(address[1])


def services_at(root, address, *, create=True):
    host, port = address if address else (None, 8000)
    settings = Settings(index_dir=root, visual_encoder="linedraw", chroma_host=host, chroma_port=port)
    return build_services(settings, create=create, visual=HashEncoder("fake:img16"), text=HashEncoder())


def snapshot(services) -> dict:
    """What a search can see: complete patents, sheets, every visual and text vector, the passage count."""
    store = services.store
    ids = sorted(s.figure_id for s in store.sheets())
    vectors = {(kind, fid): v for kind in ("visual", "text") for fid, v in store.vectors(kind, ids).items()}
    return {"patents": sorted(p.patent_id for p in store.patents()), "sheets": ids, "vectors": vectors,
            "passages": store.stats()["passages"]}


@pytest.mark.slow  # two worker processes start, import the readers and render real documents: about 30 s
def test_two_worker_processes_ingest_into_the_server_as_one_embedded_process(tmp_path, server):
    docs = [sample(d) for d in DOCS]
    embedded = services_at(tmp_path / "embedded", None)
    ingest_paths(embedded, docs, use_ocr=False)
    on_server = services_at(tmp_path / "server", server)
    report = ingest_paths(on_server, docs, use_ocr=False, workers=2, parts_factory=fake_models)
    try:
        assert report.summary()["indexed"] == len(DOCS) and not report.failed
        assert len(report.summary()["peak_memory_mb_per_worker"]) == 2  # both worker processes took documents
        assert not (tmp_path / "server" / "chroma").exists()  # the vectors went to the server, not the folder
        got, want = snapshot(on_server), snapshot(embedded)
        got_vectors, want_vectors = got.pop("vectors"), want.pop("vectors")
        assert got_vectors.keys() == want_vectors.keys()
        for key, vector in want_vectors.items():  # float32 vectors, through JSON on the way to the server
            assert got_vectors[key] == pytest.approx(vector, abs=1e-6), key
        assert got == want and len(got["sheets"]) > 5
    finally:
        embedded.close()
        on_server.close()


def test_indexes_on_one_server_do_not_share_collections(tmp_path, server):
    a, b = services_at(tmp_path / "a", server), services_at(tmp_path / "b", server)
    try:
        ingest_paths(a, [sample(DOCS[0])], use_ocr=False)
        ingest_paths(b, [sample(DOCS[1])], use_ocr=False)
        assert [p.patent_id for p in a.store.patents()] == ["US12448527"]
        assert {m["patent_id"] for m in a.store.all_metadata().values()} == {"US12448527"}
        assert {m["patent_id"] for m in b.store.all_metadata().values()} == {"US12448730"}
        a.store.delete_patent("US12448527")  # a's writes never reach b's collections
        assert b.store.stats()["sheets"] == len(b.store.all_metadata()) > 0
    finally:
        a.close()
        b.close()


def test_an_index_opened_without_its_vectors_is_a_clear_error(tmp_path, server):
    s = services_at(tmp_path / "srv", server)
    ingest_paths(s, [sample(DOCS[0])], use_ocr=False)
    s.close()
    with pytest.raises(StoreError, match="keeps its vectors on a Chroma server.*PATFIG_CHROMA_HOST"):
        FigureStore.open(tmp_path / "srv")
    e = services_at(tmp_path / "emb", None)
    ingest_paths(e, [sample(DOCS[0])], use_ocr=False)
    e.close()
    with pytest.raises(StoreError, match="keeps its vectors in its own folder"):
        FigureStore.open(tmp_path / "emb", chroma_host=server[0], chroma_port=server[1])


def test_a_server_that_does_not_answer_is_a_clear_error(tmp_path):
    port = free_port()
    with pytest.raises(StoreError, match=f"no Chroma server answers at {HOST}:{port}.*chroma run"):
        FigureStore.open(tmp_path / "idx", create=True, chroma_host=HOST, chroma_port=port)
