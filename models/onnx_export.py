"""`python -m models.onnx_export`: export the configured text model and the CRAFT backbone to ONNX, once.

``scripts/setup.sh`` runs it so that the first query does not pay for the export (tens of seconds, with torch).
Graphs go to `Settings.onnx_cache` (default ~/.cache/patfig/onnx); what is there already is kept. Exits 1 if
an export failed; patfig then exports on first use or falls back to torch, saying so.
"""

from __future__ import annotations

import sys

from core.errors import ModelUnavailable
from core.settings import Settings, load_settings
from models.craft_features import craft_weights_path
from models.craft_onnx import craft_graph
from models.text import resolve_text_model
from models.text_onnx import onnx_plan, text_graph


def export_all(settings: Settings) -> list[str]:
    """Export what the settings use; one line per graph (its path, or why there is none). Raises on failure."""
    lines = []
    name, folder = resolve_text_model(settings.text.model)
    plan = onnx_plan(folder)
    if isinstance(plan, str) or settings.text.runtime == "torch":
        lines.append(f"text model {name}: sentence-transformers ({plan if isinstance(plan, str) else 'by setting'})")
    else:
        lines.append(f"text model {name}: {text_graph(folder, settings.onnx_cache, name)}")
    try:
        weights = craft_weights_path(settings.ocr.model_dir)
    except ModelUnavailable as e:
        lines.append(f"CRAFT backbone: none ({e})")
    else:
        lines.append(f"CRAFT backbone: {craft_graph(weights, settings.onnx_cache)}")
    return lines


def main() -> None:
    """Export, print what was exported, exit 1 on a failure."""
    try:
        lines = export_all(load_settings())
    except Exception as e:  # the product falls back to torch; setup goes on
        print(f"ONNX export failed: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
