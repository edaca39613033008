"""The Ollama probe, against a real HTTP server on loopback that answers as Ollama's /api/tags does."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent.backends import probe_ollama


class _Tags(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        body = json.dumps({"models": [{"name": "qwen2.5:7b", "model": "qwen2.5:7b", "size": 1}]}).encode()
        self.send_response(200 if self.path == "/api/tags" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_ollama():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Tags)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_probe_finds_the_model(fake_ollama):
    p = probe_ollama(fake_ollama, "qwen2.5:7b")
    assert p.reachable and p.has_model and p.models == ["qwen2.5:7b"] and p.reason == ""


def test_probe_says_which_model_to_pull(fake_ollama):
    p = probe_ollama(fake_ollama, "llama3.1")
    assert p.reachable and not p.has_model
    assert "does not have llama3.1 (run `ollama pull llama3.1`)" in p.reason


def test_probe_without_a_server():
    with ThreadingHTTPServer(("127.0.0.1", 0), _Tags) as s:
        port = s.server_address[1]  # a port that was free, now closed again
    p = probe_ollama(f"http://127.0.0.1:{port}", "qwen2.5:7b")
    assert not p.reachable and p.reason.startswith(f"no Ollama server answers at http://127.0.0.1:{port}")
