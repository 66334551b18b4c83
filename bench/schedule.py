"""FE-GAN's seed spread: FID and the judges along one training run, for several schedules at once.

    python bench/schedule.py --seed 1 [--lr-decay 0.5] [--ema 10000,40000,160000]
                             [--eval-at 6000,8000,10000] [--threads 1] [--out bench/schedule_s1.json]

Trains the default FE-GAN (params.yaml's model/train sections, on the artifacts `dvc repro`
made) with the default loop, keeping several exponential moving averages of G's weights side by
side (``--ema``: half-lives in images; one run gives them all, as they do not feed back into
training), and at each ``--eval-at`` step scores every average as `evaluate` does on the test
voices (along the way, only the first average; all at the last step): FID and KID of 10 faces a voice (560) against the real test faces, identity and emotion
by the paper-style judges. ``--lr-decay F`` decays both learning rates linearly to 0 over the
last fraction F of the steps (a schedule to compare; 0: constant, the default loop). Prints one
JSON line per (step, average) and writes them all to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr-decay", type=float, default=0.0)
    ap.add_argument("--ema", default="10000,40000,160000")
    ap.add_argument("--eval-at", default="6000,8000,10000")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], help="train.KEY=VALUE overrides")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import numpy as np
    import torch

    from fegan.evaluation.judges_stage import load_judges
    from fegan.evaluation.stage import EvalConfig, Judges, generate
    from fegan.models.config import GANConfig
    from fegan.params import build_config, load_params
    from fegan.training import checkpoint
    from fegan.training.data import Labels, usable_clips
    from fegan.training.ema import EMA
    from fegan.training.gan import GANTrainConfig, build, export_generator, train_step
    from fegan.training.gan_data import gan_data
    from fegan import paths

    if args.threads:
        torch.set_num_threads(args.threads)
    params = load_params()
    train_params = dict(params["train"], seed=args.seed)
    for kv in args.set:
        k, v = kv.split("=", 1)
        train_params[k] = type(train_params[k])(v) if train_params.get(k) is not None else v
    tcfg = build_config(GANTrainConfig, train_params, "train")
    vnet = checkpoint.load(paths.VNET)
    labels = Labels.from_clips(usable_clips())
    mcfg = build_config(GANConfig, {**params["model"], "image_size": params["faces"]["image_size"],
                                    "embed_dim": vnet["config"]["channels"][-1],
                                    "n_identities": len(labels.actors), "n_emotions": len(labels.emotions)}, "model")
    train, test = gan_data("train", labels, features=tcfg.voice_crops), gan_data("test", labels)
    from fegan.models.vnet import from_checkpoint
    encoder = from_checkpoint(vnet) if tcfg.voice_crops else None   # embeds the recipe's voice crops
    ecfg = build_config(EvalConfig, params["evaluate"], "evaluate")
    device = torch.device("cpu")
    judges = Judges(ecfg, *load_judges(labels), train, params["faces"]["padding"], device)   # train_judges' judges
    real_feats = judges.features(test.faces.numpy(), real=True)
    n = ecfg.samples_per_voice
    id_true, emo_true = test.voice_id.numpy().repeat(n), test.voice_emo.numpy().repeat(n)

    torch.manual_seed(tcfg.seed)
    gen = torch.Generator().manual_seed(tcfg.seed)
    model, opt_g, opt_d = build(mcfg, tcfg, device)
    emas = {int(h): EMA(model.g, h, tcfg.ema_rampup) for h in args.ema.split(",")}
    eval_at = {int(s) for s in args.eval_at.split(",")}
    decay_from = int(tcfg.iterations * (1 - args.lr_decay)) if args.lr_decay > 0 else tcfg.iterations
    rows, t0 = [], time.time()
    model.train()
    for step in range(tcfg.iterations):
        if step >= decay_from:
            lr = tcfg.lr * (tcfg.iterations - step) / (tcfg.iterations - decay_from)
            for opt in (opt_g, opt_d):
                for group in opt.param_groups:
                    group["lr"] = lr
        train_step(model, opt_g, opt_d, train, gen, tcfg, params["lambda1"], params["lambda2"], device,
                   vnet=encoder, hop_ms=params["features"]["hop_ms"])
        done = step + 1
        for ema in emas.values():
            ema.update(model.g, done * tcfg.batch_size, tcfg.batch_size)
        if done not in eval_at:
            continue
        # every average at the last step; along the way only the first (the one the loop exports)
        for half_life, ema in list(emas.items())[: None if done == tcfg.iterations else 1]:
            g = export_generator(model, ema, train.voice_ev, tcfg.seed)     # what train_fegan exports
            fake = generate(g, test.voice_ev, n, ecfg.seed, device, ecfg.batch_size)
            scores, _, _, _ = judges.score(fake, id_true, emo_true, real_feats, descriptor=0)
            row = {"seed": args.seed, "lr_decay": args.lr_decay, "set": args.set, "step": done,
                   "ema_images": half_life, "minutes": round((time.time() - t0) / 60, 1),
                   **{k: round(float(scores[k]), 4) for k in ("fid", "kid", "id_acc", "emo_acc")}}
            print(json.dumps(row), flush=True)
            rows.append(row)
            if done == tcfg.iterations and args.out:
                np.save(Path(args.out).with_suffix(f".ema{half_life}.npy"), fake[::n][:64])
        model.g.train()
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
