"""patfig as an MCP server: the figure search tools offered to any MCP client (an AI assistant, an editor).

`build_server(services)` makes an `MCPServer` (the official `mcp` SDK) whose tools call the plain tool functions
(`tools.search`, `tools.refsigns`, `tools.explain`); nothing here searches. Tools:

- ``search_text``, ``search_image``, ``more_like_figure``, ``find_component``: ranked figures with their score
  breakdowns and image references, kept as a numbered result set;
- ``reference_sign``: one sign of one patent (numeral or name) → its labels, sentences and figures;
- ``explain_hit``: why a hit of a result set scored what it did (or why it is above another);
- ``figure_image``: the PNG of a figure cut from its sheet (also the resource ``patfig://figure/<id>``).

A tool's own error (bad argument, unknown figure, unreadable image, a path outside the allowed folders) comes
back to the client as an error result with the message; any other failure as "Error executing tool <name>",
its details only in the server's log. `run_stdio` serves over stdin/stdout (`patfig mcp`); `start_http` over
streamable HTTP on a port of its own, in a background thread (`patfig serve --mcp`).
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import ipaddress
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.server.mcpserver.exceptions import ToolError as McpToolError
from mcp.types import CallToolResult, ImageContent, TextContent, ToolAnnotations
from pydantic import Field

from core.defaults import DEFAULT_MORE_LIKE_TEXT_WEIGHT, DEFAULT_TEXT_WEIGHT
from core.errors import PatfigError, ToolError
from core.filters import Filters
from runtime.services import Services
from tools import explain, refsigns, search
from tools.filtering import make_filters
from ui.mcp_results import (
    FIGURE_URI,
    Explanation,
    ResultSets,
    SearchFilters,
    SearchResult,
    SignResult,
    allowed_path,
    decoded_image,
    figure_png,
    sign_result,
)

INSTRUCTIONS = (
    "patfig searches patent drawings. Each figure has an id like 'US12448135-S1' (sheet 1) or "
    "'US12448135-S3-F2A' (FIG. 2A on sheet 3). Search with words (search_text), a drawing (search_image), an "
    "indexed figure (more_like_figure) or a component name (find_component); look up what a numeral means in a "
    "patent (reference_sign); ask why a hit ranks where it does (explain_hit); and see a figure (figure_image). "
    "Scores are calibrated relevances 0-1, the same for every query: below 0.1 a match is weak, from 0.5 strong."
)
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
MCP_PATH = "/mcp"

K = Annotated[int, Field(ge=1, le=100, description="How many figures to return (1-100).")]
MinScore = Annotated[float, Field(ge=0.0, le=1.0, description="Drop hits scoring below this calibrated relevance.")]
FigureId = Annotated[str, Field(min_length=1, max_length=200,
                                description="A figure id from a search result, e.g. 'US12448135-S1'.")]


@contextlib.contextmanager
def _tool_errors() -> Iterator[None]:
    """patfig's own errors (bad input, unknown ids, an index that cannot answer) become tool errors the client
    reads; anything else stays an unexpected error whose details the SDK keeps in the server's log."""
    try:
        yield
    except PatfigError as e:
        raise McpToolError(str(e)) from None


def _filters(services: Services, f: SearchFilters | None) -> Filters | None:
    if f is None:
        return None
    return make_filters(services, kinds=f.kinds, views=f.views, cpc=f.cpc, offices=f.offices,
                        date_from=f.published_after, date_to=f.published_before)


def build_server(services: Services, allowed_dirs: list[Path] | None = None) -> MCPServer:
    """The MCP server over these services. `allowed_dirs`: the folders whose images a client may name by path
    (default: the settings' `mcp.allowed_dirs`, none unless the user set some)."""
    allowed = list(services.settings.mcp.allowed_dirs if allowed_dirs is None else allowed_dirs)
    sets = ResultSets()
    server = MCPServer("patfig", title="patfig: patent figure search", instructions=INSTRUCTIONS,
                       log_level="WARNING")

    @server.tool(annotations=READ_ONLY)
    def search_text(
        query: Annotated[str, Field(min_length=1, max_length=2000, description=(
            "What the drawing shows, in words: 'hydrogen tank in an aircraft wing', 'gripping unit on a hoist'."))],
        k: K = 10,
        filters: SearchFilters | None = None,
        min_score: MinScore = 0.0,
    ) -> SearchResult:
        """Find patent figures matching words, through each figure's linked text (its FIG description, the
        components drawn on it and the sentences naming them) and CLIP text→image when CLIP is in use.
        Returns ranked figures with scores, score breakdowns and image references, as a result set."""
        with _tool_errors():
            hits = search.search_text(services, query, k=k, filters=_filters(services, filters), min_score=min_score)
            return sets.add(hits, {"mode": "text", "text": query})

    @server.tool(annotations=READ_ONLY)
    def search_image(
        image_path: Annotated[str | None, Field(description=(
            "Path of an image file on the server's machine; only folders the user allowed can be read.")
        )] = None,
        image_base64: Annotated[str | None, Field(description=(
            "The image itself, base64-encoded PNG or JPEG (or a data: URL). Give this or image_path."))] = None,
        crop: Annotated[list[float] | None, Field(min_length=4, max_length=4, description=(
            "Search only this region [x0, y0, x1, y1], in the image's pixels."))] = None,
        text: Annotated[str | None, Field(max_length=2000, description=(
            "Words that condition the search, e.g. 'nacelle'."))] = None,
        text_weight: Annotated[float, Field(ge=0.0, le=1.0, description=(
            "Weight of the words against the drawing, 0-1 (only with text)."))] = DEFAULT_TEXT_WEIGHT,
        k: K = 10,
        filters: SearchFilters | None = None,
        min_score: MinScore = 0.0,
    ) -> SearchResult:
        """Find patent figures that look like a drawing: a sketch, a figure from another patent, or a region
        of one (crop), optionally conditioned on words. Returns ranked figures with scores, score breakdowns
        and image references, as a result set."""
        with _tool_errors():
            if (image_path is None) == (image_base64 is None):
                raise ToolError("give exactly one of image_path and image_base64")
            if image_path is not None:
                image: Any = str(allowed_path(image_path, allowed))
                name = image_path
            else:
                image = decoded_image(image_base64 or "", services.settings.max_image_pixels)
                name = "base64 image"
            box = (crop[0], crop[1], crop[2], crop[3]) if crop else None
            has_text = bool(text and text.strip())
            hits = search.search_image(services, image, crop=box, text=text if has_text else None,
                                   text_weight=text_weight if has_text else 0.0, k=k,
                                   filters=_filters(services, filters), min_score=min_score)
            return sets.add(hits, {"mode": "image+text" if has_text else "image", "image": name, "crop": crop,
                                   "text": text or "", "text_weight": text_weight if has_text else 0.0})

    @server.tool(annotations=READ_ONLY)
    def more_like_figure(
        figure_id: FigureId,
        k: K = 10,
        text_weight: Annotated[float, Field(ge=0.0, le=1.0, description=(
            "Weight of the figure's linked text against its drawing, 0-1."))] = DEFAULT_MORE_LIKE_TEXT_WEIGHT,
        filters: SearchFilters | None = None,
        min_score: MinScore = 0.0,
    ) -> SearchResult:
        """Find figures like an indexed figure (by its drawing and its linked text), the figure itself left out.
        Returns ranked figures with scores, score breakdowns and image references, as a result set."""
        with _tool_errors():
            hits = search.more_like(services, figure_id.strip(), k=k, text_weight=text_weight,
                             filters=_filters(services, filters), min_score=min_score)
            return sets.add(hits, {"mode": "more_like", "figure_id": figure_id, "text_weight": text_weight})

    @server.tool(annotations=READ_ONLY)
    def find_component(
        name: Annotated[str, Field(min_length=1, max_length=200, description=(
            "A component name as patents call it: 'hydrogen tank', 'nacelle', 'gripping unit'."))],
        k: K = 10,
        filters: SearchFilters | None = None,
    ) -> SearchResult:
        """Which figures show a component: figures across all patents on which a reference sign with a matching
        name is drawn (found by OCR). Returns ranked figures with the matched components, as a result set."""
        with _tool_errors():
            hits = refsigns.find_component(services, name, k=k, filters=_filters(services, filters))
            return sets.add(hits, {"mode": "component", "text": name})

    @server.tool(annotations=READ_ONLY)
    def reference_sign(
        patent_id: Annotated[str, Field(min_length=1, max_length=40, description="A patent id, e.g. 'US12448135'.")],
        sign: Annotated[str, Field(min_length=1, max_length=200, description=(
            "A reference numeral ('107', '104a') or a component name ('motor')."))],
    ) -> SignResult:
        """What a reference sign is in one patent: the numeral's names, the sentences that use it, the FIGs whose
        description mentions it, and the figures (with boxes) on which it is drawn."""
        with _tool_errors():
            return sign_result(refsigns.lookup_refsign(services, patent_id, sign))

    @server.tool(annotations=READ_ONLY)
    def explain_hit(
        result_set: Annotated[str, Field(min_length=1, max_length=20, description=(
            "The result_set of a search, e.g. 'r1'."))],
        rank: Annotated[int | None, Field(ge=1, description="The hit's rank in that set. Give this or figure_id.")
                        ] = None,
        figure_id: Annotated[str | None, Field(max_length=200, description="The hit's figure id instead of rank.")
                             ] = None,
        compare_with_rank: Annotated[int | None, Field(ge=1, description=(
            "Also say why the hit is above or below the hit of this rank."))] = None,
    ) -> Explanation:
        """Why a hit scored what it did: each modality's score and rank, the fusion, the matched words and
        components, the filters. With compare_with_rank: why one of the two hits ranks above the other.
        Built only from the hit's breakdown and the patent's documents; every number is in facts."""
        with _tool_errors():
            hits = sets.get(result_set)
            if (rank is None) == (figure_id is None):
                raise ToolError("give exactly one of rank and figure_id")
            if figure_id is not None:
                found = [h for h in hits if h.figure_id == figure_id.strip()]
                if not found:
                    raise ToolError(f"{figure_id!r} is not in result set {result_set}")
                rank = found[0].rank
            assert rank is not None
            hit = explain.find_hit(hits, rank)
            if compare_with_rank is None:
                e = explain.explain_hit(services, hits, rank)
            else:
                e = explain.explain_pair(services, hits, rank, compare_with_rank)
            return Explanation(result_set=result_set, rank=rank, figure_id=hit.figure_id,
                               compared_with_rank=compare_with_rank, text=e.text, facts=e.facts)

    @server.tool(annotations=READ_ONLY)
    def figure_image(
        figure_id: FigureId,
        max_side: Annotated[int, Field(ge=64, le=4000, description="Longest side in pixels.")] = 1024,
    ) -> CallToolResult:
        """The picture of a figure, cut from its drawing sheet, as a PNG image (with a one-line caption)."""
        with _tool_errors():
            png, caption = figure_png(services, figure_id, max_side)
        return CallToolResult(content=[TextContent(type="text", text=caption),
                                       ImageContent(type="image", data=base64.b64encode(png).decode(),
                                                    mime_type="image/png")])

    @server.resource(FIGURE_URI, name="figure", mime_type="image/png",
                     description="The PNG of an indexed figure, cut from its drawing sheet.")
    def figure_resource(figure_id: str) -> bytes:
        try:
            return figure_png(services, figure_id, 1024)[0]
        except PatfigError as e:
            raise ResourceError(str(e)) from None

    return server


# ---------------------------------------------------------------- transports


def warm_up(services: Services) -> threading.Thread:
    """Build the encoders in a background thread while the server answers the client's handshake: the first
    search then waits only for what is left of that (the services build each model once, under a lock)."""

    def build() -> None:
        with contextlib.suppress(Exception):  # a model that cannot load says why when a tool needs it
            _ = services.text, services.visual

    thread = threading.Thread(target=build, name="patfig-mcp-warm-up", daemon=True)
    thread.start()
    return thread


def run_stdio(services: Services, allowed_dirs: list[Path] | None = None) -> None:
    """Serve the tools over stdin/stdout until the client closes them (the SDK keeps stray prints off stdout)."""
    server = build_server(services, allowed_dirs)
    warm_up(services)
    server.run("stdio")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class HttpServer:
    """A streamable-HTTP MCP server running in a background thread; `stop()` ends it."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


class _BearerToken:
    """ASGI middleware: every HTTP request must carry ``Authorization: Bearer <token>``."""

    def __init__(self, app: Any, token: str) -> None:
        self.app, self.token = app, token.encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, b"Bearer " + self.token):
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": b"patfig MCP: missing or wrong bearer token\n"})
                return
        await self.app(scope, receive, send)


def start_http(services: Services, host: str, port: int, allowed_dirs: list[Path] | None = None, *,
               token: str | None = None, wait: float = 30.0) -> HttpServer:
    """Serve the tools over streamable HTTP at http://host:port/mcp in a background thread (port 0: a free one).

    Off loopback a bearer token (`token`, default the settings' `mcp.token`, PATFIG_MCP__TOKEN) is required, and
    then every request must carry it; on loopback it is checked when set. Raises OSError when the port cannot be
    bound, and PatfigError when a token is needed but not set.
    """
    token = services.settings.mcp.token if token is None else token
    if not is_loopback(host) and not token:
        raise ToolError(f"MCP over HTTP on {host} would let anyone on the network search the index: set a token "
                        "with PATFIG_MCP__TOKEN (clients send 'Authorization: Bearer <token>'), or serve MCP on "
                        "127.0.0.1")
    warm_up(services)
    app: Any = build_server(services, allowed_dirs).streamable_http_app(streamable_http_path=MCP_PATH, host=host)
    if token:
        app = _BearerToken(app, token)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="patfig-mcp-http", daemon=True)
    thread.start()
    deadline = threading.Event()
    for _ in range(int(wait * 20)):
        if server.started or not thread.is_alive():
            break
        deadline.wait(0.05)
    if not server.started:
        server.should_exit = True
        raise OSError(f"the MCP server on {host}:{port} did not start")
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    return HttpServer(url=f"http://{shown}:{sock.getsockname()[1]}{MCP_PATH}", server=server, thread=thread)
