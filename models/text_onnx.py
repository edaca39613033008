"""The text encoder in ONNX Runtime: the same vectors as sentence-transformers, without torch at query time.

A sentence-transformers folder made of a BERT ``Transformer``, mean ``Pooling`` and (optionally) ``Normalize``
- the packaged all-MiniLM-L6-v2 is one - runs here as an ONNX graph of its transformer, exported once from the
folder's own weights into the ONNX cache (`models.onnx_cache`; ``scripts/setup.sh`` exports it, else the first
use does). The word pieces come from the folder's ``tokenizer.json`` through the ``tokenizers`` library,
truncated at the folder's ``max_seq_length``; pooling and L2 normalisation are numpy. The vectors equal those of
sentence-transformers within 1e-4 (tests/test_text_onnx.py), so the encoder keeps its name (``st:...``) and
indexes built with either stay valid.

When the export cannot run (no torch or onnx, a read-only cache, another architecture), the encoder says so in
one log line and encodes with sentence-transformers instead.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ModelUnavailable
from core.settings import TextSettings
from models.onnx_cache import cache_dir, ensure_graph, graph_path
from models.text import QUERY_CACHE, StTextEncoder, resolve_text_model

log = logging.getLogger(__name__)

RECIPE = "bert-last-hidden-state/opset17/v1"  # change it when the export below changes: old graphs are not reused
_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"
_OTHER_POOLING = ("cls_token", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken")


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def onnx_plan(folder: Path) -> tuple[int, int] | str:
    """(vector length, max word pieces) when the folder can run in ONNX Runtime; else why not, as a sentence."""
    modules = json.loads((folder / "modules.json").read_text()) if (folder / "modules.json").is_file() else []
    types = [m.get("type") for m in modules]
    if types[:2] != [_TRANSFORMER, _POOLING] or any(t != _NORMALIZE for t in types[2:]):
        return f"its modules are {types}, not Transformer + Pooling (+ Normalize)"
    if modules[0].get("path", "") != "":
        return "its transformer is not at the folder's root"
    config = _json(folder / "config.json")
    if config.get("model_type") != "bert":
        return f"its transformer is {config.get('model_type')!r}, not 'bert'"
    pooling = _json(folder / modules[1]["path"] / "config.json")
    if not pooling.get("pooling_mode_mean_tokens") or any(pooling.get(f"pooling_mode_{m}") for m in _OTHER_POOLING):
        return "its pooling is not the mean of the tokens"
    st_config = _json(folder / "sentence_bert_config.json")
    if st_config.get("do_lower_case"):
        return "it lower-cases outside its tokenizer"
    if not (folder / "tokenizer.json").is_file():
        return "it has no tokenizer.json"
    limit = int(config.get("max_position_embeddings", 512))
    max_len = st_config.get("max_seq_length") or _json(folder / "tokenizer_config.json").get("model_max_length", limit)
    return int(pooling.get("word_embedding_dimension", config["hidden_size"])), min(int(max_len), limit)


def export_transformer(folder: Path, out: Path) -> None:
    """Write the ONNX graph of the folder's transformer (inputs → last hidden state) to `out`; needs torch + onnx."""
    import warnings

    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(folder), local_files_only=True, attn_implementation="eager").eval()

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    ids = torch.ones((2, 8), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on branches that are constant for these inputs
        torch.onnx.export(
            LastHidden(), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(out), dynamo=False,
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                          "last_hidden_state": axes},
            opset_version=17, do_constant_folding=True,
        )


def text_graph(folder: Path, cache: Path | None = None, name: str = "") -> Path:
    """The exported graph of the folder's transformer in the ONNX cache, exporting it first if needed.

    `name` (the encoder's, e.g. ``st:all-MiniLM-L6-v2``) names the file; the key in it tells the weights.
    """
    weights = [p for p in (folder / "model.safetensors", folder / "pytorch_model.bin") if p.is_file()]
    if not weights:
        raise ModelUnavailable(f"{folder} has no model.safetensors or pytorch_model.bin to export")
    stem = "text-" + (name.split(":")[-1].replace("/", "_") or folder.name)
    target = graph_path(cache_dir(cache), stem, [folder / "config.json", weights[0]], RECIPE)
    return ensure_graph(target, lambda tmp: export_transformer(folder, tmp))


class OnnxTextEncoder:
    """A BERT sentence-transformers model in ONNX Runtime; loads (and exports, once) on first use.

    Falls back to :class:`StTextEncoder` with one warning when the graph cannot be had, unless ``strict``.
    """

    def __init__(self, settings: TextSettings | None = None, cache: Path | None = None, strict: bool = False):
        self.settings = settings or TextSettings()
        self.name, self._path = resolve_text_model(self.settings.model)
        plan = onnx_plan(self._path)
        if isinstance(plan, str):
            raise ModelUnavailable(f"text model {self._path} cannot run in ONNX Runtime: {plan}")
        self.dim, self.max_tokens = plan
        self.cache = cache
        self.strict = strict
        self.runtime = "onnx"  # "torch" after a fallback
        self._session: Any = None
        self._tokenizer: Any = None
        self._fallback: StTextEncoder | None = None
        self._lock = threading.Lock()
        self._queries: OrderedDict[str, tuple[float, ...]] = OrderedDict()  # single texts (queries) → vector

    def _load(self) -> Any:
        with self._lock:
            if self._session is None and self._fallback is None:
                try:
                    self._session, self._tokenizer = self._open()
                except Exception as e:
                    if self.strict:
                        raise ModelUnavailable(f"text model {self._path} in ONNX Runtime: {e}") from e
                    log.warning("TEXT ENCODER: sentence-transformers (torch) instead of ONNX Runtime: %s",
                                str(e).splitlines()[0] if str(e) else type(e).__name__)
                    self._fallback = StTextEncoder(self.settings)
                    self.runtime = "torch"
        return self._session

    def _open(self) -> tuple[Any, Any]:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        graph = text_graph(self._path, self.cache, self.name)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.settings.threads
        opts.log_severity_level = 3
        session = ort.InferenceSession(str(graph), opts, providers=["CPUExecutionProvider"])
        tokenizer = Tokenizer.from_file(str(self._path / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=self.max_tokens)
        pad = tokenizer.token_to_id("[PAD]")
        tokenizer.enable_padding(pad_id=0 if pad is None else pad, pad_token="[PAD]")
        return session, tokenizer

    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length vectors, one per text; empty strings are allowed."""
        if not texts:
            return []
        known = self._queries.get(texts[0]) if len(texts) == 1 else None
        if known is not None:  # a query asked again (a refinement re-runs its search)
            return [list(known)]
        session = self._load()
        if self._fallback is not None:
            return self._fallback.embed_texts(texts)
        vecs = self._encode(session, list(texts)).tolist()
        if len(texts) == 1:
            with self._lock:
                self._queries[texts[0]] = tuple(vecs[0])
                while len(self._queries) > QUERY_CACHE:
                    self._queries.popitem(last=False)
        return vecs

    def _encode(self, session: Any, texts: list[str]) -> np.ndarray:
        """Mean-pooled, L2-normalised last hidden states; batches of similar length, as sentence-transformers."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        wanted = {i.name for i in session.get_inputs()}
        for start in range(0, len(texts), self.settings.batch_size):
            rows = order[start:start + self.settings.batch_size]
            encodings = self._tokenizer.encode_batch([texts[i].strip() for i in rows])
            feeds = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            hidden = session.run(None, {k: v for k, v in feeds.items() if k in wanted})[0]
            mask = feeds["attention_mask"][:, :, None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            out[rows] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return out

