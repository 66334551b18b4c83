"""DVC stage `vad`: webrtcvad speech segments (params section `vad`, `data.min_clips`)."""
import pandas as pd

from fegan import paths
from fegan.errors import one_line_errors
from fegan.params import build_config, load_params
from fegan.preprocess.common import load_audio
from fegan.preprocess.vad import VadConfig, run_vad


@one_line_errors
def main() -> None:
    p = load_params()
    cfg = build_config(VadConfig, p["vad"], "vad")
    table = run_vad(cfg, pd.read_parquet(paths.CLIPS), load_audio(paths.AUDIO), paths.VAD, p["data"]["min_clips"])
    ok = table.status == "ok"
    print(f"vad: {ok.sum()} clips with speech, mean voiced {table.voiced_s[ok].mean():.2f} s")


if __name__ == "__main__":
    main()
