"""DVC stage `train_vnet`: a thin wrapper; the logic is fegan.training.stages.vnet_stage."""
from fegan.errors import one_line_errors
from fegan.params import load_params
from fegan.training.stages import vnet_stage


@one_line_errors
def main() -> None:
    print(vnet_stage(load_params()))


if __name__ == "__main__":
    main()
