"""DVC stage `faces`: aligned face crops (params section `faces`, `data.raw_dir`)."""
import pandas as pd

from fegan import paths
from fegan.errors import one_line_errors
from fegan.params import build_config, load_params
from fegan.preprocess.faces import FacesConfig, run_faces


@one_line_errors
def main() -> None:
    p = load_params()
    cfg = build_config(FacesConfig, p["faces"], "faces")
    index = run_faces(cfg, pd.read_parquet(paths.CLIPS), pd.read_parquet(paths.VAD), p["data"]["raw_dir"],
                      paths.FACES, paths.FACES_INDEX, p["data"]["min_clips"])
    print(f"faces: {(index.row >= 0).sum()} crops from {index[index.row >= 0].clip_id.nunique()} clips")


if __name__ == "__main__":
    main()
