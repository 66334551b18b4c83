"""Driving ``fegan demo`` in headless Chromium (Debian's ``chromium``) with Playwright.

Used by tests/test_demo.py, and on its own for the README's screenshot of a running demo:

    fegan demo &                      # in the repository, after `dvc repro`
    python tests/browser.py --url http://127.0.0.1:7860 --voice data/raw/synthetic/Actor_03/01-01-03-01-01-02-03.mp4 \\
        --n 4 --seed 0 --screenshot docs/demo.png

Playwright never downloads a browser here: it is pointed at the system's Chromium
(``FEGAN_CHROMIUM``, else ``chromium`` or ``chromium-browser`` on PATH).
"""
from __future__ import annotations

import argparse
import base64
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

FAKE_MIC = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


def chromium() -> str | None:
    return os.environ.get("FEGAN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class DemoServer:
    url: str      # http://127.0.0.1:PORT
    pid: int      # the server's own process (uvicorn runs in it)
    log: IO[str]  # its stdout and stderr (a file: a pipe nobody reads would block the server)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()


@contextmanager
def demo_server(workspace: Path, port: int, timeout: float = 60.0, env: dict | None = None):
    """``fegan demo --port PORT`` running in ``workspace`` (with ``env`` added to the
    environment); yields a ``DemoServer``; stops it after."""
    exe = Path(sys.executable).parent / "fegan"
    log = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen([str(exe), "demo", "--port", str(port)], cwd=workspace, stdout=log,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    server = DemoServer(url, proc.pid, log)
    try:
        deadline = time.time() + timeout
        while True:
            try:
                urllib.request.urlopen(url + "/", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"fegan demo did not start: {server.output()}") from None
                time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextmanager
def browser(fake_audio: Path | None = None):
    """A headless Chromium page; with ``fake_audio`` (a wav) the microphone plays that file."""
    from playwright.sync_api import sync_playwright

    exe = chromium()
    if exe is None:
        raise FileNotFoundError("Chromium not found (apt-get install chromium, or set FEGAN_CHROMIUM)")
    args = ["--no-sandbox"]
    if fake_audio is not None:
        args += FAKE_MIC + [f"--use-file-for-fake-audio-capture={fake_audio}"]
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=args)
        try:
            page = b.new_page(viewport={"width": 900, "height": 760})
            page.requests = []          # every URL the page asked for: nothing may leave the machine
            page.on("request", lambda r: page.requests.append(r.url))
            yield page
        finally:
            b.close()


def wait_for_answer(page, timeout_ms: int = 120_000) -> str:
    """Wait until the page shows faces or an error; returns "result" or "error"."""
    page.wait_for_function(
        "document.getElementById('result').style.display === 'block' || "
        "document.getElementById('error').style.display === 'block'", timeout=timeout_ms)
    return "error" if page.is_visible("#error") else "result"


def upload(page, url: str, voice: Path, n: int = 1, seed: int = 0) -> str:
    page.goto(url + "/")
    page.fill("#n", str(n))
    page.fill("#seed", str(seed))
    page.set_input_files("#file", str(voice))
    page.click("#upload")
    return wait_for_answer(page)


def record(page, url: str, seconds: float, n: int = 1, seed: int = 0) -> str:
    """Record ``seconds`` from the (fake) microphone with the page's button, then wait."""
    page.goto(url + "/")
    page.fill("#n", str(n))
    page.fill("#seed", str(seed))
    page.click("#record")
    page.wait_for_function("document.getElementById('record').textContent === 'Stop'")
    page.wait_for_timeout(int(seconds * 1000))
    page.click("#record")
    return wait_for_answer(page)


def image_pixels(page, selector: str) -> np.ndarray:
    """The image the page shows at ``selector``, as decoded by the browser: (H, W, 3) uint8."""
    from PIL import Image

    src = page.get_attribute(selector, "src")
    assert src and src.startswith("data:image/png;base64,"), src
    natural = page.eval_on_selector(selector, "img => [img.naturalWidth, img.naturalHeight]")
    rgb = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"))
    assert list(rgb.shape[1::-1]) == natural
    return rgb


def main() -> None:
    ap = argparse.ArgumentParser(description="a screenshot of a running `fegan demo` after an upload")
    ap.add_argument("--url", default="http://127.0.0.1:7860")
    ap.add_argument("--voice", required=True, type=Path)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--screenshot", type=Path, default=Path("docs/demo.png"))
    a = ap.parse_args()
    with browser() as page:
        print(upload(page, a.url, a.voice, a.n, a.seed))
        page.screenshot(path=str(a.screenshot), full_page=True)
        outside = [u for u in page.requests if not u.startswith(a.url) and not u.startswith("data:")]
        print(f"wrote {a.screenshot}; requests outside {a.url}: {outside or 'none'}")


if __name__ == "__main__":
    main()
