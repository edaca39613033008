"""`patfig chat`: the chat in a terminal — interactive on a TTY, a transcript for piped input, or JSON.

Interactive commands: ``/image PATH [message]`` attaches a query image (``/crop x0,y0,x1,y1`` crops the
next one), ``/sets`` lists the result sets, ``/status`` shows the backend, ``/reset`` starts over,
``/quit`` leaves. Every turn that changes the results lists them: rank, patent id, sheet, FIG numbers,
kind and score.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer

from agent.session import Session
from core.defaults import DEFAULT_K
from ui.cli_common import IndexOpt, open_services

log = logging.getLogger(__name__)

LIST_LIMIT = 10


def hit_record(hit: Any) -> dict:
    """A hit as the JSON transcript shows it."""
    return {
        "rank": hit.rank,
        "patent_id": hit.patent_id,
        "figure_id": hit.figure_id,
        "sheet": hit.sheet_no,
        "figs": list(hit.figs),
        "kind": hit.kind,
        "view": hit.view,
        "cpc": list(hit.cpc),
        "date": hit.pub_date,
        "score": round(hit.score, 6),
    }


def turn_record(n: int, message: str, result: Any, mode: str) -> dict:
    """One turn of the JSON transcript: reply, tool calls, notices and the resulting set."""
    rs = result.result_set
    return {
        "turn": n,
        "message": message,
        "mode": mode,
        "reply": result.reply,
        "tool_calls": [{"name": c.name, "args": _jsonable(c.args), "ok": c.ok, "error": c.error,
                        "summary": c.summary} for c in result.tool_calls],
        "notices": [e.payload for e in result.events if e.kind == "notice"],
        "result_set": None if rs is None else {
            "set_id": rs.set_id, "parent": rs.parent, "origin": rs.origin, "size": len(rs.hits),
            "hits": [hit_record(h) for h in rs.hits],
        },
    }


def result_lines(rs: Any, limit: int = LIST_LIMIT) -> list[str]:
    """The terminal listing of a set: header, then one line per hit with id, FIG and score."""
    lines = [f"Set {rs.set_id} ({len(rs.hits)} figures): {rs.origin}"]
    for h in rs.hits[:limit]:
        figs = ",".join(h.figs) or "?"
        lines.append(f"  #{h.rank:<3} {h.patent_id:<16} sheet {h.sheet_no:<3} FIG {figs:<8} {h.kind:<14} "
                     f"{h.score:.3f}")
    if len(rs.hits) > limit:
        lines.append(f"  ... and {len(rs.hits) - limit} more")
    return lines


class ChatRunner:
    """Feeds messages to the agent and prints what happens; holds the session and the pending image."""

    def __init__(self, agent: Any, *, as_json: bool, echo: bool, stream: bool, k: int | None = None) -> None:
        self.agent = agent
        self.session = Session()
        self.as_json = as_json
        self.echo = echo
        self.stream = stream
        self.k = k
        self.image: str | None = None
        self.crop: tuple[float, float, float, float] | None = None
        self.turns = 0

    def handle(self, line: str) -> bool:
        """Process one input line. Returns False when the user asked to quit."""
        line = line.strip()
        if not line:
            return True
        if line.startswith("/"):
            return self._command(line)
        self._turn(line)
        return True

    def _command(self, line: str) -> bool:
        try:
            parts = shlex.split(line)
        except ValueError:
            parts = line.split()
        cmd, args = parts[0].lower(), parts[1:]
        if cmd in ("/quit", "/exit", "/q"):
            return False
        if cmd == "/image":
            if not args:
                self._say("usage: /image PATH [message]")
                return True
            path = Path(args[0]).expanduser()
            if not path.is_file():
                self._say(f"no image file at {path}")
                return True
            self.image = str(path)
            if len(args) > 1:
                self._turn(" ".join(args[1:]))
            else:
                self._say(f"image {path.name} attached to your next message (or send an empty line via /go)")
            return True
        if cmd == "/go":
            self._turn("")
            return True
        if cmd == "/crop":
            try:
                vals = tuple(float(x) for x in " ".join(args).replace(",", " ").split())
                if len(vals) != 4:
                    raise ValueError
            except ValueError:
                self._say("usage: /crop x0,y0,x1,y1 (pixels of the image you attach next)")
                return True
            self.crop = vals  # type: ignore[assignment]
            self._say(f"crop {vals} will apply to the next image")
            return True
        if cmd == "/sets":
            for rs in self.session.sets:
                mark = "*" if rs is self.session.current else " "
                self._say(f"{mark} set {rs.set_id}: {len(rs.hits)} figures — {rs.origin}")
            if not self.session.sets:
                self._say("no result sets yet")
            return True
        if cmd == "/status":
            self._say(json.dumps(self.agent.status()))
            return True
        if cmd == "/reset":
            self.session.reset()
            self._say("new conversation")
            return True
        self._say("commands: /image PATH [message], /crop x0,y0,x1,y1, /go, /sets, /status, /reset, /quit")
        return True

    def _turn(self, message: str) -> None:
        self.turns += 1
        image, crop = self.image, self.crop if self.image else None
        self.image, self.crop = None, None
        if self.echo and not self.as_json:
            print(f"you> {message}" + (f"  [image {Path(image).name}]" if image else ""), flush=True)
        try:
            result = self._run(message, image, crop)
        except Exception as e:  # the session goes on; the trace goes to the log only
            log.debug("turn failed", exc_info=True)
            self._say(f"error: this turn failed ({type(e).__name__}); the conversation continues")
            return
        if self.as_json:
            print(json.dumps(turn_record(self.turns, message, result, self.agent.mode), ensure_ascii=False),
                  flush=True)
            return
        if not self.stream:
            print(f"patfig> {result.reply}", flush=True)
        rs = result.result_set
        if rs is not None and not _listed(result.reply, rs):
            print("\n".join(result_lines(rs)), flush=True)
        for label, path in shown_files(result.events):
            print(f"file ({label}): {path}", flush=True)
        print(flush=True)

    def _run(self, message: str, image: str | None, crop: Any) -> Any:
        from agent.loop import TurnResult

        if not self.stream:
            return self.agent.run(self.session, message, image=image, crop=crop, k=self.k)
        events = []
        started = False
        for ev in self.agent.stream(self.session, message, image=image, crop=crop, k=self.k):
            events.append(ev)
            if ev.kind == "reply_delta":
                if not started:
                    print("patfig> ", end="", flush=True)
                    started = True
                print(ev.payload, end="", flush=True)
            elif ev.kind == "tool_call" and not ev.payload.ok:
                log.info("tool %s failed: %s", ev.payload.name, ev.payload.error)
        reply = next((e.payload for e in reversed(events) if e.kind == "reply"), "")
        if not started:
            print(f"patfig> {reply}", end="", flush=True)
        print(flush=True)
        sets = [e.payload for e in events if e.kind == "result_set"]
        calls = [e.payload for e in events if e.kind == "tool_call"]
        return TurnResult(reply=str(reply), tool_calls=calls, result_set=sets[-1] if sets else None, events=events)

    def _say(self, text: str) -> None:
        if self.as_json:
            print(json.dumps({"info": text}), flush=True)
        else:
            print(text, flush=True)


def shown_files(events: Iterable[Any]) -> list[tuple[str, str]]:
    """(what, path) of the pictures a turn made (cluster map, overlay): the web page shows them, the terminal
    prints their paths on lines of their own, never inside the reply."""
    out = []
    for ev in events:
        if ev.kind == "clusters":
            out.append(("map of the groups", str(ev.payload.map_png)))
        elif ev.kind == "overlay":
            out.append(("sheet with the part boxed", str(ev.payload.get("path", ""))))
    return out


def run_lines(runner: ChatRunner, lines: Iterable[str]) -> None:
    """Feed lines (piped input) to the runner until they end or /quit."""
    for line in lines:
        if not runner.handle(line.rstrip("\n")):
            break


def _interactive(runner: ChatRunner) -> None:
    try:
        import readline  # noqa: F401 - line editing and history for input()
    except ImportError:
        pass
    while True:
        try:
            line = input("you> ")
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if not runner.handle(line):
            return


def _listed(reply: str, rs: Any) -> bool:
    """Whether the reply already lists the set (the offline planner's replies do)."""
    return bool(rs.hits) and f"#1 {rs.hits[0].patent_id} sheet {rs.hits[0].sheet_no}" in reply


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return json.loads(json.dumps(value, default=str))


def chat(
    ctx: typer.Context,
    index: Path | None = IndexOpt,
    offline: bool = typer.Option(False, "--offline", help="Use the offline planner even if Ollama answers."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per turn (reply, tool calls, "
                                                       "resulting set)."),
    model: str | None = typer.Option(None, "--model", help="Ollama model (default: $PATFIG_OLLAMA_MODEL)."),
    k: int | None = typer.Option(None, "--k", min=1, max=100, help=f"Hits per search (default {DEFAULT_K})."),
) -> None:
    """Chat with the index: search, refine, cluster and explain patent figures in plain language.

    On a terminal it asks for messages; with piped input it reads one message per line and prints
    the transcript. Without a reachable Ollama server (or with --offline) requests are read by the
    offline planner, which says so.
    """
    extra: dict[str, Any] = {"offline": True} if offline else {}
    if model:
        extra["ollama_model"] = model
    from agent.loop import Agent  # LangChain and the planner: only for the chat, not for `patfig search`

    services = open_services(ctx, index, **extra)
    agent = Agent(services)
    st = agent.status()
    tty = sys.stdin.isatty()
    if not as_json:
        head = f"patfig chat — {agent.mode}" + (f" ({st['reason']})" if st.get("reason") else "")
        print(head, file=sys.stderr, flush=True)
    runner = ChatRunner(agent, as_json=as_json, echo=not tty, stream=tty and not as_json, k=k)
    try:
        if tty and not as_json:
            print("Type a request, /help for commands, /quit to leave.", file=sys.stderr, flush=True)
            _interactive(runner)
        else:
            run_lines(runner, sys.stdin)
    finally:
        services.close()


def register(app: typer.Typer) -> None:
    """Add the `chat` command to the patfig CLI."""
    app.command("chat")(chat)
