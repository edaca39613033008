"""The users file of `patfig serve --auth`: who may sign in, with argon2id password hashes (never the passwords).

One user a line, `name:hash`, the hash in argon2's own encoding (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`);
blank lines and lines starting with `#` are ignored. `patfig users add/list/remove` keep it; it is written
atomically (a temporary file in the same folder, then a rename) with mode 0600, so a reader never sees half a
file and other accounts on the machine cannot read the hashes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import tempfile
import threading
from pathlib import Path

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

log = logging.getLogger(__name__)

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
NAME_RULE = "1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
MIN_PASSWORD = 8
HEADER = "# patfig users: name:argon2id-hash (made by `patfig users add NAME`; never edit the hashes by hand)\n"

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


class UsersFileError(ValueError):
    """The users file is missing, unreadable or malformed; the message names the file and the line."""


def check_name(name: str) -> str:
    """The user name, if it is a valid one; else UsersFileError saying what a name may hold."""
    if not NAME.fullmatch(name):
        raise UsersFileError(f"{name!r} is not a valid user name: use {NAME_RULE}")
    return name


def check_password(password: str) -> str:
    """The password, if it is long enough; else UsersFileError."""
    if len(password) < MIN_PASSWORD:
        raise UsersFileError(f"the password must have at least {MIN_PASSWORD} characters")
    return password


def hash_password(password: str) -> str:
    """An argon2id hash of the password (a fresh random salt each time)."""
    return _hasher.hash(password)


def read_users(path: Path) -> dict[str, str]:
    """The users file as {name: hash}; UsersFileError when it is missing, unreadable or a line is malformed."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsersFileError(f"users file {path} not found: create it with `patfig users add NAME --file {path}`"
                             ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsersFileError(f"cannot read users file {path}: {e}") from None
    users: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, hashed = line.partition(":")
        where = f"users file {path}, line {n}"
        if not sep or not NAME.fullmatch(name):
            raise UsersFileError(f"{where}: expected `name:argon2-hash` with a name of {NAME_RULE}")
        if not _is_argon2_hash(hashed):
            raise UsersFileError(f"{where}: the password of {name!r} is not an argon2 hash "
                                 f"(set it again with `patfig users add {name} --file {path}`)")
        if name in users:
            raise UsersFileError(f"{where}: user {name!r} is listed twice")
        users[name] = hashed
    return users


def write_users(path: Path, users: dict[str, str]) -> None:
    """Write the users file atomically with mode 0600 (the folder is created if needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(HEADER + "".join(f"{name}:{hashed}\n" for name, hashed in sorted(users.items())))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def add_user(path: Path, name: str, password: str) -> bool:
    """Add the user (or set a new password for an existing one); True when the user was already there."""
    check_name(name)
    hashed = hash_password(check_password(password))
    users = read_users(path) if Path(path).exists() else {}
    existed = name in users
    users[name] = hashed
    write_users(path, users)
    return existed


def remove_user(path: Path, name: str) -> None:
    """Remove the user; UsersFileError if the file does not list them. The last user may be removed too."""
    users = read_users(path)
    if name not in users:
        raise UsersFileError(f"users file {path} has no user {name!r} (it lists: {', '.join(sorted(users))})")
    del users[name]
    write_users(path, users)


class Verifier:
    """Checks a name and password against the users file (`gradio_auth` is what Gradio's `auth` gets).

    The file is read again when it changes, so users added or removed while the server runs take effect at their
    next sign-in. A file that became malformed or was removed lets nobody in until it is fixed (and logs why).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp = self._mtime()
        self._users = read_users(self.path)  # a missing or malformed file fails here, at start
        if not self._users:
            raise UsersFileError(f"users file {self.path} lists no users: add one with `patfig users add NAME "
                                 f"--file {self.path}`")
        self._dummy = hash_password("not a password of anyone")  # unknown names cost as much as known ones

    def check(self, name: str, password: str) -> bool:
        """Whether this is a user of the file with this password (as slow for unknown names as for known ones)."""
        hashed = self._current().get(name)
        try:
            _hasher.verify(hashed or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return hashed is not None

    async def gradio_auth(self, name: str, password: str) -> bool:
        """`check` for Gradio's `launch(auth=...)`, off the event loop (a hash costs a fraction of a second).

        A plain `async def` method on purpose: Gradio awaits the callable only when `inspect.iscoroutinefunction`
        says so, which is false for an object with an async `__call__` (its coroutine would count as a yes).
        """
        return await asyncio.to_thread(self.check, name, password)

    def names(self) -> list[str]:
        return sorted(self._current())

    def _mtime(self) -> int | None:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def _current(self) -> dict[str, str]:
        stamp = self._mtime()
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._users = read_users(self.path)
                except UsersFileError as e:
                    log.error("%s; nobody can sign in until it is fixed", e)
                    self._users = {}
            return self._users


def _is_argon2_hash(text: str) -> bool:
    if not text.startswith("$argon2"):
        return False
    try:
        extract_parameters(text)
    except (InvalidHashError, ValueError):
        return False
    return True
