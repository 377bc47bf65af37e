"""The playground page in headless Chromium: its script asks the server and shows the answer."""
from __future__ import annotations

import re
import shutil
import struct
import subprocess

import pytest

from querytune.serve.app import local_app
from tests.serve.conftest import tiny_serve_config, uvicorn_thread

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def url(registry):
    with uvicorn_thread(local_app(tiny_serve_config(registry))) as base:
        yield base


def chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]  # lets the demo fetch finish
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120, check=True)


def test_demo_request_fills_in_answer_validity_and_latency(url, tmp_path):
    dom = chromium(tmp_path, "--dump-dom", f"{url}/?demo=1&task=sourcegraph").stdout
    assert '<body data-done="1">' in dom  # the script ran the request and rendered it
    validity = re.search(r'id="validity"[^>]*>([^<]*)<', dom).group(1)
    assert validity in ("valid", "not valid")
    assert re.search(r'id="latency"[^>]*>[\d.]+ ms server', dom)
    assert re.search(r'id="answer"[^>]*>[^<]+<', dom)
    assert "model sg-tiny" in dom


def test_screenshot_of_a_qmd_answer(url, tmp_path):
    png = tmp_path / "playground.png"
    chromium(tmp_path, f"--screenshot={png}", "--window-size=1200,900", f"{url}/?demo=1&task=qmd&q=auth%20config")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1200, 900)
    assert len(data) > 20_000  # a rendered page, not a blank one (blank is ~5 KB)
