"""FE-GAN's training recipes: the paper's text, the authors' code, and fegan's first default.

Read side by side, the paper (Fang et al. 2021), the authors' code
(fanguu/FE-GAN-voice-to-face-v2.0, ``gan_train_v2.py``; ``gan_train.py`` is stale) and fegan's
first default differ in a handful of choices. Each one is a param, and a recipe is the set of
values of all of them; ``fegan recipe NAME`` writes one into params.yaml (the keys of
``profiles``: scale, dataset and learning rate, are left alone), ``--print-dvc`` prints it as
``dvc exp run -S ...``. Every recipe sets the same keys, so applying one after another is exact.

| key | paper | authors | fegan-v1 |
|---|---|---|---|
| ``train.voice_crops`` | on: 300-800 ms crops "to augment the training data" (3.2) | on: a fresh crop of every voice each step through the frozen V-net (``dataset.py``, ``utils.py: get_collate_fn``) | off: one E_v per clip |
| ``train.classify_fakes`` | on: eqs. 1-2 have the fake term | off: C1/C2 step on real faces only (``gan_train_v2.py``, the D/C step's ``C1_real_loss + C2_real_loss``) | on |
| ``model.normalize_ev`` / ``train.ev_noise`` / ``model.noise_dim`` | raw E_v and a 128-d N(0, I) | ``F.normalize(E_v) + 0.05 N(0, I)``, renormalised, as G's only input; no noise at test | as the paper |
| ``train.lambda_in_g`` | off: lambda weighs L_D1/L_D2 of the D step; G's adversarial term is 1/2 (L_G1 + L_G2) (eqs. 3-5) | on: ``1*D1 + 0*D2`` in both steps | off |
| ``lambda1`` / ``lambda2`` | 0.7 / 0.3 | 1 / 0 (the final script; the logged runs also 0.5/0.5, 0.7/0.3, 0.3/0.7) | 0.7 / 0.3 |
| ``train.ema_images`` / ``train.augment_shift`` | 0 / 0 (none) | 0 / 0 (none) | 10000 / 0.125 (fegan's additions) |

| ``noisy_voices.copies`` / ``snr_db`` | 0 | 0 | 0 (fegan-v3, fegan-v4: 4 babble copies of each training voice at 0-30 dB; fegan-v5: at 10-30 dB) |

``fegan-v2`` is ``fegan-v1`` with voice crops on; ``fegan-v3`` is ``fegan-v2`` with voice crops
drawn from babble-noisy copies too (multi-condition training, ``fegan/preprocess/noisy_voices.py``);
``fegan-v4`` is ``fegan-v1`` with the copies: V-net's crops come from them, and G draws each
training voice's whole-voice E_v, clean or of one of its copies.
"""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from .errors import FeganError

RECIPES: dict[str, dict[str, Any]] = {
    "paper": {
        "train.voice_crops": True, "train.classify_fakes": True, "model.normalize_ev": False,
        "train.ev_noise": 0.0, "model.noise_dim": 128, "train.lambda_in_g": False,
        "lambda1": 0.7, "lambda2": 0.3, "train.ema_images": 0, "train.augment_shift": 0.0,
        "noisy_voices.copies": 0, "noisy_voices.snr_db": [0, 30],
    },
    "authors": {
        "train.voice_crops": True, "train.classify_fakes": False, "model.normalize_ev": True,
        "train.ev_noise": 0.05, "model.noise_dim": 0, "train.lambda_in_g": True,
        "lambda1": 1.0, "lambda2": 0.0, "train.ema_images": 0, "train.augment_shift": 0.0,
        "noisy_voices.copies": 0, "noisy_voices.snr_db": [0, 30],
    },
    "fegan-v1": {
        "train.voice_crops": False, "train.classify_fakes": True, "model.normalize_ev": False,
        "train.ev_noise": 0.0, "model.noise_dim": 128, "train.lambda_in_g": False,
        "lambda1": 0.7, "lambda2": 0.3, "train.ema_images": 10000, "train.augment_shift": 0.125,
        "noisy_voices.copies": 0, "noisy_voices.snr_db": [0, 30],
    },
}
# fegan-v1 with both recipes' voice crops: at seed 0 the crops alone held identity under babble
# (paper, authors) while fegan-v1's additions held FID and emotion; this tries both
RECIPES["fegan-v2"] = {**RECIPES["fegan-v1"], "train.voice_crops": True}
# fegan-v2 trained on babble-noisy copies of its voices too (V-net's crops and G's): multi-condition
# training, fegan's addition for the babble acceptance of issue 25
RECIPES["fegan-v3"] = {**RECIPES["fegan-v2"], "noisy_voices.copies": 4}
# fegan-v1 with the babble copies but no crops: V-net trains on the copies, G sees each training
# voice's whole-voice E_v, clean or of one of its copies (fegan-v3's crops cost identity at seed 0)
RECIPES["fegan-v4"] = {**RECIPES["fegan-v1"], "noisy_voices.copies": 4}
# fegan-v4 without the copies V-net itself cannot place (it names 0.57 of the voices at 1 dB, 0.64
# at 5): over 3 seeds fegan-v4 held identity under babble but lost it on clean validation voices
# (0.68 against fegan-v1's 0.88), as if G were taught to draw one speaker from E_v that point to several
RECIPES["fegan-v5"] = {**RECIPES["fegan-v4"], "noisy_voices.snr_db": [10, 30]}

HELP = {
    "paper": "the paper's text: voice crops, C1/C2 on real and generated faces, E_v beside 128-d noise, "
             "lambda in the D step",
    "authors": "the authors' gan_train_v2.py: voice crops, C1/C2 on real faces, unit E_v + 0.05 noise alone, "
               "1*D1 + 0*D2 in both steps",
    "fegan-v1": "fegan's first default: one E_v per clip, the paper's losses, EMA of G, D1 augmentation",
    "fegan-v2": "fegan-v1 with the voice crops of the paper's and the authors' recipes",
    "fegan-v3": "fegan-v2 trained on babble-noisy copies of its voices too (V-net's and G's crops)",
    "fegan-v4": "fegan-v1 trained on babble-noisy copies of its voices too (V-net's crops, G's whole-voice E_v)",
    "fegan-v5": "fegan-v4 with copies at 10-30 dB SNR only (not 0-30)",
}
KEYS = list(RECIPES["paper"])
assert all(list(r) == KEYS for r in RECIPES.values()), "every recipe sets the same keys"


def recipe_values(name: str) -> dict[str, Any]:
    if name not in RECIPES:
        raise FeganError(f"unknown recipe {name!r} (known: {', '.join(RECIPES)})")
    return dict(RECIPES[name])


def apply_recipe(name: str, params_file: str | Path = "params.yaml") -> list[tuple[str, Any, Any]]:
    """Rewrite ``params_file`` with recipe ``name`` (comments and order kept, written atomically);
    returns [(key, old, new)] it changed."""
    from .profiles import write_values

    return write_values(recipe_values(name), params_file)


def dvc_command(name: str) -> str:
    """The same switch as one ``dvc exp run -S ...`` line (leaves params.yaml as it is)."""
    from .overrides import format_value

    args = ["dvc", "exp", "run"]
    for key, value in recipe_values(name).items():
        args += ["-S", f"{key}={format_value(value)}"]
    return shlex.join(args)


def active(params: dict) -> list[str]:
    """The recipes whose every key params (a loaded params.yaml) has now."""
    def get(key):
        node = params
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return KeyError
            node = node[part]
        return node
    return [n for n, r in RECIPES.items() if all(_same(get(k), v) for k, v in r.items())]


def _same(a, b) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)
