"""Turn what the user typed (files, folders, globs) into the patent documents to read."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

from ingest.uspto import find_ice_xml

DOC_SUFFIXES = (".zip", ".pdf")
_SKIP_DIRS = {"__MACOSX"}


def _is_doc_file(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in DOC_SUFFIXES


def _scan_folder(folder: Path) -> tuple[list[Path], int]:
    """Documents under a folder (recursively) and how many files it holds in all."""
    if find_ice_xml(folder) is not None:
        return [folder], 1
    found: list[Path] = []
    n_files = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
        n_files += len(filenames)
        if here != folder and find_ice_xml(here) is not None:
            found.append(here)
            dirnames[:] = []  # a USPTO folder is one document; do not look inside it again
            continue
        found.extend(here / f for f in filenames if not f.startswith(".") and _is_doc_file(here / f))
    return found, n_files


def discover(inputs: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Expand files, folders (recursively) and globs into document paths.

    Documents are ZIPs, PDFs and USPTO folders (a folder holding an ICE XML). Returns the sorted,
    de-duplicated paths and the problems met, e.g. "no such file: /y".
    """
    paths: set[Path] = set()
    problems: list[str] = []
    for raw in inputs:
        expanded = os.path.expanduser(raw)
        if glob.has_magic(expanded):
            matches = sorted(glob.glob(expanded, recursive=True))
            if not matches:
                problems.append(f"no files match {raw}")
                continue
            candidates = [Path(m) for m in matches]
        else:
            candidates = [Path(expanded)]
        for p in candidates:
            if not p.exists():
                problems.append(f"no such file: {p}")
            elif p.is_dir():
                found, n_files = _scan_folder(p)
                if found:
                    paths.update(f.resolve() for f in found)
                elif n_files == 0:
                    problems.append(f"no patent documents found in {p} (empty folder)")
                else:
                    problems.append(
                        f"no patent documents found in {p} ({n_files} files, none a .zip, .pdf or USPTO XML)"
                    )
            elif _is_doc_file(p):
                paths.add(p.resolve())
            elif p.suffix.lower() == ".xml" and find_ice_xml(p.parent) is not None:
                paths.add(p.parent.resolve())
            elif not glob.has_magic(expanded):
                problems.append(f"not a patent document (expected .zip, .pdf or a USPTO folder): {p}")
    return sorted(paths), problems
