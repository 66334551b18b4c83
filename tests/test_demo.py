"""`fegan demo` in a real browser, and under bad and heavy input.

The workspace holds small untrained models in the formats the stages write (as in
test_generate.py): what is tested is the page and its server, and that they give exactly what
`fegan generate` gives. The browser tests drive headless Chromium through Playwright: where
either is missing they say so and do not pass; `.ci/run` installs Chromium and sets
FEGAN_REQUIRE_BROWSER=1, so there they fail instead. The other tests need no browser: the real
server (`fegan demo`, uvicorn) on a loopback port under a bounded load of good and bad requests,
its Host allowlist, its cap on decoded seconds, its gate on concurrent drawing.
"""
from __future__ import annotations

import asyncio
import base64
import http.client
import io
import json
import os
import random
import re
import shutil
import socket
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from urllib.parse import urlsplit

import av
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from browser import browser, chromium, demo_server, free_port, image_pixels, record, upload
from click.testing import CliRunner
from factory import write_clip
from PIL import Image
from safetensors.numpy import save_file
from test_generate import PARAMS_YAML, SIZE, _save_models, _write_voice_calibration

from fegan import paths
from fegan.cli import cli
from fegan.demo.app import MAX_AUDIO_S, MAX_SEED, MAX_UPLOAD_BYTES, public
from fegan.demo.gate import Gate
from fegan.demo.hosts import allowed_hosts, host_form
from fegan.demo.upload import Form, Refused
from fegan.evaluation.judge import FaceClassifier, JudgeConfig, load_judge, probabilities, save_judge
from fegan.media import read_audio
from fegan.synth.identity import emotion_style, make_actor
from fegan.synth.voice import synthesize_voice

LONG_SILENCE_S = 150       # long.flac: the voice, then this much silence (small as FLAC, big decoded)


def _need_browser() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        msg = "Playwright not installed: the browser tests did not run (make setup installs it)"
    else:
        msg = None if chromium() else \
            "Chromium not found: the browser tests did not run (apt-get install chromium, or set FEGAN_CHROMIUM)"
    if msg is None:
        return
    if os.environ.get("FEGAN_REQUIRE_BROWSER") == "1":
        pytest.fail(msg)
    pytest.skip(msg)


def _webm_opus(path: Path, voice: np.ndarray, sr: int = 48000) -> None:
    """What Chromium's MediaRecorder sends: Opus in WebM."""
    with av.open(str(path), "w", format="webm") as out:
        s = out.add_stream("libopus", rate=sr, layout="mono")
        frame = av.AudioFrame.from_ndarray(voice.astype(np.float32)[None], format="flt", layout="mono")
        frame.sample_rate, frame.pts = sr, 0
        for packet in [*s.encode(frame), *s.encode()]:
            out.mux(packet)


SURE = 60        # the fixture's emotion judge: a random one's head times this, "angry 1.00" for any face


def _embed(workspace: Path, wave: np.ndarray, sr: int) -> torch.Tensor:
    from fegan import inference

    enc = inference.load_vnet(workspace / paths.VNET)
    return inference.embed(inference.voiced(inference.resample(wave, sr, 32000), 32000), 32000, enc, {})


def _calibrate(root: Path, voice: np.ndarray, new_voice: np.ndarray) -> None:
    """The calibrations `train_vnet` and `train_judges` write, built for the test's untrained
    models (the real fits are tested in test_calibration.py and test_judges.py): actor 2's
    centroid is speech.wav's own E_v, the others other actors' voices, and the threshold halfway
    between 1 and new.wav's nearest similarity; the emotion judge's temperature is fitted, as
    train_judges fits it, on labelled faces it reads right two times in three."""
    import hashlib

    from fegan.calibration import cosine_to_centroids, temperature_report
    from fegan.evaluation.judge import logits

    cents = {2: _embed(root, voice, 48000)}
    for actor in (1, 3, 4):
        other = synthesize_voice(make_actor(0, actor), emotion_style(3, 1)[1], 2, np.random.default_rng(actor),
                                 sample_rate=48000).audio
        cents[actor] = _embed(root, other, 48000)
    table = torch.stack([cents[a] for a in (1, 2, 3, 4)]).double().numpy()
    nearest_new = float(cosine_to_centroids(_embed(root, new_voice, 48000).double().numpy(), table).max())
    assert nearest_new < 0.999
    _write_voice_calibration(root / paths.VNET, cents, (1 + nearest_new) / 2)
    judge, _ = load_judge(root / paths.EMOTION_JUDGE)
    val = np.random.default_rng(2).integers(0, 256, (12, 3, SIZE, SIZE), dtype=np.uint8)
    z = logits(judge, val)
    labels = np.where(np.arange(12) % 3 == 2, (z.argmax(1) + 1) % 3, z.argmax(1))
    emotion = {**temperature_report(z, labels, "test faces"),
               "judge_md5": hashlib.md5((root / paths.EMOTION_JUDGE).read_bytes()).hexdigest()}
    (root / paths.JUDGES_CALIBRATION).write_text(json.dumps({"emotion": emotion}))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A repository-like folder: params.yaml, models/ with their calibrations, the faces stage's
    outputs, one voice of training actor 2 and one of a speaker never trained on."""
    root = tmp_path_factory.mktemp("demo")
    (root / "params.yaml").write_text(PARAMS_YAML)
    (root / "models").mkdir()
    _save_models(root / "models")
    torch.manual_seed(0)
    judge = FaceClassifier(3, 4).eval()
    with torch.no_grad():
        judge.head.weight.mul_(SURE)
        judge.head.bias.mul_(SURE)
    save_judge(root / paths.EMOTION_JUDGE, judge, JudgeConfig(width=4), ["happy", "sad", "angry"])
    # one real training face per actor 1..4 (a flat colour each: easy to tell apart)
    faces = np.stack([np.full((3, SIZE, SIZE), 50 * k, np.uint8) for k in range(1, 5)])
    (root / "data/processed").mkdir(parents=True)
    (root / "data/interim").mkdir(parents=True)
    save_file({"faces": faces}, str(root / paths.FACES))
    pd.DataFrame({"clip_id": [f"c{k}" for k in range(1, 5)], "row": range(4)}).to_parquet(root / paths.FACES_INDEX)
    pd.DataFrame({"clip_id": [f"c{k}" for k in range(1, 5)], "actor": [1, 2, 3, 4],
                  "split": "train"}).to_parquet(root / paths.CLIPS)
    rng = np.random.default_rng(0)
    voice = synthesize_voice(make_actor(0, 2), emotion_style(1, 1)[1], 1, rng, sample_rate=48000).audio
    sf.write(root / "speech.wav", voice, 48000, subtype="PCM_16")
    new_voice = synthesize_voice(make_actor(0, 21), emotion_style(1, 1)[1], 1, np.random.default_rng(21),
                                 sample_rate=48000).audio
    sf.write(root / "new.wav", new_voice, 48000, subtype="PCM_16")
    _calibrate(root, *(sf.read(root / f, dtype="float32")[0] for f in ("speech.wav", "new.wav")))   # as the files hold them
    # the fake microphone plays this on a loop: speech, then a pause
    sf.write(root / "mic.wav", np.concatenate([voice, np.zeros(24000, np.float32)]), 48000, subtype="PCM_16")
    sf.write(root / "silent.wav", np.random.default_rng(1).normal(0, 1e-4, 48000), 48000)
    loud = np.flatnonzero(np.abs(voice) > 0.05)[0]
    sf.write(root / "short.wav", voice[loud:loud + 4800], 48000)          # 0.1 s of a vowel
    write_clip(root / "speech.m4a", None, voice, sample_rate=48000, fmt="ipod")   # AAC in an m4a
    (root / "garbage.mp3").write_bytes(b"no audio in here" * 64)
    _webm_opus(root / "speech.webm", voice)
    # 16-bit samples written as they are, so a decode can be checked sample for sample
    pcm = np.round(np.concatenate([voice, np.zeros(LONG_SILENCE_S * 48000, np.float32)]) * 32767).astype(np.int16)
    sf.write(root / "long.flac", pcm, 48000, subtype="PCM_16")
    return root


@pytest.fixture(scope="module")
def demo_tmp(tmp_path_factory):
    """The demo server's TMPDIR: where its uploads go, and must not stay."""
    return tmp_path_factory.mktemp("demo-tmp")


@pytest.fixture(scope="module")
def demo(workspace, demo_tmp):
    """`fegan demo` in the workspace, on a free loopback port (shared by the tests below)."""
    with demo_server(workspace, free_port(), env={"TMPDIR": str(demo_tmp)}) as srv:
        yield srv


@pytest.fixture(scope="module")
def server(demo):
    _need_browser()
    return demo.url


def _generated(workspace, *args, voice: str = "speech.wav") -> np.ndarray:
    out = workspace / "cli.png"
    r = CliRunner().invoke(cli, ["generate", str(workspace / voice), "-o", str(out),
                                 "--vnet", str(workspace / paths.VNET), "--generator", str(workspace / paths.GENERATOR),
                                 "--params", str(workspace / "params.yaml"), *args])
    assert r.exit_code == 0, r.output
    return np.asarray(Image.open(out).convert("RGB"))


def _only_local(page, url: str) -> None:
    outside = [u for u in page.requests if not u.startswith(url + "/") and not u.startswith("data:")]
    assert not outside, outside
    assert any(u.endswith("/api/generate") for u in page.requests)


def test_upload_shows_what_generate_draws(workspace, server, tmp_path):
    with browser() as page:
        assert upload(page, server, workspace / "speech.wav", n=4, seed=3) == "result"
        shown = image_pixels(page, "#faces")
        # the same image as the command gives for the same file and seed: one code path
        assert np.array_equal(shown, _generated(workspace, "--n", "4", "--seed", "3"))
        assert shown.shape == (2 * (SIZE + 2) + 2, 2 * (SIZE + 2) + 2, 3) and shown.std() > 5   # not blank
        # a voice of training actor 2 (the fixture's calibration: their centroid is this voice)
        threshold = json.loads((workspace / paths.VNET_CALIBRATION).read_text())["threshold"]
        assert page.inner_text("#voice") == f"close to training speaker A02 (similarity 1.00, threshold {threshold:.2f})"
        assert page.inner_text("#speaker-caption") == "a real training face of A02"
        # the speaker's real training face: the flat colour of actor 2
        assert (image_pixels(page, "#speaker-face") == 50 * 2).all()
        speech = float(page.inner_text("#speech").split(": ")[1].split()[0])
        assert 1.0 < speech < 4.0
        # the emotion judge's verdicts on the four faces, as the judge gives them at its temperature
        judge, names = load_judge(workspace / paths.EMOTION_JUDGE)
        t = _temperature(workspace)
        p = probabilities(judge, _cells(shown, 4), json.loads((workspace / paths.JUDGES_CALIBRATION).read_text())
                          ["emotion"]["temperature"])
        expect = ", ".join(f"{names[k]} {row[k]:.2f}" for row, k in zip(p, p.argmax(1)))
        assert page.inner_text("#emotion") == f"the emotion judge reads (temperature-scaled, T {t:.2f}): {expect}"
        assert not page.is_visible("#attributes")          # the utterance protocol: no attribute judges
        _only_local(page, server)
        page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
        assert Image.open(tmp_path / "demo.png").size[0] >= 900


def _cells(sheet: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` faces of a grid ``inference.grid`` drew, as uint8 ``(n, 3, S, S)``."""
    if n == 1:
        return np.ascontiguousarray(sheet.transpose(2, 0, 1)[None])
    ncol = int(np.ceil(np.sqrt(n)))
    step = SIZE + 2
    return np.ascontiguousarray(np.stack([sheet[2 + r * step:2 + r * step + SIZE, 2 + c * step:2 + c * step + SIZE]
                                          for r, c in (divmod(i, ncol) for i in range(n))]).transpose(0, 3, 1, 2))


def _temperature(workspace: Path) -> float:
    """The emotion judge's fitted temperature, rounded as the answer gives it."""
    return round(json.loads((workspace / paths.JUDGES_CALIBRATION).read_text())["emotion"]["temperature"], 3)


def test_a_voice_never_heard_reads_new(workspace, server):
    """A speaker never trained on: "a new voice", with the nearest training speaker and the
    numbers, and no real face of anyone; the emotion judge, which alone reads >= 0.99 of any
    face, reads less than that at its temperature."""
    with browser() as page:
        assert upload(page, server, workspace / "new.wav", n=4, seed=0) == "result"
        m = re.fullmatch(r"a new voice \(nearest training speaker A0([1-4]) at similarity (0\.\d\d); "
                         r"threshold (0\.\d\d)\)", page.inner_text("#voice"))
        assert m and float(m[2]) <= float(m[3]), page.inner_text("#voice")
        assert not page.is_visible("#speaker-face") and page.inner_text("#speaker-caption") == ""
        reads = page.inner_text("#emotion")
        assert reads.startswith(f"the emotion judge reads (temperature-scaled, T {_temperature(workspace):.2f}): ")
        shown = [float(x.rsplit(" ", 1)[1]) for x in reads.split(": ", 1)[1].split(", ")]
        assert len(shown) == 4 and max(shown) < 0.99
        judge, _ = load_judge(workspace / paths.EMOTION_JUDGE)
        assert (probabilities(judge, _cells(image_pixels(page, "#faces"), 4)).max(1) >= 0.99).all()


def test_microphone_recording(workspace, server):
    """Chromium's fake microphone plays mic.wav; the page records 4 s, sends webm/opus, shows faces."""
    with browser(fake_audio=workspace / "mic.wav") as page:
        assert record(page, server, 4.0, n=1, seed=0) == "result", page.inner_text("#error")
        shown = image_pixels(page, "#faces")
        assert shown.shape == (SIZE, SIZE, 3) and shown.std() > 5
        assert page.inner_text("#rec-status").startswith("recorded ")
        speech = float(page.inner_text("#speech").split(": ")[1].split()[0])
        assert speech > 1.0        # the recording carried the voice, not silence
        _only_local(page, server)


def test_m4a_upload(workspace, server):
    with browser() as page:
        assert upload(page, server, workspace / "speech.m4a", n=1, seed=5) == "result"
        assert np.array_equal(image_pixels(page, "#faces"),
                              _generated(workspace, "--seed", "5", voice="speech.m4a"))


@pytest.mark.parametrize("voice, message", [
    ("silent.wav", "silent.wav: no speech found"),
    ("short.wav", "short.wav: only 0."),
    ("garbage.mp3", "garbage.mp3: cannot read audio"),
])
def test_bad_recordings_are_one_message_and_the_server_goes_on(workspace, server, voice, message):
    with browser() as page:
        assert upload(page, server, workspace / voice) == "error"
        text = page.inner_text("#error")
        assert text.startswith(message) and "\n" not in text and "Traceback" not in text
        assert not page.is_visible("#result")
        # the same server still draws
        assert upload(page, server, workspace / "speech.wav") == "result"


def test_the_page_states_and_keeps_the_limits(workspace, server, tmp_path):
    """A file over the upload limit is refused by the page itself, in the server's words,
    without sending it; of a long recording the page says only its first minute was heard."""
    big = tmp_path / "big.wav"
    with open(big, "wb") as f:
        f.truncate(MAX_UPLOAD_BYTES + 1)        # sparse: nothing written
    with browser() as page:
        assert upload(page, server, big) == "error"
        assert page.inner_text("#error") == "the recording is larger than 64 MiB, the most the demo takes"
        assert not any(u.endswith("/api/generate") for u in page.requests)
        assert "Files up to 64 MiB; only the first 60 s of a recording are heard." in page.inner_text("#limits")
        assert upload(page, server, workspace / "long.flac") == "result"
        assert page.inner_text("#speech").endswith("s (of the first 60 s, all that is heard)")


def test_missing_models_are_a_message_on_the_page(workspace, tmp_path):
    _need_browser()
    (tmp_path / "params.yaml").write_text(PARAMS_YAML)
    with demo_server(tmp_path, free_port()) as srv, browser() as page:
        assert upload(page, srv.url, workspace / "speech.wav") == "error"
        assert page.inner_text("#error") == \
            "models/vnet.pt not found: train the models first with `dvc repro` (or `make repro`)"


# ---------------------------------------------------------------- without a browser

BOUNDARY = "fegan-test-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def multipart(fields: dict, *files: tuple[str, bytes]) -> bytes:
    """A form as the page sends it: the fields, then the files in the field "audio"."""
    body = b"".join(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                    for k, v in fields.items())
    for name, data in files:
        body += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="audio"; filename="{name}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


def ask(url: str, body: bytes = b"", content_type: str = MULTIPART, host: str | None = None,
        chunks=None, length: int | None = None, method: str = "POST", path: str = "/api/generate",
        timeout: float = 120) -> tuple[int, dict | str]:
    """One request with http.client (a Host of our choosing; ``chunks``: a body streamed in
    chunked encoding, or with ``length`` as its declared Content-Length): (status, JSON or text)."""
    u = urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        c.putheader("Host", host or u.netloc)
        if method == "POST":
            c.putheader("Content-Type", content_type)
            if chunks is None:
                c.putheader("Content-Length", str(len(body)))
            elif length is not None:
                c.putheader("Content-Length", str(length))
            else:
                c.putheader("Transfer-Encoding", "chunked")
        c.endheaders(body if chunks is None else None)
        for chunk in chunks or ():
            c.send(chunk if length is not None else b"%x\r\n%s\r\n" % (len(chunk), chunk))
        if chunks is not None and length is None:
            c.send(b"0\r\n\r\n")
        r = c.getresponse()
        data = r.read()
    finally:
        c.close()
    try:
        return r.status, json.loads(data)
    except ValueError:
        return r.status, data.decode()


def _post(url: str, voice: Path, n: int = 1, seed: int = 0) -> tuple[int, dict]:
    """POST /api/generate as the page does (a multipart form): (status, JSON)."""
    return ask(url, multipart({"n": n, "seed": seed}, (voice.name, voice.read_bytes())))


def _oversized(mib: int):
    """A form whose recording has ``mib`` MiB, as chunks (never whole in this process's memory)."""
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="audio"; filename="big.wav"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    block = bytes(1 << 20)
    return len(head) + (mib << 20) + len(tail), [head, *[block] * mib, tail]


def _bad_requests(ws: Path) -> list[tuple[str, dict, int, str]]:
    """(what, ask's arguments, status, the error's start): every client mistake a 4xx and one line."""
    speech = ("speech.wav", (ws / "speech.wav").read_bytes())
    declared, chunks = _oversized(70)
    streamed = _oversized(256)[1]
    return [
        ("garbage", dict(body=multipart({}, ("garbage.mp3", (ws / "garbage.mp3").read_bytes()))), 400,
         "garbage.mp3: cannot read audio"),
        ("a file name with folders and a right-to-left override",
         dict(body=multipart({}, ("../../etc/gar\u202ebage.mp3", (ws / "garbage.mp3").read_bytes()))), 400,
         "garbage.mp3: cannot read audio"),
        ("silence", dict(body=multipart({}, ("silent.wav", (ws / "silent.wav").read_bytes()))), 400,
         "silent.wav: no speech found"),
        ("seed 10**30", dict(body=multipart({"seed": 10**30}, speech)), 400,
         f"seed: choose a whole number from 0 to {MAX_SEED}, got '{10**30}'"),
        ("seed -1", dict(body=multipart({"seed": -1}, speech)), 400, "seed: choose a whole number"),
        ("n 0", dict(body=multipart({"n": 0}, speech)), 400, "faces: choose a whole number from 1 to 16, got '0'"),
        ("n 2.5", dict(body=multipart({"n": "2.5"}, speech)), 400, "faces: choose a whole number from 1 to 16"),
        ("a long field", dict(body=multipart({"n": "1" * 100}, speech)), 400,
         "the form field 'n' is longer than 64 bytes"),
        ("malformed multipart", dict(body=b"--" + BOUNDARY.encode() + b"\r\nno header end" + b"\x00" * 64 +
                                     b"\r\n--" + BOUNDARY.encode() + b"--\r\n"), 400,
         "the form is not valid multipart/form-data"),
        ("not a form", dict(body=b'{"n": 1}', content_type="application/json"), 400,
         "send a multipart/form-data form with the recording in the field 'audio'"),
        ("no recording", dict(body=multipart({"n": 1})), 400, "no recording: record from the microphone"),
        ("empty file", dict(body=multipart({}, ("empty.wav", b""))), 400, "empty.wav is empty"),
        ("two files", dict(body=multipart({}, speech, speech)), 400, "more than one recording"),
        ("a foreign Host", dict(body=multipart({}, speech), host="rebind.example.com"), 400, "Invalid host header"),
        ("declared oversize", dict(chunks=chunks, length=declared), 413,
         "the recording is larger than 64 MiB, the most the demo takes"),
        ("streamed oversize", dict(chunks=streamed), 413, "the recording is larger than 64 MiB"),
    ]


def _good_requests(ws: Path) -> list[tuple[str, bytes]]:
    """(what, form): recordings that draw, each with its own n and seed."""
    def form(name, n, seed):
        return f"{name} n={n} seed={seed}", multipart({"n": n, "seed": seed}, (name, (ws / name).read_bytes()))
    return [form("speech.wav", 1, 0), form("speech.wav", 4, 3), form("speech.wav", 2, MAX_SEED),
            form("speech.m4a", 1, 5), form("speech.webm", 3, 7), form("long.flac", 1, 2)]


def _kib(pid: int, key: str) -> int:
    """VmRSS (resident now) or VmHWM (the peak since the last reset) of ``pid``, in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", status, re.M).group(1))


PATHLIKE = re.compile(r"(?:^|[\s(\'\"])/[\w.~-]")       # an absolute path in an error line
LOAD_REQUESTS, LOAD_BAD, LOAD_CLIENTS, LOAD_S = 50, 30, 8, 240
RSS_GROWTH_MIB, RSS_MIB = 200, 2048


def test_the_server_under_a_load_of_good_and_bad_requests(workspace, demo, demo_tmp):
    """50 requests from 8 concurrent clients on the loopback: good recordings of every kind
    the page sends, garbage, bad numbers, bad forms, a foreign Host, a 70 MiB upload declared
    and a 256 MiB one streamed. Every good one gets exactly the answer it gets alone, every bad
    one its 4xx and one line with no server path, none a 5xx; the server's resident memory
    peaks less than RSS_GROWTH_MIB above what it holds after drawing each good one once (a
    drawing's own peak is ~90 MiB; the streamed upload, read whole, would alone be more), no
    upload stays in its TMPDIR, and it still draws afterwards."""
    good, bad = _good_requests(workspace), _bad_requests(workspace)
    alone = {}
    for what, body in good:              # the answers one at a time (and the models loaded)
        status, alone[what] = ask(demo.url, body)
        assert status == 200, (what, alone[what])
    assert alone["long.flac n=1 seed=2"]["heard_s"] == MAX_AUDIO_S and alone["long.flac n=1 seed=2"]["cut"]
    assert alone["speech.wav n=1 seed=0"]["cut"] is False and alone["speech.wav n=1 seed=0"]["heard_s"] < 5
    # the first 60 s of long.flac hold all of its speech: the same speech as speech.wav
    assert alone["long.flac n=1 seed=2"]["voiced_s"] == alone["speech.wav n=1 seed=0"]["voiced_s"]
    # and the page's answer is the command's image
    png = base64.b64decode(alone["speech.wav n=4 seed=3"]["image"].split(",", 1)[1])
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")),
                          _generated(workspace, "--n", "4", "--seed", "3"))

    rng = random.Random(0)
    quick = [b for b in bad if "oversize" not in b[0]]
    jobs = ([("bad", b) for b in bad] + [("bad", rng.choice(quick)) for _ in range(LOAD_BAD - len(bad))] +
            [("good", rng.choice(good)) for _ in range(LOAD_REQUESTS - LOAD_BAD)])
    rng.shuffle(jobs)
    baseline = _kib(demo.pid, "VmRSS")
    Path(f"/proc/{demo.pid}/clear_refs").write_text("5")       # VmHWM from here on
    t0 = time.monotonic()

    def one(job):
        kind, case = job
        if kind == "good":
            what, body = case
            return kind, what, ask(demo.url, body)
        what, kwargs, _, _ = case
        return kind, what, ask(demo.url, **kwargs)

    with ThreadPoolExecutor(LOAD_CLIENTS) as pool:
        futures = [pool.submit(one, j) for j in jobs]
        done, late = wait(futures, timeout=LOAD_S)
        assert not late, f"{len(late)} requests unanswered after {LOAD_S} s"
    elapsed = time.monotonic() - t0
    peak = _kib(demo.pid, "VmHWM")
    expected = {what: (status, start) for what, _, status, start in bad}
    wrong = []
    for f in futures:
        kind, what, (status, answer) = f.result()
        if kind == "good":
            if status != 200 or answer != alone[what]:
                wrong.append((what, status, answer if status != 200 else "a different answer"))
            continue
        text = answer["error"] if isinstance(answer, dict) else answer
        want_status, start = expected[what]
        if (status, text[:len(start)]) != (want_status, start) or "\n" in text or PATHLIKE.search(text) \
                or str(workspace) in text or "fegan-demo-" in text:
            wrong.append((what, status, text))
    assert not wrong, wrong
    assert sum(f.result()[0] == "good" for f in futures) == LOAD_REQUESTS - LOAD_BAD
    growth = (peak - baseline) / 1024
    assert growth < RSS_GROWTH_MIB and peak / 1024 < RSS_MIB, (baseline / 1024, peak / 1024, elapsed)
    assert not [p.name for p in demo_tmp.iterdir() if p.name.startswith("fegan-demo-")]
    assert "Traceback" not in demo.output(), demo.output()[-3000:]
    # and afterwards it still draws
    status, answer = ask(demo.url, good[1][1])
    assert status == 200 and answer == alone[good[1][0]]
    print(f"load: {LOAD_REQUESTS} requests in {elapsed:.1f} s; RSS {baseline / 1024:.0f} MiB, "
          f"peak {peak / 1024:.0f} MiB")


def test_the_answer_says_close_or_new_and_reads_calibrated_emotions(workspace, demo):
    """The JSON: a training speaker's voice is close (their real face with it), a voice never
    heard is new (no face); the emotions are the judge's softmax at the fitted temperature,
    which for the new voice's faces is below 0.99 where the plain softmax is >= 0.99 for all."""
    cal = json.loads((workspace / paths.VNET_CALIBRATION).read_text())
    status, known = _post(demo.url, workspace / "speech.wav", n=4, seed=3)
    assert status == 200, known
    assert (known["voice_is_new"], known["speaker"], known["voice_threshold"]) == (False, 2, round(cal["threshold"], 3))
    assert known["voice_similarity"] >= known["voice_threshold"] and known["speaker_face"].startswith("data:image/png")
    assert known["voice_note"] is None and "speaker_p" not in known
    status, new = _post(demo.url, workspace / "new.wav", n=4, seed=3)
    assert status == 200, new
    assert new["voice_is_new"] is True and new["voice_similarity"] < new["voice_threshold"]
    assert new["speaker_face"] is None and 1 <= new["speaker"] <= 4
    judge, names = load_judge(workspace / paths.EMOTION_JUDGE)
    faces = _cells(np.asarray(Image.open(io.BytesIO(base64.b64decode(new["image"].split(",", 1)[1]))).convert("RGB")), 4)
    t = json.loads((workspace / paths.JUDGES_CALIBRATION).read_text())["emotion"]["temperature"]
    assert t > 1 and new["emotion_temperature"] == round(t, 3) and new["emotion_note"] is None
    p = probabilities(judge, faces, t)
    assert new["emotions"] == [{"label": names[k], "p": round(float(row[k]), 3)} for row, k in zip(p, p.argmax(1))]
    assert max(e["p"] for e in new["emotions"]) < 0.99
    assert (probabilities(judge, faces).max(1) >= 0.99).all()       # uncalibrated: "angry 1.00"
    assert new["attributes"] is None                                # the utterance protocol


def test_attribute_readings_and_missing_calibrations(workspace, tmp_path, monkeypatch):
    """Under the speaker protocol the attribute judges' readings, averaged over the faces at
    their temperatures; without the calibration files the page says the readings are not
    calibrated and shows no face."""
    import hashlib

    from fegan.datasets.attributes import ATTRIBUTES
    from fegan.demo.app import Models, Workspace, run
    from fegan.evaluation.attribute_judges import save_attribute_judges

    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws)
    monkeypatch.chdir(ws)
    torch.manual_seed(1)
    judges = {"sex": FaceClassifier(2, 4).eval(), "age_band": FaceClassifier(4, 4).eval()}
    save_attribute_judges(ws / paths.ATTRIBUTE_JUDGES, judges, JudgeConfig(width=4))
    cal = json.loads((ws / paths.JUDGES_CALIBRATION).read_text())
    cal["attributes"] = {"sex": {"temperature": 2.0, "fitted": True}, "age_band": {"temperature": 1.0, "fitted": False}}
    cal["attribute_judges_md5"] = hashlib.md5((ws / paths.ATTRIBUTE_JUDGES).read_bytes()).hexdigest()
    (ws / paths.JUDGES_CALIBRATION).write_text(json.dumps(cal))
    answer = run(Models(Workspace()), ws / "new.wav", 3, 0)
    faces = _cells(np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["image"].split(",", 1)[1])))
                              .convert("RGB")), 3)
    expect = []
    for name, t in (("sex", 2.0), ("age_band", 1.0)):
        mean = probabilities(judges[name], faces, t).mean(0)
        expect.append({"attribute": name.removesuffix("_band"), "label": ATTRIBUTES[name][int(mean.argmax())],
                       "p": round(float(mean.max()), 3)})
    assert answer["attributes"] == expect
    # the utterance protocol's file holds no judges: nothing said of attributes
    save_attribute_judges(ws / paths.ATTRIBUTE_JUDGES, {}, JudgeConfig(width=4))
    assert run(Models(Workspace()), ws / "new.wav", 1, 0)["attributes"] is None
    # no calibration files: the softmax as it is, said to be uncalibrated; closeness unknown, no face
    (ws / paths.JUDGES_CALIBRATION).unlink()
    (ws / paths.VNET_CALIBRATION).unlink()
    bare = run(Models(Workspace()), ws / "speech.wav", 1, 0)
    assert bare["emotion_temperature"] == 1.0 and bare["emotion_note"].startswith("uncalibrated: no models/judges_calibration.json")
    assert (bare["voice_is_new"], bare["voice_similarity"], bare["speaker_face"]) == (None, None, None)
    assert bare["voice_note"] == "models/vnet_calibration.json not found; rerun `dvc repro train_vnet`"


def test_only_its_own_host_names_are_answered(demo):
    """DNS rebinding: a page of rebind.example.com resolved to 127.0.0.1 sends that Host."""
    port = urlsplit(demo.url).port
    for host in ("rebind.example.com", f"rebind.example.com:{port}", "127.0.0.1.nip.io", "localhost.evil"):
        assert ask(demo.url, method="GET", path="/", host=host) == (400, "Invalid host header"), host
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "LOCALHOST", f"[::1]:{port}"):
        status, page = ask(demo.url, method="GET", path="/", host=host)
        assert status == 200 and "only the first 60 s of a recording are heard" in " ".join(page.split()), host
    assert "{{" not in page                    # every limit filled in
    assert "fegan demo: answers the Host names 127.0.0.1, [::1], localhost (more with --allow-host NAME)" \
        in demo.output()


def test_demo_passes_host_and_allow_host_on(monkeypatch):
    import fegan.demo.app as app

    seen = {}
    monkeypatch.setattr(app, "serve", lambda host, port, ws, allow_hosts: seen.update(
        host=host, port=port, allow_hosts=allow_hosts, vnet=ws.vnet))
    r = CliRunner().invoke(cli, ["demo", "--host", "0.0.0.0", "--port", "8000", "--allow-host", "demo.lan",
                                 "--allow-host", "proxy.example.org", "--vnet", "v.pt"])
    assert r.exit_code == 0, r.output
    assert seen == {"host": "0.0.0.0", "port": 8000, "allow_hosts": ("demo.lan", "proxy.example.org"), "vnet": "v.pt"}


def test_the_allowlist_follows_host():
    local = ["127.0.0.1", "[::1]", "localhost"]
    assert allowed_hosts("127.0.0.1") == local
    assert allowed_hosts("192.168.1.5") == sorted(local + ["192.168.1.5"])
    assert allowed_hosts("::", ["Demo.LAN", " "]) == sorted(set(allowed_hosts("0.0.0.0")) | {"demo.lan"})
    assert host_form(socket.gethostname()) in allowed_hosts("0.0.0.0")       # what others type
    assert host_form(socket.gethostname()) not in allowed_hosts("127.0.0.1") or socket.gethostname() == "localhost"
    assert host_form("FE80::1") == "[fe80::1]" and host_form("[::1]") == "[::1]"


def test_error_lines_carry_no_server_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    form = Form(path=tmp_path / "fegan-demo-x1" / "recording.wav", filename="my voice.wav")
    assert public(f"{form.path}: cannot read audio (unreadable container)", form) == \
        "my voice.wav: cannot read audio (unreadable container)"
    assert public(f"{tmp_path}/models/vnet.pt: not a loadable V-net checkpoint (bad zip)") == \
        "models/vnet.pt: not a loadable V-net checkpoint (bad zip)"
    assert public("unexpected OSError: [Errno 28] No space left on device: '/srv/secret/cache/x.bin'") == \
        "unexpected OSError: [Errno 28] No space left on device: 'x.bin'"
    kept = "models/vnet.pt not found: send a multipart/form-data form, 1/2 done"
    assert public(kept) == kept


def test_decoding_stops_at_the_cap(workspace):
    """A small file with minutes of sound: with max_s only those seconds are decoded (and held
    in memory), sample for sample the file's first ones; without, all of it."""
    path = workspace / "long.flac"
    tracemalloc.start()
    try:
        wave, sr = read_audio(path, max_s=5)
        capped = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        whole, _ = read_audio(path)
        uncapped = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    pcm, _ = sf.read(path, dtype="int16", frames=5 * 48000)
    assert sr == 48000 and wave.dtype == np.float32 and np.array_equal(wave, pcm.astype(np.float32) / 32767.0)
    assert np.array_equal(whole[:len(wave)], wave) and len(whole) > LONG_SILENCE_S * 48000
    assert capped < 4 * 2**20 < len(whole) * 4 <= uncapped, (capped, uncapped)


def test_the_gate_bounds_waiting_and_drawing():
    async def scenario():
        gate = Gate(slots=1, admitted=2, wait_s=0.05)
        order = []
        async with gate.admit(), gate.turn():
            async with gate.admit():
                with pytest.raises(Refused) as third:         # a third request in hand: busy at once
                    async with gate.admit():
                        pass
                with pytest.raises(Refused) as waited:        # the one slot stays taken: busy after the wait
                    async with gate.turn():
                        pass
            order.append("drawn")
        async with gate.admit(), gate.turn():                  # released: the next one draws
            order.append("next")
        return third.value, waited.value, order, gate.in_hand

    third, waited, order, in_hand = asyncio.run(scenario())
    assert (third.status, third.headers) == (503, {"Retry-After": "5"})
    assert third.message == "busy: 2 requests are already in hand; try again in a few seconds"
    assert waited.status == 503 and waited.message.startswith("busy: no turn to draw came within 0.05 s")
    assert order == ["drawn", "next"] and in_hand == 0


def test_a_missing_playwright_fails_in_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setitem(sys.modules, "playwright", None)        # `import playwright` fails
    monkeypatch.setenv("FEGAN_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="Playwright not installed"):
        _need_browser()
    monkeypatch.delenv("FEGAN_REQUIRE_BROWSER")
    with pytest.raises(pytest.skip.Exception, match="Playwright not installed"):
        _need_browser()


def test_an_unforeseen_failure_is_one_line_and_the_server_goes_on(workspace, tmp_path):
    """A judge whose weights do not fit its own config (a file from another build) fails in a way
    no FeganError names: the answer is one ``unexpected <Type>: ...`` line with status 500, and
    once the file is put right the same server, reloading it, draws again."""
    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws)
    judge = ws / paths.EMOTION_JUDGE
    good = judge.read_bytes()
    save_judge(judge, FaceClassifier(3, 8), JudgeConfig(width=4), ["happy", "sad", "angry"])
    with demo_server(ws, free_port()) as srv:
        status, answer = _post(srv.url, ws / "speech.wav")
        assert status == 500 and list(answer) == ["error"]
        assert answer["error"].startswith("unexpected RuntimeError: Error(s) in loading state_dict for FaceClassifier")
        assert "\n" not in answer["error"] and str(ws) not in answer["error"]
        judge.write_bytes(good)
        status, answer = _post(srv.url, ws / "speech.wav", n=2, seed=1)
        assert status == 200, answer
        assert answer["n"] == 2 and {e["label"] for e in answer["emotions"]} <= {"happy", "sad", "angry"}
        assert len(answer["emotions"]) == 2
        assert answer["image"].startswith("data:image/png;base64,")


def test_port_in_use_is_one_line(workspace):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = CliRunner().invoke(cli, ["demo", "--port", str(s.getsockname()[1])])
    assert r.exit_code == 2 and r.stderr.startswith("fegan: error: cannot serve on 127.0.0.1:")
    assert len(r.stderr.splitlines()) == 1
