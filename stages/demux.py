"""DVC stage `demux`: clip table + 32 kHz audio (params section `data`)."""
from fegan import paths
from fegan.errors import one_line_errors
from fegan.params import build_config, load_params
from fegan.preprocess.demux import DataConfig, demux


@one_line_errors
def main() -> None:
    cfg = build_config(DataConfig, load_params()["data"], "data")
    table = demux(cfg, paths.CLIPS, paths.AUDIO)
    print(f"demux: {(table.status == 'ok').sum()} usable of {len(table)} clips")


if __name__ == "__main__":
    main()
