"""`fegan generate` and fegan/inference.py: a voice recording in, a face image out.

The models are small random-initialised V-net and G-net saved in exactly the format
`train_vnet` and `train_fegan` write (training them would take minutes; what is
tested here is the chain around them). One test checks on the shared tiny dataset
that inference computes the same features as the pipeline's stages.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner
from PIL import Image

from factory import write_clip
from fegan import inference
from fegan.cli import cli
from fegan.errors import FeganError
from fegan.models.config import GANConfig, VNetConfig
from fegan.models.gnet import GNet
from fegan.models.vnet import VNet
from fegan.synth.identity import emotion_style, make_actor
from fegan.synth.voice import synthesize_voice
from fegan.training import checkpoint

# the sections generate reads, at params.yaml's values (the test models take 64 fbank channels)
PARAMS_YAML = """data: {sample_rate: 32000}
vad: {aggressiveness: 2, frame_ms: 30, padding_ms: 150, min_speech_ms: 90}
features: {kind: fbank, duration_s: 10.0, n_mels: 64, win_ms: 33.0, hop_ms: 16.0, normalize: utterance}
"""
BIN = Path(sys.executable).parent
SIZE = 32


def _spread(model: torch.nn.Module) -> None:
    """He init: PyTorch's default init shrinks activations layer by layer, and an untrained
    narrow G-net draws a flat colour; this one draws structure that the noise changes."""
    for m in model.modules():
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")


def _save_models(root: Path, kind: str = "fbank") -> tuple[Path, Path]:
    torch.manual_seed(0)
    vcfg = VNetConfig(in_channels=64, channels=[16, 16, 16, 16, 128], n_speakers=4)
    v = VNet(vcfg.in_channels, tuple(vcfg.channels), vcfg.n_speakers).eval()
    checkpoint.save(root / "vnet.pt", config=vcfg.to_dict(), state_dict=v.state_dict(), actors=[1, 2, 3, 4],
                    feature_kind=kind)
    mcfg = GANConfig(image_size=SIZE, width=0.125, n_identities=4, n_emotions=3)
    g = GNet(mcfg.embed_dim, mcfg.noise_dim, mcfg.image_size, mcfg.width, mcfg.dropout)
    _spread(g)
    checkpoint.save(root / "generator.pt", model_config=mcfg.to_dict(), g=g.state_dict(), actors=[1, 2, 3, 4],
                    emotions=[3, 4, 5], lambda1=0.7, lambda2=0.3)
    return root / "vnet.pt", root / "generator.pt"


def _write_voice_calibration(vnet: Path, centroids: dict[int, torch.Tensor], threshold: float) -> Path:
    """A ``vnet_calibration.json`` beside ``vnet`` as `train_vnet` writes it, with centroids and a
    threshold of the test's choosing (the real calibration is tested in test_calibration.py)."""
    import hashlib
    import json

    path = inference.voice_calibration_path(vnet)
    path.write_text(json.dumps({"actors": sorted(centroids), "threshold": threshold, "eer": 0.0,
                                "centroids": [centroids[a].double().tolist() for a in sorted(centroids)],
                                "vnet_md5": hashlib.md5(vnet.read_bytes()).hexdigest()}))
    return path


def _write_mp3(path: Path, wave: np.ndarray, sr: int) -> Path:
    with av.open(str(path), "w", format="mp3") as out:
        s = out.add_stream("libmp3lame", rate=sr, layout="mono")
        # 128 kbit/s, the usual rate: PyAV's default 64 kbit/s has LAME cut the top of the band,
        # where the Fbank's highest mel bins (up to 16 kHz) are
        s.bit_rate = 128000
        frame = av.AudioFrame.from_ndarray(wave.astype(np.float32)[None], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = sr, 0
        out.mux(s.encode(frame))
        out.mux(s.encode())
    return path


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Models, and recordings of one synthetic speaker as wav (44.1 kHz stereo), mp3 and mp4."""
    root = tmp_path_factory.mktemp("generate")
    (root / "params.yaml").write_text(PARAMS_YAML)
    vnet, gen = _save_models(root)
    rng = np.random.default_rng(0)
    voice = synthesize_voice(make_actor(0, 2), emotion_style(1, 1)[1], 1, rng, sample_rate=44100).audio
    sf.write(root / "speech.wav", np.stack([voice, 0.8 * voice], 1), 44100, subtype="PCM_16")
    _write_mp3(root / "speech.mp3", voice, 44100)
    frames = [np.full((48, 64, 3), 40 * (i % 6), np.uint8) for i in range(int(len(voice) / 44100 * 10))]
    write_clip(root / "speech.mp4", frames, voice, fps=10, sample_rate=44100)
    sf.write(root / "silent.wav", np.random.default_rng(1).normal(0, 1e-4, 32000), 32000)
    loud = np.flatnonzero(np.abs(voice) > 0.05)[0]
    sf.write(root / "short.wav", voice[loud:loud + 4410], 44100)   # 0.1 s of a vowel
    write_clip(root / "mute.mp4", frames[:5], None, fps=10)          # a video with no audio track
    (root / "broken.pt").write_bytes(b"not a checkpoint")
    return root, vnet, gen


def _generate(env, *args, voice="speech.wav", out="face.png"):
    root, vnet, gen = env
    return CliRunner().invoke(cli, ["generate", str(root / voice), "-o", str(root / out), "--vnet", str(vnet),
                                    "--generator", str(gen), "--params", str(root / "params.yaml"), *args])


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_generate_writes_a_face_and_the_seed_fixes_it(env):
    root = env[0]
    r = _generate(env, "--seed", "7", out="a.png")
    assert r.exit_code == 0, r.output
    assert r.stdout.count("\n") == 1 and r.stdout.startswith(f"wrote {root / 'a.png'}")
    # no vnet_calibration.json beside the V-net: no similarity, and the line says so
    assert "s of speech" in r.stdout and "; V-net's nearest training speaker A0" in r.stdout
    assert "(uncalibrated: no similarity; " in r.stdout and "vnet_calibration.json not found" in r.stdout
    img = Image.open(root / "a.png")
    assert img.format == "PNG" and img.size == (SIZE, SIZE) and img.mode == "RGB"
    assert _pixels(root / "a.png").std(axis=(0, 1)).min() > 5   # not a flat image
    assert _generate(env, "--seed", "7", out="b.png").exit_code == 0
    assert (root / "a.png").read_bytes() == (root / "b.png").read_bytes()
    assert _generate(env, "--seed", "8", out="c.png").exit_code == 0
    assert np.abs(_pixels(root / "a.png").astype(int) - _pixels(root / "c.png")).max() > 0
    assert not [p.name for p in root.iterdir() if p.name.endswith(".tmp")]   # atomic writes leave nothing


def _e_v(env, voice: str) -> torch.Tensor:
    root, vnet, gen = env
    return inference.faces_from_voice(root / voice, {"data": {}, "vad": {}, "features": {}}, vnet, gen).e_v.double()


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


@pytest.fixture(scope="module")
def nearest_other_voice(env):
    """The highest cosine between the wav's E_v and that of another speaker saying the same
    sentence with the same emotion and timing (the same random draws): the nearest voices
    that are not this clip's. The test V-net is untrained and tells voices apart only a little,
    so this bar is high: another take of the same voice would not clear it, only the same clip."""
    root = env[0]
    ref = _e_v(env, "speech.wav")
    cosines = []
    for actor in (1, 3, 4, 5, 6):
        voice = synthesize_voice(make_actor(0, actor), emotion_style(1, 1)[1], 1, np.random.default_rng(0),
                                 sample_rate=44100).audio
        sf.write(root / f"actor{actor}.wav", voice, 44100, subtype="PCM_16")
        cosines.append(_cos(ref, _e_v(env, f"actor{actor}.wav")))
    return max(cosines)


@pytest.mark.parametrize("voice", ["speech.mp3", "speech.mp4"])
def test_mp3_and_video_audio_tracks(env, voice, nearest_other_voice):
    """An mp3, and a video's audio track, give a face of the right size, and V-net hears the
    same clip in them as in the wav: their E_v is nearer to the wav's than any other voice's."""
    r = _generate(env, voice=voice, out=voice + ".png")
    assert r.exit_code == 0, r.output
    assert Image.open(env[0] / (voice + ".png")).size == (SIZE, SIZE)
    assert _cos(_e_v(env, voice), _e_v(env, "speech.wav")) > nearest_other_voice


def test_a_decoding_error_would_not_pass_for_the_same_voice(env, nearest_other_voice):
    """The check above can fail: the wav's samples labelled 48 kHz instead of 44.1 kHz (what a
    decoder that ignored the stream's rate would hand on: 9 % faster and higher) are farther
    from the wav than another speaker's voice."""
    root = env[0]
    wave, sr = sf.read(root / "speech.wav", dtype="float32")
    sf.write(root / "misread.wav", wave, 48000, subtype="PCM_16")
    assert sr == 44100
    assert _cos(_e_v(env, "misread.wav"), _e_v(env, "speech.wav")) < nearest_other_voice


def test_generate_says_whether_the_voice_is_close_or_new(env, tmp_path):
    """With the V-net's calibration beside it, the line says close (with the speaker, the
    similarity and the threshold) or new; the image is the same bytes either way. A calibration
    written for another V-net is not read."""
    root, vnet, gen = env
    models = tmp_path / "models"
    models.mkdir()
    vnet = Path(shutil.copy(vnet, models / "vnet.pt"))
    ref = _e_v(env, "speech.wav")
    voice = synthesize_voice(make_actor(0, 5), emotion_style(3, 1)[1], 2, np.random.default_rng(5),
                             sample_rate=44100).audio
    sf.write(root / "actor5_happy.wav", voice, 44100, subtype="PCM_16")
    other = _e_v(env, "actor5_happy.wav")

    def line(*args):
        r = CliRunner().invoke(cli, ["generate", str(root / "speech.wav"), "-o", str(tmp_path / "f.png"),
                                     "--vnet", str(vnet), "--generator", str(gen), "--params",
                                     str(root / "params.yaml"), *args])
        assert r.exit_code == 0 and r.stdout.count("\n") == 1, r.output
        return r.stdout.split("; ", 1)[1].strip(), (tmp_path / "f.png").read_bytes()

    plain, image = line()
    assert plain.startswith("V-net's nearest training speaker A0")
    # actor 3's centroid is this very voice: similarity 1, close
    _write_voice_calibration(vnet, {1: other, 2: -ref, 3: ref, 4: -ref}, 0.8)
    close, same = line()
    assert close == "close to training speaker A03 (similarity 1.00, threshold 0.80)" and same == image
    # nobody near it: new, and the nearest is named with its similarity
    sim = _cos(ref, other)
    _write_voice_calibration(vnet, {1: other, 2: -ref, 3: -ref, 4: -ref}, (1 + sim) / 2)
    new, same = line()
    assert new == f"a new voice (nearest training speaker A01 at similarity {sim:.2f}; threshold {(1 + sim) / 2:.2f})"
    assert same == image
    # another V-net's calibration (its md5 differs) is not read
    checkpoint.save(vnet, **checkpoint.load(vnet), note="retrained")
    stale, _ = line()
    assert stale.startswith("V-net's nearest training speaker A0") and "was written for another vnet.pt" in stale


def test_several_faces_in_a_grid_or_separate_files(env):
    root = env[0]
    assert _generate(env, "--n", "5", out="grid.png").exit_code == 0
    # 5 faces: 3 a row, 2 rows, 2 px apart and around
    assert Image.open(root / "grid.png").size == (3 * (SIZE + 2) + 2, 2 * (SIZE + 2) + 2)
    r = _generate(env, "--n", "3", "--separate", out="sep.png")
    assert r.exit_code == 0, r.output
    assert [Image.open(root / f"sep_{i}.png").size for i in range(3)] == [(SIZE, SIZE)] * 3
    assert not (root / "sep.png").exists()
    grid = _pixels(root / "grid.png")
    for i in range(3):   # face i is the same whatever --n and layout
        r, c = divmod(i, 3)
        y, x = 2 + r * (SIZE + 2), 2 + c * (SIZE + 2)
        assert np.array_equal(grid[y:y + SIZE, x:x + SIZE], _pixels(root / f"sep_{i}.png"))


def test_any_length_of_speech(env):
    """A short utterance is tiled to the features' 10 s, a long recording is cut."""
    root, vnet, gen = env
    params = {"data": {}, "vad": {}, "features": {}}   # the stage defaults (params.yaml's values)
    wave, sr = sf.read(root / "speech.wav", dtype="float32")
    sf.write(root / "long.wav", np.tile(wave, (12, 1)), sr)   # ~45 s
    short = inference.faces_from_voice(root / "speech.wav", params, vnet, gen)
    long = inference.faces_from_voice(root / "long.wav", params, vnet, gen)
    assert 0.5 < short.voiced_s < 4 and long.voiced_s > 20
    assert short.images.shape == long.images.shape == (1, 3, SIZE, SIZE)
    assert short.images.dtype == torch.uint8 and torch.isfinite(long.e_v).all()


def _one_line_error(r, *needles):
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fegan: error: "), r.stderr
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_silent_recording_is_one_error_line_from_the_command(env):
    root, vnet, gen = env
    p = subprocess.run([BIN / "fegan", "generate", root / "silent.wav", "-o", root / "silent.png", "--vnet", vnet,
                        "--generator", gen, "--params", root / "params.yaml"], capture_output=True, text=True,
                       env=dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}"))
    _one_line_error(_Proc(p), "silent.wav", "no speech found")
    assert not (root / "silent.png").exists()


class _Proc:
    def __init__(self, p):
        self.exit_code, self.stdout, self.stderr, self.output = p.returncode, p.stdout, p.stderr, p.stderr


def test_bad_inputs_are_one_clear_line(env):
    root, vnet, gen = env
    _one_line_error(_generate(env, voice="short.wav"), "short.wav: only 0.", "s of speech, need at least 0.30 s")
    _one_line_error(_generate(env, voice="nothing.wav"), "nothing.wav: no such file")
    _one_line_error(_generate(env, voice="mute.mp4"), "mute.mp4: cannot read audio (no audio stream)")
    _one_line_error(_generate(env, voice="broken.pt"), "broken.pt: cannot read audio")
    _one_line_error(_generate(env, "--n", "0"), "--n must be at least 1")
    _one_line_error(_generate(env, out="face.xyz"), "unknown image type")
    _one_line_error(_generate(env, "-S", "features.kind=mfcc"), "trained on fbank features",
                    "features.kind=mfcc")
    _one_line_error(_generate(env, "-S", "features.n_mels=40"), "takes 64 feature channels but params give 40")
    for flag in ("--vnet", "--generator"):   # the last --vnet/--generator given wins
        _one_line_error(_generate(env, flag, str(root / "missing.pt"), out="x.png"), "missing.pt not found",
                        "dvc repro")
        _one_line_error(_generate(env, flag, str(root / "broken.pt"), out="x.png"), "broken.pt: not a loadable")
    # the checkpoints of the other model are not taken for this one
    with pytest.raises(FeganError, match="not a V-net checkpoint"):
        inference.load_vnet(gen)
    with pytest.raises(FeganError, match="not a generator checkpoint"):
        inference.load_generator(vnet)
    assert not (root / "x.png").exists()


def test_generate_is_deterministic_and_batch_independent():
    g = GNet(image_size=SIZE, width=0.125).eval()
    _spread(g)
    e = torch.randn(128)
    a = inference.generate(g, e, n=4, seed=3)
    assert a.dtype == torch.uint8 and a.shape == (4, 3, SIZE, SIZE)
    assert torch.equal(a, inference.generate(g, e, n=4, seed=3))
    assert torch.equal(a[:1], inference.generate(g, e, n=1, seed=3))
    assert not torch.equal(a, inference.generate(g, e, n=4, seed=4))
    with pytest.raises(FeganError, match="takes a 128-d E_v but V-net gives 64-d"):
        inference.generate(g, torch.randn(64))


def test_inference_features_are_the_pipelines(tiny_processed):
    """Same decode, resampling, VAD and features as demux -> vad -> features, clip by clip."""
    from safetensors.numpy import load_file

    from fegan import paths
    from fegan.preprocess.features import FeaturesConfig, compute
    from fegan.preprocess.vad import VadConfig

    cfg, _, out, (clips, _, index, _) = tiny_processed
    feats = load_file(str(out / paths.FEATURES))["features"]
    ok = index[index.row >= 0].merge(clips[["clip_id", "path"]], on="clip_id")
    vad = {k: v for k, v in vars(VadConfig()).items() if k != "workers"}
    fcfg = {k: v for k, v in vars(FeaturesConfig()).items() if k != "workers"}
    for _, r in ok.iloc[::16].iterrows():
        wave = inference.voiced(inference.load_voice(Path(cfg.out_dir) / r.path, 32000), 32000, **vad)
        np.testing.assert_allclose(compute(wave, 32000, **fcfg).numpy(), feats[r.row], atol=1e-4)
