"""`fegan paper-tables`: the experiments behind the paper's Tables 2-5 and the tables themselves.

tests/data/exp_show.json is real `dvc exp show --json` output of DVC 3.67.1 (trimmed: the
`deps`, `outs` and the vnet/train metrics are cut), from a tiny copy of this repository
(params as in test_cli_and_dvc.py) after: `dvc exp run --queue` of paper-mfcc and paper-acgan,
`dvc exp run --run-all`, `dvc exp run -n paper-no_c1 ...` in the workspace, paper-cgan queued and
not run, and paper-no_d2 and paper-bogus queued with a failing setting and run. Those are the
names of the earlier runs (catalogue.EARLIER, still read); ``_new_payload`` renames them to
experiments of the recipes' sets for the tests of queueing and the settings filter.
"""
from __future__ import annotations

import copy
import json
import re
import shlex
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from fegan.cli import cli
from fegan.errors import FeganError
from fegan.models.config import VARIANTS
from fegan import recipes
from fegan.overrides import apply_overrides
from fegan.paper import catalogue as C
from fegan.paper import ledger
from fegan.paper import numbers as paper
from fegan.paper import results
from fegan.paper import runs as R
from fegan.paper.authors import LOGGED
from fegan.paper.catalogue import ALL_NAMES, EARLIER, EXPERIMENTS, SETS
from fegan.paper.client import DvcClient
from fegan.paper.results import Run, group, parse_exp_show
from fegan.paper.tables import CONDITIONS, TEST_COLUMNS, VAL_COLUMNS, render
from fegan.params import load_params
from fegan.preprocess.features import KINDS

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))


class FakeDvc:
    """A DvcClient that runs nothing: `exp show` answers ``payload``, `exp run` lines exit with
    ``codes`` (by experiment name; 0 otherwise); every call is kept in ``calls``."""

    def __init__(self, payload: list | None = None, repo: Path | str = ".", codes: dict[str, int] | None = None):
        self.payload, self.repo, self.codes, self.calls = payload or [], Path(repo), codes or {}, []

    def exp_show(self, all_commits=False):
        self.calls.append(["exp show", *(["--all-commits"] if all_commits else [])])
        return copy.deepcopy(self.payload)

    def exp_remove(self, name):
        self.calls.append(["exp remove", name])

    def queue(self, args):
        self.calls.append(["queue", args[args.index("--name") + 1]])

    def stream(self, args):
        name = args[args.index("--name") + 1] if "--name" in args else "--run-all"
        self.calls.append(["stream", name])
        return self.codes.get(name, 0)

    def check_commit(self):
        self.calls.append(["check commit"])


def _payload() -> list:
    return json.loads((DATA / "exp_show.json").read_text())


# the fixture's (earlier) names -> experiments of the recipes' sets
RENAME = {"paper-mfcc": "paper-authors-mfcc-lambda1_0.3", "paper-acgan": "paper-authors-acgan",
          "paper-no_c1": "paper-authors-no_c1", "paper-cgan": "paper-paper-cgan",
          "paper-no_d2": "paper-authors-no_d1-lambda1_0"}


def _new_payload() -> list:
    text = (DATA / "exp_show.json").read_text()
    for old, new in RENAME.items():
        text = text.replace(f'"{old}"', f'"{new}"')
    return json.loads(text)


def _set(params: dict, key: str, value) -> None:
    *path, last = key.split(".")
    node = params
    for part in path:
        node = node.setdefault(part, {})
    node[last] = value


def _with_recipe(params: dict, name: str = "paper") -> dict:
    """``params`` with a recipe's keys (params.yaml gains them with the training code's switches)."""
    for k, v in recipes.RECIPES[name].items():
        _set(params, k, v)
    return params


def _fake_exp_show(monkeypatch, payload: list) -> None:
    """The real DvcClient everywhere (the CLI makes its own), its `dvc exp show` answering ``payload``."""
    monkeypatch.setattr(DvcClient, "exp_show", lambda self, all_commits=False: copy.deepcopy(payload))


# --- the experiments ---------------------------------------------------------------------------

def test_experiments_pin_a_recipe_in_dvcs_grammar_and_cover_the_sets():
    base = _with_recipe(load_params(ROOT / "params.yaml"), "fegan-v1")     # the workspace's values: overwritten
    kinds, variants = set(), set()
    for name, e in EXPERIMENTS.items():
        items = C.experiment_overrides(name)
        assert [i.partition("=")[0] for i in items][:len(C.PINNED_KEYS)] == list(C.PINNED_KEYS)   # every pin
        applied = apply_overrides(base, items)                               # DVC's own parser and applier
        flat = results.flat_params(applied)
        assert all(flat[k] == v and isinstance(flat[k], bool) == isinstance(v, bool)
                   for k, v in e.values().items()), name
        assert name.startswith(e.recipe + "-")                               # the name says its recipe
        if not set(e.changes) & set(recipes.KEYS):
            assert recipes.active(applied) == [e.recipe], name
        kinds.add(flat["features.kind"])
        variants.add(flat["model.variant"])
    assert kinds <= set(KINDS) and variants <= set(VARIANTS)
    assert C.experiment_overrides("authors-acgan", ["train.iterations=9"])[-1] == "train.iterations=9"
    assert "train.voice_crops=true" in C.command("paper-fegan") and "train.ev_noise=0.05" in C.command("authors-fegan")
    # Table 4: the four methods under both recipes; the recipe choice: FE-GAN under each
    assert {(EXPERIMENTS[n].recipe, EXPERIMENTS[n].variant) for n in SETS["table4"]} == {
        (r, v) for r in ("paper", "authors") for v in ("fegan", "acgan", "cgan", "cgan_proj")}
    assert SETS["recipes"] == [f"{r}-fegan" for r in recipes.RECIPES]
    # one switch per choice: each differs from paper-fegan in its own keys only, with another
    # recipe's values, and together they cover every key where the recipes differ
    paper_values = EXPERIMENTS["paper-fegan"].values()
    covered = set()
    for n in SETS["switches"]:
        diff = {k for k, v in EXPERIMENTS[n].values().items() if paper_values[k] != v}
        assert diff == set(EXPERIMENTS[n].changes) and diff, n
        assert any(all(recipes.RECIPES[r][k] == EXPERIMENTS[n].changes[k] for k in diff) for r in ("authors", "fegan-v1"))
        covered |= diff
    differ = {k for r in ("authors", "fegan-v1") for k in recipes.KEYS if recipes.RECIPES[r][k] != paper_values[k]}
    assert covered == differ
    # lambda: 0.3/0.5/0.7 with lambda2 = 1 - lambda1, the recipe's own weights not run twice
    for r in recipes.RECIPES:
        pairs = {(EXPERIMENTS[n].values()["lambda1"], EXPERIMENTS[n].values()["lambda2"]) for n in SETS[f"lambda-{r}"]}
        own = (recipes.RECIPES[r]["lambda1"], recipes.RECIPES[r]["lambda2"])
        assert pairs | ({own} if own[0] in C.LAMBDAS else set()) == {(0.3, 0.7), (0.5, 0.5), (0.7, 0.3)}
    # the authors' logged configurations: each ours is an experiment of the authors' recipe
    for e in LOGGED:
        assert (e.ours is None) == bool(e.why) and (e.ours is None or EXPERIMENTS[e.ours].recipe == "authors"), e
    assert EXPERIMENTS["authors-no_d1-lambda1_0"].values()["lambda2"] == 1.0        # D2 alone, at full weight
    assert EXPERIMENTS["authors-mfcc-lambda1_0.3"].kind == "mfcc"
    # the earlier runs' names still parse; every paper row of Tables 2-5 has one
    assert C.parse_exp_name("paper-fbank-s2") == ("fbank", 2) and C.parse_exp_name("paper-cgan_proj") == ("cgan_proj", None)
    assert C.parse_exp_name("paper-fegan-v1-fegan-lambda1_0.5-s1") == ("fegan-v1-fegan-lambda1_0.5", 1)
    assert C.parse_exp_name("paper-authors-bogus-s1") is None
    assert set(paper.TABLE2) | {"acgan", "cgan", "cgan_proj"} == set(EARLIER)
    assert set(paper.TABLE4) - {"gt"} == set(paper.TABLE5) == {"fbank", "acgan", "cgan", "cgan_proj"}
    assert {c for _, c, _, _ in CONDITIONS} == {p for _, _, _, p in CONDITIONS} == set(paper.TABLE3)
    # the noise rows under the noise-level reading: our most noise (1 dB SNR) faces the paper's "25"
    assert [(c, p) for _, c, _, p in CONDITIONS[:4]] == [("snr01db", "snr25db"), ("snr05db", "snr10db"),
                                                         ("snr10db", "snr05db"), ("snr25db", "snr01db")]


def test_selection_and_extra_overrides_are_checked(tmp_path):
    assert C.select(None) == list(EXPERIMENTS)
    assert C.select(["authors-acgan,paper-paper-fegan", "switches"]) == [
        "paper-fegan", "authors-acgan", *SETS["switches"]]                      # EXPERIMENTS' order, once each
    assert C.select(["lambda"], "authors") == SETS["lambda-authors"] == [
        "authors-fegan-lambda1_0.3", "authors-fegan-lambda1_0.5", "authors-fegan-lambda1_0.7"]
    with pytest.raises(FeganError, match="params.yaml matches none .* lambda-paper, lambda-authors, lambda-fegan-v1, lambda-fegan-v2"):
        C.select(["lambda"])
    with pytest.raises(FeganError, match="unknown paper experiment 'nope'"):
        C.select(["nope"])
    with pytest.raises(FeganError, match="paper-fbank is an earlier run .* no longer queued"):
        C.select(["fbank"])
    for pinned in ("model.variant=cgan", "lambda1=0.5", "train.voice_crops=false"):
        with pytest.raises(FeganError, match="is what the paper experiments vary"):
            C.check_extra([pinned])
    with pytest.raises(FeganError, match="section.key=value"):
        C.check_extra(["train.iterations"])
    # params.yaml's recipe: the lambda set's, and the workspace's last run
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(_with_recipe({"train": {"lr": 0.0004}}, "authors")))
    assert C.default_recipe(tmp_path / "params.yaml") == "authors"
    assert C.default_recipe(tmp_path / "none.yaml") is None


def test_dry_run_command_lines(tmp_path):
    repo = _repo(tmp_path)
    q = R.queue(["authors-acgan", "paper-fegan"], ["train.iterations=20"], run=True, dry_run=True, repo=repo)
    assert q == [C.command("paper-fegan", ["train.iterations=20"]), C.command("authors-acgan", ["train.iterations=20"]),
                 "dvc exp run --run-all --jobs 1".split()]
    assert q[1][:6] == "dvc exp run --queue --name paper-authors-acgan".split()
    assert q[1][6:12] == ["-S", "features.kind=fbank", "-S", "model.variant=acgan", "-S", "train.voice_crops=true"]
    assert q[1][-2:] == ["-S", "train.iterations=20"]
    w = R.run_in_workspace(["recipes", "table4"], dry_run=True, repo=repo)      # params.yaml: the paper recipe
    names = [c[4] for c in w]
    assert names[-1] == "paper-paper-fegan" and sorted(names) == sorted(
        f"paper-{n}" for n in dict.fromkeys([*SETS["recipes"], *SETS["table4"]]))
    assert all(c[:4] == ["dvc", "exp", "run", "--name"] for c in w)        # the default recipe's FE-GAN last


def test_queue_refuses_a_relative_raw_dir_it_cannot_see(tmp_path):
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"s": {"cmd": "x", "outs": ["data/raw/synthetic"]}}}))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"data": {"raw_dir": "data/raw/RAVDESS"}}))
    with pytest.raises(FeganError, match="relative path that queued experiments"):
        R.queue(["paper-fegan"], repo=tmp_path)
    with pytest.raises(FeganError, match="relative path that queued experiments"):
        R.queue(["paper-fegan"], ["data.raw_dir=elsewhere"], repo=tmp_path)
    assert R._queue_check(tmp_path, ["data.raw_dir=/abs/RAVDESS"]) == []
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"data": {"raw_dir": "data/raw/synthetic"}, "evaluate": {"inception_weights": "models/pt_inception.pth"}}))
    assert R._queue_check(tmp_path, []) == ["-C", "models/pt_inception.pth"]


# --- reading dvc exp show ----------------------------------------------------------------------

def test_parse_real_dvc_exp_show_json():
    runs = parse_exp_show(json.loads((DATA / "exp_show.json").read_text()))
    assert list(runs) == ALL_NAMES
    assert all(runs[n].state == "missing" for n in EXPERIMENTS)
    states = {n: r.state for n, r in runs.items() if n in EARLIER}
    assert states == {"fbank": "missing", "mfcc": "success", "spectrogram": "missing", "no_c1": "success",
                      "no_c2": "missing", "no_d1": "missing", "no_d2": "failed", "acgan": "success",
                      "cgan": "queued", "cgan_proj": "missing"}
    for n in ("mfcc", "no_c1", "acgan"):                  # queued-and-run and run-in-the-workspace alike
        r = runs[n]
        assert r.done and isinstance(r.eval["fid"], float) and 0 <= r.eval["id_acc"] <= 1
        assert {"snr01db_fid", "dur01s_seconds"} <= set(r.robustness)
        assert r.params["model"]["variant"] == {"mfcc": "fegan"}.get(n, n)
        assert len(r.rev) == 40 and len(r.baseline) == 40
    assert runs["mfcc"].params["features"]["kind"] == "mfcc"
    assert not runs["no_d2"].done and runs["no_d2"].eval == {}        # a failed run's stale metrics are ignored
    assert not runs["cgan"].done


def test_runs_of_other_settings_are_left_out_when_asked():
    payload = _new_payload()
    runs = parse_exp_show(payload)
    done = {n for n, r in runs.items() if r.done}
    assert done == {"authors-mfcc-lambda1_0.3", "authors-no_c1", "authors-acgan"}
    like = copy.deepcopy(runs["authors-acgan"].params)
    like["model"]["variant"], like["features"]["kind"], like["lambda1"] = "fegan", "fbank", 0.2   # pinned: may differ
    left: list[str] = []
    same = parse_exp_show(payload, like=like, left_out=left)
    assert {n for n, r in same.items() if r.done} == done and left == []
    like["train"]["iterations"] = 40                                          # a newer default
    left = []
    other = parse_exp_show(payload, like=like, left_out=left)
    assert not any(r.done for r in other.values())
    assert len(left) == 3 and all("train.iterations 4 not 40" in x for x in left), left
    assert any(x.startswith("paper-authors-acgan (") for x in left)
    text = render(other, left)
    assert "Left out: 3 finished runs" in text and "train.iterations 4 not 40" in text
    # the tables' learning rate is pinned (TABLES_LR): a params.yaml at another lr leaves no run out
    like["train"]["iterations"], like["train"]["lr"] = 4, 0.0008
    left = []
    assert {n for n, r in parse_exp_show(payload, like=like, left_out=left).items() if r.done} == done
    assert left == []
    # the earlier runs are a closed record: kept whatever today's settings
    earlier = parse_exp_show(_payload(), like=like, left_out=(left := []))
    assert {n for n, r in earlier.items() if r.done} == {"mfcc", "no_c1", "acgan"} and left == []
    # evaluate.robustness_fid: every experiment turns it off; runs from before the key (on) stay
    like["train"]["lr"] = runs["authors-acgan"].params["train"]["lr"]
    like.setdefault("evaluate", {})["robustness_fid"] = True                   # params.yaml's default
    assert all("robustness_fid" not in (r.params.get("evaluate") or {}) for r in runs.values())
    newer = copy.deepcopy(payload)
    for row in newer[1:]:
        for exp in row.get("experiments") or []:
            for rev in exp["revs"]:
                p = rev["data"]["params"]["params.yaml"]["data"]
                p.setdefault("evaluate", {})["robustness_fid"] = False
    assert {r.params["evaluate"]["robustness_fid"] for r in parse_exp_show(newer).values() if r.done} == {False}
    for pl in (payload, newer):
        kept = parse_exp_show(pl, like=like, left_out=(left := []))
        assert {n for n, r in kept.items() if r.done} == done and left == []
    assert all(EXPERIMENTS[n].values()["evaluate.robustness_fid"] is False for n in EXPERIMENTS)
    assert "-S evaluate.robustness_fid=false" in " ".join(C.command("paper-fegan"))


def test_the_ledger_keeps_finished_runs_for_a_fresh_clone(tmp_path):
    from fegan.paper import ledger

    payload = _new_payload()
    live = parse_exp_show(payload)
    path = tmp_path / "reports" / "paper_runs.json"
    assert ledger.load(path) == [] and ledger.record(live.values(), path) == 3      # 3 finished
    assert ledger.record(live.values(), path) == 0                                 # the same revisions again
    saved = ledger.load(path)
    assert [C.exp_name(r.name, r.seed) for r in saved] == [
        "paper-authors-acgan", "paper-authors-mfcc-lambda1_0.3", "paper-authors-no_c1"]
    # without any experiment refs (a fresh clone) the ledger alone gives the same finished runs
    alone = parse_exp_show([], extra=saved)
    for n, r in live.items():
        assert alone[n].done == r.done
        if r.done:
            assert (alone[n].eval, alone[n].robustness, alone[n].params, alone[n].rev) == \
                (r.eval, r.robustness, r.params, r.rev)
    # beside the live refs a recorded run is not counted twice, and the settings filter applies to it
    both = parse_exp_show(payload, extra=saved)
    assert {n: (r.rev, len(r.replicas)) for n, r in both.items()} == {n: (r.rev, 0) for n, r in live.items()}
    like = copy.deepcopy(live["authors-acgan"].params)
    like["model"]["variant"], like["features"]["kind"] = "fegan", "fbank"
    like["train"]["iterations"] = 40
    left: list[str] = []
    assert not any(r.done for r in parse_exp_show(payload, like=like, left_out=left, extra=saved).values())
    assert len(left) == 3                                                          # each revision once
    # the earlier runs' names load as they are
    assert ledger.record(parse_exp_show(_payload()).values(), path) == 3
    assert {r.name for r in ledger.load(path)} >= {"acgan", "mfcc", "no_c1"}
    path.write_text('{"runs": [{"experiment": "paper-bogus", "rev": "x", "eval": {}}]}')
    with pytest.raises(FeganError, match="entry 0 is not a finished paper-\\* run"):
        ledger.load(path)
    path.write_text("not json")
    with pytest.raises(FeganError, match="not a paper-runs ledger"):
        ledger.load(path)


def test_cli_records_runs_and_renders_them_without_the_refs(tmp_path, monkeypatch):
    payload = (DATA / "exp_show.json").read_text()
    like = copy.deepcopy(parse_exp_show(json.loads(payload))["acgan"].params)
    like["model"]["variant"], like["features"]["kind"] = "fegan", "fbank"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(like))
    monkeypatch.chdir(tmp_path)
    _fake_exp_show(monkeypatch, json.loads(payload))
    runner = CliRunner()
    res = runner.invoke(cli, ["paper-tables", "--record", "-o", "live.md"])
    assert res.exit_code == 0 and "recorded 3 new run(s) in reports/paper_runs.json" in res.output, res.output
    assert Path("reports/paper_runs.json").is_file() and ledger.LEDGER == "reports/paper_runs.json"
    # the help names the same default (it is spelt there because the CLI imports fegan.paper lazily)
    assert f"[default: {ledger.LEDGER};" in " ".join(runner.invoke(cli, ["paper-tables", "--help"]).output.split())
    # a fresh clone: no experiments at all, the committed ledger only
    _fake_exp_show(monkeypatch, [])
    res = runner.invoke(cli, ["paper-tables", "-o", "clone.md"])
    assert res.exit_code == 0, res.output
    live, clone = Path("live.md").read_text(), Path("clone.md").read_text()
    acgan = [ln for ln in live.splitlines() if ln.startswith("| AC-GANs")]
    assert acgan and all(ln in clone.splitlines() for ln in acgan)
    assert re.search(r"\| AC-GANs \[14\] \| \d+\.\d\d \|", clone)
    res = runner.invoke(cli, ["paper-tables", "--ledger", "live.md"])
    assert res.exit_code == 2 and res.output.startswith("fegan: error: live.md: not a paper-runs ledger")


def test_the_committed_ledger_renders_the_committed_tables(monkeypatch):
    """A fresh clone (no experiment refs) renders, from the committed ledger, exactly the committed
    reports/paper_tables.md below its header comment: the record and the tables cannot drift apart,
    and a change to the ledger's format or to the tables' code that leaves them stale fails here.
    The settings filter is the ledger's own (the params of its first run of the recipes' sets;
    the earlier runs are not filtered), not the workspace's params.yaml, which `fegan profile`
    rewrites."""
    monkeypatch.chdir(ROOT)
    recorded = ledger.load(ledger.LEDGER)
    # the earlier runs the README reports: Tables 4-5's four methods over seeds 0-2, every one at seed 0
    seeds: dict[str, set[int]] = {}
    for r in recorded:
        assert r.done
        seeds.setdefault(r.name, set()).add(r.seed)
    assert all(seeds.get(m, set()) >= {0, 1, 2} for m in ("fbank", "acgan", "cgan", "cgan_proj"))
    assert all(0 in seeds.get(m, set()) for m in EARLIER) and len(EARLIER) == 10
    left_out: list[str] = []
    like = next((r.params for r in recorded if r.name in EXPERIMENTS), None)
    found = results.collect(FakeDvc([]), all_commits=True, like=like, left_out=left_out, extra=recorded)
    assert left_out == []
    committed = (ROOT / "reports" / "paper_tables.md").read_text()
    assert render(found, left_out) == committed[committed.index("-->") + 3:].lstrip("\n")


def test_runs_recorded_with_these_settings_are_not_queued_again(monkeypatch, tmp_path):
    live = parse_exp_show(_new_payload())
    params = copy.deepcopy(live["authors-acgan"].params)
    params["model"]["variant"], params["features"]["kind"] = "fegan", "fbank"
    recorded = [r for r in live.values() if r.done]
    DONE = {"paper-authors-mfcc-lambda1_0.3", "paper-authors-no_c1", "paper-authors-acgan"}
    assert R.recorded_done(recorded, params) == DONE
    lr = params["train"]["lr"]
    assert R.recorded_done(recorded, params, [f"train.lr={lr * 2}"]) == set()   # other settings: rerun
    # the same value written as DVC's -S reads it (an exponent is a float there, not a string)
    for same in (f"train.lr={lr:e}", f"train.lr={lr:.0e}".replace("e-0", "e-"), f"train.lr={lr}"):
        assert R.recorded_done(recorded, params, [same]) == DONE, same
    assert R.recorded_done(recorded, params, ["train.lr='0.0002'"]) == set()          # a string is another value
    assert params["train"]["lr"] == lr                                                 # params left as they were
    # train.lr is pinned (TABLES_LR), and an extra -S of it wins on the command line: compared too
    assert R.recorded_done(recorded, {**params, "train": {**params["train"], "lr": lr * 4}}) == DONE
    assert R.recorded_done(recorded, params, [f"train.lr={lr * 4}"]) == set()
    monkeypatch.setattr(R, "_existing", lambda dvc: {"paper-paper-cgan": "queued"})
    said: list[str] = []
    jobs = [("authors-acgan", None), ("paper-cgan", None), ("paper-fegan", None)]
    done = R.recorded_done(recorded, params)
    assert R._skip(jobs, FakeDvc(), False, said.append, done) == [("paper-fegan", None)]
    assert "paper-authors-acgan is recorded in the ledger with these settings; skipped (--force reruns it)" in said
    assert R._skip(jobs, FakeDvc(), True, said.append, done) == [("authors-acgan", None), ("paper-fegan", None)]


def test_collect_runs_dvc_exp_show_and_reports_its_failure(monkeypatch):
    import subprocess

    calls = []

    def fake(self, args):
        calls.append((self.repo, args))
        return subprocess.CompletedProcess(args, 0, (DATA / "exp_show.json").read_text(), "")

    monkeypatch.setattr(DvcClient, "_captured", fake)
    assert results.collect(DvcClient("x"))["acgan"].done and calls == [(Path("x"), ["dvc", "exp", "show", "--json"])]
    results.collect(DvcClient(), all_commits=True)
    assert calls[-1][1][-1] == "--all-commits"
    monkeypatch.setattr(DvcClient, "_captured", lambda self, args: subprocess.CompletedProcess(
        args, 255, "", "WARNING: x\nERROR: you are not inside of a DVC repository\n"))
    with pytest.raises(FeganError, match="^`dvc exp show --json` failed: ERROR: you are not inside of a DVC repository$"):
        results.collect(DvcClient())
    monkeypatch.setattr(DvcClient, "_captured", lambda self, args: subprocess.CompletedProcess(args, 0, "oops\n", ""))
    with pytest.raises(FeganError, match="printed no JSON: oops"):
        DvcClient().exp_show()
    monkeypatch.setattr(DvcClient, "_captured", lambda self, args: subprocess.CompletedProcess(args, 1, "", "boom\n"))
    with pytest.raises(FeganError, match="^dvc exp remove paper-acgan failed: boom$"):
        DvcClient().exp_remove("paper-acgan")
    with pytest.raises(FeganError, match="^dvc exp run --queue --name paper-authors-acgan ... failed: boom$"):
        DvcClient().queue(C.command("authors-acgan"))


def test_group_leaves_the_runs_it_is_given_as_they_were():
    seeded = [Run(name="acgan", state="success", seed=k, rev=f"r{k}", eval={"fid": 10.0 + k}) for k in (2, 0, 1)]
    older = Run(name="acgan", state="success", seed=0, rev="old", timestamp="2024", eval={"fid": 99.0})
    plain = Run(name="acgan", state="success", rev="unseeded", eval={"fid": 5.0})
    candidates = [*seeded, older, plain]
    before = copy.deepcopy(candidates)
    first, again = group(candidates), group(candidates)
    assert candidates == before and all(r.replicas == [] for r in candidates)
    assert first == again
    acgan = first["acgan"]
    assert (acgan.seed, acgan.rev, [r.seed for r in acgan.replicas]) == (0, "old", [1, 2])   # the newest seed 0
    assert acgan is not older and [r.seed for r in acgan.finished] == [0, 1, 2]
    assert first["fbank"] == Run(name="fbank") and list(first) == ALL_NAMES


def _exp(name: str, state: str | None, rev: str) -> dict:
    """One experiment of a `dvc exp show --json` row (state None: run in the workspace, done)."""
    return {"name": name, "executor": None if state is None else {"state": state},
            "revs": [{"rev": rev, "name": name, "data": {"timestamp": "2025", "params": {}, "metrics": {
                "metrics/eval.json": {"data": {"fid": 1.0}}}}}]}


def _repo(tmp_path: Path) -> Path:
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"s": {"cmd": "x", "outs": ["data/raw/synthetic"]}}}))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(_with_recipe(
        {"data": {"raw_dir": "data/raw/synthetic"}, "train": {"lr": 0.0004, "iterations": 10, "seed": 0},
         "evaluate": {"inception_weights": None}}, "paper")))
    return tmp_path


def test_queue_through_a_fake_dvc_skips_what_exists_and_runs_the_queue(tmp_path):
    payload = [{"rev": "workspace"}, {"rev": "c" * 40, "experiments": [
        _exp("paper-authors-acgan", "queued", "r1"), _exp("paper-authors-acgan-s0", None, "r2"),
        _exp("paper-paper-cgan", None, "r3"), _exp("paper-authors-no_c1", "failed", "r4")]}]
    dvc, said = FakeDvc(payload, _repo(tmp_path)), []
    cmds = R.queue(["authors-acgan", "paper-cgan", "authors-no_c1", "paper-fegan"], ["train.iterations=4e1"], run=True,
                   say=said.append, dvc=dvc)
    # paper-authors-acgan is queued although a seeded one exists (the tables leave the unseeded one out)
    assert said[:2] == ["paper-paper-cgan is done already; skipped (--force reruns it)",
                        "paper-authors-acgan is queued already; skipped"]
    assert [c[5] for c in cmds[:-1]] == ["paper-paper-fegan", "paper-authors-no_c1"] and cmds[-1] == C.RUN_ALL
    assert cmds[0][-2:] == ["-S", "train.iterations=4e1"]
    assert dvc.calls == [["check commit"], ["exp show"], ["queue", "paper-paper-fegan"], ["queue", "paper-authors-no_c1"],
                         ["stream", "--run-all"]]
    assert said[2:] == ["$ " + shlex.join(c) for c in cmds]
    dvc = FakeDvc(payload, tmp_path, codes={"--run-all": 3})
    with pytest.raises(FeganError, match=r"^`dvc exp run --run-all --jobs 1` failed \(exit status 3\)$"):
        R.queue(["paper-cgan"], run=True, force=True, say=said.append, dvc=dvc)
    assert ["exp remove", "paper-paper-cgan"] in dvc.calls and "removed the previous paper-paper-cgan" in said


def test_workspace_runs_through_a_fake_dvc_go_on_after_a_failure(tmp_path):
    dvc, said = FakeDvc([], _repo(tmp_path), codes={"paper-authors-acgan-s1": 1}), []
    with pytest.raises(FeganError, match=r"^1 experiment\(s\) failed: paper-authors-acgan-s1 \(see the output above\)$"):
        R.run_in_workspace(["paper-fegan", "authors-acgan"], seeds=[0, 1], say=said.append, dvc=dvc)
    assert [c[1] for c in dvc.calls if c[0] == "stream"] == [       # the default recipe's FE-GAN last, seed 0 last
        "paper-authors-acgan-s0", "paper-authors-acgan-s1", "paper-paper-fegan-s1", "paper-paper-fegan-s0"]
    assert said[0].startswith("$ dvc exp run --name paper-authors-acgan-s0 ")
    assert said[1] == "paper-authors-acgan-s0: done in 0 s" and said[3] == "paper-authors-acgan-s1: failed in 0 s"


def test_queue_reads_its_overrides_as_dvc_does(tmp_path):
    repo = _repo(tmp_path)
    assert R._queue_check(repo, ["data.raw_dir='/data/RAVDESS 2'"]) == []
    assert R._queue_check(repo, ["evaluate.inception_weights='models/pt inception.pth'"]) == [
        "-C", "models/pt inception.pth"]
    assert R._queue_check(repo, ["evaluate.inception_weights=null"]) == []
    with pytest.raises(FeganError, match="relative path that queued experiments"):
        R._queue_check(repo, ["data.raw_dir=\"data/raw/RAVDESS\""])
    with pytest.raises(FeganError, match="^-S train.iterations=a=b: not in the override grammar of dvc exp run -S"):
        C.check_extra(["train.iterations=a=b"])
    with pytest.raises(FeganError, match="model.variant is what the paper experiments vary"):
        C.check_extra(["++model.variant=cgan"])
    with pytest.raises(FeganError, match="use one"):
        C.check_extra(["++train.seed=3"], seeds=[0, 1])
    assert C.check_extra(["train.lr=4e-4", "evaluate.snr_db=[1,5]"]) == ["train.lr=4e-4", "evaluate.snr_db=[1,5]"]


# --- rendering ---------------------------------------------------------------------------------

PARAMS = {"synth": {"out_dir": "data/raw/synthetic"},
          "data": {"format": "ravdess", "raw_dir": "data/raw/synthetic"},
          "faces": {"image_size": 64}, "model": {"width": 0.25, "variant": "fegan"},
          "features": {"kind": "fbank"}, "train": {"iterations": 300}, "vnet": {"epochs": 150},
          "evaluate": {"snr_db": [1, 5, 10, 25], "durations_s": [1, 3, 5, 10]}}


def _run(name: str, i: int, with_is: bool = False, conds=None) -> Run:
    ev = {"fid": 10.0 + i + 0.123, "kid": 0.01 * (i + 1), "kid_std": 0.001, "id_acc": 0.5 + 0.01 * i,
          "emo_acc": 0.25 + 0.01 * i, "id_acc_real": 1.0, "emo_acc_real": 0.9,
          "train_fid": 9.0 + i, "train_kid": 0.02, "train_id_acc": 0.6 + 0.01 * i, "train_emo_acc": 0.3 + 0.01 * i,
          "train_id_acc_real": 0.99, "train_emo_acc_real": 0.97, "chance_identity": 0.125,
          "chance_emotion": 0.25, "n_test_voices": 56, "n_test_faces_real": 167,
          "val_fid": 20.0 + i, "val_id_acc": 0.4 + 0.01 * i, "val_emo_acc": 0.3 + 0.01 * i,
          "val_diversity_ratio": 0.1 + 0.001 * i, "vnet_acc": 0.875}
    rob = {}
    for c in conds or [c for _, c, _, _ in CONDITIONS]:
        rob.update({f"{c}_fid": 20.0 + i, f"{c}_kid": 0.03, f"{c}_id_acc": 0.4, f"{c}_emo_acc": 0.3,
                    f"{c}_vnet_acc": 0.5})
        if c.startswith("dur"):
            rob[f"{c}_seconds"] = float(int(c[3:5]))
        if with_is:
            rob[f"{c}_is_fake"] = 1.5
    if with_is:
        ev.update(is_fake=1.6 + 0.01 * i, is_fake_std=0.1, is_real=1.9, is_real_std=0.1)
    if name in SETS["unseen"] + SETS["unseen-vnet"]:   # the speaker protocol's keys, as evaluate writes them
        for p in ("unseen_", "val_unseen_"):
            for tag in ("attr", "dlib"):
                ev.update({f"{p}match_1to2_{tag}": 0.7 + 0.01 * i, f"{p}r_at_1_{tag}": 0.2 + 0.01 * i,
                           f"{p}r_at_5_{tag}": 0.5, f"{p}oracle_match_1to2_{tag}": 0.9,
                           f"{p}oracle_r_at_1_{tag}": 0.375, f"{p}oracle_r_at_5_{tag}": 0.8})
            ev.update({f"{p}chance_match_1to2": 0.5, f"{p}chance_r_at_1": 0.0625, f"{p}chance_r_at_5": 0.3125,
                       f"{p}sex_acc": 0.95, f"{p}sex_acc_real": 1.0, f"{p}age_band_acc": 0.3,
                       f"{p}age_band_acc_real": 0.6, f"{p}size_band_acc": 0.5, f"{p}size_band_acc_real": 0.73,
                       f"{p}emo_acc": 0.49, f"{p}emo_acc_real": 0.9, f"{p}fid": 300.0 + i})
    params = yaml.safe_load(yaml.safe_dump(PARAMS))
    pins = EXPERIMENTS[name].values() if name in EXPERIMENTS else dict(i.split("=") for i in EARLIER[name])
    for k, v in pins.items():
        _set(params, k, v)
    return Run(name=name, state="success", rev="a" * 40, baseline="b" * 40, params=params, eval=ev,
               robustness=rob)


def _seeded(name: str, fids: list[float], i: int = 0) -> Run:
    """A Run of ``name`` over seeds 0.. with these test FIDs (and val FIDs 100 higher)."""
    runs = [_run(name, i) for _ in fids]
    for k, (r, f) in enumerate(zip(runs, fids)):
        r.seed, r.rev = k, f"{k}" * 40
        r.eval.update(fid=f, val_fid=f + 100)
    return replace(runs[0], replicas=runs[1:])


def _tables(text: str) -> dict[str, list[list[str]]]:
    """Heading (up to its first ". ") -> its table's rows, header row first."""
    out, current = {}, None
    for line in text.splitlines():
        m = re.match(r"#{2,3} (.+)", line)
        if m:
            current = out.setdefault(m.group(1).split(". ")[0], [])
        elif current is not None and line.startswith("|") and not line.startswith("|---"):
            current.append([c.strip() for c in line.strip("|").split("|")])
    return out


EARLIER_TABLES = ["Table 2", "Table 3", "Table 4", "Table 5"]
RECIPE_TABLES = ["Which recipe: FE-GAN under each, on validation data",
                 "Babble: which recipe holds the speaker (test voices)", "Table 4 under the two recipes",
                 "One choice at a time: FE-GAN from the paper's recipe towards the authors'",
                 "lambda1 / lambda2 on FE-GAN", "Learning rate on FE-GAN",
                 "Speakers never heard: Table 4's methods on the synthetic population",
                 "The paper's baselines as the authors ran them, beside ours"]


def _all_runs(**kw) -> dict[str, Run]:
    return {n: _run(n, i, **kw) for i, n in enumerate(ALL_NAMES)}


def test_render_every_table_with_every_cell_and_the_is_footnote():
    text = render(_all_runs())
    tables = _tables(text)
    assert [k for k in tables if tables[k]] == RECIPE_TABLES + EARLIER_TABLES
    assert [len(tables[k]) - 1 for k in EARLIER_TABLES] == [7, 9, 5, 5]       # rows as in the paper (+ours)
    assert [len(tables[k]) - 1 for k in RECIPE_TABLES] == [7, 7, 8, 9, 22, 3, 18, len(LOGGED)]   # lambda: 7 recipes
    for name, rows in tables.items():
        width = len(rows[0]) if rows else 0
        for row in rows:
            assert len(row) == width, (name, row)
            assert all(cell for cell in row[1:]), (name, row)              # only the first column continues blank
    assert "not run" not in text and "Not run yet" not in text
    # IS: one footnote saying why, referenced from the cells
    assert text.count("[^is]:") == 1 and "n/a[^is]" in text
    assert "1008-class logits" in text and "pt_inception-2015-12-05-6726825d.pth" in text
    # every paper number is there
    for table in (paper.TABLE2, paper.TABLE3, paper.TABLE4, paper.TABLE5):
        for row in table.values():
            for v in row.values():
                assert v is None or f"{v:.2f}" in text, v
    assert "95.08" in text and "73.15" in text
    # ours, formatted: FID 2 decimals, KID 4, accuracies in %
    i = ALL_NAMES.index("mfcc")
    t2 = {r[1]: r for r in tables["Table 2"]}
    assert t2["MFCCs"][2:5] == [f"{10 + i + 0.123:.2f}", "64.35", "n/a[^is]"]
    assert t2["MFCCs"][6:9] == [f"{0.01 * (i + 1):.4f}", f"{50 + i:.2f}", f"{25 + i:.2f}"]
    i = ALL_NAMES.index("cgan")
    t5 = {r[0]: r for r in tables["Table 5"]}
    assert t5["CGANs [12]"][1] == f"{60 + i:.2f}" and t5["CGANs [12]"][4] == f"{50 + i:.2f}"
    ceiling = t5["Real faces (the judges' ceiling)"]
    assert [ceiling[i] for i in (1, 4, 7, 8)] == ["99.00", "100.00", "97.00", "90.00"]
    t3 = {(r[0], r[1]): r for r in tables["Table 3"]}
    assert t3[("Audio duration time (s)", "1")][-1] == "1.00" and t3[("Babble SNR (dB)", "1 (most noise)")][-1] == "all"
    # our 1 dB SNR (the most noise) beside the paper's "25" (its FID 93.57), under the noise-level reading
    fb = ALL_NAMES.index("fbank")
    assert t3[("Babble SNR (dB)", "1 (most noise)")][2:5] == ["25", f"{20 + fb:.2f}", "93.57"]
    assert "noise levels" in text
    assert "ours (synthetic)" in text and "Chance: identity 12.50 %, emotion 25.00 %" in text


def test_recipe_tables_give_validation_and_test_readings_over_seeds():
    runs = {n: Run(name=n) for n in ALL_NAMES}
    runs["paper-fegan"] = _seeded("paper-fegan", [10.0, 12.0, 14.0])            # mean 12, sd 2
    runs["authors-fegan"] = _seeded("authors-fegan", [30.0, 31.0])
    runs["authors-acgan"] = _run("authors-acgan", 3)
    runs["paper-fegan-ev"] = Run(name="paper-fegan-ev", state="queued")
    runs["authors-fegan-lambda1_0.5"] = _seeded("authors-fegan-lambda1_0.5", [40.0, 44.0])
    text = render(runs)
    t = _tables(text)
    header = t[RECIPE_TABLES[0]][0]
    assert header[3:] == ["n", *(h for _, h, _, _ in VAL_COLUMNS + TEST_COLUMNS)]
    col = {h: header.index(h) for h in header}
    recipes_rows = {r[0]: r for r in t[RECIPE_TABLES[0]][1:]}
    paper_row = recipes_rows["`paper`"]
    assert paper_row[2] == "`paper-paper-fegan`" and paper_row[col["n"]] == "3"
    assert paper_row[col["test FID"]] == "12.00 ± 2.00" and paper_row[col["val FID"]] == "112.00 ± 2.00"
    assert paper_row[col["val identity %"]] == "40.00 ± 0.00" and paper_row[col["val diversity"]] == "0.10 ± 0.00"
    assert recipes_rows["`authors`"][col["test FID"]] == "30.50 ± 0.71" and recipes_rows["`authors`"][col["n"]] == "2"
    assert recipes_rows["`fegan-v1`"][col["n"]] == "0" and recipes_rows["`fegan-v1`"][col["test FID"]] == "not run yet"
    # babble: identity clean and at 25 dB, the drop per seed, V-net beside (paper: seeds 0-2 alike here)
    bab = {r[0]: r for r in t[RECIPE_TABLES[1]][1:]}
    assert bab["`paper`"][1:5] == ["3", "50.00 ± 0.00", "40.00 ± 0.00", "10.00 ± 0.00"]
    assert bab["`paper`"][5:] == ["87.50 ± 0.00", "50.00 ± 0.00", "50.00 ± 0.00"]
    assert bab["`fegan-v1`"][1] == "0" and bab["`fegan-v1`"][4] == "not run yet"
    # Table 4: one run is its own value; the paper's FID beside
    t4 = t[RECIPE_TABLES[2]]
    acgan = next(r for i, r in enumerate(t4) if r[1] == "AC-GAN [14]" and t4[i - 2][0] == "" and i > 4)
    assert acgan[2] == "77.04" and acgan[3] == "1" and acgan[-4] == "13.12" and acgan[-1] == "28.00"
    # the switches: the two recipes whole around the one-at-a-time rows; a queued run says so
    sw = {r[1]: r for r in t[RECIPE_TABLES[3]][1:]}
    assert list(sw)[0] == "`paper-paper-fegan`" and list(sw)[-1] == "`paper-authors-fegan`"
    assert sw["`paper-paper-fegan-ev`"][3] == "queued" and sw["`paper-paper-fegan-real_only`"][3] == "not run yet"
    # lambda: only the recipe with a lambda run; its own weights are its FE-GAN run
    lam = t[RECIPE_TABLES[4]][1:]
    assert [r[2] for r in lam] == ["`paper-authors-fegan-lambda1_0.3`", "`paper-authors-fegan-lambda1_0.5`",
                                   "`paper-authors-fegan-lambda1_0.7`", "`paper-authors-fegan`"]
    assert lam[1][1] == "0.5 / 0.5" and lam[1][3] == "2" and lam[1][-7] == "42.00 ± 2.83"
    assert lam[3][1] == "1 / 0 (the recipe's own)" and lam[3][-7] == "30.50 ± 0.71"
    # paired by seed against the recipe's own run: val FID (140, 144) - (130, 131) over seeds 0 and 1
    assert lam[1][-3:] == ["+11.50 ± 2.12", "+0.00 ± 0.00", "+0.00 ± 0.00"]
    assert lam[3][-3:] == ["—", "—", "—"] and lam[0][-3] == "not run yet"
    # the authors' baselines: their logged number, the paper's cell, ours; no switch says so
    au = {r[0]: r for r in t[RECIPE_TABLES[7]][1:]}
    row = au['mask C2; keep C1, d1 ("= ACGAN")']
    assert row[1:5] == ["L13-14", "77.05 at 30000", "Table 4 AC-GAN, RAVDESS 77.04", "`paper-authors-acgan`"]
    assert row[-4] == "13.12"
    cgan = au['mask C1 and C2 ("= CGAN"): D1 alone']
    assert cgan[4].startswith("no such switch[^noswitch") and cgan[6:] == ["no such switch"] * 8
    assert "No variant has D1 without C1, C2" in text
    assert au["keep all; MFCC, lambda 0.3/0.7"][-4] == "not run yet"
    # what is left to run, by set, with the command
    assert "Not run yet (42 of 50 experiments): set `switches`" not in text       # ev is queued: not all missing
    assert "set `recipes`" not in text and "set `table4`" not in text and "set `lambda-paper`" in text
    assert "`paper-fegan-v1-fegan`" in text and "Queued or running: paper-paper-fegan-ev" in text
    assert "fegan paper-tables --queue --seeds 0,1,2 --only SET[,SET]" in text
    # the per-seed section lists the seeded ones
    assert [r[0] for r in _tables(text)["Per seed"][1:4]] == [
        "`paper-paper-fegan-s0`", "`paper-paper-fegan-s1`", "`paper-paper-fegan-s2`"]


def test_learning_rate_set_and_table():
    """train.lr at half and twice params.yaml's under the default recipe, chosen on val: the recipe's
    own FE-GAN run is the row at params.yaml's lr, in order of lr; --only lr is the default's set."""
    assert SETS["lr-fegan-v5"] == ["fegan-v5-fegan-lr_0.0002", "fegan-v5-fegan-lr_0.0008"]
    for name, lr in zip(SETS["lr-fegan-v5"], (0.0002, 0.0008)):
        values = EXPERIMENTS[name].values()
        assert values["train.lr"] == lr and EXPERIMENTS[name].recipe == "fegan-v5"
        assert {**values, "train.lr": 0.0004} == EXPERIMENTS["fegan-v5-fegan"].values()   # the tables' lr
        assert C.varied_keys(name) == C.varied_keys("fegan-v5-fegan")
    # every default-scale experiment pins the 0.0004 the tables ran at; the unseen set its profile's
    assert all(e.values()["train.lr"] == 0.0004 for n, e in EXPERIMENTS.items()
               if n not in SETS["lr-fegan-v5"] + SETS["unseen"] + SETS["unseen-vnet"])
    assert all(EXPERIMENTS[n].values()["train.lr"] == 0.0008 for n in SETS["unseen"] + SETS["unseen-vnet"])
    assert "-S train.lr=0.0002 -S train.seed=1" in " ".join(C.command("fegan-v5-fegan-lr_0.0002", seed=1))
    assert C.parse_exp_name("paper-fegan-v5-fegan-lr_0.0008-s2") == ("fegan-v5-fegan-lr_0.0008", 2)
    assert C.select(["lr"], "fegan-v5") == SETS["lr-fegan-v5"]
    with pytest.raises(FeganError, match="params.yaml's recipe paper has none; name it: lr-fegan-v5"):
        C.select(["lr"], "paper")
    runs = {n: Run(name=n) for n in ALL_NAMES}
    runs["fegan-v5-fegan"] = _seeded("fegan-v5-fegan", [20.0, 22.0])
    lr_of_run = runs["fegan-v5-fegan"].params["train"].pop("lr")
    assert _tables(render(runs))["Learning rate on FE-GAN"][2][1] == "the tables'"      # its lr not recorded
    runs["fegan-v5-fegan"].params["train"]["lr"] = lr_of_run
    runs["fegan-v5-fegan-lr_0.0002"] = _seeded("fegan-v5-fegan-lr_0.0002", [30.0, 34.0, 38.0])
    lr = _tables(render(runs))["Learning rate on FE-GAN"]
    assert lr[0][:4] == ["Recipe", "train.lr", "Experiment", "n"]
    assert [r[:4] for r in lr[1:]] == [
        ["`fegan-v5`", "0.0002", "`paper-fegan-v5-fegan-lr_0.0002`", "3"],
        ["", "0.0004 (the tables')", "`paper-fegan-v5-fegan`", "2"],
        ["", "0.0008", "`paper-fegan-v5-fegan-lr_0.0008`", "0"]]
    assert lr[1][-7] == "34.00 ± 4.00" and lr[2][-7] == "21.00 ± 1.41" and lr[3][-7] == "not run yet"
    assert lr[0][-3:] == ["paired Δ val FID", "paired Δ val identity %", "paired Δ val emotion %"]
    # lr 0.0002 minus params.yaml's, seed by seed: seeds 0 and 1 in common, val FID 130 - 120, 134 - 122
    assert lr[1][-3] == "+11.00 ± 1.41" and lr[2][-3:] == ["—", "—", "—"] and lr[3][-3] == "not run yet"
    runs["fegan-v5-fegan-lr_0.0002"].eval["val_fid"] = 100.0                     # seed 0 alone: below
    runs["fegan-v5-fegan-lr_0.0002"].replicas = []
    assert _tables(render(runs))["Learning rate on FE-GAN"][1][-3] == "-20.00"


def test_unseen_set_and_table():
    """Table 4's methods on the synthetic population (issue 26): the profile's keys pinned beside the
    default recipe's, so the set queues from any workspace; the table puts the limit, chance and the
    judges' ceiling (read in the FE-GAN runs) under the methods."""
    from fegan.profiles import profile_values
    assert SETS["unseen"] == [f"fegan-v5-{v}-unseen{x}" for x in ("", "-vnet_attr", "-vnet_voice")
                              for v in ("fegan", "acgan", "cgan", "cgan_proj")]
    attr = EXPERIMENTS["fegan-v5-fegan-unseen-vnet_attr"].values()             # FE-GAN with V-net's attribute heads
    assert attr == {**EXPERIMENTS["fegan-v5-fegan-unseen"].values(), "vnet.attribute_weight": 1.0}
    voice = EXPERIMENTS["fegan-v5-fegan-unseen-vnet_voice"].values()           # ... x3, and the emotion head
    assert voice == {**attr, "vnet.attribute_weight": 3.0, "vnet.emotion_weight": 1.0}
    values = EXPERIMENTS["fegan-v5-cgan-unseen"].values()
    assert values["model.variant"] == "cgan" and values["data.split"] == "speaker" and values["synth.population"]
    assert {k: values[k] for k in profile_values("synthetic-population")} == {
        **profile_values("synthetic-population"), "vnet.attribute_weight": 0.0, "vnet.emotion_weight": 0.0}
    assert profile_values("synthetic-population")["vnet.attribute_weight"] == 1.0   # the profile's: the heads
    assert values["noisy_voices.snr_db"] == [10, 30] and values["evaluate.robustness_fid"] is False
    line = " ".join(C.command("fegan-v5-fegan-unseen", seed=2))
    assert "--name paper-fegan-v5-fegan-unseen-s2" in line and "-S synth.actors=80" in line
    assert "-S synth.intensities=[1]" in line and "-S data.raw_dir=data/raw/population" in line
    assert C.parse_exp_name("paper-fegan-v5-cgan_proj-unseen-s1") == ("fegan-v5-cgan_proj-unseen", 1)
    runs = {n: Run(name=n) for n in ALL_NAMES}
    t = _tables(render(runs))[RECIPE_TABLES[6]]
    assert [r[0] for r in t[1:]][-3:] == ["the limit: an oracle that knows the speaker's sex, age band and size band",
                                          "chance: a face unrelated to the voice",
                                          "real faces of these speakers (the judges' ceiling)"]
    assert all(c == "not run yet" for r in t[1:] for c in r[3:] if c != "—")
    fe = _seeded("fegan-v5-fegan-unseen", [1.0, 2.0])
    fe.replicas[0].eval["unseen_match_1to2_attr"] = 0.8                          # seeds: 0.70 and 0.80
    runs["fegan-v5-fegan-unseen"] = fe
    runs["fegan-v5-acgan-unseen"] = Run(name="fegan-v5-acgan-unseen", state="queued")
    t = _tables(render(runs))[RECIPE_TABLES[6]]
    head = t[0]
    col = {h: head.index(h) for h in head}
    rows = {r[0]: r for r in t[1:]}
    fegan = rows["FE-GAN"]
    assert fegan[1:3] == ["`paper-fegan-v5-fegan-unseen`", "2"]
    assert fegan[col["test 1:2, attributes"]] == "0.750 ± 0.071" and fegan[col["test sex %"]] == "95.00 ± 0.00"
    assert fegan[col["val 1:2, attributes"]] == "0.700 ± 0.000" and fegan[col["test FID"]] == "300.00 ± 0.00"
    assert rows["AC-GAN [14]"][2:4] == ["0", "queued"]
    assert list(rows)[4] == "FE-GAN, V-net with attribute heads"                         # after the methods
    assert rows[list(rows)[4]][1:4] == ["`paper-fegan-v5-fegan-unseen-vnet_attr`", "0", "not run yet"]
    oracle, chance, real = (rows[k] for k in list(rows)[-3:])
    assert oracle[col["test 1:2, attributes"]] == "0.900 ± 0.000"
    assert oracle[col["test R@5, attributes"]] == "0.800 ± 0.000"
    assert oracle[col["test sex %"]] == "—" and chance[col["test R@1, attributes"]] == "0.062 ± 0.000"
    assert chance[col["test 1:2, dlib"]] == "0.500 ± 0.000" and real[col["test 1:2, attributes"]] == "—"
    assert real[col["test age band %"]] == "60.00 ± 0.00" and real[col["test FID"]] == "—"


def test_render_with_inception_logits_fills_is():
    text = render(_all_runs(with_is=True))
    assert "n/a" not in text and "[^is]" not in text
    t4 = {r[0]: r for r in _tables(text)["Table 4"]}
    assert t4["FE-GAN (our method)"][4] == f"{1.6 + 0.01 * ALL_NAMES.index('fbank'):.2f}"
    assert t4["Ground truth (GT)"][4] == "1.90"


def test_render_says_which_experiments_to_run_and_what_was_not_evaluated():
    runs = {n: Run(name=n) for n in ALL_NAMES}
    runs["fbank"] = _run("fbank", 0, conds=["snr01db", "snr25db", "dur01s"])
    runs["fbank"].params["evaluate"].update(snr_db=[1, 25], durations_s=[1], fid_dims=64)
    runs["authors-acgan"] = Run(name="authors-acgan", state="queued")
    runs["paper-cgan"] = Run(name="paper-cgan", state="failed")
    text = render(runs)
    assert "Not run yet (55 of 57 experiments): set `recipes`, set `switches`, set `lambda-paper`" in text
    assert "`paper-paper-acgan`, `paper-paper-cgan_proj`, `paper-authors-cgan`" in text   # table4: not wholly missing
    assert "Queued or running: paper-authors-acgan" in text and "Failed: paper-paper-cgan" in text
    assert "fegan paper-tables --queue --only paper-cgan" in text
    t3 = {r[1]: r for r in _tables(text)["Table 3"][1:]}
    assert t3["5"][3] == "not evaluated[^cond]" and t3["25 (least noise)"][3] == "20.00"
    assert "evaluate.snr_db [1, 25]" in text and "evaluate.fid_dims 64" in text
    assert "64-d Inception features" in text
    assert {r[1]: r[2] for r in _tables(text)["Table 2"][1:]}["MFCCs"] == "not run yet"
    # nothing at all finished: still the paper's numbers, no crash
    empty = render({})
    assert "58.79" in empty and "Not run yet (57 of 57 experiments)" in empty and "not run yet" in empty
    assert "No finished experiment of the recipes' sets yet" in empty


def test_render_names_other_datasets_and_flags_runs_with_other_settings():
    runs = _all_runs()
    for r in runs.values():
        r.params["data"].update(format="enterface", raw_dir="/data/eNTERFACE05")
    runs["cgan"].params["train"]["iterations"] = 999
    runs["authors-cgan"].params["train"]["iterations"] = 999
    text = render(runs)
    assert "FID ours (eNTERFACE'05)" in text and "FID paper (eNTERFACE)" in text
    assert "`paper-cgan` (train.iterations 999)" in text and "`paper-authors-cgan` (train.iterations 999)" in text
    assert "on the eNTERFACE'05 data" in text


# --- the command -------------------------------------------------------------------------------

def test_cli_renders_to_a_file_and_checks_its_flags(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                         # no ledger here
    monkeypatch.setattr(results, "collect", lambda dvc, all_commits=False, like=None, left_out=None, extra=(): _all_runs())
    runner = CliRunner()
    res = runner.invoke(cli, ["paper-tables", "-o", str(tmp_path / "t.md")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "t.md").read_text().startswith("# The paper's tables")
    res = runner.invoke(cli, ["paper-tables"])
    assert res.exit_code == 0 and "### Table 5" in res.output and "## Table 4 under the two recipes" in res.output
    res = runner.invoke(cli, ["paper-tables", "--queue", "--dry-run", "--only", "paper-cgan"])
    assert res.output.strip() == shlex.join(C.command("paper-cgan"))
    assert res.output.startswith("dvc exp run --queue --name paper-paper-cgan -S features.kind=fbank "
                                 "-S model.variant=cgan -S train.voice_crops=true -S train.classify_fakes=true")
    res = runner.invoke(cli, ["paper-tables", "--queue", "--dry-run", "--only", "lambda", "--seeds", "0"])
    assert res.exit_code == 2 and "params.yaml matches none" in res.output            # no params.yaml here
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(_with_recipe({"train": {"seed": 0}}, "authors")))
    res = runner.invoke(cli, ["paper-tables", "--queue", "--dry-run", "--only", "lambda", "--seeds", "0,1,2"])
    assert res.exit_code == 0, res.output
    assert [line.split()[5] for line in res.output.strip().splitlines()] == [
        f"paper-authors-fegan-lambda1_{x}-s{k}" for x in ("0.3", "0.5", "0.7") for k in (0, 1, 2)]
    line = res.output.splitlines()[4]
    assert "-S lambda1=0.5 -S lambda2=0.5 " in line and line.endswith("-S train.seed=1")
    res = runner.invoke(cli, ["paper-tables", "--dry-run"])
    assert res.exit_code == 2 and "--force, --dry-run and --seeds go with --queue or --run" in res.output
    res = runner.invoke(cli, ["paper-tables", "--run", "--dry-run", "--only", "authors-acgan,recipes", "--seeds", "0,1"])
    assert res.exit_code == 0, res.output
    assert [line.split()[4] for line in res.output.strip().splitlines()] == [      # params.yaml's recipe: authors
        "paper-paper-fegan-s0", "paper-paper-fegan-s1", "paper-fegan-v1-fegan-s0", "paper-fegan-v1-fegan-s1",
        "paper-fegan-v2-fegan-s0", "paper-fegan-v2-fegan-s1", "paper-fegan-v3-fegan-s0", "paper-fegan-v3-fegan-s1",
        "paper-fegan-v4-fegan-s0", "paper-fegan-v4-fegan-s1", "paper-fegan-v5-fegan-s0", "paper-fegan-v5-fegan-s1",
        "paper-authors-acgan-s0", "paper-authors-acgan-s1", "paper-authors-fegan-s1", "paper-authors-fegan-s0"]
    assert res.output.splitlines()[0].endswith("-S train.augment_shift=0.0 -S noisy_voices.copies=0 -S 'noisy_voices.snr_db=[0, 30]' "
                                              "-S evaluate.robustness_fid=false -S train.lr=0.0004 -S train.seed=0")
    for bad in ("0,x", "1,1", "-1"):
        res = runner.invoke(cli, ["paper-tables", "--run", "--dry-run", "--seeds", bad])
        assert res.exit_code == 2 and "--seeds wants" in res.output, bad
    res = runner.invoke(cli, ["paper-tables", "--run", "--dry-run", "--seeds", "0,1", "-S", "train.seed=3"])
    assert res.exit_code == 2 and "use one" in res.output
    res = runner.invoke(cli, ["paper-tables", "--only", "bogus"])
    assert res.exit_code == 2 and "fegan: error: unknown paper experiment 'bogus'" in res.output
    res = runner.invoke(cli, ["paper-tables", "--queue", "--only", "acgan"])
    assert res.exit_code == 2 and "paper-acgan is an earlier run" in res.output


def test_seeded_runs_are_grouped_and_rendered_as_mean_and_spread():
    from fegan.paper.catalogue import exp_name, parse_exp_name
    assert exp_name("acgan", 2) == "paper-acgan-s2" and parse_exp_name("paper-acgan-s2") == ("acgan", 2)
    assert parse_exp_name("paper-cgan_proj") == ("cgan_proj", None) and parse_exp_name("paper-x-s1") is None
    runs = {n: _run(n, i) for i, n in enumerate(EARLIER)}
    seeds = [_run("acgan", k) for k in range(3)]            # FID 10.123, 11.123, 12.123; id 50, 51, 52 %
    for k, r in enumerate(seeds):
        r.seed = k
    seeds[0].replicas = seeds[1:]
    runs["acgan"] = seeds[0]
    text = render(runs)
    t4 = {r[0]: r for r in _tables(text)["Table 4"]}
    assert t4["AC-GANs [14]"][1] == "11.12 ± 1.00"
    t5 = {r[0]: r for r in _tables(text)["Table 5"]}
    assert t5["AC-GANs [14]"][4] == "51.00 ± 1.00"
    assert "mean ± standard deviation over the training seeds" in text
    per_seed = _tables(text)["Per seed"][1:]                # after its header row
    assert [r[0] for r in per_seed] == ["`paper-acgan-s0`", "`paper-acgan-s1`", "`paper-acgan-s2`"]
    assert [r[2] for r in per_seed] == ["10.12", "11.12", "12.12"]
    assert [r[4] for r in per_seed] == ["50.00", "51.00", "52.00"]
    assert "## Per seed" not in render({n: _run(n, i) for i, n in enumerate(EARLIER)})


def test_table2_rows_over_more_seeds_are_given_again_at_the_shared_seed():
    runs = {n: _run(n, i) for i, n in enumerate(EARLIER)}
    for r in runs.values():
        r.seed = 0
    fbank = [_run("fbank", k) for k in (5, 1, 2)]          # seed 0: FID 15.123, identity 55 %
    for k, r in enumerate(fbank):
        r.seed = k
    fbank[0].replicas = fbank[1:]
    runs["fbank"] = fbank[0]
    text = render(runs)
    assert {r[1]: r[2] for r in _tables(text)["Table 2"]}["Fbank (our method)"] == "12.79 ± 2.08"
    assert ("Rows over more seeds (Fbank (our method) over seeds 0, 1, 2) do not compare cell by cell with "
            "those over seed 0 alone; at seed 0 they read: Fbank (our method) FID 15.12, KID 0.0600, "
            "identity 55.00 %, emotion 30.00 %.") in text
    for r in runs.values():                                   # no seed shared
        if r.name != "fbank":
            r.seed = None
    assert "The rows share no training seed: compare them through Per seed." in render(runs)
    assert "Rows over more seeds" not in render({n: _run(n, i) for i, n in enumerate(EARLIER)})


@pytest.mark.slow
def test_queue_in_a_real_repository_then_collect_sees_them_queued(tmp_path):
    """`dvc exp run --queue` for real (queueing only: running even a tiny pipeline takes minutes)."""
    from test_cli_and_dvc import _commit, _copy_repo

    if shutil.which("git") is None:
        pytest.skip("git not installed")
    _copy_repo(tmp_path)
    (tmp_path / "dvc.lock").unlink(missing_ok=True)
    # the recipes' keys, where this checkout's params.yaml lacks them still (DVC refuses -S of a
    # key params.yaml does not have): the training code's switches bring them
    params = load_params(tmp_path / "params.yaml")
    missing = [k for k in recipes.KEYS if k not in results.flat_params(params)]
    if missing:
        for k in missing:
            _set(params, k, recipes.RECIPES["fegan-v1"][k])
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _commit(tmp_path, "x", init=True)
    said = []
    cmds = R.queue(["authors-acgan", "paper-cgan"], ["train.iterations=4"], repo=tmp_path, say=said.append)
    assert [c[5] for c in cmds] == ["paper-paper-cgan", "paper-authors-acgan"]
    runs = results.collect(DvcClient(tmp_path))
    assert runs["authors-acgan"].state == runs["paper-cgan"].state == "queued"
    queued = runs["authors-acgan"].params
    assert queued["model"]["variant"] == "acgan" and recipes.active(queued) == ["authors"]
    assert queued["train"]["voice_crops"] is True and queued["train"]["ev_noise"] == 0.05      # DVC's types
    assert runs["paper-cgan"].params["train"]["iterations"] == 4 and recipes.active(runs["paper-cgan"].params) == ["paper"]
    assert runs["paper-fegan"].state == "missing"
    # queued ones are not queued twice
    assert R.queue(["authors-acgan"], repo=tmp_path, say=said.append) == []
    assert "paper-authors-acgan is queued already; skipped" in said
