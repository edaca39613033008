"""The one entry point that reads a patent document, whatever its form: it picks the reader."""

from __future__ import annotations

from pathlib import Path

from core.errors import ReadError
from ingest.base import Document
from ingest.pdf.reader import read_pdf
from ingest.uspto import find_ice_xml, read_uspto


def read_document(path: Path) -> Document:
    """Read a patent document: a USPTO ZIP or unpacked folder, or a publication PDF.

    Raises ReadError when the path is none of these or cannot be read.
    """
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
