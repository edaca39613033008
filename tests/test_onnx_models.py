"""The models in ONNX Runtime: the same vectors as their torch paths, exported once, safe under races, falling
back to torch when the export cannot run, and a one-shot text query that never imports torch.

The fast tests use a real BERT sentence-transformers folder with random weights and the packaged tokenizer
(a tiny model, exported in a second); the slow ones the real all-MiniLM-L6-v2 and the real CRAFT weights.
"""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import ModelUnavailable
from core.settings import OcrSettings, Settings, TextSettings
from models.factory import build_text_encoder
from models.onnx_cache import ensure_graph, graph_path
from models.text import StTextEncoder, resolve_text_model
from models.text_onnx import OnnxTextEncoder, onnx_plan
from tests.conftest import REPO, sample

HEAVY = ("torch", "transformers", "sentence_transformers")


def varied_texts() -> list[str]:
    """Real patent text of several lengths (one far past 256 word pieces) and awkward strings."""
    from ingest.uspto import read_uspto

    p = read_uspto(sample("uspto/US12448135-20251021.ZIP")).patent
    paras = [d.text for d in p.description]
    return ([p.title, p.abstract] + p.claims[:8] + paras[:24] + [" ".join(paras[:40])]
            + ["", " ", "  padded words  ", "Ünïcödé straße café", "日本語のテキスト", 'a/b "NEAR" *', "x" * 3000,
               "hydrogen tank", "show me hydrogen tanks", "\n\tTab\n", "107 hydrogen tanks"])


@pytest.fixture(scope="module")
def tiny_st(tmp_path_factory) -> Path:
    """A real sentence-transformers folder: a 2-layer BERT with random weights, the packaged tokenizer, mean pooling."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    _, packaged = resolve_text_model("")
    folder = tmp_path_factory.mktemp("models") / "tiny-bert"
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json", "modules.json",
                 "sentence_bert_config.json"):
        shutil.copy(packaged / name, folder / name)
    (folder / "1_Pooling").mkdir()
    pooling = json.loads((packaged / "1_Pooling" / "config.json").read_text()) | {"word_embedding_dimension": 32}
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=512)
    transformers.BertModel(config).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def tiny_cache(tiny_st, tmp_path_factory) -> Path:
    """An ONNX cache holding the tiny model's graph (exported here, once)."""
    cache = tmp_path_factory.mktemp("onnx-cache")
    OnnxTextEncoder(TextSettings(model=str(tiny_st)), cache, strict=True).embed_texts(["warm"])
    return cache


# ---------------------------------------------------------------- fast: the tiny real model


def test_onnx_gives_the_sentence_transformers_vectors(tiny_st, tiny_cache):
    texts = varied_texts()
    settings = TextSettings(model=str(tiny_st), batch_size=8)
    onnx = OnnxTextEncoder(settings, tiny_cache, strict=True)
    st = StTextEncoder(settings)
    assert onnx.name == st.name == "st:tiny-bert" and onnx.dim == 32 and onnx.max_tokens == 256
    a, b = np.array(onnx.embed_texts(texts)), np.array(st.embed_texts(texts))
    assert a.shape == (len(texts), 32) and np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.abs(a - b).max() < 1e-4
    singles = np.array([onnx.embed_texts([t])[0] for t in texts[-12:]])  # one at a time, as queries are
    assert np.abs(singles - b[-12:]).max() < 1e-4
    assert len(onnx._tokenizer.encode(max(texts, key=len)).ids) == 256  # the whole description, cut
    assert onnx.runtime == "onnx" and len(list(tiny_cache.glob("text-tiny-bert-*.onnx"))) == 1


def test_export_failure_falls_back_to_sentence_transformers_with_one_line(tiny_st, tmp_path, caplog):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    settings = TextSettings(model=str(tiny_st))
    with caplog.at_level(logging.WARNING, logger="models.text_onnx"):
        enc = OnnxTextEncoder(settings, blocked)
        got = np.array(enc.embed_texts(["hydrogen tank", "wing"]))
    assert enc.runtime == "torch"
    lines = [r.getMessage() for r in caplog.records if r.name == "models.text_onnx"]
    assert len(lines) == 1 and "instead of ONNX Runtime" in lines[0] and "\n" not in lines[0]
    assert np.abs(got - np.array(StTextEncoder(settings).embed_texts(["hydrogen tank", "wing"]))).max() < 1e-6
    with pytest.raises(ModelUnavailable, match="ONNX Runtime"):
        OnnxTextEncoder(settings, blocked, strict=True).embed_texts(["x"])


def test_factory_picks_the_runtime_without_loading_anything(tiny_st, tmp_path):
    default = build_text_encoder(Settings())
    assert isinstance(default, OnnxTextEncoder) and default.name == "st:all-MiniLM-L6-v2" and default.dim == 384
    assert default._session is None  # nothing loaded or exported yet
    assert isinstance(build_text_encoder(Settings(text=TextSettings(runtime="torch"))), StTextEncoder)
    cls = tmp_path / "cls-pooled"
    shutil.copytree(tiny_st, cls)
    pooling = json.loads((cls / "1_Pooling" / "config.json").read_text())
    pooling |= {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}
    (cls / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    assert onnx_plan(cls) == "its pooling is not the mean of the tokens"
    assert isinstance(build_text_encoder(Settings(text=TextSettings(model=str(cls)))), StTextEncoder)
    with pytest.raises(ModelUnavailable, match="cannot run in ONNX Runtime: its pooling"):
        build_text_encoder(Settings(text=TextSettings(model=str(cls), runtime="onnx")))


def _slow_export(target: str, log: str) -> None:
    def export(tmp: Path) -> None:
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        with open(tmp, "wb") as f:
            f.write(b"first half,")
            f.flush()
            time.sleep(0.5)  # a reader that did not wait would see half a file
            f.write(b"second half")

    path = ensure_graph(Path(target), export)
    assert path.read_bytes() == b"first half,second half"


def test_processes_racing_to_export_export_once_and_never_see_half_a_graph(tmp_path):
    src = tmp_path / "weights.bin"
    src.write_bytes(b"w")
    target = graph_path(tmp_path / "cache", "thing", [src], "recipe/v1")
    assert target == graph_path(tmp_path / "cache", "thing", [src], "recipe/v1")
    assert target != graph_path(tmp_path / "cache", "thing", [src], "recipe/v2")
    log = tmp_path / "exports.log"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_slow_export, args=(str(target), str(log))) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert len(log.read_text().split()) == 1
    assert target.read_bytes() == b"first half,second half"
    assert [p.name for p in target.parent.iterdir() if p.suffix == ".tmp"] == []
    src.write_bytes(b"new weights")  # new weights: a new graph, never the old one
    assert graph_path(tmp_path / "cache", "thing", [src], "recipe/v1") != target


@pytest.fixture(scope="module")
def tiny_index(tiny_st, tiny_cache, tmp_path_factory) -> Path:
    """A real index of one patent (no OCR, lbp drawings) whose text vectors come from the tiny model in ONNX."""
    from ingest.pipeline import ingest_paths
    from patfig.wiring import build_services

    settings = Settings(index_dir=tmp_path_factory.mktemp("tiny-index"), visual_encoder="linedraw", linedraw="lbp",
                        ocr=OcrSettings(enabled=False), text=TextSettings(model=str(tiny_st)), onnx_cache=tiny_cache)
    services = build_services(settings, create=True)
    report = ingest_paths(services, [sample("uspto/US12448135-20251021.ZIP")], use_ocr=False)
    services.close()
    assert not report.failed
    return settings.index_dir


QUERY_SCRIPT = """
import json, sys
from patfig.cli import WIRING
from ui.cli import build_app
try:
    build_app(WIRING)(sys.argv[2:], standalone_mode=False)
finally:
    with open(sys.argv[1], "w") as f:
        json.dump(sorted(m.split(".")[0] for m in sys.modules), f)
"""


def one_shot(args: list[str], env: dict[str, str], tmp: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run `patfig ARGS` in a fresh interpreter; its output and the top-level modules it imported."""
    modules = tmp / "modules.json"
    run = subprocess.run([sys.executable, "-c", QUERY_SCRIPT, str(modules), *args], cwd=REPO, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO), **env})
    return run, set(json.loads(modules.read_text())) if modules.exists() else set()


def test_one_shot_text_query_never_imports_torch(tiny_st, tiny_cache, tiny_index, tmp_path):
    env = {"PATFIG_TEXT__MODEL": str(tiny_st), "PATFIG_ONNX_CACHE": str(tiny_cache)}
    run, modules = one_shot(["search", "text", "hydrogen tank", "--index", str(tiny_index), "--json"], env, tmp_path)
    assert run.returncode == 0, run.stderr
    hits = json.loads(run.stdout)
    assert hits and all(h["patent_id"] == "US12448135" for h in hits)
    assert {"onnxruntime", "tokenizers", "chromadb"} <= modules
    assert not modules & {*HEAVY, "gradio", "sklearn"}, modules & {*HEAVY, "gradio", "sklearn"}


# ---------------------------------------------------------------- slow: the real weights


@pytest.mark.slow
def test_real_minilm_in_onnx_equals_sentence_transformers(tmp_path):
    texts = varied_texts()
    texts += [f"{w} of the {x}" for w in ("section", "exploded view", "flowchart", "tanks")
              for x in ("wing", "hydrogen tank", "shoe sole", "bottle cap", "charging an electric vehicle")]
    onnx = OnnxTextEncoder(TextSettings(), tmp_path, strict=True)
    a = np.array(onnx.embed_texts(texts))
    b = np.array(StTextEncoder(TextSettings()).embed_texts(texts))
    assert onnx.name == "st:all-MiniLM-L6-v2" and a.shape == b.shape == (len(texts), 384)
    assert np.abs(a - b).max() < 1e-4  # measured 2e-7
    singles = np.array([onnx.embed_texts([t])[0] for t in texts[-20:]])
    assert np.abs(singles - b[-20:]).max() < 1e-4


def _sheet(zip_rel: str, suffix: str) -> Image.Image:
    with zipfile.ZipFile(sample(zip_rel)) as zf:
        image = Image.open(io.BytesIO(zf.read(next(n for n in zf.namelist() if n.endswith(suffix)))))
        image.load()
    return image


@pytest.mark.slow
def test_real_craft_in_onnx_equals_torch(tmp_path):
    from models.craft_features import craft_weights_path
    from models.lbp_craft import LbpCraftEncoder

    sheets = [_sheet("uspto/US12448135-20251021.ZIP", "D00001.TIF"), _sheet("uspto/US12448749-20251021.ZIP",
                                                                           "D00003.TIF")]
    weights = craft_weights_path()
    onnx = LbpCraftEncoder(weights, cache=tmp_path, runtime="onnx")
    torch_enc = LbpCraftEncoder(weights, runtime="torch")
    a = np.array([v for s in sheets for v in onnx.embed_turns(s)])
    b = np.array([v for s in sheets for v in torch_enc.embed_turns(s)])
    assert onnx.runtime == "onnx" and torch_enc.runtime == "torch"
    assert np.abs(a - b).max() < 1e-4  # measured 4e-8


@pytest.mark.slow
def test_one_shot_image_query_never_imports_torch(tmp_path):
    """An lbp-craft index queried by an image: CRAFT in ONNX Runtime, no torch, no text model."""
    from ingest.pipeline import ingest_paths
    from models.craft_features import craft_weights_path
    from models.lbp_craft import LbpCraftEncoder
    from patfig.wiring import build_services
    from tests.fakes import NoOcr, WordBagEncoder

    cache = tmp_path / "cache"
    settings = Settings(index_dir=tmp_path / "idx", visual_encoder="linedraw", ocr=OcrSettings(enabled=False),
                        onnx_cache=cache)
    services = build_services(settings, create=True, visual=LbpCraftEncoder(craft_weights_path(), cache=cache),
                              text=WordBagEncoder(), ocr=NoOcr())
    assert not ingest_paths(services, [sample("uspto/US12448135-20251021.ZIP")], use_ocr=False).failed
    services.close()
    query = tmp_path / "sheet.png"
    _sheet("uspto/US12448135-20251021.ZIP", "D00002.TIF").save(query)
    run, modules = one_shot(["search", "image", str(query), "--index", str(tmp_path / "idx"), "--json"],
                            {"PATFIG_ONNX_CACHE": str(cache)}, tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)[0]["patent_id"] == "US12448135"
    assert "onnxruntime" in modules and not modules & {*HEAVY, "gradio"}, modules & {*HEAVY, "gradio"}
