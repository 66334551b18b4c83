"""DVC stage `features`: Fbank / MFCC / spectrogram tensors (params section `features`)."""
import pandas as pd

from fegan import paths
from fegan.errors import one_line_errors
from fegan.params import build_config, load_params
from fegan.preprocess.common import load_audio
from fegan.preprocess.features import FeaturesConfig, run_features


@one_line_errors
def main() -> None:
    p = load_params()
    cfg = build_config(FeaturesConfig, p["features"], "features")
    index = run_features(cfg, pd.read_parquet(paths.CLIPS), pd.read_parquet(paths.VAD), load_audio(paths.AUDIO),
                         paths.FEATURES, paths.FEATURES_INDEX, p["data"]["min_clips"])
    print(f"features: {(index.row >= 0).sum()} clips of {cfg.kind}")


if __name__ == "__main__":
    main()
