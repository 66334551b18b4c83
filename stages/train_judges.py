"""DVC stage `train_judges`: a thin wrapper; the logic is fegan.evaluation.judges_stage.stage."""
from fegan.errors import one_line_errors
from fegan.evaluation.judges_stage import stage
from fegan.params import load_params


@one_line_errors
def main() -> None:
    print(stage(load_params()))


if __name__ == "__main__":
    main()
