"""DVC stage `synthesize`: the embedded synthetic dataset (params section `synth`)."""
from fegan.errors import one_line_errors
from fegan.params import build_config, load_params
from fegan.synth.dataset import SynthConfig, synthesize


@one_line_errors
def main() -> None:
    cfg = build_config(SynthConfig, load_params()["synth"], "synth")
    truth = synthesize(cfg)
    print(f"synthesize: {len(truth)} clips in {cfg.out_dir}")


if __name__ == "__main__":
    main()
