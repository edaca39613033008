"""`patfig users add/list/remove`: the users file that `patfig serve --auth FILE` signs people in with."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ui.cli_common import console, fail, out
from ui.users import UsersFileError, add_user, check_name, check_password, read_users, remove_user

DEFAULT_FILE = Path("users.txt")
FileOpt = typer.Option(DEFAULT_FILE, "--file", "-f", help="The users file (default: users.txt in the current "
                       "folder; serve it with `patfig serve --auth FILE`).")

users_app = typer.Typer(help="Who may sign in to `patfig serve --auth FILE`: user names with argon2 password "
                        "hashes (the passwords themselves are never stored).", no_args_is_help=True)


@users_app.command("add")
def add(
    name: str = typer.Argument(..., help="The user name (letters, digits, '.', '_', '@', '-')."),
    file: Path = FileOpt,
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from the first line "
                                        "of standard input instead of asking twice (for scripts)."),
) -> None:
    """Add a user, or set a new password for one (asked twice, not shown)."""
    try:
        check_name(name)
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = typer.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)
        existed = add_user(file, name, check_password(password))
    except UsersFileError as e:
        fail(str(e))
    console.print(f"{'changed the password of' if existed else 'added'} {name} in {file} "
                  f"(serve it with `patfig serve --auth {file}`)", soft_wrap=True)


@users_app.command("list")
def list_users(file: Path = FileOpt) -> None:
    """List the user names of the file (one a line)."""
    try:
        names = sorted(read_users(file))
    except UsersFileError as e:
        fail(str(e))
    for name in names:
        out.print(name, soft_wrap=True, highlight=False)


@users_app.command("remove")
def remove(name: str = typer.Argument(..., help="The user to remove."), file: Path = FileOpt) -> None:
    """Remove a user; they can no longer sign in (a running server reads the file again)."""
    try:
        remove_user(file, name)
    except UsersFileError as e:
        fail(str(e))
    console.print(f"removed {name} from {file}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the `users` command group to the patfig CLI."""
    app.add_typer(users_app, name="users")
