"""DVC stage `evaluate`: a thin wrapper; the logic is fegan.evaluation.stage.stage."""
from fegan.errors import one_line_errors
from fegan.evaluation.stage import stage
from fegan.params import load_params


@one_line_errors
def main() -> None:
    print(stage(load_params()))


if __name__ == "__main__":
    main()
