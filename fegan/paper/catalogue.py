"""The experiments behind the tables, as DVC experiments named ``paper-<name>[-s<seed>]``.

Each one is the pipeline with a few ``-S`` overrides, and each pins everything the tables
compare: ``features.kind``, ``model.variant`` and every key of a training recipe
(``fegan.recipes``: ``paper``, ``authors``, ``fegan-v1``), so no experiment inherits a value
from a workspace that a previous one, or ``fegan recipe``, left behind; everything else comes
from the workspace's params.yaml plus the user's extra overrides. A name says its recipe first:
``<recipe>-<variant or features>[-<change>]``, e.g. ``authors-acgan`` or
``paper-fegan-real_only`` (DVC name ``paper-paper-fegan-real_only-s0``).

The sets (``--only SET`` takes them as well as names):

- ``recipes``: FE-GAN under each recipe, for choosing the default on validation data;
- ``table4``: the paper's Table 4 methods (FE-GAN, AC-GAN, Wav2Pix's cGAN, a projection cGAN)
  under the ``paper`` and ``authors`` recipes;
- ``switches``: FE-GAN under the paper's recipe with one choice changed (towards the authors'
  code, or fegan's own additions), one experiment per choice;
- ``lambda-<recipe>``: lambda1 in 0.3/0.5/0.7 (lambda2 = 1 - lambda1) on FE-GAN; ``lambda``
  is the set of params.yaml's recipe (``fegan.recipes.active``);
- ``lr-<recipe>``: ``train.lr`` at half and twice the tables' 0.0004 on FE-GAN, for the recipes
  that can be the default (``LR_RECIPES``); ``lr`` is the set of params.yaml's recipe. The
  learning rate is a key of the scale (``profiles``), not of a recipe: it is chosen once, on
  validation data, under the default recipe. This set chose 0.0008 (params.yaml's since), so
  every other default-scale experiment pins the 0.0004 it was run at (``TABLES_LR``);
- ``authors-baselines``: the masked-part runs of the authors' ``Experiment.md`` (``authors.py``);
- ``unseen``: Table 4's methods under the default recipe on the synthetic population, speakers
  never heard (issue 26): every key of the ``synthetic-population`` profile pinned too, so they
  queue from the default workspace, and the population's preprocessing is shared through DVC's
  run-cache (the first run makes it; queue it alone, or accept that two first runs both do).
  Each method also with V-net's attribute heads (``vnet.attribute_weight`` 1, ``-vnet_attr``), and
  with those weighted 3 beside the emotion head (``vnet.emotion_weight`` 1, ``-vnet_voice``);
- ``unseen-vnet``: FE-GAN alone there with the other two cells of that 2 x 2: the heads at 3 alone
  (``-vnet_attr3``), the emotion head beside the heads at 1 (``-vnet_attr_emo``).

``EARLIER`` are the names of the runs made before the recipes and the validation split
(fegan-v1 at ``train.lr`` 0.0004; ``reports/paper_runs.json``): still read and rendered, no
longer queued. Table 3 (robustness) needs no runs of its own: every run's ``evaluate`` stage
scores the noise and duration conditions.

This module is the catalogue only: names, settings and the ``dvc exp run`` command line of
each; ``runs`` runs them, ``results`` reads them back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .. import overrides
from ..errors import FeganError
from ..profiles import profile_values
from ..recipes import KEYS as RECIPE_KEYS
from ..recipes import RECIPES, active

PREFIX = "paper-"
SEED_KEY = "train.seed"
RUN_ALL = ["dvc", "exp", "run", "--run-all", "--jobs", "1"]

# the keys every experiment sets: what the tables compare
PINNED_KEYS = ("features.kind", "model.variant", *RECIPE_KEYS)
# the paper's Table 4 methods (model.variant) and how the tables label them
METHODS = {"fegan": "FE-GAN", "acgan": "AC-GAN [14]", "cgan": "CGANs [12] (Wav2Pix's)",
           "cgan_proj": "cGAN, projection D (not in the paper)"}
LAMBDAS = (0.3, 0.5, 0.7)
# What every experiment's evaluate skips: the tables read the robustness conditions' identity and
# V-net accuracies only, and their FID/KID (Inception at 299x299) is about half of evaluate's time.
# Runs recorded before this key had it on; it changes no reading the tables show.
EVALUATION = {"evaluate.robustness_fid": False}
# The learning rate the default-scale tables were run at: params.yaml's until the lr set below
# chose 0.0008 on val over 3 paired seeds. Pinned, so those runs stay the tables' rows and a
# rerun reproduces them; the unseen set pins its profile's (the chosen 0.0008) instead.
TABLES_LR = {"train.lr": 0.0004}
# train.lr beside the tables' 0.0004 (the recipe's own FE-GAN run); the 0.0004 of fegan-v1 was
# picked on test voices before the validation split, so issue 25 asks for it again on val
LRS = (0.0002, 0.0008)
LR_RECIPES = ("fegan-v5",)
# speakers never heard (issue 26): the default recipe on this profile, whole
UNSEEN_PROFILE = "synthetic-population"
UNSEEN_RECIPE = "fegan-v5"
# ... and each method there with V-net's voice-borne attribute heads (fegan's addition,
# vnet.attribute_weight): the lever for issue 26's 1:2 matching, chosen on the val speakers (FE-GAN,
# 3 paired seeds), so the profile sets it since and the paper's-V-net rows pin it off
# (every V-net setting below pins the emotion code too, off but where it says so, whatever the profile has)
_NO_CODE = {"vnet.emotion_code": False}
UNSEEN_VNET_ATTR = {"vnet.attribute_weight": 1.0, "vnet.emotion_weight": 0.0, **_NO_CODE}
UNSEEN_PAPER_VNET = {"vnet.attribute_weight": 0.0, "vnet.emotion_weight": 0.0, **_NO_CODE}   # the profile has heads on
# ... and with the emotion head too, the attribute heads weighted 3 (``-vnet_voice``): chosen on
# V-net's own readings of the val speakers (3 V-net seeds: age band 0.45 against 0.35 at weight 1,
# emotion in E_v 0.83 against 0.60; docs/results.md). Against the heads alone, FE-GAN's val emotion
# rose and its 1:2 under the attribute judges fell in every seed: the profile kept the heads alone
UNSEEN_VNET_VOICE = {"vnet.attribute_weight": 3.0, "vnet.emotion_weight": 1.0, **_NO_CODE}
# ... and FE-GAN alone with the other two cells of that 2 x 2 (``unseen-vnet``), to tell which of
# -vnet_voice's two changes cost the speaker: the heads weighted 3 without the emotion head, and the
# emotion head beside the heads at 1 (V-net's val readings, 3 V-net seeds: emotion in E_v 0.88
# against 0.60 without it; size band 0.61 against 0.69)
UNSEEN_VNET_CELLS = {"vnet_attr3": ({"vnet.attribute_weight": 3.0, "vnet.emotion_weight": 0.0, **_NO_CODE},
                                    ", V-net with attribute heads (x3)"),
                     "vnet_attr_emo": ({"vnet.attribute_weight": 1.0, "vnet.emotion_weight": 1.0, **_NO_CODE},
                                       ", V-net with attribute and emotion heads"),
                     # ... and a try at a way out of that trade (not one: the code moved 1:2 and
                     # emotion at about the head's rate, docs/results.md): E_v left to the speaker
                     # (the heads at 1, no emotion head) and G told the emotion by the code beside it
                     # (vnet.emotion_code; its reader names the emotion of 0.77 of the val speakers'
                     # clips at vnet.seed 0, where E_v of the heads alone gives 0.60 to a logistic read)
                     "vnet_attr_code": ({"vnet.attribute_weight": 1.0, "vnet.emotion_weight": 0.0,
                                         "vnet.emotion_code": True},
                                        ", V-net with attribute heads and the emotion code")}


@dataclass(frozen=True)
class Experiment:
    name: str                                   # the catalogue key: paper-<name> in DVC
    recipe: str
    variant: str = "fegan"
    kind: str = "fbank"
    changes: dict[str, Any] = field(default_factory=dict)   # beyond the recipe
    label: str = ""

    def values(self) -> dict[str, Any]:
        """Every pinned key's value, the evaluation's and the tables' learning rate, then the changes."""
        return {"features.kind": self.kind, "model.variant": self.variant, **RECIPES[self.recipe], **EVALUATION,
                **TABLES_LR, **self.changes}


def _lambda(l1: float) -> dict[str, float]:
    return {"lambda1": l1, "lambda2": round(1.0 - l1, 6)}


def _towards(recipe: str, *keys: str) -> dict[str, Any]:
    """The recipe's values of ``keys``: a switch is another recipe's choice, never a new number."""
    return {k: RECIPES[recipe][k] for k in keys}


# One choice at a time on FE-GAN under the paper's recipe (the key, then what it switches to).
# Voice crops are on in the paper and the authors' code alike; the switch is fegan-v1's "off".
SWITCHES = {
    "no_voice_crops": ("voice crops off: one E_v per clip (fegan-v1)", _towards("fegan-v1", "train.voice_crops")),
    "real_only": ("C1/C2 trained on real faces only (authors)", _towards("authors", "train.classify_fakes")),
    "ev": ("E_v normalised + 0.05 N(0, I), no noise input (authors)",
           _towards("authors", "model.normalize_ev", "train.ev_noise", "model.noise_dim")),
    "lambda_in_g": ("lambda in G's step too (authors)", _towards("authors", "train.lambda_in_g")),
    "no_d2_adv": ("D2's adversarial weight 0: lambda1 1, lambda2 0, lambda in G (authors)",
                  _towards("authors", "lambda1", "lambda2", "train.lambda_in_g")),
    "ema": ("EMA of G (fegan's addition)", _towards("fegan-v1", "train.ema_images")),
    "shift": ("translation augmentation of D1 (fegan's addition)", _towards("fegan-v1", "train.augment_shift")),
}


def lambda_name(recipe: str, l1: float, base: str = "fegan") -> str:
    return f"{recipe}-{base}-lambda1_{l1:g}"


def unseen_name(variant: str, change: str = "") -> str:
    return f"{UNSEEN_RECIPE}-{variant}-unseen" + (f"-{change}" if change else "")


def lr_name(recipe: str, lr: float) -> str:
    return f"{recipe}-fegan-lr_{lr:g}"


def _catalogue() -> tuple[dict[str, Experiment], dict[str, list[str]]]:
    exps: dict[str, Experiment] = {}
    sets: dict[str, list[str]] = {}

    def add(set_name: str, e: Experiment) -> None:
        exps.setdefault(e.name, e)
        sets.setdefault(set_name, []).append(e.name)

    for r in RECIPES:
        add("recipes", Experiment(f"{r}-fegan", r, label=f"FE-GAN, recipe {r}"))
    for r in ("paper", "authors"):
        for v, label in METHODS.items():
            add("table4", Experiment(f"{r}-{v}", r, v, label=label))
    for key, (label, change) in SWITCHES.items():
        add("switches", Experiment(f"paper-fegan-{key}", "paper", changes=change, label=label))
    for r in RECIPES:
        for l1 in LAMBDAS:
            if _lambda(l1) == _towards(r, "lambda1", "lambda2"):
                continue                        # the recipe's own weights: its FE-GAN run (recipes)
            add(f"lambda-{r}", Experiment(lambda_name(r, l1), r, changes={**_lambda(l1)},
                                          label=f"lambda1 {l1:g}, lambda2 {1 - l1:g}"))
    for r in LR_RECIPES:
        for lr in LRS:
            add(f"lr-{r}", Experiment(lr_name(r, lr), r, changes={"train.lr": lr}, label=f"train.lr {lr:g}"))
    # every method under each V-net: the paper's, with the attribute heads, with the voice heads
    for change, vnet, says in (("", UNSEEN_PAPER_VNET, ""),
                               ("vnet_attr", UNSEEN_VNET_ATTR, ", V-net with attribute heads"),
                               ("vnet_voice", UNSEEN_VNET_VOICE, ", V-net with attribute (x3) and emotion heads")):
        for v, label in METHODS.items():
            add("unseen", Experiment(unseen_name(v, change), UNSEEN_RECIPE, v,
                                     changes={**profile_values(UNSEEN_PROFILE), **vnet}, label=label + says))
    for change, (vnet, says) in UNSEEN_VNET_CELLS.items():
        add("unseen-vnet", Experiment(unseen_name("fegan", change), UNSEEN_RECIPE, "fegan",
                                      changes={**profile_values(UNSEEN_PROFILE), **vnet},
                                      label=METHODS["fegan"] + says))
    # the authors' masked-part runs (authors.py maps each log entry to one of these)
    for e in (Experiment("authors-acgan", "authors", "acgan", label=METHODS["acgan"]),
              Experiment("authors-no_c1", "authors", "no_c1", label="without C1 (D1 only)"),
              Experiment(lambda_name("authors", 0.7, "no_c1"), "authors", "no_c1", changes=_lambda(0.7),
                         label="without C1, D1 and D2 at 0.7/0.3"),
              Experiment(lambda_name("authors", 0.7, "no_c2"), "authors", "no_c2", changes=_lambda(0.7),
                         label="without C2, D1 and D2 at 0.7/0.3"),
              Experiment(lambda_name("authors", 0.0, "no_d1"), "authors", "no_d1", changes=_lambda(0.0),
                         label="without D1 (D2 at weight 1)"),
              Experiment(lambda_name("authors", 0.3, "mfcc"), "authors", kind="mfcc", changes=_lambda(0.3),
                         label="MFCC, lambda 0.3/0.7")):
        add("authors-baselines", e)
    return exps, sets


EXPERIMENTS, SETS = _catalogue()

# The runs before the recipes (fegan-v1, train.lr 0.0004, no validation split): name -> -S.
EARLIER: dict[str, list[str]] = {
    "fbank": [],                                       # FE-GAN, Fbank: Tables 2, 3, 4, 5
    "mfcc": ["features.kind=mfcc"],                    # Table 2
    "spectrogram": ["features.kind=spectrogram"],      # Table 2
    "no_c1": ["model.variant=no_c1"],                  # Table 2
    "no_c2": ["model.variant=no_c2"],                  # Table 2
    "no_d1": ["model.variant=no_d1"],                  # Table 2
    "no_d2": ["model.variant=no_d2"],                  # Table 2
    "acgan": ["model.variant=acgan"],                  # Tables 4, 5
    "cgan": ["model.variant=cgan"],                    # Tables 4, 5 (Wav2Pix's cGAN, as the paper compares)
    "cgan_proj": ["model.variant=cgan_proj"],          # Tables 4, 5 (a projection discriminator: not in the paper)
}
EARLIER_BASELINE = "fbank"
EARLIER_PINNED = {"features.kind": "fbank", "model.variant": "fegan"}
assert not set(EARLIER) & set(EXPERIMENTS), "an earlier name would read as a new experiment"
ALL_NAMES = [*EXPERIMENTS, *EARLIER]


def varied_keys(name: str) -> set[str]:
    """The keys experiment ``name`` sets (beyond them runs must match to share a table)."""
    if name in EXPERIMENTS:
        return {*EXPERIMENTS[name].values(), SEED_KEY}
    return {*EARLIER_PINNED, SEED_KEY, *(item.partition("=")[0] for item in EARLIER.get(name, []))}


def exp_name(name: str, seed: int | None = None) -> str:
    """The DVC experiment's name: ``paper-<name>``, or ``paper-<name>-s<seed>`` for one of several seeds."""
    return f"{PREFIX}{name}" if seed is None else f"{PREFIX}{name}-s{seed}"


def parse_exp_name(full: str) -> tuple[str, int | None] | None:
    """``paper-<name>[-s<seed>]`` -> (name, seed), earlier names included; None for other experiments."""
    if not full.startswith(PREFIX):
        return None
    rest = full[len(PREFIX):]
    if rest in EXPERIMENTS or rest in EARLIER:
        return rest, None
    head, sep, tail = rest.rpartition("-s")
    if sep and (head in EXPERIMENTS or head in EARLIER) and tail.isdigit():
        return head, int(tail)
    return None


def parse_seeds(text: str | None) -> list[int | None]:
    """``--seeds 0,1,2`` -> [0, 1, 2]; nothing -> [None] (the seed in params.yaml, unsuffixed names)."""
    if not text:
        return [None]
    try:
        seeds = [int(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise FeganError(f"--seeds wants comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise FeganError(f"--seeds wants distinct integers >= 0, got {text!r}")
    return seeds


def _key(item: str) -> str:
    """The dotted key of ``section.key=value`` (``+``/``++``, which add a key, aside)."""
    return item.partition("=")[0].lstrip("+")


def experiment_overrides(name: str, extra: Iterable[str] = (), seed: int | None = None) -> list[str]:
    """All ``-S`` values of experiment ``name``: the pinned keys and its changes (in the grammar
    ``dvc exp run -S`` reads: ``true``, ``0.05``), ``extra``, then the seed."""
    if name not in EXPERIMENTS:
        raise FeganError(f"unknown paper experiment {name!r} ({_known()})")
    values = {k: overrides.format_value(v) for k, v in EXPERIMENTS[name].values().items()}
    for item in [*extra, *([f"{SEED_KEY}={seed}"] if seed is not None else [])]:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise FeganError(f"-S wants section.key=value, got {item!r}")
        values[key] = value
    return [f"{k}={v}" for k, v in values.items()]


def check_extra(extra: Iterable[str], seeds: Iterable[int | None] = (None,)) -> list[str]:
    """The user's extra ``-S`` for every experiment, checked before anything is queued or run:
    not a pinned key, ``section.key=value`` in the grammar DVC reads, and no seed beside ``--seeds``."""
    extra = list(extra)
    for item in extra:
        key = _key(item)
        if key in PINNED_KEYS:
            raise FeganError(f"-S {item}: {key} is what the paper experiments vary (each pins it, with a "
                             "recipe); it cannot be set for all of them")
        if "=" not in item or not key:
            raise FeganError(f"-S wants section.key=value, got {item!r}")
    overrides.parse(extra)
    if list(seeds) != [None] and any(_key(item) == SEED_KEY for item in extra):
        raise FeganError(f"-S {SEED_KEY}=... and --seeds both set the training seed; use one")
    return extra


def default_recipe(params_file: str | Path = "params.yaml") -> str | None:
    """The recipe params.yaml has now (``fegan.recipes.active``), None for none or no file."""
    from ..params import load_params

    if not Path(params_file).is_file():
        return None
    found = active(load_params(params_file))
    return found[0] if found else None


def _known() -> str:
    return f"sets: {', '.join([*SETS, 'lambda', 'lr'])}; names: see docs/experiments.md"


def select(names: Iterable[str] | None, recipe: str | None = None) -> list[str]:
    """``names`` (None: all) validated, in EXPERIMENTS' order; accepts set names, ``paper-``
    prefixes and commas. ``lambda`` is ``lambda-<recipe>``, params.yaml's recipe."""
    if not names:
        return list(EXPERIMENTS)
    wanted: list[str] = []
    for n in names:
        for part in str(n).split(","):
            part = part.strip()
            # a DVC name (paper-paper-fegan) or a catalogue one (paper-fegan: the paper recipe's)
            if part not in EXPERIMENTS and part not in SETS and part.startswith(PREFIX):
                part = part.removeprefix(PREFIX)
            if part in ("lambda", "lr"):
                mine = [s for s in SETS if s.startswith(f"{part}-")]
                if recipe is None or f"{part}-{recipe}" not in SETS:
                    why = ("params.yaml matches none (`fegan recipe NAME` sets one)" if recipe is None
                           else f"params.yaml's recipe {recipe} has none")
                    raise FeganError(f"--only {part} is the {part} set of params.yaml's recipe, and {why}; "
                                     "name it: " + ", ".join(mine))
                part = f"{part}-{recipe}"
            if part in SETS:
                wanted += SETS[part]
            elif part in EARLIER:
                raise FeganError(f"paper-{part} is an earlier run (fegan-v1, before the recipes and the "
                                 "validation split), read from the ledger but no longer queued; its "
                                 "counterpart now is in the sets recipes/table4 (e.g. fegan-v1-fegan, paper-acgan)")
            elif part and part not in EXPERIMENTS:
                raise FeganError(f"unknown paper experiment {part!r} ({_known()})")
            elif part:
                wanted.append(part)
    return [n for n in EXPERIMENTS if n in wanted]


def command(name: str, extra: Iterable[str] = (), queue: bool = True, copy: Iterable[str] = (),
            seed: int | None = None) -> list[str]:
    """The ``dvc exp run`` command line of one experiment (``copy``: ``-C`` arguments)."""
    args = ["dvc", "exp", "run", *(["--queue"] if queue else []), *copy, "--name", exp_name(name, seed)]
    for s in experiment_overrides(name, extra, seed):
        args += ["-S", s]
    return args
