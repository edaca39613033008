"""The one entry point that reads a patent document, whatever its form: it picks the reader."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.errors import ReadError
from ingest.base import Document
from ingest.pdf.reader import read_pdf
from ingest.uspto import find_ice_xml, read_uspto


@dataclass(frozen=True)
class Blob:
    """A document held in memory, e.g. a member of a weekly bundle or a file sent to a cluster node.

    `name` is the source it is known by in the index (a path, or `bundle.tar!/member.ZIP`); `fmt` is how
    to read the bytes: "zip" (a USPTO ZIP) or "pdf".
    """

    name: str
    data: bytes
    fmt: str


def source_name(doc: Path | Blob) -> str:
    """The name a document is recorded under in the index: its absolute path, or a blob's name."""
    return doc.name if isinstance(doc, Blob) else str(Path(doc).resolve())


def blob_of(path: Path) -> Blob:
    """A file or USPTO folder as bytes (a folder becomes an in-memory ZIP of its files), named by its path."""
    path = Path(path)
    if path.is_dir():
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            for f in sorted(p for p in path.iterdir() if p.is_file()):
                zf.write(f, f.name)
        return Blob(source_name(path), buf.getvalue(), "zip")
    fmt = "pdf" if path.suffix.lower() == ".pdf" else "zip"
    return Blob(source_name(path), path.read_bytes(), fmt)


def read_document(path: Path | Blob) -> Document:
    """Read a patent document: a USPTO ZIP or unpacked folder, or a publication PDF, from disk or memory.

    Raises ReadError when the path is none of these or cannot be read.
    """
    if isinstance(path, Blob):
        if path.fmt == "pdf":
            return read_pdf(Path(path.name), path.data)
        return read_uspto(Path(path.name), path.data)
    path = Path(path)
    if not path.exists():
        raise ReadError(f"no such file: {path}")
    if path.is_dir():
        if find_ice_xml(path) is None:
            raise ReadError(f"not a patent document: no USPTO ICE XML in folder {path}")
        return read_uspto(path)
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return read_uspto(path)
    if suffix == ".pdf":
        return read_pdf(path)
    raise ReadError(f"not a patent document: {path.name} is not a .zip, .pdf or USPTO folder")
