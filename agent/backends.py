"""Which chat backend a turn runs on: ChatOllama when the server answers and has the model, else offline.

The probe is quick (the `ollama` client's model list, with a ~1 s timeout) and says why a backend is not
usable, so the UI and the terminal can tell the user what to do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypedDict

import httpx
import ollama

from core.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 1.0
NUM_CTX = 8192  # the system prompt, tool schemas and a few turns need more than Ollama's default context


class BackendStatus(TypedDict):
    """What a turn runs on, for the UI and the terminal."""

    backend: Literal["ollama", "offline", "custom"]
    model: str
    reachable: bool  # the Ollama server answered (True for a custom backend)
    reason: str  # why the LLM is not used ("" when it is)


@dataclass
class Probe:
    """The answer of the Ollama server, if any."""

    reachable: bool
    has_model: bool
    models: list[str]
    reason: str  # why it cannot be used ("" when it can)


def probe_ollama(host: str, model: str, timeout: float = PROBE_TIMEOUT) -> Probe:
    """Ask the Ollama server at `host` which models it has. Never raises."""
    try:
        listing = ollama.Client(host=host, timeout=timeout).list()
    except (ConnectionError, httpx.HTTPError, ollama.ResponseError, ValueError) as e:
        reason = "connection refused" if isinstance(e, ConnectionError) else f"{type(e).__name__}: {e}"
        return Probe(False, False, [], f"no Ollama server answers at {host} ({reason})")
    models = [m.model or "" for m in listing.models]
    wanted = model if ":" in model else f"{model}:latest"
    has = wanted in models or model in models
    reason = "" if has else f"the Ollama server at {host} does not have {model} (run `ollama pull {model}`)"
    return Probe(True, has, models, reason)


def make_chat_model(settings: Settings, model: str | None = None) -> BaseChatModel:
    """A ChatOllama for the configured server and model (tool calling, low temperature)."""
    try:
        from langchain_ollama import ChatOllama
    except ImportError as e:
        raise ImportError("full chat needs langchain-ollama: pip install 'langchain-ollama>=0.2'") from e
    return ChatOllama(
        model=model or settings.ollama_model,
        base_url=settings.ollama_host,
        temperature=0.1,
        num_ctx=NUM_CTX,
        client_kwargs={"timeout": settings.llm_timeout},
    )


def choose_backend(settings: Settings, model: str | None = None) -> tuple[BaseChatModel | None, BackendStatus]:
    """(chat model or None for offline, status dict with backend, model, reachable, reason)."""
    name = model or settings.ollama_model
    if settings.offline:
        return None, {"backend": "offline", "model": name, "reachable": False,
                      "reason": "offline mode was asked for (--offline or PATFIG_OFFLINE)"}
    p = probe_ollama(settings.ollama_host, name)
    if not (p.reachable and p.has_model):
        return None, {"backend": "offline", "model": name, "reachable": p.reachable, "reason": p.reason}
    try:
        chat = make_chat_model(settings, name)
    except ImportError as e:
        return None, {"backend": "offline", "model": name, "reachable": True, "reason": str(e)}
    return chat, {"backend": "ollama", "model": name, "reachable": True, "reason": ""}
