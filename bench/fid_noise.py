"""How much FID and KID move with the noise alone: one generator, several disjoint noise draws.

    python bench/fid_noise.py [--draws 5] [--generator models/generator.pt]

Scores ``models/generator.pt`` as `evaluate` does (10 faces for each of the 56 test voices, 560,
against the 168 real test faces' Inception features, cached by `evaluate`), once per noise seed
0..draws-1; seed 0 is the draw `evaluate` uses. The spread over the draws is what N = 560 leaves
of FID's own sampling noise, to be set against the differences between runs and seeds.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--generator", default=None)
    args = ap.parse_args()

    from fegan import paths
    from fegan.evaluation.stage import EvalConfig, generate
    from fegan.inference import load_generator
    from fegan.metrics import MetricInputs, cached_features, compute_metrics, fid_inception, inception_features
    from fegan.params import build_config, load_params
    from fegan.training import checkpoint
    from fegan.training.data import Labels
    from fegan.training.gan_data import gan_data

    params = load_params()
    cfg = build_config(EvalConfig, params["evaluate"], "evaluate")
    path = args.generator or paths.GENERATOR
    g = load_generator(path)
    ck = checkpoint.load(path)
    test = gan_data("test", Labels(list(ck["actors"]), list(ck["emotions"])))
    inc = fid_inception(cfg.inception_weights, cache_dir=cfg.cache_dir, device="cpu", dims=cfg.fid_dims)
    real = cached_features(inc.model, inc.weights_id, test.faces.numpy(), cfg.cache_dir, cfg.batch_size, "cpu")
    fids, kids = [], []
    for seed in range(args.draws):
        fake = generate(g, test.voice_ev, cfg.samples_per_voice, seed, "cpu", cfg.batch_size)
        values, _ = compute_metrics(MetricInputs(real=real, fake=inception_features(inc.model, fake, cfg.batch_size,
                                                                                    "cpu"),
                                                 kid_subset_size=cfg.kid_subset_size, seed=cfg.seed,
                                                 no_logits_reason="not needed"))
        fids.append(values["fid"])
        kids.append(values["kid"])
        print(f"noise seed {seed}: {len(fake)} faces, FID {values['fid']:.2f}, KID {values['kid']:.4f}", flush=True)
    print(f"over {args.draws} draws: FID {statistics.mean(fids):.2f} ± {statistics.stdev(fids):.2f} "
          f"(range {min(fids):.2f}-{max(fids):.2f}), KID {statistics.mean(kids):.4f} ± {statistics.stdev(kids):.4f}")


if __name__ == "__main__":
    main()
