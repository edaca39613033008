"""What every document reader returns, and the one entry point that picks the reader.

A :class:`Document` is a parsed :class:`~core.types.Patent` plus access to its drawing sheets as images.
Images are decoded only when asked for, one sheet at a time, and never beyond a pixel budget: a sheet whose
header promises more pixels than allowed is refused before any pixel is decoded (decompression bombs).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from PIL import Image

from core.errors import ReadError
from core.types import Patent, SheetSource

PDF_DPI = 200  # PDF pages are rendered at this resolution


class SheetImages(Protocol):
    """Where a document's sheet images come from (a ZIP, a folder, a PDF)."""

    def image(self, sheet: SheetSource, max_pixels: int) -> Image.Image: ...

    def close(self) -> None: ...


@dataclass
class Document:
    """A parsed patent and its drawing sheets. Use as a context manager or call :meth:`close`."""

    patent: Patent
    images: SheetImages = field(repr=False)

    def sheet_image(self, sheet: SheetSource, max_pixels: int) -> Image.Image:
        """The sheet as a grayscale ('L') image at full resolution (PDF pages at 200 dpi).

        Raises ReadError for an unreadable image or one with more than ``max_pixels`` pixels.
        """
        return self.images.image(sheet, max_pixels)

    def close(self) -> None:
        """Release the open file behind the document."""
        self.images.close()

    def __enter__(self) -> Document:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def decode_image(data: bytes, name: str, max_pixels: int) -> Image.Image:
    """Decode image bytes (TIFF, PNG, JPEG...) to an 'L' image, refusing oversized images before decoding."""
    try:
        with warnings.catch_warnings():
            # Our own limit below is the authority; PIL's global limit only raises past 2x its default.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # PIL's notes on broken files: the error says enough
            img = Image.open(io.BytesIO(data))  # reads the header only
            width, height = img.size
            if width * height > max_pixels:
                raise ReadError(
                    f"image too large in {name}: {width}x{height} = {width * height} pixels "
                    f"> limit {max_pixels} (possible decompression bomb)"
                )
            img.load()
    except Image.DecompressionBombError as e:
        raise ReadError(f"image too large in {name}: {e}") from e
    except ReadError:
        raise
    except Exception as e:  # PIL raises many types for broken files (OSError, SyntaxError, ValueError...)
        raise ReadError(f"unreadable image {name}: {e}") from e
    return img if img.mode == "L" else img.convert("L")


def read_document(path: Path) -> Document:
    """Read a patent document: a USPTO ZIP or unpacked folder, or a publication PDF.

    Raises ReadError when the path is none of these or cannot be read.
    """
    path = Path(path)
    if not path.exists():
        raise ReadError(f"no such file: {path}")
    if path.is_dir():
        from ingest.uspto import find_ice_xml, read_uspto

        if find_ice_xml(path) is None:
            raise ReadError(f"not a patent document: no USPTO ICE XML in folder {path}")
        return read_uspto(path)
    suffix = path.suffix.lower()
    if suffix == ".zip":
        from ingest.uspto import read_uspto

        return read_uspto(path)
    if suffix == ".pdf":
        from ingest.pdf import read_pdf

        return read_pdf(path)
    raise ReadError(f"not a patent document: {path.name} is not a .zip, .pdf or USPTO folder")
