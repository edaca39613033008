"""USPTO weekly bundles as published: a tar (or a tar inside a zip) of per-patent ZIPs in dated sub-folders.

A bundle is read as a stream, member by member; it is never unpacked to disk. Each per-patent ZIP in it is
a document of its own, recorded in the index as `BUNDLE!/MEMBER` (for example
`/data/I20251021.tar!/20251021/UTIL0448/US12448135-20251021.ZIP`) with the sha1 of its bytes as its
signature, so a second run skips what is done and a killed run resumes where it stopped. A corrupt member
fails on its own when it is read; a bundle that is no tar, or is cut short, is a problem named in one line.
"""

from __future__ import annotations

import hashlib
import tarfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO

BUNDLE_SUFFIXES = (".tar", ".tar.gz", ".tgz")
MEMBER_SUFFIX = ".zip"  # the per-patent ZIPs; the bundle's other files (lists, checksums) are not documents
SEP = "!/"


@dataclass(frozen=True)
class Member:
    """One per-patent ZIP inside a bundle."""

    bundle: Path  # the bundle file, resolved
    inner: str  # the tar's name inside a zip bundle, or "" for a plain tar
    name: str  # the member's path inside the tar, e.g. 20251021/UTIL0448/US12448135-20251021.ZIP
    size: int
    sig: str  # sha1 of the member's bytes

    @property
    def source(self) -> str:
        """The name this member is recorded under in the index."""
        return SEP.join([str(self.bundle), *([self.inner] if self.inner else []), self.name])


def _tars_in_zip(path: Path) -> list[str]:
    """The tar members of a zip that holds tars and no patent XML (a bundle shipped as a zip), else []."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return []
    if any(n.lower().endswith(".xml") for n in names):
        return []
    return [n for n in names if n.lower().endswith(BUNDLE_SUFFIXES) and not n.startswith("__MACOSX")]


def is_bundle(path: Path) -> bool:
    """Whether a file is a weekly bundle: a .tar (.tar.gz, .tgz), or a zip holding such a tar."""
    if not path.is_file():
        return False
    name = path.name.lower()
    return name.endswith(BUNDLE_SUFFIXES) or (name.endswith(".zip") and bool(_tars_in_zip(path)))


def _tar_streams(stack: ExitStack, path: Path) -> Iterator[tuple[str, IO[bytes]]]:
    """(inner name, byte stream) of each tar in the bundle: the file itself, or each tar in a zip."""
    if not path.name.lower().endswith(".zip"):
        yield "", stack.enter_context(path.open("rb"))
        return
    zf = stack.enter_context(zipfile.ZipFile(path))
    for inner in _tars_in_zip(path):
        yield inner, stack.enter_context(zf.open(inner))


def _is_member(info: tarfile.TarInfo) -> bool:
    base = info.name.rsplit("/", 1)[-1]
    return info.isfile() and base.lower().endswith(MEMBER_SUFFIX) and not base.startswith(".") \
        and "__MACOSX" not in info.name


def _walk(path: Path) -> Iterator[tuple[str, tarfile.TarInfo, IO[bytes]]]:
    """(inner, info, data stream) of every per-patent ZIP in a bundle, in order, read as one stream.

    Raises tarfile.ReadError (not a tar, or cut short), zipfile.BadZipFile, zlib.error, OSError or EOFError.
    """
    with ExitStack() as stack:
        for inner, stream in _tar_streams(stack, path):
            with tarfile.open(fileobj=stream, mode="r|*") as tf:
                for info in tf:
                    if _is_member(info):
                        data = tf.extractfile(info)
                        assert data is not None  # a regular file always has data
                        yield inner, info, data


def _read_all(data: IO[bytes], info: tarfile.TarInfo) -> bytes:
    out = data.read()
    if len(out) != info.size:
        raise tarfile.ReadError(f"unexpected end of data in {info.name}")
    return out


_BUNDLE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zlib.error, OSError, EOFError)


def list_bundle(path: Path) -> tuple[list[Member], list[str]]:
    """The per-patent ZIPs of a bundle, each with the sha1 of its bytes (one pass over the bundle), and the
    problems met: "not a tar bundle: ...", "bundle ... is cut short after ...", one line each."""
    path = Path(path).resolve()
    members: list[Member] = []
    problems: list[str] = []
    current = ""
    try:
        for inner, info, data in _walk(path):
            current = info.name
            members.append(Member(path, inner, info.name, info.size, hashlib.sha1(_read_all(data, info)).hexdigest()))
            current = ""
        if not path.name.lower().endswith((".zip", ".gz", ".tgz")) and path.stat().st_size % tarfile.BLOCKSIZE:
            last = members[-1].name if members else "its start"
            problems.append(f"bundle {path} is cut short after {last} (its size is not whole 512-byte tar blocks)")
    except _BUNDLE_ERRORS as e:
        if not members and not current:
            problems.append(f"not a tar bundle: {path} ({e})")
        else:
            where = f"in {current}" if current else f"after {members[-1].name}"
            problems.append(f"bundle {path} is cut short {where} ({len(members)} members read; {e})")
    if not members and not problems:
        problems.append(f"no patent ZIPs in bundle {path}")
    return members, problems


def read_members(wanted: Sequence[Member]) -> Iterator[tuple[Member, bytes | str]]:
    """The bytes of the wanted members of one bundle, read as one stream in bundle order.

    A member that cannot be read (the bundle changed or broke since it was listed) comes with the reason
    instead of its bytes, so every wanted member comes back once.
    """
    if not wanted:
        return
    left = {(m.inner, m.name): m for m in wanted}
    path = wanted[0].bundle
    walk = _walk(path)
    try:
        for inner, info, data in walk:
            m = left.get((inner, info.name))
            if m is not None:
                out = _read_all(data, info)
                del left[(inner, info.name)]
                yield m, out
            if not left:
                break
    except _BUNDLE_ERRORS as e:
        for m in list(left.values()):
            yield m, f"cannot read it from bundle {path}: {e}"
        return
    finally:
        walk.close()
    for m in left.values():
        yield m, f"no longer in bundle {path}"
