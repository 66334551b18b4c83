"""The demo server: one page, one endpoint (``POST /api/generate``), the workspace's models.

A request is one recording (an upload, or what the page recorded from the microphone: webm
with Opus in Chromium) plus ``n`` and ``seed``. The answer is JSON: the faces as one PNG (the
grid ``fegan generate`` writes); whether the voice is close to a training speaker or new (the
cosine similarity of its E_v to the nearest training speaker's centroid against the threshold
`train_vnet` calibrated on voices of speakers it never trained on, ``models/vnet_calibration.json``),
with one real training face of that speaker only when it is close; the seconds of speech used;
what the emotion judge of `train_judges` reads in each face, temperature-scaled with the T
fitted on real val faces (``models/judges_calibration.json``); and under the speaker protocol
what the attribute judges read (sex, age, size), averaged over the faces (docs/demo.md: what
each number is calibrated on). Whatever goes wrong is ``{"error": "<one line>"}`` with no
server path in it: 400 for the client's mistakes (a bad form or number, a recording that does not decode or holds
too little speech), 413 for an upload over ``MAX_UPLOAD_BYTES``, 503 "busy" past the
``Gate``'s bounds, 500 only for the server's own trouble (missing or broken models, and
anything unforeseen: ``unexpected <Type>: ...``, its traceback on the server's stderr); the
server goes on. Requests naming another Host are refused (``hosts.py``: DNS rebinding).

Models are loaded on the first request and again when a file changes (a `dvc repro` while
the demo runs), not at start: the page opens, and says what is missing, before any training.
"""
from __future__ import annotations

import asyncio
import base64
import io
import re
import tempfile
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .. import paths
from ..calibration import file_md5
from ..errors import FeganError
from ..inference import (RecordingError, faces_from_voice, grid, load_generator, load_vnet, load_voice_calibration,
                         voice_calibration_path)
from ..params import load_params
from ..preprocess.guard import reason_of
from .gate import Gate
from .hosts import allowed_hosts, host_form
from .upload import Form, Refused, read_form

PAGE = Path(__file__).with_name("page.html")
MAX_UPLOAD_BYTES = 64 << 20          # a minute of 48 kHz stereo PCM is 11 MB; video tracks are larger
MAX_AUDIO_S = 60.0                   # decoding stops here; the features use 10 s of speech anyway
UPLOAD_S = 120                       # an upload still arriving after this is refused (408)
MAX_FACES = 16
MAX_SEED = 2**32 - 1                 # exact in the page's JavaScript numbers; any seed of torch's
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
    # None: beside the model they calibrate (models/vnet_calibration.json beside models/vnet.pt;
    # judges_calibration.json and attribute_judges.pt beside the emotion judge)
    voice_calibration: str | None = None
    judges_calibration: str | None = None
    attribute_judges: str | None = None

    def beside_judge(self, name: str) -> str:
        return str(Path(self.judge).with_name(name))

    @property
    def voice_calibration_file(self) -> str:
        return self.voice_calibration or str(voice_calibration_path(self.vnet))

    @property
    def judges_calibration_file(self) -> str:
        return self.judges_calibration or self.beside_judge(Path(paths.JUDGES_CALIBRATION).name)

    @property
    def attribute_judges_file(self) -> str:
        return self.attribute_judges or self.beside_judge(Path(paths.ATTRIBUTE_JUDGES).name)


def png_data_url(rgb: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


class Models:
    """V-net, G-net, the emotion judge, the calibrations, the attribute judges and one real
    training face per speaker, loaded when first needed and again when their files change."""

    def __init__(self, ws: Workspace):
        self.ws, self._lock, self._stamp, self._loaded = ws, threading.Lock(), None, None

    def _files(self) -> list[Path]:
        ws = self.ws
        return [Path(p) for p in (ws.params, ws.vnet, ws.generator, ws.judge, ws.voice_calibration_file,
                                  ws.judges_calibration_file, ws.attribute_judges_file)]

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
        # optional: without it the page says the voice's closeness is not calibrated
        out["voice_calibration"], out["voice_note"] = load_voice_calibration(out["vnet"], self.ws.voice_calibration_file)
        temps = self._temperatures()
        if Path(self.ws.judge).is_file():       # optional: the page then says it has no emotion reading
            out["judge"], out["emotions"] = load_judge(self.ws.judge)
            out["emotion_temperature"], out["emotion_note"] = self._temperature(temps, "emotion", self.ws.judge)
        out["attribute_judges"], out["attribute_temperatures"] = self._attribute_judges(temps)
        return out

    def _temperatures(self) -> dict:
        """``train_judges``'s calibration file, or {} when it is missing or unreadable."""
        import json

        try:
            d = json.loads(Path(self.ws.judges_calibration_file).read_text())
            return d if isinstance(d, dict) else {}
        except (OSError, ValueError):
            return {}

    def _temperature(self, temps: dict, name: str, judge_file: str) -> tuple[float, str]:
        """The fitted temperature of judge ``name`` and "" when it is there, fitted and written
        for this judge file; else 1 and why the softmax is shown uncalibrated."""
        entry = temps.get(name)
        where = self.ws.judges_calibration_file
        if not isinstance(entry, dict):
            return 1.0, f"uncalibrated: no {where}; rerun `dvc repro train_judges`"
        md5 = entry.get("judge_md5")
        if md5 and file_md5(judge_file) != md5:
            return 1.0, f"uncalibrated: {where} was fitted for another {Path(judge_file).name}"
        if not entry.get("fitted"):      # no val faces, or all read right: the file says which
            return 1.0, "uncalibrated: " + str(entry.get("note", "no temperature was fitted"))
        return float(entry["temperature"]), ""

    def _attribute_judges(self, temps: dict) -> tuple[dict, dict]:
        """The attribute judges (the speaker protocol's; none under the utterance protocol, whose
        file holds none) and their temperatures (1 where not fitted)."""
        from ..evaluation.attribute_judges import load_attribute_judges

        path = Path(self.ws.attribute_judges_file)
        if not path.is_file():
            return {}, {}
        judges = load_attribute_judges(path)
        fitted = temps.get("attributes") or {}
        md5 = temps.get("attribute_judges_md5")
        same = not md5 or (judges and file_md5(path) == md5)
        return judges, {k: float(fitted[k]["temperature"]) if same and isinstance(fitted.get(k), dict)
                        and fitted[k].get("fitted") else 1.0 for k in judges}

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
    """One request's answer (raises ``RecordingError`` for the recording's faults, another
    ``FeganError`` for the models')."""
    from ..datasets.attributes import ATTRIBUTES
    from ..evaluation.judge import probabilities

    m = models.get()
    res = faces_from_voice(recording, m["params"], m["vnet"], m["generator"], n=n, seed=seed,
                           max_s=MAX_AUDIO_S, calibration=m["voice_calibration"])
    sheet = grid(res.images)
    answer = {"image": png_data_url(sheet), "width": int(sheet.shape[1]), "height": int(sheet.shape[0]),
              "n": n, "seed": seed, "size": int(res.images.shape[-1]), "voiced_s": round(res.voiced_s, 2),
              "heard_s": round(res.heard_s, 2), "cut": res.heard_s >= MAX_AUDIO_S - 0.01,
              "speaker": int(res.speaker), "speaker_face": None,
              "voice_similarity": None if res.similarity is None else round(res.similarity, 3),
              "voice_threshold": None if res.threshold is None else round(res.threshold, 3),
              "voice_is_new": res.is_new, "voice_note": public(m["voice_note"]) or None,
              "emotions": None, "emotion_temperature": None, "emotion_note": None, "attributes": None}
    if res.is_new is False:          # a real face only of a speaker the voice is close to
        face = models.speaker_face(res.speaker)
        if face is not None:
            answer["speaker_face"] = png_data_url(face)
    faces = res.images.numpy()
    if m["judge"] is not None:
        t = m["emotion_temperature"]
        p = probabilities(m["judge"], faces, t)          # (n, n_emotions)
        answer["emotions"] = [{"label": m["emotions"][int(k)], "p": round(float(row[k]), 3)}
                              for row, k in zip(p, p.argmax(1))]
        answer["emotion_temperature"] = round(t, 3)
        answer["emotion_note"] = public(m["emotion_note"]) or None
    if m["attribute_judges"]:        # the speaker protocol's; none under the utterance protocol
        answer["attributes"] = []
        for name, net in m["attribute_judges"].items():
            mean = probabilities(net, faces, m["attribute_temperatures"][name]).mean(0)
            k = int(mean.argmax())
            answer["attributes"].append({"attribute": name.removesuffix("_band"), "label": ATTRIBUTES[name][k],
                                         "p": round(float(mean[k]), 3)})
    return answer


def whole(fields: dict, name: str, what: str, default: int, lo: int, hi: int) -> int:
    """Form field ``name`` as a whole number in [lo, hi], or 400 (ASCII digits only: no sign,
    no ``1_000``, no ``1e3``)."""
    text = fields.get(name, str(default)).strip()
    if not re.fullmatch(r"[0-9]{1,20}", text) or not lo <= int(text) <= hi:
        shown = text if len(text) <= 32 else text[:29] + "..."
        raise Refused(400, f"{what}: choose a whole number from {lo} to {hi}, got {shown!r}")
    return int(text)


_ABSOLUTE = re.compile(r"(?<![\w.~-])/(?:[^\s/:'\"()\[\],;]+/)*[^\s/:'\"()\[\],;]+")


def public(text: str, form: Form | None = None) -> str:
    """An error line fit for the client: the recording's temporary path becomes the file's
    own name, any other absolute path its path under the demo's folder, else its last part."""
    if form is not None and form.path is not None:
        text = text.replace(str(form.path), form.filename)

    def shorter(m: re.Match) -> str:
        p = Path(m.group(0))
        try:
            return str(p.relative_to(Path.cwd().resolve()))
        except ValueError:
            return p.name
    return _ABSOLUTE.sub(shorter, text)


def render_page() -> str:
    """page.html with the demo's limits filled in (the page states them and checks the size)."""
    values = {"MAX_UPLOAD_BYTES": MAX_UPLOAD_BYTES, "MAX_UPLOAD_MIB": MAX_UPLOAD_BYTES >> 20,
              "MAX_AUDIO_S": f"{MAX_AUDIO_S:g}", "MAX_FACES": MAX_FACES, "MAX_SEED": MAX_SEED}
    page = PAGE.read_text()
    for k, v in values.items():
        page = page.replace("{{" + k + "}}", str(v))
    return page


def create_app(ws: Workspace | None = None, host: str = "127.0.0.1", allow_hosts: tuple[str, ...] = (),
               gate: Gate | None = None):
    """The Starlette app; it answers the Host names ``hosts.allowed_hosts(host, allow_hosts)``."""
    from concurrent.futures import ThreadPoolExecutor

    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    models = Models(ws or Workspace())
    gate = gate or Gate()
    # drawings run on threads of their own, as many as the gate's slots: even a turn handed back
    # early (a cancelled request whose drawing still runs) never makes two drawings run at once
    drawers = ThreadPoolExecutor(gate.slots, thread_name_prefix="fegan-demo-draw")
    page = render_page()

    async def index(request: Request):
        return HTMLResponse(page)

    async def favicon(request: Request):
        return Response(status_code=204)     # browsers ask for one; nothing to fetch elsewhere

    async def receive(request: Request, folder: Path) -> tuple[Form, int, int]:
        try:
            async with asyncio.timeout(UPLOAD_S):
                form = await read_form(request, folder, MAX_UPLOAD_BYTES, AUDIO_SUFFIXES)
        except TimeoutError:
            raise Refused(408, f"the upload took longer than {UPLOAD_S} s") from None
        except ClientDisconnect:
            raise Refused(400, "the upload was cut off") from None
        if form.path is None:
            raise Refused(400, "no recording: record from the microphone or choose a file")
        if not form.file_bytes:
            raise Refused(400, f"{form.filename} is empty")
        return (form, whole(form.fields, "n", "faces", 1, 1, MAX_FACES),
                whole(form.fields, "seed", "seed", 0, 0, MAX_SEED))

    async def generate(request: Request):
        form = None
        try:
            async with gate.admit():
                # the recording's folder goes on every path out, an error's or a cancellation's
                with tempfile.TemporaryDirectory(prefix="fegan-demo-") as tmp:
                    form, n, seed = await receive(request, Path(tmp))
                    async with gate.turn():
                        answer = await asyncio.get_running_loop().run_in_executor(
                            drawers, run, models, form.path, n, seed)
            return JSONResponse(answer)
        except Refused as e:
            return JSONResponse({"error": e.message}, status_code=e.status, headers=e.headers)
        except RecordingError as e:
            return JSONResponse({"error": public(str(e), form)}, status_code=400)
        except FeganError as e:     # the models or params: the server's to put right
            return JSONResponse({"error": public(str(e), form)}, status_code=500)
        except Exception as e:        # noqa: BLE001 - one line on the page, the server goes on
            traceback.print_exc()
            return JSONResponse({"error": public(reason_of(e), form)}, status_code=500)

    return Starlette(routes=[Route("/", index), Route("/favicon.ico", favicon),
                             Route("/api/generate", generate, methods=["POST"])],
                     middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(host, allow_hosts),
                                            www_redirect=False)])


def serve(host: str = "127.0.0.1", port: int = 7860, ws: Workspace | None = None,
          allow_hosts: tuple[str, ...] = ()) -> None:
    import socket

    import uvicorn

    # uvicorn reports a port in use in its log and exits; a bind first gives the one line
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, port))       # OSError: the caller's one line
        port = port or probe.getsockname()[1]
    print(f"fegan demo: http://{host_form(host)}:{port}/  (Ctrl-C stops)", flush=True)
    print(f"fegan demo: answers the Host names {', '.join(allowed_hosts(host, allow_hosts))} "
          "(more with --allow-host NAME)", flush=True)
    # limit_concurrency: connections past it get uvicorn's own 503, before any of the app's work
    uvicorn.run(create_app(ws, host, allow_hosts), host=host, port=port, log_level="warning",
                limit_concurrency=64)
