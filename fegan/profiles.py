"""Named sets of params: the synthetic default and population, RAVDESS at the paper's scale,
eNTERFACE'05, CREMA-D.

``fegan profile NAME [--raw-dir DIR]`` rewrites params.yaml in place (ruamel round trip:
comments, order and layout kept; written atomically) and prints each key it changed;
``--print-dvc`` prints the same switch as one ``dvc exp run -S ...`` line instead. Every
profile sets the same keys, so applying one after another is exact and ``synthetic`` restores
the shipped params.yaml.

Why these values (paper 4.1 and 3.2):
- ``faces.image_size`` 128 and ``model.width`` 1.0: the paper's 128x128 faces and 1024..32
  channels;
- ``train.iterations`` 20000: the paper gives no count. RAVDESS has ~1080 training clips,
  3 frames each: ~3240 faces, ~50 batches of 64 per epoch, so 20000 iterations are ~400
  epochs, the order DCGAN-style models need on a few thousand 128x128 images (about 1.5-3 h
  on one recent GPU at width 1.0; checkpoints every 1000 resume a killed run);
- ``train.lr`` 0.0002: the paper's Adam learning rate. The synthetic default quadruples it: its
  10000 steps at 32x32 are a short run. 0.0004 was first picked on test voices (docs/training.md,
  "The learning rate"); chosen again on validation voices under the default recipe, over 3 seeds
  paired against 0.0004, 0.0008 read val FID -50.1 +- 25.8, identity +14.6 +- 4.8 points and
  emotion +4.1 +- 3.1, better in all three seeds, and 0.0002 was worse in all three (the
  ``lr`` set of ``fegan paper-tables``; docs/results.md);
- ``vnet.epochs`` 300: the paper halves V-net's learning rate "every 100 epochs", so it trains
  for several hundred (the synthetic default stops at 150);
- ``evaluate.identity.steps`` and ``evaluate.emotion.steps`` 3000: the judges are fitted by
  steps of 32 faces; 1000 are ~10 epochs of RAVDESS's ~3240 training faces, 3000 ~30 (their
  accuracy on real faces is the ceiling row, so an underfitted judge shows);
- eNTERFACE'05's 720x576 frames are detected at full size (``faces.downscale`` 1), RAVDESS's
  1280x720 at half, as on the synthetic set. The paper's detector is dlib's CNN (``mmod``);
  ``hog`` is kept (frontal studio faces; ``mmod`` takes ~2.7 s per frame on 2 CPU cores
  without CUDA dlib): add ``-S faces.detector=mmod`` to follow the paper there too;
- CREMA-D's 480x360 frames are detected at full size too: their faces are near or under the
  half-size search's smallest (~145 px wide), so at ``downscale`` 2 most clips would pay a failed
  fast search before the fallback found their face (docs/footage.md). Its ~7440 clips are ~5x
  RAVDESS's: the same 20000 iterations are ~80 epochs of its ~15000 training faces (not run
  here: there is no CREMA-D on the development machine);
- ``data.split``: the paper's ``utterance`` protocol for RAVDESS and eNTERFACE'05 (their tables);
  ``speaker`` for CREMA-D, the real data set on which unseen speakers and expression can be
  measured together (issue 26): 18 of its 91 actors for test and 9 for val, a fifth and a tenth,
  64 left to train on. The speaker counts of the others (a sixth and a twelfth of RAVDESS's 24
  actors and of eNTERFACE'05's ~43) are used only after ``-S data.split=speaker``;
- ``synthetic-population``: the synthetic set in population mode (``synth.population``: sex, age
  and size drive voice and face; docs/pipeline.md) under the speaker protocol: 80 actors, 16 of
  them for test and 8 for val, never seen in training; 8 clips each (neutral, happy, sad, angry at
  normal intensity, two statements, one repetition: 640 clips) at 480x360, so that the whole
  pipeline fits the 2-core budget of the default run (issue 26: 45 min). At 360 px a face is
  ~100-130 px wide, under the half-size search's ~145 px, so it is searched at full size
  (``faces.downscale`` 1), where HOG finds ~98 % of single frames, as it does on the default
  set's 720p frames at half size. The sizes and the training are the default's (32x32 faces:
  sex, grey hair and face width survive the crop). Every profile sets the ``synth`` keys this
  one changes, to the shipped values in the others. V-net's attribute heads are on
  (``vnet.attribute_weight`` 1): over 3 seeds they raised the val speakers' 1:2 matching by
  0.165 +- 0.182 under the attribute judges and 0.088 +- 0.085 under dlib's descriptor. V-net's
  emotion head stays off (``vnet.emotion_weight`` 0): with it and the heads at 3, val emotion
  rose 0.173 +- 0.032 but 1:2 under the attribute judges fell 0.078 +- 0.090, in every seed. So
  does its emotion code (``vnet.emotion_code`` false): beside the heads at 1 it raised val
  emotion 0.126 +- 0.083 in every seed and lowered 1:2 by 0.062 +- 0.100, in two of three.
"""
from __future__ import annotations

import io
import re
import shlex
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import FeganError
from .io import atomic_path
from .overrides import format_value
from .params import read_yaml

RAW_DIR = "data.raw_dir"


@dataclass(frozen=True)
class Profile:
    help: str
    values: dict[str, Any]                                  # dotted key -> value; RAW_DIR None: from --raw-dir
    needs_raw_dir: bool = False
    notes: list[str] = field(default_factory=list)


_PAPER_SCALE = {
    "faces.image_size": 128,
    "model.width": 1.0,
    "train.iterations": 20000,
    "train.lr": 0.0002,
    "train.checkpoint_every": 1000,
    "train.sample_every": 1000,
    "vnet.epochs": 300,
    "evaluate.identity.steps": 3000,
    "evaluate.emotion.steps": 3000,
    "device": "auto",
}


def _split(split: str, test_speakers: int, val_speakers: int) -> dict[str, Any]:
    """The protocol (``data.split``) and, for ``speaker``, how many whole speakers test and val hold."""
    return {"data.split": split, "data.test_speakers": test_speakers, "data.val_speakers": val_speakers}


# the default synthetic set as shipped; every profile but synthetic-population keeps it
_SYNTH = {
    "synth.population": False,
    "synth.actors": 8,
    "synth.intensities": [1, 2],
    "synth.repetitions": [1, 2],
    "synth.width": 1280,
    "synth.height": 720,
    "synth.out_dir": "data/raw/synthetic",
}

_CPU_SCALE = {
    "faces.image_size": 32,
    "model.width": 0.25,
    "train.iterations": 10000,
    "train.lr": 0.0008,
    "train.checkpoint_every": 1000,
    "train.sample_every": 1000,
    "vnet.epochs": 150,
    "evaluate.identity.steps": 300,
    "evaluate.emotion.steps": 1000,
    "device": "auto",
}

POPULATION_DIR = "data/raw/population"
# V-net's attribute and emotion heads and its emotion code (fegan's additions): off, but the attribute heads on the
# population, where they were chosen on the val speakers (docs/results.md); every profile sets the
# keys, so switching back is exact
_VNET = {"vnet.attribute_weight": 0.0, "vnet.emotion_weight": 0.0, "vnet.emotion_code": False}

PROFILES: dict[str, Profile] = {
    "synthetic": Profile(
        "the embedded synthetic dataset at CPU scale (params.yaml as shipped)",
        {"data.format": "ravdess", RAW_DIR: "data/raw/synthetic", "faces.downscale": 2, **_CPU_SCALE,
         **_split("utterance", 16, 8), **_SYNTH, **_VNET}),
    "ravdess-paper": Profile(
        "RAVDESS (Video_Speech_Actor_XX folders) at the paper's scale: 128x128, full width, GPU",
        {"data.format": "ravdess", RAW_DIR: None, "faces.downscale": 2, **_PAPER_SCALE, **_split("utterance", 4, 2),
         **_SYNTH, **_VNET},
        needs_raw_dir=True),
    "enterface": Profile(
        "eNTERFACE'05 ('subject N' folders) at the paper's scale: 128x128, full width, GPU",
        {"data.format": "enterface", RAW_DIR: None, "faces.downscale": 1, **_PAPER_SCALE, **_split("utterance", 8, 4),
         **_SYNTH, **_VNET},
        needs_raw_dir=True),
    "cremad": Profile(
        "CREMA-D (VideoFlash/, VideoDemographics.csv), unseen speakers, paper scale: 128x128, full width, GPU",
        {"data.format": "cremad", RAW_DIR: None, "faces.downscale": 1, **_PAPER_SCALE, **_split("speaker", 18, 9),
         **_SYNTH, **_VNET},
        needs_raw_dir=True),
    "synthetic-population": Profile(
        "80 synthetic actors whose sex, age and size drive voice and face, 24 never seen in training, CPU scale",
        {"data.format": "ravdess", RAW_DIR: POPULATION_DIR, "faces.downscale": 1, **_CPU_SCALE,
         **_split("speaker", 16, 8), **_SYNTH, "synth.population": True, "synth.actors": 80,
         "synth.intensities": [1], "synth.repetitions": [1], "synth.width": 480, "synth.height": 360,
         "synth.out_dir": POPULATION_DIR, **_VNET, "vnet.attribute_weight": 1.0}),
}


def profile_values(name: str, raw_dir: str | None = None) -> dict[str, Any]:
    """The dotted keys and values of profile ``name`` (``raw_dir`` fills ``data.raw_dir``)."""
    if name not in PROFILES:
        raise FeganError(f"unknown profile {name!r} (known: {', '.join(PROFILES)})")
    prof = PROFILES[name]
    values = dict(prof.values)
    if prof.needs_raw_dir:
        if not raw_dir:
            raise FeganError(f"profile {name} needs --raw-dir (the dataset's folder)")
        values[RAW_DIR] = str(raw_dir)
    elif raw_dir:
        values[RAW_DIR] = str(raw_dir)
    return values


def _yaml():
    from ruamel.yaml import YAML

    y = YAML()                          # round trip: comments, key order, flow lists kept
    y.preserve_quotes = True
    y.width = 4096                      # never re-wrap long lines
    # keep `null` as written (ruamel's default writes an empty value)
    y.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    return y


def _get(tree: dict, key: str, default=KeyError):
    node = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is KeyError:
                raise KeyError(key)
            return default
        node = node[part]
    return node


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same YAML kind (1 and 1.0 differ in params.yaml; ruamel's ScalarFloat
    is a float)."""
    return a == b and all(isinstance(a, t) == isinstance(b, t) for t in (bool, float, str))


def _like(old: Any, value: Any) -> Any:
    """``value`` written in ``old``'s style: a list replacing a flow list (``[1, 2]``) stays on
    its line (ruamel would write a new list as a block, one item a line)."""
    from ruamel.yaml.comments import CommentedSeq

    if isinstance(value, list) and isinstance(old, CommentedSeq) and old.fa.flow_style():
        value = CommentedSeq(value)
        value.fa.set_flow_style()
    return value


def _comment_column(text: str) -> int:
    """The column most of the file's end-of-line comments start at (40 in params.yaml)."""
    cols = [len(m.group(1)) for m in (re.match(r"^(\s*[^#\s][^#]*?\s+)#", ln) for ln in text.splitlines()) if m]
    return Counter(cols).most_common(1)[0][0] if cols else 0


def _realign(text: str, lines: dict[int, str | None], column: int) -> str:
    """Put the comment of each changed line back at ``column`` (after the value when it is
    longer): ruamel keeps a comment where the previous value pushed it, so a long --raw-dir
    would otherwise leave the synthetic profile's params.yaml differently spaced."""
    out = text.splitlines(keepends=True)
    for i, comment in lines.items():
        line = out[i].rstrip("\n")
        if comment and line.endswith(comment):
            head = line[: -len(comment)].rstrip()
            out[i] = head + " " * max(1, column - len(head)) + comment + "\n"
    return "".join(out)


def apply_to_text(text: str, values: dict[str, Any]) -> tuple[str, list[tuple[str, Any, Any]]]:
    """params.yaml text with ``values`` set -> (new text, [(key, old, new)] of what changed)."""
    y = _yaml()
    doc = y.load(text)
    if doc is None:
        raise FeganError("params.yaml is empty")
    changed, lines = [], {}
    for key, value in values.items():
        *parents, leaf = key.split(".")
        node = doc
        for part in parents:
            if part not in node or not isinstance(node[part], dict):
                raise FeganError(f"params.yaml has no section {'.'.join(parents)!r} (for {key})")
            node = node[part]
        if leaf not in node:
            raise FeganError(f"params.yaml has no key {key} (an older params.yaml? compare with the repository's)")
        old = node[leaf]
        if not _same(old, value):
            changed.append((key, old, value))
            node[leaf] = _like(old, value)
            token = (node.ca.items.get(leaf) or [None] * 3)[2]
            lines[node.lc.key(leaf)[0]] = token.value.split("\n")[0] if token is not None else None
    if not changed:
        return text, []
    out = io.StringIO()
    y.dump(doc, out)
    new = _realign(out.getvalue(), lines, _comment_column(text))
    # the result must read back as the old params with exactly these keys changed
    before, after = read_yaml(text), read_yaml(new)
    for key, value in values.items():
        if _get(after, key) != value:
            raise FeganError(f"internal: {key} did not round-trip through params.yaml")
        *parents, leaf = key.split(".")
        target = _get(before, ".".join(parents)) if parents else before
        target[leaf] = value
    if before != after:
        raise FeganError("internal: rewriting params.yaml changed more than the profile's keys")
    return new, changed


def apply_profile(name: str, raw_dir: str | None = None, params_file: str | Path = "params.yaml",
                  check_raw_dir: bool = True) -> list[tuple[str, Any, Any]]:
    """Rewrite ``params_file`` with profile ``name``; returns [(key, old, new)] it changed."""
    values = profile_values(name, raw_dir)
    if check_raw_dir and raw_dir and not Path(raw_dir).is_dir():
        raise FeganError(f"--raw-dir {raw_dir} is not a folder")
    return write_values(values, params_file)


def write_values(values: dict[str, Any], params_file: str | Path = "params.yaml") -> list[tuple[str, Any, Any]]:
    """Set dotted ``values`` in ``params_file`` (comments and order kept, written atomically);
    returns [(key, old, new)] it changed. A profile's and a recipe's switch."""
    path = Path(params_file)
    if not path.is_file():
        raise FeganError(f"no params file at {path} (run from the repository root)")
    new, changed = apply_to_text(path.read_text(), values)
    if changed:
        with atomic_path(path, suffix=".yaml") as tmp:
            tmp.write_text(new)
    return changed


def dvc_command(name: str, raw_dir: str | None = None) -> str:
    """The same switch as one ``dvc exp run -S ...`` line (leaves params.yaml as it is)."""
    args = ["dvc", "exp", "run"]
    for key, value in profile_values(name, raw_dir).items():
        args += ["-S", f"{key}={format_value(value)}"]
    return shlex.join(args)


def active(params_file: str | Path = "params.yaml") -> list[str]:
    """The profiles whose keys params.yaml has now (``data.raw_dir`` not compared for those that
    take --raw-dir)."""
    try:
        params = read_yaml(Path(params_file).read_text()) or {}
    except OSError:
        return []
    hits = []
    for name, prof in PROFILES.items():
        ok = True
        for key, value in prof.values.items():
            if key == RAW_DIR and prof.needs_raw_dir:
                continue
            if not _same(_get(params, key, None), value):
                ok = False
                break
        if ok:
            hits.append(name)
    return hits
