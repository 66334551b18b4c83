"""DVC stage `train_fegan`: a thin wrapper; the logic is fegan.training.stages.gan_stage."""
from fegan.errors import one_line_errors
from fegan.params import load_params
from fegan.training.stages import gan_stage


@one_line_errors
def main() -> None:
    print(gan_stage(load_params()))


if __name__ == "__main__":
    main()
