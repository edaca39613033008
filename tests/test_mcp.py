"""patfig as an MCP server, used through the official `mcp` client as a real client uses it.

Fast tier: the server over the fast index, reached in-process through the SDK's JSON-RPC memory transport
(`Client(server, mode="legacy")`: the same messages as over a pipe). Every tool is listed and called, and
its results are checked against the same search through the plain tool functions; bad input of every kind
comes back as an error result that names the problem and leaks no file and no stack trace.

Slow tier: `python -m patfig mcp --index ...` spawned over stdio (`mcp.client.stdio`) on the real sample index
(real OCR, real encoders), each tool checked against `python -m patfig search ... --json`; and `patfig serve
--mcp` on free loopback ports, reached with the streamable HTTP client, with and without its bearer token.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, ClientSession, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, ImageContent, TextContent
from PIL import Image

from ingest.segment import figure_crop
from tools import explain, refsigns, search
from ui.mcp_server import build_server

REPO = Path(__file__).resolve().parents[1]
TOOLS = {"search_text", "search_image", "more_like_figure", "find_component", "reference_sign", "explain_hit",
         "figure_image"}
TEXT_QUERY = "aircraft engine with propeller"


def run(fn, *args: Any) -> Any:
    return anyio.run(fn, *args)


async def _calls(server: Any, calls: list[tuple[str, dict[str, Any]]]) -> list[CallToolResult]:
    async with Client(server, mode="legacy") as client:
        return [await client.call_tool(name, args) for name, args in calls]


def call(server: Any, name: str, args: dict[str, Any]) -> CallToolResult:
    """One tool call through a fresh client session over JSON-RPC."""
    return run(_calls, server, [(name, args)])[0]


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def error_of(result: CallToolResult) -> str:
    assert result.is_error, f"expected an error, got {text_of(result)[:300]}"
    msg = text_of(result)
    assert "Traceback" not in msg and 'File "' not in msg, msg
    return msg


def same_hits(got: list[dict[str, Any]], hits: list[Any], image_name: str | None = None) -> None:
    """The MCP hits are the plain function's hits: ids, ranks, scores and breakdowns, with image references.
    `image_name`: what the breakdown calls a query image the plain function was given by another name."""
    assert [h["figure_id"] for h in got] == [h.figure_id for h in hits]
    assert [h["rank"] for h in got] == [h.rank for h in hits]
    assert [h["score"] for h in got] == pytest.approx([h.score for h in hits], abs=1e-4)
    for g, h in zip(got, hits, strict=True):
        expect = h.breakdown.model_dump(mode="json")
        if image_name is not None:
            expect["query"]["image"] = image_name
        assert g["breakdown"] == expect
        assert g["image_uri"] == f"patfig://figure/{h.figure_id}"
        assert g["image_path"] == h.image_path and Path(g["image_path"]).is_file()


@pytest.fixture(scope="module")
def server(fake_index):
    return build_server(fake_index, allowed_dirs=[])


@pytest.fixture(scope="module")
def sheet_png(fake_index, tmp_path_factory) -> Path:
    """A stored drawing sheet of the fast index, copied into a folder of its own."""
    sheet = next(s for s in fake_index.store.sheets() if s.box is None)
    out = tmp_path_factory.mktemp("drawings") / "query.png"
    out.write_bytes(fake_index.store.image_path(sheet).read_bytes())
    return out


# ---------------------------------------------------------------- the tools and their schemas


def test_tools_are_listed_with_typed_schemas_and_descriptions(server):
    async def listing():
        async with Client(server, mode="legacy") as client:
            return (await client.list_tools()).tools, (await client.list_resource_templates()).resource_templates

    tools, templates = run(listing)
    by_name = {t.name: t for t in tools}
    assert set(by_name) == TOOLS
    for t in tools:
        assert t.description and len(t.description) > 60, t.name
        assert t.input_schema["type"] == "object" and t.input_schema["properties"], t.name
        for prop, schema in t.input_schema["properties"].items():
            assert "description" in schema or "$ref" in schema or "anyOf" in schema, (t.name, prop)
        assert t.annotations is not None and t.annotations.read_only_hint
    assert by_name["search_text"].input_schema["required"] == ["query"]
    assert by_name["search_text"].input_schema["properties"]["k"]["maximum"] == 100
    assert set(by_name["reference_sign"].input_schema["required"]) == {"patent_id", "sign"}
    for name in ("search_text", "search_image", "more_like_figure", "find_component"):
        out = by_name[name].output_schema
        assert out is not None and {"result_set", "hits", "count"} <= set(out["properties"]), name
    assert [t.uri_template for t in templates] == ["patfig://figure/{figure_id}"]


def test_search_text_is_the_plain_search(server, fake_index):
    got = structured(call(server, "search_text", {"query": TEXT_QUERY, "k": 7}))
    hits = search.search_text(fake_index, TEXT_QUERY, k=7)
    assert got["count"] == len(hits) == 7
    same_hits(got["hits"], hits)
    assert got["result_set"].startswith("r")


def test_search_text_with_filters_is_the_plain_filtered_search(server, fake_index):
    from tools.filtering import make_filters

    got = structured(call(server, "search_text", {"query": TEXT_QUERY, "k": 5, "filters": {"offices": ["EP"]}}))
    hits = search.search_text(fake_index, TEXT_QUERY, k=5, filters=make_filters(fake_index, offices=["EP"]))
    assert hits and all(h.office == "EP" for h in hits)
    same_hits(got["hits"], hits)


def test_search_image_by_base64_and_by_allowed_path_is_the_plain_image_search(fake_index, sheet_png):
    server = build_server(fake_index, allowed_dirs=[sheet_png.parent])
    b64 = base64.b64encode(sheet_png.read_bytes()).decode()
    crop = [100.0, 100.0, 900.0, 900.0]
    by_data = structured(call(server, "search_image", {"image_base64": b64, "k": 5}))
    by_path = structured(call(server, "search_image", {"image_path": str(sheet_png), "k": 5}))
    plain = search.search_image(fake_index, str(sheet_png), k=5)
    same_hits(by_data["hits"], plain, image_name="uploaded image")
    same_hits(by_path["hits"], plain)
    assert by_path["query"]["image"] == str(sheet_png)

    cropped = structured(call(server, "search_image", {"image_base64": "data:image/png;base64," + b64, "crop": crop,
                                                       "text": "propeller", "k": 5}))
    plain = search.search_image(fake_index, str(sheet_png), crop=(100, 100, 900, 900), text="propeller",
                                text_weight=0.5, k=5)
    same_hits(cropped["hits"], plain, image_name="uploaded image")
    assert cropped["query"]["mode"] == "image+text"


def test_more_like_figure_is_the_plain_more_like(server, fake_index):
    fid = search.search_text(fake_index, TEXT_QUERY, k=1)[0].figure_id
    got = structured(call(server, "more_like_figure", {"figure_id": fid, "k": 6}))
    same_hits(got["hits"], search.more_like(fake_index, fid, k=6))
    assert fid not in [h["figure_id"] for h in got["hits"]]


def test_reference_sign_and_find_component_are_the_plain_lookups(server, fake_index):
    patent = next(p for p in (fake_index.store.patent(i) for i in sorted(fake_index.store.complete_ids()))
                  if p is not None and p.refsigns)
    numeral = next(iter(patent.refsigns))
    got = structured(call(server, "reference_sign", {"patent_id": patent.patent_id, "sign": numeral}))
    plain = refsigns.lookup_refsign(fake_index, patent.patent_id, numeral)
    assert (got["numeral"], got["labels"], got["sentences"]) == (plain.numeral, plain.labels, plain.sentences)
    assert [f["figure_id"] for f in got["figures"]] == [s.figure_id for s in plain.sheets]
    assert got["summary"] == plain.summary()

    label = plain.labels[0]
    comp = structured(call(server, "find_component", {"name": label, "k": 5}))
    same_hits(comp["hits"], refsigns.find_component(fake_index, label, k=5))  # no OCR here: no figure has one


def test_explain_hit_is_the_plain_explanation_of_the_result_set(fake_index):
    server = build_server(fake_index, allowed_dirs=[])
    results = run(_calls, server, [("search_text", {"query": TEXT_QUERY, "k": 5})])
    set_id = structured(results[0])["result_set"]
    hits = search.search_text(fake_index, TEXT_QUERY, k=5)
    second = hits[1].figure_id
    one, by_id, pair = run(_calls, server, [
        ("explain_hit", {"result_set": set_id, "rank": 1}),
        ("explain_hit", {"result_set": set_id, "figure_id": second}),
        ("explain_hit", {"result_set": set_id, "rank": 1, "compare_with_rank": 4}),
    ])
    assert structured(one)["text"] == explain.explain_hit(fake_index, hits, 1).text
    assert structured(one)["figure_id"] == hits[0].figure_id
    assert structured(by_id)["rank"] == 2 and structured(by_id)["text"] == explain.explain_hit(fake_index, hits, 2).text
    assert structured(pair)["text"] == explain.explain_pair(fake_index, hits, 1, 4).text


def test_figure_image_and_resource_are_the_figure_cut_from_its_sheet(server, fake_index):
    sheet = next((s for s in fake_index.store.sheets() if s.box is not None), None) or fake_index.store.sheets()[0]
    result = call(server, "figure_image", {"figure_id": sheet.figure_id, "max_side": 512})
    assert not result.is_error, text_of(result)
    images = [c for c in result.content if isinstance(c, ImageContent)]
    assert len(images) == 1 and images[0].mime_type == "image/png"
    png = base64.b64decode(images[0].data)
    got = Image.open(io.BytesIO(png))
    with Image.open(fake_index.store.image_path(sheet)) as im:
        expect = figure_crop(im.convert("RGB"), sheet.box)
    expect.thumbnail((512, 512))
    assert got.size == expect.size and max(got.size) <= 512
    assert sheet.figure_id in text_of(result)

    async def read():
        async with Client(server, mode="legacy") as client:
            return await client.read_resource(f"patfig://figure/{sheet.figure_id}")

    contents = run(read).contents
    assert contents[0].mime_type == "image/png"
    assert Image.open(io.BytesIO(base64.b64decode(contents[0].blob))).size == Image.open(
        io.BytesIO(base64.b64decode(call(server, "figure_image", {"figure_id": sheet.figure_id}).content[1].data))
    ).size


# ---------------------------------------------------------------- bad input


def test_missing_and_wrong_typed_arguments_are_clear_errors(server):
    assert "query" in error_of(call(server, "search_text", {}))
    assert "k" in error_of(call(server, "search_text", {"query": "gear", "k": "ten"}))
    assert "k" in error_of(call(server, "search_text", {"query": "gear", "k": 1000}))
    assert "crop" in error_of(call(server, "search_image", {"image_base64": "AAAA", "crop": [1, 2]}))
    assert "exactly one of image_path and image_base64" in error_of(call(server, "search_image", {}))
    assert "figure_id" in error_of(call(server, "figure_image", {"figure_id": 17}))
    assert "Unknown tool" in error_of(call(server, "delete_index", {}))
    assert "office" in error_of(call(server, "search_text", {"query": "gear", "filters": {"offices": ["XX"]}}))


def test_unknown_ids_are_clear_errors(server, fake_index):
    assert "no figure 'US0-S9'" in error_of(call(server, "figure_image", {"figure_id": "US0-S9"}))
    assert "no figure 'US0-S9'" in error_of(call(server, "more_like_figure", {"figure_id": "US0-S9"}))
    assert "no patent 'US0'" in error_of(call(server, "reference_sign", {"patent_id": "US0", "sign": "104"}))
    assert "no result set 'r999'" in error_of(call(server, "explain_hit", {"result_set": "r999", "rank": 1}))

    async def read() -> str:
        async with Client(server, mode="legacy") as client:
            try:
                await client.read_resource("patfig://figure/US0-S9")
            except MCPError as e:
                return str(e)
        return "no error"

    assert "no figure 'US0-S9'" in run(read)


def test_image_paths_outside_the_allowed_folders_are_refused_without_reading_them(fake_index, sheet_png, tmp_path):
    secret = tmp_path / "secret" / "notes.png"
    secret.parent.mkdir()
    secret.write_text("TOP-SECRET-CONTENT")
    none_allowed = build_server(fake_index, allowed_dirs=[])
    msg = error_of(call(none_allowed, "search_image", {"image_path": str(sheet_png)}))
    assert "no folder is allowed" in msg and "--allow-dir" in msg and "image_base64" in msg

    server = build_server(fake_index, allowed_dirs=[sheet_png.parent])
    for outside in ("/etc/passwd", str(secret), str(sheet_png.parent / ".." / "secret" / "notes.png")):
        msg = error_of(call(server, "search_image", {"image_path": outside}))
        assert "outside the folders this server may read" in msg and "root:" not in msg and "TOP-SECRET" not in msg
    link = sheet_png.parent / "link.png"  # a link inside an allowed folder to a file outside it
    link.symlink_to(secret)
    assert "outside the folders" in error_of(call(server, "search_image", {"image_path": str(link)}))


def test_unreadable_images_are_clear_errors_that_leak_nothing(fake_index, sheet_png):
    fake = sheet_png.parent / "fake.png"
    fake.write_text("TOP-SECRET-CONTENT, not a picture")
    server = build_server(fake_index, allowed_dirs=[sheet_png.parent])
    msg = error_of(call(server, "search_image", {"image_path": str(fake)}))
    assert "not a readable image" in msg and "TOP-SECRET" not in msg
    msg = error_of(call(server, "search_image", {"image_base64": base64.b64encode(fake.read_bytes()).decode()}))
    assert "not a readable image" in msg and "TOP-SECRET" not in msg
    assert "not valid base64" in error_of(call(server, "search_image", {"image_base64": "%%% not base64 %%%"}))
    assert "no image file" in error_of(call(server, "search_image", {"image_path": str(sheet_png.parent / "no.png")}))
    assert "crop box" in error_of(call(server, "search_image", {"image_path": str(sheet_png),
                                                                "crop": [0, 0, 99999, 99999]}))


def test_streamable_http_serves_the_tools_to_clients_with_the_token(fake_index):
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    from core.errors import ToolError
    from ui.mcp_server import start_http

    with pytest.raises(ToolError, match="PATFIG_MCP__TOKEN"):  # off loopback, never without a token
        start_http(fake_index, "0.0.0.0", 0, [], token="")
    handle = start_http(fake_index, "127.0.0.1", 0, [], token="s3cret")
    try:
        assert httpx2.post(handle.url, json={}, timeout=10).status_code == 401
        bad = {"Authorization": "Bearer wrong"}
        assert httpx2.post(handle.url, json={}, headers=bad, timeout=10).status_code == 401

        async def over_http() -> tuple[set[str], dict[str, Any]]:
            async with httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret"}, timeout=60) as http, \
                    streamable_http_client(handle.url, http_client=http) as (read, write), \
                    ClientSession(read, write) as session:
                await session.initialize()
                names = {t.name for t in (await session.list_tools()).tools}
                return names, structured(await session.call_tool("search_text", {"query": TEXT_QUERY, "k": 4}))

        names, got = run(over_http)
    finally:
        handle.stop()
    assert names == TOOLS
    same_hits(got["hits"], search.search_text(fake_index, TEXT_QUERY, k=4))
    assert not handle.thread.is_alive()


# ---------------------------------------------------------------- real clients on the real command (slow)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    return os.environ | {"PATFIG_VISUAL_ENCODER": "linedraw", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                         "PATFIG_OFFLINE": "1", "PYTHONPATH": str(REPO), **extra}


def cli_json(index: Path, *args: str) -> Any:
    """`python -m patfig search ... --json` as a user runs it."""
    done = subprocess.run([sys.executable, "-m", "patfig", "search", *args, "--index", str(index), "--json"],
                          cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def same_as_cli(got: dict[str, Any], cli: list[dict[str, Any]]) -> None:
    assert [h["figure_id"] for h in got["hits"]] == [h["figure_id"] for h in cli]
    assert [h["score"] for h in got["hits"]] == pytest.approx([h["score"] for h in cli], abs=1e-4)
    assert [h["breakdown"] for h in got["hits"]] == [h["breakdown"] for h in cli]


@pytest.mark.slow  # the child loads the real text encoder over the OCR'd index: about a minute on 2 busy cores
def test_patfig_mcp_over_stdio_answers_as_the_cli_does(sample_index_dir, sample_index, tmp_path):
    drawings = tmp_path / "drawings"
    drawings.mkdir()
    boxed = next(s for s in sample_index.store.sheets() if s.box is not None)  # one FIG of a sheet with several
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "patfig", "mcp", "--index", str(sample_index_dir),
                                      "--allow-dir", str(drawings)],
        env=child_env(), cwd=str(REPO))

    async def session_calls() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            out["tools"] = {t.name for t in (await session.list_tools()).tools}
            text = structured(await session.call_tool("search_text", {"query": "hydrogen tank", "k": 5}))
            out["text"] = text
            top = text["hits"][0]
            out["component"] = structured(await session.call_tool("find_component", {"name": "hydrogen tank",
                                                                                     "k": 5}))
            out["sign"] = structured(await session.call_tool("reference_sign", {"patent_id": "US12448135",
                                                                                "sign": "107"}))
            out["like"] = structured(await session.call_tool("more_like_figure", {"figure_id": top["figure_id"],
                                                                                  "k": 5}))
            out["explain"] = structured(await session.call_tool("explain_hit", {"result_set": text["result_set"],
                                                                                "rank": 1}))
            image = await session.call_tool("figure_image", {"figure_id": top["figure_id"]})
            assert not image.is_error, text_of(image)
            png = base64.b64decode(next(c for c in image.content if isinstance(c, ImageContent)).data)
            (drawings / "query.png").write_bytes(png)
            out["image"] = structured(await session.call_tool("search_image", {
                "image_path": str(drawings / "query.png"), "k": 5}))
            out["boxed"] = await session.call_tool("figure_image", {"figure_id": boxed.figure_id, "max_side": 4000})
            out["outside"] = await session.call_tool("search_image", {"image_path": str(sample_index_dir / "x.png")})
            out["missing"] = await session.call_tool("search_text", {"k": 5})
        return out

    got = run(session_calls)
    assert got["tools"] == TOOLS
    same_as_cli(got["text"], cli_json(sample_index_dir, "text", "hydrogen tank", "--k", "5"))
    same_as_cli(got["component"], cli_json(sample_index_dir, "component", "hydrogen tank", "--k", "5"))
    assert got["component"]["hits"], "the OCR'd index links the hydrogen tank to figures"
    top = got["text"]["hits"][0]["figure_id"]
    same_hits(got["like"]["hits"], search.more_like(sample_index, top, k=5))
    query_png = str(drawings / "query.png")
    same_hits(got["image"]["hits"], search.search_image(sample_index, query_png, k=5))
    assert got["image"]["hits"][0]["figure_id"] == top  # the figure's own picture finds it first
    sign = refsigns.lookup_refsign(sample_index, "US12448135", "107")
    assert (got["sign"]["numeral"], got["sign"]["labels"]) == (sign.numeral, sign.labels)
    assert [f["figure_id"] for f in got["sign"]["figures"]] == [s.figure_id for s in sign.sheets]
    assert got["sign"]["figures"], "OCR found sign 107 on a sheet"
    text_hits = search.search_text(sample_index, "hydrogen tank", k=5)
    assert got["explain"]["text"] == explain.explain_hit(sample_index, text_hits, 1).text
    assert "outside the folders" in error_of(got["outside"])
    assert "query" in error_of(got["missing"])
    png = base64.b64decode(next(c for c in got["boxed"].content if isinstance(c, ImageContent)).data)
    with Image.open(sample_index.store.image_path(boxed)) as sheet:
        cut = figure_crop(sheet.convert("RGB"), boxed.box)
        assert Image.open(io.BytesIO(png)).size == cut.size and cut.size != sheet.size  # the FIG, not its sheet


def wait_for_mcp(url: str, proc: subprocess.Popen, headers: dict[str, str], timeout: float = 240) -> None:
    import httpx2

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"patfig serve exited: {proc.stderr.read().decode()[-3000:] if proc.stderr else ''}")
        try:
            httpx2.get(url, headers=headers, timeout=2)
            return
        except httpx2.TransportError:
            time.sleep(0.5)
    raise AssertionError(f"no MCP server at {url} after {timeout} s")


@pytest.mark.slow  # `patfig serve` imports gradio and loads the real text encoder: about 30 s
def test_patfig_serve_mcp_over_streamable_http_with_its_token(sample_index_dir):
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    port, mcp_port = free_port(), free_port()
    token = "test-token-42"
    proc = subprocess.Popen(
        [sys.executable, "-m", "patfig", "serve", "--index", str(sample_index_dir), "--port", str(port),
         "--offline", "--mcp", "--mcp-port", str(mcp_port)],
        cwd=REPO, env=child_env(PATFIG_MCP__TOKEN=token), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True)
    url = f"http://127.0.0.1:{mcp_port}/mcp"
    auth = {"Authorization": f"Bearer {token}"}
    try:
        wait_for_mcp(url, proc, auth)
        assert httpx2.post(url, json={}, timeout=10).status_code == 401  # no token: refused before MCP

        async def over_http() -> tuple[set[str], dict[str, Any]]:
            async with httpx2.AsyncClient(headers=auth, timeout=120) as http, \
                    streamable_http_client(url, http_client=http) as (read, write), \
                    ClientSession(read, write) as session:
                await session.initialize()
                names = {t.name for t in (await session.list_tools()).tools}
                return names, structured(await session.call_tool("search_text", {"query": "wind turbine nacelle",
                                                                                 "k": 5}))

        names, got = run(over_http)
        assert names == TOOLS
        same_as_cli(got, cli_json(sample_index_dir, "text", "wind turbine nacelle", "--k", "5"))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
