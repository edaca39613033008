"""CLIP weights in the Hugging Face hub cache: find them on disk, or fetch them once (`patfig models pull`).

open_clip names a hub model ``hf-hub:org/name``; its repo holds ``open_clip_config.json`` (``model_cfg`` and
``preprocess_cfg``) and the weights (``open_clip_model.safetensors`` or ``open_clip_pytorch_model.bin``).
huggingface_hub keeps them as ``models--org--name/snapshots/<commit>/<file>`` with ``refs/main`` naming the
commit. Finding them only reads that folder; fetching first checks in a few seconds that the hub answers,
so a machine without internet is told so at once instead of waiting through the client's retries.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from core.errors import ModelUnavailable
from core.settings import ClipSettings

HF_HUB_PREFIX = "hf-hub:"
CONFIG_NAME = "open_clip_config.json"
WEIGHT_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")  # open_clip's order of preference
PROBE_SECONDS = 5.0


def hub_repo(model: str) -> str | None:
    """The hub repo of an ``hf-hub:org/name`` model name, else None (a built-in open_clip architecture)."""
    if not model.startswith(HF_HUB_PREFIX):
        return None
    return model[len(HF_HUB_PREFIX):].strip("/") or None


def hf_hub_cache() -> Path:
    """The hub cache folder, as huggingface_hub picks it (HF_HUB_CACHE, else HF_HOME/hub), read at each call."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def cached_hub_file(repo: str, filename: str) -> Path | None:
    """A file of a hub repo's ``main`` snapshot if the cache holds it (disk only, no network)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename, cache_dir=str(hf_hub_cache()))
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def locate_hub_weights(repo: str, how_to: str) -> Path:
    """The weights file of an ``hf-hub:`` model in the cache; its snapshot folder also holds the config.

    Raises ModelUnavailable, quickly and without network, when the config or the weights are missing.
    """
    config = cached_hub_file(repo, CONFIG_NAME)
    weights = next((w for name in WEIGHT_NAMES if (w := cached_hub_file(repo, name))), None)
    if config is None or weights is None:
        missing = CONFIG_NAME if config is None else " or ".join(WEIGHT_NAMES)
        raise ModelUnavailable(f"no CLIP weights for hf-hub:{repo} in {hf_hub_cache()} ({missing} missing): {how_to}")
    if weights.parent != config.parent:
        raise ModelUnavailable(f"hf-hub:{repo}: config and weights are in different snapshots of {hf_hub_cache()}")
    return weights


def why_no_fetch(offline: bool) -> str:
    """Why no weights may be fetched now ("" if they may): PATFIG_OFFLINE or HF_HUB_OFFLINE is set."""
    from huggingface_hub import constants

    if offline:
        return "PATFIG_OFFLINE is set"
    if constants.is_offline_mode():
        return "HF_HUB_OFFLINE is set"
    return ""


def _probe(endpoint: str, timeout: float) -> str:
    """"" if a TCP connection to the hub's host opens within `timeout` seconds, else why not."""
    url = urlparse(endpoint)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    result = [f"no answer from {host}:{port} within {timeout:.0f} s"]

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result[0] = ""
        except OSError as e:
            result[0] = f"cannot reach {host}:{port} ({e.strerror or e})"

    worker = threading.Thread(target=connect, daemon=True)  # name resolution has no timeout of its own
    worker.start()
    worker.join(timeout)
    return result[0]


def pull_clip_weights(s: ClipSettings, *, offline: bool = False, timeout: float = PROBE_SECONDS) -> Path:
    """Fetch the CLIP weights the settings name into the hub cache; the local weights file.

    Works for ``hf-hub:`` models and for open_clip pretrained tags published on the hub or at a URL.
    Raises ModelUnavailable within about `timeout` seconds when fetching is not allowed or the hub is out
    of reach, saying what to do instead.
    """
    from huggingface_hub import constants

    label = s.model if hub_repo(s.model) else f"{s.model}/{s.pretrained}"
    if s.checkpoint is not None:
        raise ModelUnavailable(f"PATFIG_CLIP__CHECKPOINT={s.checkpoint} is a local file: there is nothing to fetch")
    if why := why_no_fetch(offline):
        raise ModelUnavailable(f"cannot fetch CLIP {label}: {why}")
    if why := _probe(constants.ENDPOINT, timeout):
        raise ModelUnavailable(
            f"cannot fetch CLIP {label}: {why}. Run `patfig models pull` on a machine with internet and copy "
            f"{hf_hub_cache()} here, or set PATFIG_CLIP__CHECKPOINT to a local open_clip checkpoint"
        )
    try:
        return _download(s)
    except ModelUnavailable:
        raise
    except Exception as e:  # HTTP errors, a repo that does not exist, a full disk
        raise ModelUnavailable(f"cannot fetch CLIP {label}: {type(e).__name__}: {e}") from e


def _download(s: ClipSettings) -> Path:
    """The download itself, once the hub is known to answer."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    cache = str(hf_hub_cache())
    repo = hub_repo(s.model)
    if repo is None:
        return Path(_download_tag(s, cache))
    hf_hub_download(repo, CONFIG_NAME, cache_dir=cache)
    for name in WEIGHT_NAMES:
        try:
            return Path(hf_hub_download(repo, name, cache_dir=cache))
        except EntryNotFoundError:
            continue
    raise ModelUnavailable(f"hf-hub:{repo} holds none of {', '.join(WEIGHT_NAMES)}: not an open_clip model")


def _download_tag(s: ClipSettings, cache: str) -> str:
    """An open_clip pretrained tag's weights, where open_clip's own loader looks for them."""
    import open_clip
    from open_clip.pretrained import download_pretrained

    cfg: dict[str, Any] = dict(open_clip.get_pretrained_cfg(s.model, s.pretrained) or {})
    if not cfg:
        raise ModelUnavailable(f"open_clip knows no pretrained tag {s.pretrained!r} for model {s.model!r}")
    return download_pretrained(cfg, cache_dir=cache if cfg.get("hf_hub") else None)


def timed_pull(s: ClipSettings, *, offline: bool = False) -> tuple[Path | None, str, float]:
    """`pull_clip_weights` that never raises: (weights or None, why not, seconds taken)."""
    started = time.perf_counter()
    try:
        return pull_clip_weights(s, offline=offline), "", time.perf_counter() - started
    except ModelUnavailable as e:
        return None, str(e), time.perf_counter() - started
