"""Turn what the user typed (files, folders, globs, weekly bundles) into the patent documents to read."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

from ingest.bundle import BUNDLE_SUFFIXES, Member, is_bundle, list_bundle
from ingest.uspto import find_ice_xml

DOC_SUFFIXES = (".zip", ".pdf")
_SKIP_DIRS = {"__MACOSX"}


def _is_doc_file(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in DOC_SUFFIXES


def _scan_folder(folder: Path) -> tuple[list[Path], int]:
    """Documents (and weekly bundles) under a folder, recursively, and how many files it holds in all."""
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
        found.extend(here / f for f in filenames
                     if not f.startswith(".") and (_is_doc_file(here / f) or is_bundle(here / f)))
    return found, n_files


def discover(inputs: Sequence[str]) -> tuple[list[Path | Member], list[str]]:
    """Expand files, folders (recursively) and globs into document paths and bundle members.

    Documents are ZIPs, PDFs and USPTO folders (a folder holding an ICE XML); a weekly bundle (a .tar, or a
    zip holding one) gives each per-patent ZIP in it (`ingest.bundle`). Returns the documents sorted by
    name, de-duplicated, and the problems met, e.g. "no such file: /y", "not a tar bundle: /z.tar (...)".
    """
    paths: set[Path | Member] = set()
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
                    for f in found:
                        _add(paths, problems, f)
                elif n_files == 0:
                    problems.append(f"no patent documents found in {p} (empty folder)")
                else:
                    problems.append(
                        f"no patent documents found in {p} ({n_files} files, none a .zip, .pdf or USPTO XML)"
                    )
            elif _is_doc_file(p) or p.name.lower().endswith(BUNDLE_SUFFIXES):
                _add(paths, problems, p)
            elif p.suffix.lower() == ".xml" and find_ice_xml(p.parent) is not None:
                paths.add(p.parent.resolve())
            elif not glob.has_magic(expanded):
                problems.append(f"not a patent document (expected .zip, .pdf or a USPTO folder): {p}")
    return sorted(paths, key=lambda d: d.source if isinstance(d, Member) else str(d)), problems


def _add(paths: set[Path | Member], problems: list[str], p: Path) -> None:
    """A document, or the members of a bundle (and its problems)."""
    if not is_bundle(p) and not p.name.lower().endswith(BUNDLE_SUFFIXES):
        paths.add(p.resolve())
        return
    members, bad = list_bundle(p)
    paths.update(members)
    problems.extend(bad)
