"""The chat turn: an LLM calling tools over the session's result sets, or the offline planner.

`Agent.stream()` yields `TurnEvent`s as a turn runs (notices, tool calls, reply pieces, new result sets,
clusters, explanations, overlays); `Agent.run()` collects them into a `TurnResult`. With an LLM the loop
is capped at ``settings.max_tool_calls`` tool calls per turn (habit 11); after the cap the model must
answer without tools. A model that fails mid-turn never shows its error: the turn falls back to the
offline planner (or to what the tools already did) with a short notice.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.messages import ToolCall as LcToolCall
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool

from agent.actions import Actions
from agent.backends import BackendStatus, choose_backend
from agent.events import Outcome, ToolCall, TurnEvent
from agent.lc_tools import make_tools
from agent.planner import Planner
from agent.render import data_block, listing, set_header
from agent.session import Session
from agent.titles import make_prompt_titler
from core.errors import ToolError
from core.filters import Filters
from core.types import ResultSet
from prompts import load_prompt
from runtime.services import Services
from tools.cluster import Titler
from tools.cpc_topics import cpc_legend
from tools.search import CropBox, QueryImage

log = logging.getLogger(__name__)

__all__ = ["Agent", "ToolCall", "TurnEvent", "TurnResult"]

MAX_HISTORY_TURNS = 8  # earlier user turns kept in the model's context
STATE_HITS = 5  # hits of the current set shown in the system prompt


@dataclass
class TurnResult:
    """A finished turn: the reply, the tool calls made, the set it produced (if any), and every event."""

    reply: str
    tool_calls: list[ToolCall]
    result_set: ResultSet | None
    events: list[TurnEvent] = field(default_factory=list)


class Agent:
    """Runs chat turns over a session with an LLM backend (tool calling) or the offline planner."""

    def __init__(self, services: Services, backend: BaseChatModel | None = None, *, model: str | None = None) -> None:
        """`backend`: a LangChain chat model with bind_tools, or None to choose: ChatOllama if the server at
        settings.ollama_host answers with the model (and settings.offline is False), else the offline planner."""
        self.services = services
        self.settings = services.settings
        self._auto = backend is None
        self._model_name = model
        self.planner = Planner()
        if backend is None:
            self._choose()
        else:
            name = getattr(backend, "model", None) or getattr(backend, "model_name", None) or type(backend).__name__
            self.backend: BaseChatModel | None = backend
            self._status: BackendStatus = {"backend": "custom", "model": str(name), "reachable": True, "reason": ""}
            self.mode = f"custom:{name}"

    def _choose(self) -> None:
        self.backend, self._status = choose_backend(self.settings, self._model_name)
        self.mode = f"ollama:{self._status['model']}" if self.backend is not None else "offline"

    def refresh(self) -> BackendStatus:
        """Probe the Ollama server again (auto mode only), e.g. after the user started it. Returns status()."""
        if self._auto:
            self._choose()
        return self.status()

    def status(self) -> BackendStatus:
        """{"backend": "ollama"|"offline"|"custom", "model", "reachable", "reason"} (a copy)."""
        return self._status.copy()

    # ------------------------------------------------------------------ turns

    def run(self, session: Session, message: str, *, image: QueryImage | None = None, crop: CropBox | None = None,
            text_weight: float | None = None, k: int | None = None, min_score: float | None = None) -> TurnResult:
        """One turn, collected: see `stream` for the arguments."""
        events = list(self.stream(session, message, image=image, crop=crop, text_weight=text_weight, k=k,
                                  min_score=min_score))
        reply = next((e.payload for e in reversed(events) if e.kind == "reply"), "")
        calls = [e.payload for e in events if e.kind == "tool_call" and isinstance(e.payload, ToolCall)]
        sets = [e.payload for e in events if e.kind == "result_set" and isinstance(e.payload, ResultSet)]
        return TurnResult(reply=str(reply), tool_calls=calls, result_set=sets[-1] if sets else None, events=events)

    def stream(
        self,
        session: Session,
        message: str,
        *,
        image: QueryImage | None = None,
        crop: CropBox | None = None,
        text_weight: float | None = None,
        k: int | None = None,
        min_score: float | None = None,
    ) -> Iterator[TurnEvent]:
        """Run one turn and yield its events in order; the last one is always ``reply``.

        `image` (a path or PIL image) and `crop` (x0, y0, x1, y1 in its pixels) attach a query image to
        this message; `text_weight` (0..1), `k` and `min_score` (a calibrated score, 0..1) set the weight of
        words against the image, the number of hits and the lowest score kept for searches made in this turn.
        """
        actions = Actions(self.services, session, image=image, crop=crop, text_weight=text_weight, k=k,
                          min_score=min_score, titler=self._titler())
        if self.backend is None:
            yield from self._offline_turn(session, actions, message, first_notice=True)
            return
        yield from self._llm_turn(self.backend, session, actions, message)

    def apply_filters(self, session: Session, filters: Filters) -> ResultSet:
        """Filter the current set from the UI's facet panel: a new numbered set, noted in the chat history.

        Raises ToolError (with a message for the user) when there is no current set or nothing passes.
        """
        actions = Actions(self.services, session)
        before = session.current.set_id if session.current else None
        outcome = actions.filter(
            kinds=filters.kinds, views=filters.views, cpc=filters.cpc, offices=filters.offices,
            kind_codes=filters.kind_codes, date_from=filters.date_from, date_to=filters.date_to,
            only_patents=filters.include_ids, exclude_patents=filters.exclude_ids,
            has_components=filters.has_components, exclude_kinds=filters.exclude_kinds,
            exclude_views=filters.exclude_views, exclude_cpc=filters.exclude_cpc,
            exclude_offices=filters.exclude_offices, exclude_kind_codes=filters.exclude_kind_codes,
        )
        if session.current is None or session.current.set_id == before:
            raise ToolError(outcome.summary)
        session.messages += [HumanMessage(f"[facet panel] The user applied filters: {filters.describe()}"),
                             AIMessage(outcome.summary)]
        return session.current

    # ------------------------------------------------------------------ offline

    def _offline_turn(self, session: Session, actions: Actions, message: str, *, first_notice: bool,
                      reason: str | None = None) -> Iterator[TurnEvent]:
        notice = load_prompt("offline_notice", reason=reason or self._status.get("reason") or "offline mode",
                             model=self.settings.ollama_model, host=self.settings.ollama_host)
        notice = " ".join(notice.split())
        yield TurnEvent("notice", notice)
        reply, steps = self.planner.run(actions, message)
        for st in steps:
            summary = st.outcome.summary if st.outcome is not None else ""
            yield TurnEvent("tool_call", ToolCall(name=st.action, args=_plain(st.args), summary=summary,
                                                  ok=st.error is None, error=st.error))
            if st.outcome is not None:
                yield from st.outcome.events
        if first_notice and not session.offline_noticed:
            reply = notice + "\n\n" + reply
            session.offline_noticed = True
        session.messages += [HumanMessage(message), AIMessage(reply)]
        yield TurnEvent("reply_delta", reply)
        yield TurnEvent("reply", reply)

    # ------------------------------------------------------------------ LLM

    def _llm_turn(self, backend: BaseChatModel, session: Session, actions: Actions,
                  message: str) -> Iterator[TurnEvent]:
        tools = make_tools(actions)
        by_name = {t.name: t for t in tools}
        llm = backend.bind_tools(tools)
        human = HumanMessage(message + _image_note(actions))
        msgs: list[BaseMessage] = [SystemMessage(self.system_prompt(session, actions)), *_trimmed(session.messages),
                                   human]
        new: list[BaseMessage] = [human]
        cap = self.settings.max_tool_calls
        calls = 0
        outcomes: list[Outcome] = []
        while True:
            forced = calls >= cap  # past the cap the model answers without tools
            try:
                ai = yield from _stream_reply(backend if forced else llm, msgs)
            except Exception as e:  # connection refused, timeout, a model error: never shown raw
                log.warning("chat model failed: %s", e, exc_info=True)
                why = f"the language model did not answer ({type(e).__name__})"
                yield from self._model_failed(session, actions, message, why, new, outcomes)
                return
            ai_msg = _as_message(ai)
            if forced and ai_msg.tool_calls:
                ai_msg = AIMessage(content=ai_msg.content, id=ai_msg.id)
            msgs.append(ai_msg)
            new.append(ai_msg)
            if not ai_msg.tool_calls:
                break
            for call in ai_msg.tool_calls:
                capped = calls >= cap
                calls += 0 if capped else 1
                tm = yield from self._tool_call(call, by_name, capped, outcomes)
                msgs.append(tm)
                new.append(tm)
            if calls >= cap:
                yield TurnEvent("notice", f"tool-call limit ({cap}) reached; the model answers with what it has")
        reply = _text(ai_msg.content).strip()
        if not reply:
            reply = "\n\n".join(o.for_user() for o in outcomes) or "I have no answer to that."
        session.messages += _history(new)
        yield TurnEvent("reply", reply)

    def _model_failed(self, session: Session, actions: Actions, message: str, why: str, new: list[BaseMessage],
                      outcomes: list[Outcome]) -> Iterator[TurnEvent]:
        """The model stopped answering: the offline planner takes the turn, or the tools' results are the reply."""
        if not outcomes:
            yield from self._offline_turn(session, actions, message, first_notice=False, reason=why)
            return
        reply = ("The language model stopped answering, so here is what the tools found:\n\n"
                 + "\n\n".join(o.for_user() for o in outcomes))
        yield TurnEvent("notice", why)
        session.messages += _history(new) + [AIMessage(reply)]
        yield TurnEvent("reply", reply)

    def _tool_call(self, call: LcToolCall, by_name: dict[str, BaseTool], capped: bool,
                   outcomes: list[Outcome]) -> Generator[TurnEvent, None, ToolMessage]:
        """Run one tool call of the model (or refuse it past the cap); yields its events, returns its message."""
        name, args, cid = call.get("name", ""), dict(call.get("args") or {}), call.get("id") or ""
        cap = self.settings.max_tool_calls
        if capped:
            yield TurnEvent("tool_call", ToolCall(name, args, "not run: tool-call limit reached", False,
                                                  "tool-call limit reached"))
            return ToolMessage(f"Error: the limit of {cap} tool calls for this turn is reached. Answer the "
                               "user now with what you have.", tool_call_id=cid, name=name, status="error")
        tm = self._call_tool(by_name, name, args, cid)
        ok = tm.status != "error"
        outcome = tm.artifact if isinstance(tm.artifact, Outcome) else None
        summary = outcome.summary if outcome else (str(tm.content)[:300] if ok else "")
        error = None if ok else str(tm.content).removeprefix("Error: ")
        yield TurnEvent("tool_call", ToolCall(name, args, summary, ok, error))
        if outcome is not None:
            outcomes.append(outcome)
            yield from outcome.events
        return tm

    @staticmethod
    def _call_tool(by_name: dict[str, BaseTool], name: str, args: dict[str, Any], cid: str) -> ToolMessage:
        tool = by_name.get(name)
        if tool is None:
            return ToolMessage(f"Error: there is no tool {name!r}. Tools: {', '.join(by_name)}.",
                               tool_call_id=cid, name=name, status="error")
        try:
            return tool.invoke({"type": "tool_call", "name": name, "args": args, "id": cid})
        except Exception as e:  # a bug in a tool must not end the turn or leak a trace
            log.exception("tool %s failed", name)
            return ToolMessage(f"Error: {name} failed internally ({type(e).__name__}); try something else.",
                               tool_call_id=cid, name=name, status="error")

    def _titler(self) -> Titler | None:
        if self.backend is None:
            return None
        backend = self.backend
        return make_prompt_titler(lambda prompt: _text(backend.invoke(prompt).content))

    # ------------------------------------------------------------------ the system prompt

    def system_prompt(self, session: Session, actions: Actions | None = None) -> str:
        """The system prompt for a turn: rules, the index's facet values and CPC classes, the session state."""
        actions = actions or Actions(self.services, session)
        fv = actions.facet_values()
        dates = fv.get("date_range") or []
        index_facts = "\n".join([
            f"- {len(fv['patent_ids'])} patents; figure kinds: {', '.join(fv['kinds']) or 'none'}; "
            f"views: {', '.join(fv['views']) or 'none'}.",
            f"- Offices: {', '.join(fv['offices']) or 'none'}; kind codes: {', '.join(fv['kind_codes']) or 'none'}"
            + (f"; publication dates {dates[0]} to {dates[1]}." if dates else "."),
        ])
        cpc = "\n".join(f"- {line}" for line in cpc_legend(fv["cpc"], fv.get("cpc_counts"))) or "- none"
        return load_prompt("system", max_tool_calls=self.settings.max_tool_calls, index_facts=index_facts,
                           cpc_classes=cpc, state=_state(session, actions))


# ---------------------------------------------------------------- helpers


def _state(session: Session, actions: Actions) -> str:
    lines = []
    if actions.turn_image is not None:
        lines.append("The user attached an image to this message (search_figures uses it).")
    elif session.image is not None:
        lines.append("The user attached an image earlier (search_figures with use_image=true uses it).")
    rs = session.current
    if rs is None:
        lines.append("No results yet.")
        return "\n".join(lines)
    recipe = session.recipe()
    sets = ", ".join(f"{s.set_id} ({len(s.hits)})" for s in session.sets)
    lines.append(f"Result sets so far (figures): {sets}. Current: {set_header(rs)}.")
    if recipe.mode in ("image+text", "more_like"):
        lines.append(f"The current set's text weight is {recipe.text_weight:.2f}.")
    if session.focus:
        lines.append(f"The figure being discussed: {session.focus}.")
    if session.clusters is not None:
        groups = [f"group {c.cluster_id}: {c.title} ({len(c.hits)} figures)" for c in session.clusters.clusters]
        lines.append(f"The current set is clustered into {session.clusters.k} groups (titles are data below).")
        lines.append(data_block(groups))
    lines.append(f"Top {min(STATE_HITS, len(rs.hits))} of the current set:")
    lines.append(data_block(listing(rs.hits, STATE_HITS)))
    return "\n".join(lines)


def _image_note(actions: Actions) -> str:
    if actions.turn_image is None:
        return ""
    img = actions.turn_image
    name = Path(img).name if isinstance(img, str | Path) else "an image"
    crop = f", cropped to {tuple(round(c) for c in actions.turn_crop)}" if actions.turn_crop else ""
    return f"\n[attached: {name}{crop}]"


def _stream_reply(model: Runnable[LanguageModelInput, AIMessage],
                  msgs: list[BaseMessage]) -> Generator[TurnEvent, None, AIMessage | None]:
    """Stream the model's answer: yields its text as ``reply_delta`` events, returns the summed chunk (or None)."""
    ai: AIMessage | None = None
    for chunk in model.stream(msgs):
        if isinstance(ai, AIMessageChunk) and isinstance(chunk, AIMessageChunk):
            ai = ai + chunk
        else:  # the first piece, or the whole answer of a model that does not stream
            ai = chunk
        piece = _text(chunk.content)
        if piece:
            yield TurnEvent("reply_delta", piece)
    return ai


def _as_message(ai: AIMessage | None) -> AIMessage:
    """A streamed answer as one AIMessage (its text and tool calls)."""
    if ai is None:
        return AIMessage("")
    return AIMessage(content=_text(ai.content), tool_calls=list(ai.tool_calls or []), id=ai.id)


def _text(content: object) -> str:
    """Text of a message content (a string, or a list of content blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content or "")


def _history(messages: list[BaseMessage]) -> list[BaseMessage]:
    """Messages to keep in the session: tool artifacts (full hit lists) stripped."""
    out = []
    for m in messages:
        if isinstance(m, ToolMessage) and m.artifact is not None:
            m = ToolMessage(content=m.content, tool_call_id=m.tool_call_id, name=m.name, status=m.status)
        out.append(m)
    return out


def _trimmed(messages: list[BaseMessage]) -> list[BaseMessage]:
    """The last MAX_HISTORY_TURNS user turns, cut at a user message so tool calls keep their results."""
    starts = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
    if len(starts) <= MAX_HISTORY_TURNS:
        return list(messages)
    return list(messages[starts[-MAX_HISTORY_TURNS]:])


def _plain(args: dict[str, Any]) -> dict[str, Any]:
    """Step arguments as JSON-friendly values (Filters objects described)."""
    out = {}
    for k, v in args.items():
        out[k] = v.describe() if isinstance(v, Filters) else v
    return out
