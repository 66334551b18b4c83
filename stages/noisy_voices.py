"""DVC stage `noisy_voices`: a thin wrapper; the logic is fegan.preprocess.noisy_voices (see its `stage`)."""
from fegan.errors import one_line_errors
from fegan.params import load_params
from fegan.preprocess.noisy_voices import stage


@one_line_errors
def main() -> None:
    print(stage(load_params()))


if __name__ == "__main__":
    main()
