"""Load test of the web app: N concurrent chat sessions through its HTTP API, each search → refine → explain.

What is measured: the wall time of each chat turn (`/send`, as the page's Send button calls it, until the
turn's last streamed update) for N = 1 and N = 8 sessions that all start together; p50 and p95 per kind of
turn and over all turns; the error count (a failed call, or a turn that answers with a warning); and
whether any session saw another's state. The app is the real `patfig serve` (offline planner, no LLM) on a
loopback port over a copy of an index (so the figures it renders go to the copy), or an app at `--url`.

Each session searches its own words, so its state can be checked: its result sets are numbered 1, 2, 3, …
in its own order whatever the others do, the search's set is described by its own words, the refined set
(offices=US) holds only US figures, the explanation names the #1 patent of its own set, and its chat holds
exactly the messages it sent. Any difference counts as a cross-session violation.

The load is bounded: a fixed number of rounds per session, every request to 127.0.0.1, a time limit.
Before the measured runs, one unmeasured round of every session warms the app up (the text model loads, the
figures' thumbnails are made); each measured search then uses words not searched before.

Run:  python -m bench.load_test --index /work/idx/sample [--sessions 1 8] [--rounds 3] [--url URL]
Writes bench/results/load_test.json and load_test.md (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.request import search_words

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
# One distinct search per session (the sample index: aircraft power, coatings, turbines, EV charging, batteries).
QUERIES = (
    "figures of a charging station", "figures of a turbine blade", "figures of a battery pack",
    "figures of a solar cell", "figures of a cooling fluid system", "figures of a microbicidal coating",
    "figures of a hydrogen tank", "figures of a combustor", "figures of an electric motor",
    "figures of a connector plug",
)
# The last word of each search, new in every round of every run, so no measured search is answered from the
# text encoder's query cache or repeats an earlier one (a refinement re-running its search does use it).
WORDS = ("assembly", "housing", "system", "device", "unit", "apparatus", "arrangement", "module", "structure",
         "mechanism", "component", "element")
REFINE, EXPLAIN = "only US patents", "why is #1 ranked first?"
PATENT = re.compile(r"#(\d+) (\S+)")


@dataclass
class Turn:
    """One measured chat turn."""

    session: int
    round: int
    kind: str  # search, refine, explain
    seconds: float
    error: str = ""


@dataclass
class SessionLog:
    """What one session did and what was wrong with what it saw."""

    turns: list[Turn] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(index: Path, timeout: float = 180, log: Path | None = None) -> Iterator[tuple[str, int]]:
    """`patfig serve --offline` over a temporary copy of `index` on a free loopback port: yields (url, pid).

    The app's stderr (its log, with the stack trace of any failed step) goes to `log`, or to the temporary
    folder."""
    from gradio_client import Client

    with tempfile.TemporaryDirectory(prefix="patfig-load-") as tmp:
        copy = Path(tmp) / "index"
        shutil.copytree(index, copy, ignore=shutil.ignore_patterns("renders"))
        port, log = free_port(), log or Path(tmp) / "serve.log"
        env = os.environ | {"PATFIG_VISUAL_ENCODER": "linedraw", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen([sys.executable, "-m", "patfig", "serve", "--index", str(copy), "--port", str(port),
                                 "--offline"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                stderr=open(log, "wb"), start_new_session=True)
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.time() + timeout
            while True:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"the app did not start: {log.read_text()[-2000:]}")
                try:
                    Client(url, verbose=False, download_files=False)
                    break
                except Exception:  # not listening yet
                    time.sleep(1)
            yield url, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _text(message: dict) -> str:
    """The text of a chat message as the API returns it (a list of content parts)."""
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def _check(kind: str, out: tuple, query: str, set_id: int, top_patent: str | None, sent: list[str]) -> list[str]:
    """What is wrong with one turn's outputs (chat, message, query message, gallery, set info, history)."""
    chat, gallery, info, history = out[0], out[3], str(out[4]), out[5]
    wrong = []
    users = [_text(m) for m in chat if m.get("role") == "user"]
    if users != sent:
        wrong.append(f"{kind}: the chat holds user messages {users[-3:]} that this session did not send in order")
    last_user = max((i for i, m in enumerate(chat) if m.get("role") == "user"), default=-1)
    warnings = [_text(m) for m in chat[last_user + 1:] if m.get("role") == "assistant" and _text(m).startswith("⚠")]
    if warnings:
        wrong.append(f"{kind}: warning {warnings[-1][:200]}")
    if kind in ("search", "refine"):
        if not isinstance(history, dict) or history.get("value") != set_id:
            wrong.append(f"{kind}: expected result set #{set_id}, the history shows {history}")
        if f"Result set #{set_id}**" not in info:
            wrong.append(f"{kind}: the set summary is not of set #{set_id}: {info[:120]}")
    if kind == "search" and search_words(query) not in info:  # the set names the words searched, not the request
        wrong.append(f"search: set #{set_id} is not this session's search for {query!r}: {info[:160]}")
    if kind == "refine":
        offices = {m.group(2)[:2] for tile in (gallery or {}).get("value", []) if (m := PATENT.match(tile["caption"]))}
        if offices - {"US"}:
            wrong.append(f"refine: offices {sorted(offices)} in a set refined to US patents")
    if kind == "explain" and top_patent and top_patent not in _text(chat[-1]):
        wrong.append(f"explain: the explanation does not name this session's #1 ({top_patent})")
    return wrong


def run_session(url: str, sid: int, rounds: int, start: threading.Barrier, log: SessionLog, first_word: int,
                think: float = 0.0) -> None:
    """One browser session: `rounds` × (search its own query → refine → explain), every turn timed and checked.

    With `think` > 0 the session pauses before each turn, as a person reading the answer would: a seeded
    random 0.5–1.5 × `think` seconds (0–1 × before its first turn, so the sessions do not all start at once).
    """
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)  # its own session hash: its own gr.State
    sent, top = [], None
    rng = random.Random(sid)
    start.wait()
    for r in range(rounds):
        query = f"{QUERIES[sid % len(QUERIES)]} {WORDS[(first_word + r) % len(WORDS)]}"
        for kind, message in (("search", query), ("refine", REFINE), ("explain", EXPLAIN)):
            if think:
                time.sleep(think * (rng.uniform(0.0, 1.0) if not sent else rng.uniform(0.5, 1.5)))
            sent.append(message)
            t0 = time.perf_counter()
            try:
                out = client.predict(message, 0.5, 20, api_name="/send")
            except Exception as e:  # a failed call is an error of this turn; the session goes on
                log.turns.append(Turn(sid, r, kind, time.perf_counter() - t0, f"{type(e).__name__}: {e}"))
                continue
            seconds = time.perf_counter() - t0
            set_id = 2 * r + (1 if kind == "search" else 2)
            wrong = _check(kind, out, query, set_id, top, sent)
            log.violations += [w for w in wrong if not w.startswith(f"{kind}: warning")]
            error = next((w for w in wrong if w.startswith(f"{kind}: warning")), "")
            log.turns.append(Turn(sid, r, kind, seconds, error))
            if kind == "refine":
                tiles = (out[3] or {}).get("value", [])
                top = m.group(2) if tiles and (m := PATENT.match(tiles[0]["caption"])) else None


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(url: str, sessions: int, rounds: int, server_pid: int | None = None, limit: float = 900,
         first_word: int = 0, think: float = 0.0) -> dict:
    """Run `sessions` concurrent sessions of `rounds` rounds; their timings, errors and violations.

    Round r of each session searches its words with WORDS[first_word + r] at the end."""
    logs = [SessionLog() for _ in range(sessions)]
    barrier = threading.Barrier(sessions)
    threads = [threading.Thread(target=run_session, args=(url, i, rounds, barrier, logs[i], first_word, think),
                                daemon=True) for i in range(sessions)]
    cpu0, t0, load0 = _cpu_seconds(server_pid) if server_pid else None, time.perf_counter(), os.getloadavg()[0]
    client0 = time.process_time()  # this process: the N clients, which share the machine with the app
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, limit - (time.perf_counter() - t0)))
    wall = time.perf_counter() - t0
    turns = [t for log in logs for t in log.turns]
    unfinished = sessions * rounds * 3 - len(turns)
    out = {"sessions": sessions, "rounds": rounds, "think_seconds": think, "turns": len(turns),
           "wall_seconds": round(wall, 2),
           "errors": sum(1 for t in turns if t.error) + unfinished, "unfinished_turns": unfinished,
           "violations": [v for log in logs for v in log.violations],
           "client_cpu_seconds": round(time.process_time() - client0, 2),
           "load_avg_start": round(load0, 2), "load_avg_end": round(os.getloadavg()[0], 2),
           "per_kind": {k: _percentiles([t.seconds for t in turns if t.kind == k]) for k in ("search", "refine",
                                                                                        "explain")},
           "all_turns": _percentiles([t.seconds for t in turns]),
           "error_samples": [asdict(t) for t in turns if t.error][:5]}
    if server_pid:
        out["server_cpu_seconds"] = round(_cpu_seconds(server_pid) - (cpu0 or 0.0), 2)
    return out


def _percentiles(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {}
    q = statistics.quantiles(xs, n=20, method="inclusive") if len(xs) > 1 else [xs[0]] * 19
    return {"n": len(xs), "p50_ms": round(statistics.median(xs) * 1000, 1), "p95_ms": round(q[18] * 1000, 1),
            "max_ms": round(max(xs) * 1000, 1)}


def markdown(report: dict) -> str:
    rows = ["| sessions | think s | turns | search p50 / p95 | refine p50 / p95 | explain p50 / p95 | "
            "all turns p50 / p95 | "
            "errors | cross-session violations | server CPU s / clients' CPU s / wall s |", "|" + "---|" * 10]
    for run in report["runs"]:
        kinds = [run["per_kind"][k] for k in ("search", "refine", "explain")] + [run["all_turns"]]
        cells = [f"{k.get('p50_ms', '–')} / {k.get('p95_ms', '–')} ms" for k in kinds]
        rows.append(f"| {run['sessions']} | {run.get('think_seconds', 0)} | {run['turns']} | " + " | ".join(cells) +
                    f" | {run['errors']} | {len(run['violations'])} | {run.get('server_cpu_seconds', '–')} / "
                    f"{run['client_cpu_seconds']} / {run['wall_seconds']} |")
    return "\n".join([f"`{report['command']}` on {report['date']}: {report['machine']}.", "", *rows, "",
                      f"p95 of all turns at {report['runs'][-1]['sessions']} sessions / at 1 session: "
                      f"{report.get('p95_ratio', '–')}. The machine's load average during the runs: "
                      + ", ".join(f"{r['load_avg_start']}–{r['load_avg_end']}" for r in report["runs"])
                      + " (other jobs shared its cores).", ""])


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=Path(os.environ.get("PATFIG_TEST_INDEX", "data/index")))
    ap.add_argument("--url", help="an app that is already running (then --index is not used)")
    ap.add_argument("--sessions", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--rounds", type=int, default=3, help="search → refine → explain rounds per session")
    ap.add_argument("--think", type=float, default=0.0,
                    help="mean pause in seconds before each turn, as a person reading the answer (0: back to back)")
    ap.add_argument("--out", type=Path, default=RESULTS / "load_test.json")
    args = ap.parse_args()
    report = {"command": "python -m bench.load_test " + " ".join(sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d"), "machine": machine(), "runs": []}
    with (running_app(args.index) if not args.url else _given(args.url)) as (url, pid):
        # warm-up, not measured: loads the text model, and every session's searches once (figure thumbnails)
        load(url, max(args.sessions), 1, pid, first_word=len(WORDS) - 1)
        for i, n in enumerate(args.sessions):
            report["runs"].append(load(url, n, args.rounds, pid, first_word=i * args.rounds, think=args.think))
            print(json.dumps(report["runs"][-1], indent=1))
    base, top = report["runs"][0]["all_turns"].get("p95_ms"), report["runs"][-1]["all_turns"].get("p95_ms")
    report["p95_ratio"] = round(top / base, 2) if base and top else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


@contextmanager
def _given(url: str) -> Iterator[tuple[str, None]]:
    yield url, None


if __name__ == "__main__":
    main()
