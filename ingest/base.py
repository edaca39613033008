"""What every document reader returns (the reader that picks one is :func:`ingest.read.read_document`).

A :class:`Document` is a parsed :class:`~core.types.Patent` plus access to its drawing sheets as images.
Images are decoded only when asked for, one sheet at a time, and never beyond a pixel budget: a sheet whose
header promises more pixels than allowed is refused before any pixel is decoded (decompression bombs).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
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

