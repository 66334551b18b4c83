"""Progress of the long stages (``fegan.progress``): lines off a terminal, a bar on one, and no
effect on what the stages write."""
from __future__ import annotations

import io
import re
import sys

import pytest
import torch

from test_models import _random_data

from fegan.errors import FeganError
from fegan.models.config import GANConfig
from fegan.params import defaults
from fegan.progress import Phases, bar
from fegan.training.gan import GANTrainConfig, train_gan

# step/total (percent), rate, elapsed, ETA, then the postfix
# the rate: tqdm writes seconds a step once a step takes over a second (a loaded machine)
LINE = re.compile(r"^train_fegan: step (\d+)/(\d+) \((\d+)%\), (\?|[\d.]+)(?:step/s|s/step), "
                  r"(\d\d:\d\d) elapsed, ETA (\?|\d\d:\d\d)(, .*)?$")


class Log(io.StringIO):
    """A stream that is not a terminal (CI, a pipe, `dvc exp run --queue`'s log file)."""

    def isatty(self) -> bool:
        return False


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_each_line_is_whole_and_carries_the_counts(monkeypatch):
    monkeypatch.setenv("FEGAN_PROGRESS_EVERY", "0")
    out = Log()
    b = bar(5, "train_fegan", unit="step", initial=1, file=out)
    for i in range(4):
        b.set_postfix_str(f"loss_DC {1.5 - i / 10:.3f}, loss_G {0.9 + i:.3f}", refresh=False)
        b.update()
    b.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and len(lines) == 5       # the start, 4 updates; the closing redraw dropped
    m = [LINE.match(line) for line in lines]
    assert all(m), lines
    assert [(int(x[1]), int(x[2]), int(x[3])) for x in m] == [(1, 5, 20), (2, 5, 40), (3, 5, 60), (4, 5, 80),
                                                               (5, 5, 100)]
    assert m[0][4] == "?" and m[0][6] == "?"                   # no rate or ETA before the first update
    assert all(float(x[4]) > 0 and x[6] != "?" for x in m[1:])
    assert m[-1][7] == ", loss_DC 1.200, loss_G 3.900"


def test_off_a_terminal_a_line_every_so_often(monkeypatch):
    monkeypatch.setenv("FEGAN_PROGRESS_EVERY", "3600")
    out = Log()
    b = bar(100, "train_fegan", unit="step", file=out)
    for _ in range(100):
        b.update()
    b.close()
    lines = out.getvalue().splitlines()
    assert [LINE.match(x)[1] for x in lines] == ["0", "100"]      # the start and the end, none between


def test_a_terminal_gets_a_bar_and_the_modes_are_checked(monkeypatch):
    out = Terminal()
    b = bar(4, "train_vnet", unit="epoch", file=out)
    b.update(4)
    b.close()
    assert out.getvalue().startswith("\rtrain_vnet:   0%|") and re.search(r"\rtrain_vnet: 100%\|#{10}\| 4/4 \[",
                                                                             out.getvalue())
    monkeypatch.setenv("FEGAN_PROGRESS", "lines")
    out = Terminal()
    b = bar(4, "train_vnet", unit="epoch", file=out)
    b.close()
    assert out.getvalue() == "train_vnet: epoch 0/4 (0%), ?epoch/s, 00:00 elapsed, ETA ?\n"
    monkeypatch.setenv("FEGAN_PROGRESS", "off")
    out = Log()
    b = bar(4, "train_vnet", unit="epoch", file=out)
    b.update(4)
    b.close()
    assert out.getvalue() == ""
    monkeypatch.setenv("FEGAN_PROGRESS", "loud")
    with pytest.raises(FeganError, match="FEGAN_PROGRESS must be auto, bar, lines or off"):
        bar(4, "x", file=Log())


def test_phases_print_a_line_as_each_begins():
    out = Log()
    with Phases("evaluate", 3, file=out) as phase:
        phase.start("identity judge")
        phase.start("emotion judge")
        phase.start("reports")
    lines = out.getvalue().splitlines()
    assert [re.match(r"evaluate: phase (\d/3) \(\d+%\), .*, (.*)$", x).groups() for x in lines] == [
        ("0/3", "identity judge"), ("1/3", "emotion judge"), ("2/3", "reports"), ("3/3", "done")]


def test_training_with_progress_writes_the_same_generator(monkeypatch, tmp_path):
    mc = GANConfig(image_size=32, width=0.125, n_identities=4, n_emotions=3)
    tc = GANTrainConfig(**{**defaults("train"), "iterations": 6, "batch_size": 8, "checkpoint_every": 6,
                           "sample_every": 3, "ema_images": 200})
    data = _random_data()
    runs = {}
    for mode in ("off", "lines"):
        monkeypatch.setenv("FEGAN_PROGRESS", mode)
        monkeypatch.setenv("FEGAN_PROGRESS_EVERY", "0")
        log = Log()
        monkeypatch.setattr(sys, "stderr", log)
        model, g = train_gan(mc, tc, 0.7, 0.3, data, torch.device("cpu"), tmp_path / f"{mode}.pt",
                             sample=lambda step, model, g: None)
        saved = io.BytesIO()
        torch.save({"g": g.state_dict(), "model": model.state_dict()}, saved)
        runs[mode] = saved.getvalue(), log.getvalue()
    assert runs["off"][0] == runs["lines"][0]                  # the generator and the model, byte for byte
    assert runs["off"][1] == ""
    lines = runs["lines"][1].splitlines()
    m = [LINE.match(x) for x in lines]
    assert all(m) and [x[1] for x in m] == ["0", "1", "2", "3", "4", "5", "6"], lines
    assert re.fullmatch(r", loss_DC \d+\.\d{3}, loss_G \d+\.\d{3}", m[2][7])
    assert m[3][7].endswith(", sample 3") and m[6][7].endswith(", sample 6")
