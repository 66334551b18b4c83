# The two commands of the README: `make repro` and `make test`. Both create the
# environment first when it is missing or older than requirements.txt/pyproject.toml.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.fegan-installed
# Stage commands in dvc.yaml call `python`: put the venv first on PATH for them.
export PATH := $(abspath $(BIN)):$(PATH)
# DVC must never phone home (offline clusters, CI).
export DVC_NO_ANALYTICS := 1

.PHONY: setup repro test bench clean-venv

setup: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

repro: setup
	$(BIN)/dvc repro

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/synth.py
	$(BIN)/python bench/preprocess.py
	$(BIN)/python bench/train.py

clean-venv:
	rm -rf $(VENV)
