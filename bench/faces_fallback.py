"""What the faces stage's fallback search for small faces costs (``faces.fallback``).

    python bench/faces_fallback.py [--raw data/raw/synthetic] [--clips 48] [--repeat 3]

Three folders of the same clips: as they are (1280x720, faces about 300 px high, which
the fast search finds: there the fallback must cost nothing), and shrunk so that the face
is 12 % of the frame's height (a wide shot; the full-resolution search finds it) or 6 %
(the upsampled search). Each goes through the faces stage (decoding included) with the
fallback on and off, and with the setting a user had to change before the fallback
existed (``downscale: 1``, with ``upsample: 1`` for the smallest faces), which every clip
pays. Rounds run the settings in turn; each figure is the median over rounds. On the
unshrunk folder the fallback's crops must equal those without it, byte for byte (a clip
refused either way differs only in its rows' ``search`` and its reason).
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import pandas as pd
from PIL import Image

from fegan.preprocess.demux import DataConfig, demux
from fegan.preprocess.faces import FacesConfig, run_faces
from fegan.preprocess.vad import VadConfig, run_vad
from preprocess import source_clips     # bench/preprocess.py: this script's folder is on sys.path

# folder -> how much the picture is shrunk (the synthetic faces are ~36-46 % of the height)
FOLDERS = {"normal": 1.0, "12 %": 3.4, "6 %": 6.8}
# label -> FacesConfig fields, per folder
_ON_OFF = {"fallback off": dict(fallback=False), "fallback on": {}}
SETTINGS = {
    "normal": {**_ON_OFF, "downscale 1": dict(downscale=1, fallback=False)},
    "12 %": {**_ON_OFF, "downscale 1": dict(downscale=1, fallback=False)},
    "6 %": {**_ON_OFF, "downscale 1, upsample 1": dict(downscale=1, upsample=1, fallback=False)},
}


def shrunk_copy(src: Path, dst: Path, factor: float) -> None:
    """``src``'s video, every frame shrunk by ``factor`` and centred on a canvas of its size
    filled with the frame's top-left colour (no audio: the faces stage reads none)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(src)) as c, av.open(str(dst), "w") as out:
        vin = c.streams.video[0]
        vs = out.add_stream("libx264", rate=vin.average_rate, options={"preset": "ultrafast"})
        vs.width, vs.height, vs.pix_fmt = vin.width, vin.height, "yuv420p"
        w, h = round(vin.width / factor), round(vin.height / factor)
        for i, frame in enumerate(c.decode(video=0)):
            f = frame.to_ndarray(format="rgb24")
            canvas = np.empty_like(f)
            canvas[:] = f[0, 0]
            y0, x0 = (f.shape[0] - h) // 2, (f.shape[1] - w) // 2
            canvas[y0:y0 + h, x0:x0 + w] = np.asarray(Image.fromarray(f).resize((w, h), Image.BILINEAR))
            vf = av.VideoFrame.from_ndarray(canvas, format="rgb24")
            vf.pts = i
            out.mux(vs.encode(vf))
        out.mux(vs.encode())


def timed(raw: Path, clips: pd.DataFrame, vad: pd.DataFrame, out: Path, workers: int,
          **cfg) -> tuple[float, pd.DataFrame]:
    s = time.perf_counter()
    index = run_faces(FacesConfig(workers=workers, **cfg), clips, vad, raw, out / "x.safetensors", out / "x.parquet",
                      min_clips=0, progress=False)
    return time.perf_counter() - s, index


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", default="data/raw/synthetic", help="a RAVDESS-layout folder of 720p clips")
    ap.add_argument("--clips", type=int, default=48, help="how many of its clips to time")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="rounds; each figure is the median over them")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        picked = source_clips(Path(args.raw), tmp, args.clips)
        roots = {name: tmp / f"raw{k}" for k, name in enumerate(FOLDERS)}
        for p in picked:
            rel = Path(p.parent.name) / p.name
            (roots["normal"] / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(p, roots["normal"] / rel)
            for name, factor in FOLDERS.items():
                if factor != 1:
                    shrunk_copy(p, roots[name] / rel, factor)
        # the clip and VAD tables (frame times) of the unshrunk folder serve all three
        clips = demux(DataConfig(raw_dir=str(roots["normal"]), min_clips=1), tmp / "c.parquet", tmp / "a.safetensors",
                      progress=False)
        vad = run_vad(VadConfig(), clips, tmp / "a.safetensors", tmp / "v.parquet", progress=False)
        # "a folder where no clip needs the fallback": the clips whose face the fast search
        # finds unshrunk (a clip it misses at full size gets the fallback's searches too)
        _, index = timed(roots["normal"], clips, vad, tmp, args.workers, fallback=False)
        keep = vad.clip_id.isin(index.clip_id[index.status == "ok"]).to_numpy()
        clips, vad = clips[keep].reset_index(drop=True), vad[keep].reset_index(drop=True)
        n = len(clips)
        seconds: dict = {}
        found: dict = {}
        for r in range(args.repeat):
            for folder, settings in SETTINGS.items():
                for label, cfg in settings.items():
                    out = tmp / "out" / folder / label
                    out.mkdir(parents=True, exist_ok=True)
                    dt, index = timed(roots[folder], clips, vad, out, args.workers, **cfg)
                    seconds.setdefault((folder, label), []).append(dt)
                    ok = index[index.status == "ok"].drop_duplicates("clip_id")
                    found[(folder, label)] = dict(ok.search.value_counts(), refused=n - len(ok))
            outs = [tmp / "out" / "normal" / label for label in _ON_OFF]
            crops = [(o / "x.safetensors").read_bytes() for o in outs]
            tables = [pd.read_parquet(o / "x.parquet") for o in outs]
            # a clip refused either way differs only in the searches its rows name
            same = [t.drop(columns=["search", "reason"]) for t in tables]
            if crops[0] != crops[1] or not same[0].equals(same[1]):
                raise SystemExit("the fallback changed the crops of a folder whose faces the fast search finds")
    print(f"{n} clips, 1280x720 ({len(keep) - n} of the {len(keep)} picked left out: the fast search finds no face "
          f"in them at full size), {args.workers} worker(s); median of {args.repeat} rounds; the faces stage, "
          f"decoding included\n")
    print("| face height | setting | seconds | ms / clip | clips by the search that found their face |")
    print("|---|---|---|---|---|")
    for (folder, label), ts in seconds.items():
        t = statistics.median(ts)
        by = ", ".join(f"{k} {v}" for k, v in found[(folder, label)].items() if v)
        face = "36-46 % (as synthesised)" if folder == "normal" else folder
        print(f"| {face} | {label} | {t:.2f} ({min(ts):.2f}-{max(ts):.2f}) | {1000 * t / n:.0f} | {by} |")
    print("\nthe unshrunk folder's crops: identical with the fallback on and off")


if __name__ == "__main__":
    main()
