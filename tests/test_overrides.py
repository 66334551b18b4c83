"""`-S section.key=value` read as `dvc exp run -S` reads it: fegan.overrides against DVC's own
function (dvc.utils.hydra.apply_overrides on a params.yaml, read back by DVC's YAML loader)."""
from __future__ import annotations

import copy
import json

import pytest
import yaml
from click.testing import CliRunner

from fegan.cli import cli
from fegan.errors import FeganError
from fegan.overrides import apply_overrides, format_value

PARAMS = {"data": {"raw_dir": "data/raw/synthetic", "format": "ravdess"},
          "train": {"lr": 0.0004, "iterations": 10000, "seed": 0, "ema": True},
          "evaluate": {"snr_db": [1, 5, 10, 25], "inception_weights": None}}

VALUES = [
    # floats in exponent form: PyYAML (YAML 1.1) keeps these strings, DVC reads floats
    "train.lr=4e-4", "train.lr=2e-4", "train.lr=1e-5", "train.lr=1E4", "train.lr=-2.5e-3", "train.lr=1e20",
    "train.lr=0.0002", "train.lr=.5", "train.iterations=20000", "train.iterations=1_000",
    # lists
    "evaluate.snr_db=[1,5]", "evaluate.snr_db=[]", "evaluate.snr_db=[0.5, 1e-1, x, 'a b']",
    # booleans (and what only looks like one)
    "train.ema=false", "train.ema=true", "train.ema=True", "train.ema=yes", "train.ema=0",
    # strings: plain, quoted, with spaces, number-like when quoted, empty
    "data.format=enterface", "data.raw_dir=/data/RAVDESS", "data.raw_dir='/data/My RAVDESS'",
    'data.raw_dir="x y"', "data.raw_dir=a b", "data.raw_dir='4e-4'", "data.raw_dir=", "data.raw_dir=1:2",
    "data.raw_dir=2020-01-01", "data.raw_dir='it\\'s'",
    # null, a mapping, adding and deleting keys
    "evaluate.inception_weights=null", "evaluate.inception_weights=models/pt.pth", "data.raw_dir={a: 1, b: [2]}",
    "+train.new_key=3", "++train.lr=1e-3", "++train.other=x", "~train.seed",
]
REFUSED = ["train.nope=1", "nosection.key=1", "data.raw_dir=a=b", "data.raw_dir=~/x", "train.lr"]


def _typed(d) -> str:
    """JSON tells 1 from 1.0 from True and "1" from 1: equal here means the same values and types."""
    return json.dumps(d, sort_keys=True)


def _dvc(tmp_path, params: dict, items: list[str]) -> dict:
    from dvc.utils.hydra import apply_overrides as dvc_apply_overrides
    from dvc.utils.serialize import load_yaml

    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    dvc_apply_overrides(path, items)
    return load_yaml(path)


@pytest.mark.parametrize("item", VALUES)
def test_a_value_reads_as_dvc_exp_run_reads_it(tmp_path, item):
    original = copy.deepcopy(PARAMS)
    ours = apply_overrides(PARAMS, [item])
    assert _typed(ours) == _typed(_dvc(tmp_path, PARAMS, [item]))
    assert PARAMS == original                                   # a new dict; the given one is left alone


def test_the_values_are_python_values_not_yaml_1_1_strings():
    got = apply_overrides(PARAMS, ["train.lr=4e-4", "evaluate.snr_db=[1,5]", "train.ema=false",
                                   "data.raw_dir='/a b'", "evaluate.inception_weights=models/x.pth",
                                   "data.format=null", "train.iterations=2e4"])
    assert got["train"]["lr"] == 0.0004 and type(got["train"]["lr"]) is float
    assert got["evaluate"]["snr_db"] == [1, 5] and got["train"]["ema"] is False
    assert got["data"] == {"raw_dir": "/a b", "format": None}
    assert got["evaluate"]["inception_weights"] == "models/x.pth"
    assert got["train"]["iterations"] == 20000.0 and type(got["train"]["iterations"]) is float
    assert yaml.safe_load("4e-4") == "4e-4"                     # what the old YAML reading gave
    # several, in order: the last one wins, as in DVC
    assert apply_overrides(PARAMS, ["train.lr=1e-3", "train.lr=2e-3"])["train"]["lr"] == 0.002
    assert apply_overrides(PARAMS, []) == PARAMS


def test_what_dvc_refuses_is_one_clear_error(tmp_path):
    from dvc.exceptions import InvalidArgumentError

    for item in REFUSED:
        with pytest.raises(InvalidArgumentError):
            _dvc(tmp_path, PARAMS, [item])
        with pytest.raises(FeganError) as e:
            apply_overrides(PARAMS, [item])
        assert str(e.value).startswith(f"-S {item}") and "\n" not in str(e.value), str(e.value)
    with pytest.raises(FeganError, match=r"Could not override 'train.nope'. To append to your config use \+train.nope=1"):
        apply_overrides(PARAMS, ["train.nope=1"])
    with pytest.raises(FeganError, match="not in the override grammar of dvc exp run -S"):
        apply_overrides(PARAMS, ["data.raw_dir=a=b"])


@pytest.mark.parametrize("value", ["ravdess", "/data/My RAVDESS", "it's", "C:\\data\\x", "trailing\\", "4e-4",
                                   "True", "null", "123", "", "~/x", "a=b", "[x]", 0.0002, 1e-05, 20000, 1.0,
                                   True, None, [1, 5]])
def test_format_value_reads_back_as_the_same_value(tmp_path, value):
    item = f"data.raw_dir={format_value(value)}"
    assert _typed(apply_overrides(PARAMS, [item])["data"]["raw_dir"]) == _typed(value), item
    assert _typed(_dvc(tmp_path, PARAMS, [item])["data"]["raw_dir"]) == _typed(value), item


def test_a_stage_command_takes_s_as_dvc_does(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(PARAMS))
    res = CliRunner().invoke(cli, ["vad", "--params", str(params), "-S", "vad.aggressiveness=3"])
    assert res.exit_code == 2
    assert res.output == ("fegan: error: -S vad.aggressiveness=3: Could not override 'vad.aggressiveness'. "
                          "To append to your config use +vad.aggressiveness=3\n")


@pytest.mark.parametrize("item", VALUES)
def test_a_stage_reads_the_params_file_dvc_wrote_as_dvc_reads_it(tmp_path, item):
    """`dvc exp run -S train.lr=1e-5` writes `lr: 1e-05`, a string to YAML 1.1: the stages'
    load_params must read every value DVC wrote with DVC's own types."""
    from dvc.utils.serialize import load_yaml

    from fegan.params import load_params

    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(PARAMS))
    from dvc.utils.hydra import apply_overrides as dvc_apply_overrides
    dvc_apply_overrides(path, [item])
    assert _typed(load_params(path)) == _typed(load_yaml(path))


def test_a_params_file_that_is_not_yaml_is_one_line(tmp_path):
    from fegan.params import load_params

    bad = tmp_path / "params.yaml"
    bad.write_text("train:\n  lr: [1, 2\n  seed: 0\n")
    with pytest.raises(FeganError, match=r"params.yaml is not valid YAML \(line \d+\)$"):
        load_params(bad)
