"""`fegan demo` in a real browser: headless Chromium uploads a recording, records through the fake
microphone, and reads back what the page shows; errors are one message on the page.

The workspace holds small untrained models in the formats the stages write (as in
test_generate.py): what is tested is the page and its server, and that they give exactly what
`fegan generate` gives. Without Chromium the browser tests say so and do not pass; `.ci/run`
installs it and sets FEGAN_REQUIRE_BROWSER=1, so there they fail instead.
"""
from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

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
from test_generate import PARAMS_YAML, SIZE, _save_models

from fegan import paths
from fegan.cli import cli
from fegan.evaluation.judge import FaceClassifier, JudgeConfig, load_judge, probabilities, save_judge
from fegan.synth.identity import emotion_style, make_actor
from fegan.synth.voice import synthesize_voice

pytest.importorskip("playwright")


def _need_browser() -> None:
    if chromium() is None:
        msg = "Chromium not found: the browser tests did not run (apt-get install chromium, or set FEGAN_CHROMIUM)"
        if os.environ.get("FEGAN_REQUIRE_BROWSER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A repository-like folder: params.yaml, models/, the faces stage's outputs and one voice."""
    root = tmp_path_factory.mktemp("demo")
    (root / "params.yaml").write_text(PARAMS_YAML)
    (root / "models").mkdir()
    _save_models(root / "models")
    torch.manual_seed(0)
    save_judge(root / paths.EMOTION_JUDGE, FaceClassifier(3, 4).eval(), JudgeConfig(width=4),
               ["happy", "sad", "angry"])
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
    # the fake microphone plays this on a loop: speech, then a pause
    sf.write(root / "mic.wav", np.concatenate([voice, np.zeros(24000, np.float32)]), 48000, subtype="PCM_16")
    sf.write(root / "silent.wav", np.random.default_rng(1).normal(0, 1e-4, 48000), 48000)
    loud = np.flatnonzero(np.abs(voice) > 0.05)[0]
    sf.write(root / "short.wav", voice[loud:loud + 4800], 48000)          # 0.1 s of a vowel
    write_clip(root / "speech.m4a", None, voice, sample_rate=48000, fmt="ipod")   # AAC in an m4a
    (root / "garbage.mp3").write_bytes(b"no audio in here" * 64)
    return root


@pytest.fixture(scope="module")
def server(workspace):
    _need_browser()
    with demo_server(workspace, free_port()) as url:
        yield url


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
        speaker = page.inner_text("#speaker-caption")
        actor = int(speaker.split()[1])
        assert 1 <= actor <= 4
        # the nearest speaker's real training face: the flat colour of that actor
        assert (image_pixels(page, "#speaker-face") == 50 * actor).all()
        speech = float(page.inner_text("#speech").split(": ")[1].split()[0])
        assert 1.0 < speech < 4.0
        # the emotion judge's verdicts on the four faces, as the judge gives them
        judge, names = load_judge(workspace / paths.EMOTION_JUDGE)
        faces = np.stack([shown[2 + r * (SIZE + 2):2 + r * (SIZE + 2) + SIZE, 2 + c * (SIZE + 2):2 + c * (SIZE + 2) + SIZE]
                          for r in range(2) for c in range(2)]).transpose(0, 3, 1, 2)
        p = probabilities(judge, np.ascontiguousarray(faces))
        expect = ", ".join(f"{names[k]} {row[k]:.2f}" for row, k in zip(p, p.argmax(1)))
        assert page.inner_text("#emotion") == f"the emotion judge reads: {expect}"
        _only_local(page, server)
        page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
        assert Image.open(tmp_path / "demo.png").size[0] >= 900


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


def test_missing_models_are_a_message_on_the_page(workspace, tmp_path):
    _need_browser()
    (tmp_path / "params.yaml").write_text(PARAMS_YAML)
    with demo_server(tmp_path, free_port()) as url, browser() as page:
        assert upload(page, url, workspace / "speech.wav") == "error"
        assert page.inner_text("#error") == \
            "models/vnet.pt not found: train the models first with `dvc repro` (or `make repro`)"


def _post(url: str, voice: Path, n: int = 1, seed: int = 0) -> tuple[int, dict]:
    """POST /api/generate as the page does (a multipart form), without a browser: (status, JSON)."""
    b = "fegan-test-boundary"
    body = b"".join(f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                    for k, v in (("n", n), ("seed", seed)))
    body += (f'--{b}\r\nContent-Disposition: form-data; name="audio"; filename="{voice.name}"\r\n'
             f"Content-Type: application/octet-stream\r\n\r\n").encode() + voice.read_bytes() + f"\r\n--{b}--\r\n".encode()
    req = urllib.request.Request(url + "/api/generate", data=body,
                                 headers={"Content-Type": f"multipart/form-data; boundary={b}"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_an_unforeseen_failure_is_one_line_and_the_server_goes_on(workspace, tmp_path):
    """A judge whose weights do not fit its own config (a file from another build) fails in a way
    no FeganError names: the answer is one ``unexpected <Type>: ...`` line with status 500, and
    once the file is put right the same server, reloading it, draws again."""
    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws)
    judge = ws / paths.EMOTION_JUDGE
    good = judge.read_bytes()
    save_judge(judge, FaceClassifier(3, 8), JudgeConfig(width=4), ["happy", "sad", "angry"])
    with demo_server(ws, free_port()) as url:
        status, answer = _post(url, ws / "speech.wav")
        assert status == 500 and list(answer) == ["error"]
        assert answer["error"].startswith("unexpected RuntimeError: Error(s) in loading state_dict for FaceClassifier")
        assert "\n" not in answer["error"] and str(ws) not in answer["error"]
        judge.write_bytes(good)
        status, answer = _post(url, ws / "speech.wav", n=2, seed=1)
        assert status == 200, answer
        assert answer["n"] == 2 and {e["label"] for e in answer["emotions"]} <= {"happy", "sad", "angry"}
        assert len(answer["emotions"]) == 2
        assert answer["image"].startswith("data:image/png;base64,")


def test_port_in_use_is_one_line(workspace):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = CliRunner().invoke(cli, ["demo", "--port", str(s.getsockname()[1])])
    assert r.exit_code == 2 and r.stderr.startswith("fegan: error: cannot serve on 127.0.0.1:")
    assert len(r.stderr.splitlines()) == 1
