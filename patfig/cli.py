"""The program entry point: the `patfig` command (also `python -m patfig`), wired to the real index and models."""

from __future__ import annotations

import logging

from core.settings import Settings
from models.factory import describe_models, pull_visual_weights
from patfig.wiring import build_models, build_services
from runtime.services import Services
from ui.cli import build_app
from ui.cli_common import Wiring


def open_services(settings: Settings, create: bool) -> Services:
    """The index named by the settings with its models (built lazily); `create` makes a new index."""
    return build_services(settings, create=create)


WIRING = Wiring(open_services=open_services, describe_models=describe_models, parts_factory=build_models,
                pull_models=pull_visual_weights)


def main() -> None:
    """Run the `patfig` command line."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    build_app(WIRING)()
