"""`patfig serve --auth` for a team, against the real app over HTTP (issue 19 §1).

The real command in a subprocess on a free loopback port, over a tiny real index (one USPTO document ingested by
`patfig ingest` without OCR, weight-free `lbp` visual encoder, the real text encoder), with a users file of
argon2 hashes, a 1 MB upload limit and 3 chat turns per user per minute. Queried as a browser would: Gradio's
`/login` route and upload route with plain HTTP, the chat through gradio_client signed in as each user.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from PIL import Image, ImageDraw

from tests.browser_util import free_port
from tests.conftest import REPO, sample
from ui.users import add_user

pytestmark = pytest.mark.slow  # ingest and server start load the text model: about a minute on 2 busy cores

DOC = "uspto/US12448895-20251021.ZIP"
PATENT = "US12448895"
USERS = {"alice": "correct horse", "bob": "battery staple", "carol": "carol's secret", "dave": "dave's secret"}
RATE = 3
ENV = {"PATFIG_VISUAL_ENCODER": "linedraw", "PATFIG_LINEDRAW": "lbp", "HF_HUB_OFFLINE": "1",
       "TRANSFORMERS_OFFLINE": "1", "PATFIG_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
       "PYTHONPATH": str(REPO)}


def patfig(*args: str) -> list[str]:
    return [sys.executable, "-m", "patfig", *args]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The URL of `patfig serve --auth users.txt --max-upload-mb 1 --rate-limit 3` over a one-patent index."""
    root = tmp_path_factory.mktemp("team")
    env = os.environ | ENV
    run = subprocess.run(patfig("ingest", str(sample(DOC)), "--index", str(root / "idx"), "--no-ocr", "--workers",
                                "1"), cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    for name, password in USERS.items():
        add_user(root / "users.txt", name, password)
    port = free_port()
    proc = subprocess.Popen(patfig("serve", "--index", str(root / "idx"), "--port", str(port), "--offline",
                                   "--auth", str(root / "users.txt"), "--max-upload-mb", "1",
                                   "--rate-limit", str(RATE)),
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 180
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            try:
                if requests.get(url, timeout=5).status_code == 200:  # the sign-in page
                    break
            except requests.ConnectionError:
                pass
            assert time.time() < deadline, "the app did not answer within 180 s"
            time.sleep(1)
        yield url
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]


def signed_in(url: str, name: str):
    from gradio_client import Client

    return Client(url, auth=(name, USERS[name]), verbose=False)


def search(client, text: str = "a device") -> tuple[str, list[str]]:
    """One chat turn: the last chat message and the gallery's captions."""
    chat, _box, _query_msg, gallery, *_ = client.predict(text, 0.5, 10, api_name="/send")
    last = chat[-1]["content"]
    text = " ".join(part.get("text", "") for part in last) if isinstance(last, list) else str(last)
    captions = [tile["caption"] for tile in gallery["value"]] if isinstance(gallery, dict) and "value" in gallery \
        else []
    return text, captions


def test_wrong_password_or_unknown_user_is_refused(server):
    for name, password in [("alice", "wrong horse"), ("mallory", "correct horse"), ("alice", "correct horse ")]:
        r = requests.post(server + "login", data={"username": name, "password": password}, timeout=30)
        assert r.status_code == 400 and r.json() == {"detail": "Incorrect credentials."}
        assert not r.cookies
    r = requests.post(server + "login", data={"username": "alice", "password": ""}, timeout=30)
    assert r.status_code == 422 and not r.cookies  # the form itself is refused
    r = requests.get(server + "config", timeout=30)
    assert r.status_code == 401, "the app's API needs a sign-in"
    assert "patfig users add" in r.json()["detail"]["auth_message"]
    with pytest.raises(ValueError, match="Could not login"):
        from gradio_client import Client

        Client(server, auth=("alice", "wrong horse"), verbose=False)


def test_a_signed_in_user_gets_results(server):
    r = requests.post(server + "login", data={"username": "alice", "password": USERS["alice"]}, timeout=30)
    assert r.status_code == 200 and r.json() == {"success": True}
    text, captions = search(signed_in(server, "alice"))
    assert captions and all(c.split()[1] == PATENT for c in captions), captions
    assert "Please wait" not in text


def test_an_upload_over_the_limit_is_refused_and_the_server_keeps_serving(server):
    http = requests.Session()
    assert http.post(server + "login", data={"username": "bob", "password": USERS["bob"]}, timeout=30).ok
    big = io.BytesIO()
    Image.effect_noise((1400, 1400), 128).convert("RGB").save(big, "PNG")  # noise does not compress: > 1 MB
    assert big.tell() > 1024 * 1024
    r = http.post(server + "gradio_api/upload", files={"files": ("big.png", big.getvalue(), "image/png")}, timeout=60)
    assert r.status_code == 413 and r.text == "File size exceeded maximum allowed size of 1048576 bytes."
    small = io.BytesIO()
    img = Image.new("L", (400, 300), 255)
    ImageDraw.Draw(img).ellipse((50, 50, 250, 250), outline=0, width=4)
    img.save(small, "PNG")
    r = http.post(server + "gradio_api/upload", files={"files": ("wheel.png", small.getvalue(), "image/png")},
                  timeout=60)
    assert r.status_code == 200 and r.json()[0].endswith("wheel.png")
    assert requests.post(server + "gradio_api/upload", files={"files": ("w.png", small.getvalue(), "image/png")},
                         timeout=60).status_code == 401, "no upload without a sign-in"
    _, captions = search(signed_in(server, "bob"))
    assert captions, "the server still answers after the refused upload"


def test_a_user_past_the_rate_limit_is_told_to_wait_while_another_is_served(server):
    carol, dave = signed_in(server, "carol"), signed_in(server, "dave")
    for _ in range(RATE):
        text, captions = search(carol)
        assert captions and "Please wait" not in text
    start = time.monotonic()
    text, captions = search(carol, "gear")
    assert text.startswith(f"⚠ You have sent {RATE} requests in the last minute, the most this server takes from "
                           "one user. Please wait "), text
    assert "seconds and ask again; your session is kept." in text
    text, captions = search(dave)
    assert captions and "Please wait" not in text, "another user is not slowed"
    assert time.monotonic() - start < 30
