"""DVC stage `faces`: a thin wrapper; the logic is fegan.preprocess.faces (see its `stage`)."""
from fegan.errors import one_line_errors
from fegan.params import load_params
from fegan.preprocess.faces import stage


@one_line_errors
def main() -> None:
    print(stage(load_params()))


if __name__ == "__main__":
    main()
