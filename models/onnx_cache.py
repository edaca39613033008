"""ONNX graphs exported once from packaged torch weights, kept in a cache folder, safe when processes race.

A graph's file name carries a key of its source weights (path, size, modification time) and of the export
recipe, so new weights or a new recipe give a new file and an old one is never used by mistake. The export
runs under an exclusive file lock (the second process waits, then finds the file) and writes to a temporary
file that is renamed into place, so no process ever opens a half-written graph.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

DEFAULT_CACHE = Path("~/.cache/patfig/onnx")


def cache_dir(configured: Path | None = None) -> Path:
    """The folder of exported graphs: the configured one (`Settings.onnx_cache`), else ~/.cache/patfig/onnx."""
    return (configured or DEFAULT_CACHE).expanduser()


def graph_path(folder: Path, stem: str, sources: list[Path], recipe: str) -> Path:
    """Where the graph of `stem` exported from `sources` by `recipe` lives (it may not exist yet)."""
    h = hashlib.sha256(recipe.encode())
    for src in sources:
        st = src.stat()
        h.update(f"{src.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return folder / f"{stem}-{h.hexdigest()[:16]}.onnx"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` + ".lock" (a no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the atomic rename alone keeps readers safe
        yield
        return
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_graph(target: Path, export: Callable[[Path], None]) -> Path:
    """`target`, exported by `export(tmp_file)` first if it is not there yet; any export error propagates."""
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target):
        if target.is_file():  # another process exported it while this one waited
            return target
        fd, tmp = tempfile.mkstemp(prefix=target.stem + ".", suffix=".tmp", dir=target.parent)
        os.close(fd)
        try:
            export(Path(tmp))
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp's file is private; the graph is not
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    return target
