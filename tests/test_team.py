"""Served to a team (issue 19 §1), the fast parts: the users file (argon2 hashes, atomic 0600 writes, bad lines
named), the sliding-window limiter, the rate limit in the web app's chat turns (per user, real gr.Request
objects, the real offline agent over the fast index), and `patfig serve` refusing an open non-loopback host or a
bad users file in one line before it opens anything. The real server over HTTP is in tests/test_serve_team.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import stat

import gradio as gr
import pytest
from argon2 import extract_parameters
from argon2.profiles import RFC_9106_LOW_MEMORY
from typer.testing import CliRunner

from ui.cli_serve import is_loopback
from ui.ratelimit import SlidingWindowLimiter, wait_message
from ui.users import UsersFileError, Verifier, add_user, read_users, remove_user, write_users


@pytest.fixture
def cheap_hashes(monkeypatch):
    """argon2id with the library's cheapest parameters, for speed (the real ones cost ~0.5 s a hash here)."""
    from argon2 import PasswordHasher, profiles

    import ui.users

    monkeypatch.setattr(ui.users, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))


def cli(*args: str, input: str | None = None):
    from patfig.cli import WIRING
    from ui.cli import build_app

    return CliRunner().invoke(build_app(WIRING), list(args), input=input)


# ---------------------------------------------------------------- users file


def test_users_file_holds_argon2_hashes_never_the_password_and_is_private(tmp_path):
    path = tmp_path / "team" / "users.txt"
    assert add_user(path, "alice", "correct horse") is False
    assert add_user(path, "bob", "battery staple") is False
    text = path.read_text()
    assert "correct horse" not in text and "battery staple" not in text
    users = read_users(path)
    assert sorted(users) == ["alice", "bob"] and all(h.startswith("$argon2id$") for h in users.values())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["users.txt"], "no temporary file is left behind"
    assert extract_parameters(users["alice"]) == RFC_9106_LOW_MEMORY, "argon2-cffi's recommended parameters"
    old = users["alice"]
    assert add_user(path, "alice", "a new password") is True  # a new password for an existing user
    assert read_users(path)["alice"] != old and sorted(read_users(path)) == ["alice", "bob"]
    remove_user(path, "bob")
    assert sorted(read_users(path)) == ["alice"]
    with pytest.raises(UsersFileError, match=r"has no user 'zed' \(it lists: alice\)"):
        remove_user(path, "zed")


def test_users_file_refuses_bad_names_and_short_passwords(tmp_path):
    path = tmp_path / "users.txt"
    with pytest.raises(UsersFileError, match="not a valid user name"):
        add_user(path, "bad name", "long enough")
    with pytest.raises(UsersFileError, match="not a valid user name"):
        add_user(path, "x:y", "long enough")
    with pytest.raises(UsersFileError, match="at least 8 characters"):
        add_user(path, "carol", "short")
    assert not path.exists()


@pytest.mark.parametrize("content, message", [
    ("alice\n", r"line 1: expected `name:argon2-hash`"),
    ("# team\n\nalice:hunter2-in-clear\n", r"line 3: the password of 'alice' is not an argon2 hash"),
    ("bad name:$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaA\n", r"line 1: expected `name:argon2-hash`"),
    ("alice:$argon2id$nonsense\n", r"line 1: the password of 'alice' is not an argon2 hash"),
])
def test_malformed_users_file_names_the_bad_line(tmp_path, content, message):
    path = tmp_path / "users.txt"
    path.write_text(content)
    with pytest.raises(UsersFileError, match=message):
        read_users(path)


def test_user_listed_twice_and_missing_file_are_errors(tmp_path, cheap_hashes):
    path = tmp_path / "users.txt"
    with pytest.raises(UsersFileError, match=r"users file .*users.txt not found: create it with `patfig users add"):
        read_users(path)
    add_user(path, "alice", "correct horse")
    path.write_text(path.read_text() * 2)
    with pytest.raises(UsersFileError, match=r"line 4: user 'alice' is listed twice"):
        read_users(path)


def test_verifier_checks_passwords_and_follows_changes_of_the_file(tmp_path, cheap_hashes):
    path = tmp_path / "users.txt"
    write_users(path, {})
    with pytest.raises(UsersFileError, match="lists no users"):
        Verifier(path)
    add_user(path, "alice", "correct horse")
    v = Verifier(path)
    assert v.check("alice", "correct horse")
    assert not v.check("alice", "wrong horse") and not v.check("mallory", "correct horse")
    assert asyncio.run(v.gradio_auth("alice", "correct horse")) is True
    assert asyncio.run(v.gradio_auth("alice", "wrong horse")) is False
    add_user(path, "bob", "battery staple")  # added while the server runs: can sign in at once
    assert v.check("bob", "battery staple")
    remove_user(path, "alice")
    assert not v.check("alice", "correct horse")
    path.write_text("bob\n")  # broken by hand: nobody gets in until it is fixed
    assert not v.check("bob", "battery staple")


# ---------------------------------------------------------------- limiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window_limits_each_key_separately():
    clock = Clock()
    lim = SlidingWindowLimiter(3, window=60, clock=clock)
    assert [lim.acquire("alice") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert lim.acquire("alice") == pytest.approx(60.0)  # full: the oldest leaves the window in 60 s
    assert lim.acquire("bob") == 0.0, "another user is not slowed"
    clock.now += 20
    assert lim.acquire("alice") == pytest.approx(40.0)
    assert lim.used("alice") == 3, "a refused request is not counted"
    clock.now += 40  # the first three leave the window together
    assert lim.acquire("alice") == 0.0 and lim.used("alice") == 1


def test_sliding_window_slides_rather_than_resets():
    clock = Clock()
    lim = SlidingWindowLimiter(2, window=10, clock=clock)
    assert lim.acquire("k") == 0.0
    clock.now += 6
    assert lim.acquire("k") == 0.0
    clock.now += 5  # 11 s after the first, 5 s after the second: one slot is free, not two
    assert lim.acquire("k") == 0.0
    assert lim.acquire("k") == pytest.approx(5.0)  # the one at +6 s leaves the window at +16 s


def test_limit_zero_is_off_and_idle_keys_are_forgotten():
    assert all(SlidingWindowLimiter(0).acquire("x") == 0.0 for _ in range(1000))
    clock = Clock()
    lim = SlidingWindowLimiter(1, window=5, clock=clock)
    for i in range(100):
        lim.acquire(f"user{i}")
    clock.now += 6
    lim.acquire("late")
    assert set(lim._events) == {"late"}
    with pytest.raises(ValueError):
        SlidingWindowLimiter(-1)


def test_wait_message_says_how_long():
    assert wait_message(44.2, 30) == ("You have sent 30 requests in the last minute, the most this server takes from "
                                      "one user. Please wait 45 seconds and ask again; your session is kept.")
    assert "Please wait 1 second and" in wait_message(0.01, 5)


# ---------------------------------------------------------------- the limit in the web app's chat turns


@pytest.fixture
def limited_cb(fake_index, tmp_path):
    from agent.loop import Agent
    from ui.web.callbacks import Callbacks

    services = dataclasses.replace(fake_index, settings=fake_index.settings.model_copy(update={"offline": True}))
    return Callbacks(services, Agent(services), tmp_path / "ui-cache", SlidingWindowLimiter(2))


def test_chat_turns_are_limited_per_signed_in_user(limited_cb):
    alice, bob = gr.Request(username="alice"), gr.Request(username="bob")
    st = None
    for _ in range(2):
        st, chat, *_ = list(limited_cb.send(st, "propeller blade", 0.5, 5, 0.0, alice))[-1]
        assert chat[-1]["role"] == "assistant" and "Please wait" not in str(chat[-1]["content"])
    with pytest.warns(UserWarning):  # gr.Warning outside a Gradio event
        st, chat, box, query_msg, *rest = list(limited_cb.send(st, "gear", 0.5, 5, 0.0, alice))[-1]
    assert chat[-1]["content"].startswith("⚠ You have sent 2 requests in the last minute")
    assert "Please wait 60 seconds" in chat[-1]["content"]
    assert box == "gear", "the typed message stays in its box, to send later"
    assert query_msg == gr.skip(), "the query drawing's panel is not the place for it"
    assert len(st.session.sets) == 2, "a refused turn runs no search"
    with pytest.warns(UserWarning):
        chat = list(limited_cb.ask(st, "group them", alice))[-1][1]  # buttons count as turns too
    assert "Please wait" in chat[-1]["content"]
    st_b, chat_b, *_ = list(limited_cb.send(None, "propeller blade", 0.5, 5, 0.0, bob))[-1]
    assert st_b.session.current is not None and "Please wait" not in str(chat_b[-1]["content"])


def test_anonymous_users_are_told_apart_by_address_then_tab():
    from ui.web.callbacks import user_key
    from ui.web.state import UiState

    st = UiState()
    assert user_key(gr.Request(username="alice"), st) == "user:alice"
    assert user_key(gr.Request(client={"host": "10.0.0.7", "port": 5}), st) == "client:10.0.0.7"
    assert user_key(gr.Request(session_hash="abc"), st) == "session:abc"
    assert user_key(None, st) == f"tab:{st.session.session_id}"


# ---------------------------------------------------------------- the CLI


def test_users_cli_add_asks_twice_lists_and_removes(tmp_path, cheap_hashes):
    path = tmp_path / "users.txt"
    res = cli("users", "add", "alice", "--file", str(path), input="correct horse\ncorrect horse\n")
    assert res.exit_code == 0, res.output
    assert "correct horse" not in res.output, "the password is not echoed"
    assert f"added alice in {path}" in res.output
    res = cli("users", "add", "bob", "--file", str(path), "--password-stdin", input="battery staple\n")
    assert res.exit_code == 0, res.output
    assert Verifier(path).check("bob", "battery staple")
    res = cli("users", "add", "carol", "--file", str(path), "--password-stdin", input="short\n")
    assert res.exit_code == 2 and "error: the password must have at least 8 characters" in res.output
    assert cli("users", "list", "--file", str(path)).stdout.splitlines() == ["alice", "bob"]
    assert cli("users", "remove", "alice", "--file", str(path)).exit_code == 0
    assert cli("users", "list", "--file", str(path)).stdout.splitlines() == ["bob"]
    res = cli("users", "list", "--file", str(tmp_path / "none.txt"))
    assert res.exit_code == 2 and "not found: create it with `patfig users add NAME --file" in res.output


def test_loopback_hosts():
    assert all(map(is_loopback, ["127.0.0.1", "localhost", "::1", "[::1]", "127.1.2.3"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.5", "example.org"]))


def one_error_line(res) -> str:
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert "Traceback" not in res.output
    return lines[0]


def test_serve_refuses_an_open_non_loopback_host_in_one_line(tmp_path):
    line = one_error_line(cli("serve", "--host", "0.0.0.0", "--index", str(tmp_path / "none")))
    assert line.startswith("error: refusing to serve 0.0.0.0 without sign-in") and "--no-auth" in line
    assert not (tmp_path / "none").exists(), "nothing is opened or created before the refusal"


def test_serve_with_a_missing_or_malformed_users_file_says_which_in_one_line(tmp_path):
    line = one_error_line(cli("serve", "--host", "0.0.0.0", "--auth", str(tmp_path / "users.txt")))
    assert "users.txt not found: create it with `patfig users add NAME --file" in line
    (tmp_path / "users.txt").write_text("# ours\nalice:plain-text-password\n")
    line = one_error_line(cli("serve", "--auth", str(tmp_path / "users.txt")))
    assert "line 2: the password of 'alice' is not an argon2 hash" in line
    assert "plain-text-password" not in line
    line = one_error_line(cli("serve", "--auth", str(tmp_path / "users.txt"), "--no-auth"))
    assert "--auth and --no-auth contradict each other" in line


def test_serve_no_auth_warns_in_one_line(tmp_path):
    res = cli("serve", "--host", "0.0.0.0", "--no-auth", "--index", str(tmp_path / "none"))
    lines = res.output.splitlines()
    assert lines[0].startswith("warning: --no-auth: serving 0.0.0.0 without sign-in; anyone who can reach it")
    assert res.exit_code == 2  # then it goes on, to the missing index here
