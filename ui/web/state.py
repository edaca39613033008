"""What one browser tab holds (`UiState`, kept in a `gr.State`), and the sizes the layout and callbacks share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from agent.session import Session
from ui import views

WARNING_SECONDS = 8
INGEST_POLL_SECONDS = 5  # how often the page asks how far a background ingest has got
MAX_GROUPS = 8  # cluster rows shown
N_RESULT_OUTPUTS = 3  # gallery, set summary, history dropdown
N_DETAIL_OUTPUTS = 7  # sheet, bibliography, reference signs, overlay, breakdown table and text, explanation
RESULT_EXAMPLES = ("only perspective views", "group them", "undo")
GROUP_REQUEST = "group the results"
# Chat turns, filters and figure views (the events with concurrency_id "index") of all tabs run in parallel, up to
# this many at once; the others (status, groups, detail) each have a limit of their own of the same size.
CONCURRENT_TURNS = 8
STREAM_SECONDS = 0.1  # a chat turn's streamed updates come at most this often (plus its last one)


@dataclass
class UiState:
    """What one browser tab holds: its agent session, chat, query drawing and selection."""

    session: Session = field(default_factory=Session)
    chat: list[dict[str, Any]] = field(default_factory=list)
    image: str | None = None  # the original query drawing (searched at full size)
    image_size: tuple[int, int] | None = None
    corner: tuple[float, float] | None = None  # first corner clicked, original pixels
    crop: views.CropBox | None = None  # in original pixels
    fresh: bool = False  # the drawing or its crop changed since it was last sent to the agent
    preview_scale: float = 1.0
    tiles: list[str] = field(default_factory=list)  # figure ids in gallery order
    group_tiles: list[list[str]] = field(default_factory=list)
    selected: str | None = None  # figure id open in the detail view
    notices: list[str] = field(default_factory=list)  # notices already shown in the chat
    explanation: dict[str, Any] | None = None  # the last explanation from the chat: figure_id, kind, text
    overlay: dict[str, Any] | None = None  # the last overlay from the chat: figure_id, path, numerals
    shown: dict[str, tuple] = field(default_factory=dict)  # panel → what it shows now (to skip re-rendering)


def tab_state(state: UiState | None) -> UiState:
    """The tab's state; a new one on the tab's first event (the `gr.State` starts as None)."""
    return state if isinstance(state, UiState) else UiState()


def warn(message: str) -> str:
    """A warning toast that goes away by itself; returns the message for the panel it concerns (kept there)."""
    gr.Warning(message, duration=WARNING_SECONDS)
    return f"⚠ {message}"
