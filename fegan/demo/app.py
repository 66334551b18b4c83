"""The demo server: one page, one endpoint (``POST /api/generate``), the workspace's models.

A request is one recording (an upload, or what the page recorded from the microphone: webm
with Opus in Chromium) plus ``n`` and ``seed``. The answer is JSON: the faces as one PNG (the
grid ``fegan generate`` writes), V-net's nearest training speaker with one real training face
of theirs, the seconds of speech used, and what the emotion judge of the `evaluate` stage reads
in each face. Whatever goes wrong is ``{"error": "<one line>"}``: a ``FeganError`` (silence,
too little speech, a file that does not decode, missing models) as it is, anything else as
``unexpected <Type>: ...`` with its traceback on the server's stderr; the server goes on.

Models are loaded on the first request and again when a file changes (a `dvc repro` while
the demo runs), not at start: the page opens, and says what is missing, before any training.
"""
from __future__ import annotations

import base64
import io
import tempfile
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .. import paths
from ..errors import FeganError
from ..inference import faces_from_voice, grid, load_generator, load_vnet
from ..params import load_params
from ..preprocess.guard import reason_of

PAGE = Path(__file__).with_name("page.html")
MAX_UPLOAD_BYTES = 64 << 20          # a minute of 48 kHz stereo PCM is 11 MB; video tracks are larger
MAX_FACES = 16
AUDIO_SUFFIXES = {".wav", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac", ".webm", ".weba",
                  ".mp4", ".mov", ".mkv", ".avi"}


@dataclass
class Workspace:
    """Where the demo's inputs are; every path relative to the folder it runs in."""
    params: str = "params.yaml"
    vnet: str = paths.VNET
    generator: str = paths.GENERATOR
    judge: str = paths.EMOTION_JUDGE
    faces: str = paths.FACES
    faces_index: str = paths.FACES_INDEX
    clips: str = paths.CLIPS


def png_data_url(rgb: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


class Models:
    """V-net, G-net, the emotion judge and one real training face per speaker, loaded when
    first needed and again when their files change."""

    def __init__(self, ws: Workspace):
        self.ws, self._lock, self._stamp, self._loaded = ws, threading.Lock(), None, None

    def _files(self) -> list[Path]:
        return [Path(p) for p in (self.ws.params, self.ws.vnet, self.ws.generator, self.ws.judge)]

    def get(self) -> dict:
        with self._lock:
            stamp = tuple(p.stat().st_mtime_ns if p.is_file() else None for p in self._files())
            if self._loaded is None or stamp != self._stamp:
                self._loaded, self._stamp = self._load(), stamp
            return self._loaded

    def _load(self) -> dict:
        from ..evaluation.judge import load_judge

        if not Path(self.ws.params).is_file():
            raise FeganError(f"{self.ws.params} not found: run `fegan demo` in the repository's folder")
        out = {"params": load_params(self.ws.params), "vnet": load_vnet(self.ws.vnet),
               "generator": load_generator(self.ws.generator), "judge": None, "emotions": None}
        if Path(self.ws.judge).is_file():       # optional: the page then says it has no emotion reading
            out["judge"], out["emotions"] = load_judge(self.ws.judge)
        return out

    def speaker_face(self, actor: int) -> np.ndarray | None:
        """One real training face of ``actor`` (the first usable crop of their first training
        clip), or None where the faces stage's outputs are not in the workspace."""
        try:
            import pandas as pd
            from safetensors import safe_open

            clips = pd.read_parquet(self.ws.clips, columns=["clip_id", "actor", "split"])
            index = pd.read_parquet(self.ws.faces_index, columns=["clip_id", "row"])
            mine = clips[(clips.actor == actor) & (clips.split == "train")].clip_id
            rows = index[index.clip_id.isin(mine) & (index.row >= 0)].row
            if not len(rows):
                return None
            with safe_open(self.ws.faces, framework="np") as f:
                face = f.get_slice("faces")[int(rows.iloc[0]):int(rows.iloc[0]) + 1][0]    # (3, S, S)
            return np.ascontiguousarray(face.transpose(1, 2, 0))
        except (OSError, KeyError, ValueError):
            return None


def run(models: Models, recording: Path, n: int, seed: int) -> dict:
    """One request's answer (raises ``FeganError`` for the user's mistakes)."""
    from ..evaluation.judge import probabilities

    if not 1 <= n <= MAX_FACES:
        raise FeganError(f"faces: choose 1 to {MAX_FACES}, got {n}")
    m = models.get()
    res = faces_from_voice(recording, m["params"], m["vnet"], m["generator"], n=n, seed=seed)
    sheet = grid(res.images)
    answer = {"image": png_data_url(sheet), "width": int(sheet.shape[1]), "height": int(sheet.shape[0]),
              "n": n, "seed": seed, "size": int(res.images.shape[-1]), "voiced_s": round(res.voiced_s, 2),
              "speaker": int(res.speaker), "speaker_p": round(res.speaker_p, 3), "speaker_face": None,
              "emotions": None}
    face = models.speaker_face(res.speaker)
    if face is not None:
        answer["speaker_face"] = png_data_url(face)
    if m["judge"] is not None:
        p = probabilities(m["judge"], res.images.numpy())          # (n, n_emotions)
        answer["emotions"] = [{"label": m["emotions"][int(k)], "p": round(float(row[k]), 3)}
                              for row, k in zip(p, p.argmax(1))]
    return answer


def create_app(ws: Workspace | None = None):
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    models = Models(ws or Workspace())
    page = PAGE.read_text()

    async def index(request: Request):
        return HTMLResponse(page)

    async def favicon(request: Request):
        return Response(status_code=204)     # browsers ask for one; nothing to fetch elsewhere

    async def generate(request: Request):
        try:
            form = await request.form(max_part_size=MAX_UPLOAD_BYTES)
            upload = form.get("audio")
            if upload is None or isinstance(upload, str):
                raise FeganError("no recording: record from the microphone or choose a file")
            data = await upload.read()
            if not data:
                raise FeganError(f"{upload.filename or 'the recording'} is empty")
            try:
                n, seed = int(form.get("n", 1)), int(form.get("seed", 0))
            except ValueError:
                raise FeganError("faces and seed must be whole numbers") from None
            suffix = Path(upload.filename or "").suffix.lower()
            suffix = suffix if suffix in AUDIO_SUFFIXES else ".bin"    # FFmpeg probes the content anyway
            with tempfile.TemporaryDirectory(prefix="fegan-demo-") as tmp:
                path = Path(tmp) / f"recording{suffix}"
                path.write_bytes(data)
                try:
                    answer = await run_in_threadpool(run, models, path, n, seed)
                except FeganError as e:
                    # the temporary path means nothing to the person: name their file instead
                    raise FeganError(str(e).replace(str(path), upload.filename or "the recording")) from None
            return JSONResponse(answer)
        except FeganError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        except Exception as e:        # noqa: BLE001 - one line on the page, the server goes on
            traceback.print_exc()
            return JSONResponse({"error": reason_of(e)}, status_code=500)

    return Starlette(routes=[Route("/", index), Route("/favicon.ico", favicon),
                             Route("/api/generate", generate, methods=["POST"])])


def serve(host: str = "127.0.0.1", port: int = 7860, ws: Workspace | None = None) -> None:
    import socket

    import uvicorn

    # uvicorn reports a port in use in its log and exits; a bind first gives the one line
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, port))       # OSError: the caller's one line
        port = port or probe.getsockname()[1]
    print(f"fegan demo: http://{host}:{port}/  (Ctrl-C stops)", flush=True)
    uvicorn.run(create_app(ws), host=host, port=port, log_level="warning")
