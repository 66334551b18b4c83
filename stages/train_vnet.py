"""DVC stage `train_vnet`: a thin wrapper; the logic is fegan.training.vnet_stage (see its `stage`)."""
from fegan.errors import one_line_errors
from fegan.params import load_params
from fegan.training.vnet_stage import stage


@one_line_errors
def main() -> None:
    print(stage(load_params()))


if __name__ == "__main__":
    main()
