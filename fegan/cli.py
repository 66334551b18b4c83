"""The ``fegan`` command: one click CLI for everything a stage does."""
from __future__ import annotations

import click

from .errors import FeganError


def _int_list(ctx, param, value):
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"want comma-separated integers, got {value!r}")


class _UserError(click.ClickException):
    """A FeganError shown the way the stage scripts show it: one line, exit status 2."""
    exit_code = 2

    def show(self, file=None):
        click.echo(f"fegan: error: {self.message}", err=True)


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FeganError as e:
            raise _UserError(str(e)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fegan")
def cli():
    """fegan: FE-GAN voice-to-face pipeline. Each stage of dvc.yaml is a subcommand."""


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="dataset folder to write")
@click.option("--truth", type=click.Path(dir_okay=False), help="ground-truth parquet to write")
@click.option("--params", "params_file", type=click.Path(dir_okay=False),
              help="start from the 'synth' section of this params.yaml")
@click.option("--seed", type=int)
@click.option("--actors", type=int, help="number of actors (1..24)")
@click.option("--emotions", callback=_int_list, help="RAVDESS emotion codes, e.g. 1,3,4,5")
@click.option("--intensities", callback=_int_list, help="1 normal, 2 strong")
@click.option("--statements", callback=_int_list, help="1, 2 or 1,2")
@click.option("--repetitions", callback=_int_list, help="1, 2 or 1,2")
@click.option("--width", type=int)
@click.option("--height", type=int)
@click.option("--workers", type=int, help="parallel clips (0: one per core)")
@click.option("--no-progress", is_flag=True)
def synth(params_file, no_progress, **opts):
    """Write the embedded synthetic talking-face dataset (RAVDESS layout)."""
    from .params import build_config, load_params
    from .synth.dataset import SynthConfig, synthesize

    values = load_params(params_file).get("synth", {}) if params_file else {}
    values.update({k: v for k, v in opts.items() if v is not None})
    if opts.get("out_dir") and not opts.get("truth"):
        values["truth"] = str(click.format_filename(opts["out_dir"])).rstrip("/") + "_truth.parquet"
    cfg = build_config(SynthConfig, values, "synth")
    truth = synthesize(cfg, progress=not no_progress)
    click.echo(f"wrote {len(truth)} clips to {cfg.out_dir} (truth: {cfg.truth})")


@cli.command("synth-preview")
@click.option("--raw", "raw_dir", default="data/raw/synthetic", show_default=True, type=click.Path(file_okay=False))
@click.option("--truth", default="data/synthetic_truth.parquet", show_default=True, type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out_png", default="docs/synthetic_faces.png", show_default=True)
def synth_preview(raw_dir, truth, out_png):
    """Contact sheet of a synthetic dataset: a row per actor, a column per emotion."""
    from pathlib import Path

    from .synth.preview import contact_sheet

    for p in (raw_dir, truth):
        if not Path(p).exists():
            raise FeganError(f"{p} does not exist (run `dvc repro synthesize` or `fegan synth` first)")
    contact_sheet(raw_dir, truth, out_png)
    click.echo(f"wrote {out_png}")


STAGE_MODULES: dict[str, str] = {}    # command -> the module whose stage(params) it runs, as stages/<name>.py does


def _stage_command(name: str, module: str, summary: str) -> None:
    STAGE_MODULES[name] = module

    @cli.command(name, help=f"{summary} Runs DVC stage `{name}` by hand: paths as in dvc.yaml, "
                            "params from --params with -S overrides.")
    @click.option("--params", "params_file", default="params.yaml", show_default=True,
                  type=click.Path(dir_okay=False))
    @click.option("-S", "--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
                  help="override a param, e.g. -S data.raw_dir=/data/RAVDESS (repeatable)")
    def command(params_file, overrides):
        import importlib

        from .params import load_params
        from .overrides import apply_overrides

        params = apply_overrides(load_params(params_file), overrides)
        click.echo(importlib.import_module(module).stage(params))


def _model_options(fn):
    """--vnet, --generator and --params: the trained models and the params they were trained with."""
    for opt in reversed([
        click.option("--vnet", default="models/vnet.pt", show_default=True, metavar="FILE",
                     help="V-net checkpoint (train_vnet)"),
        click.option("--generator", default="models/generator.pt", show_default=True, metavar="FILE",
                     help="G-net checkpoint (train_fegan)"),
        click.option("--params", "params_file", default="params.yaml", show_default=True,
                     type=click.Path(dir_okay=False), help="the data, vad and features sections the models were "
                                                           "trained with")]):
        fn = opt(fn)
    return fn


@cli.command()
@click.argument("voice")
@click.option("-o", "--out", "out", default="face.png", show_default=True, metavar="FILE",
              help="image to write (.png; any extension Pillow writes works)")
@click.option("--n", "n", default=1, show_default=True, type=int, help="faces to draw (noise samples)")
@click.option("--seed", default=0, show_default=True, type=int, help="noise seed: the same seed, the same faces")
@click.option("--separate", is_flag=True,
              help="with --n > 1, write OUT_0.png, OUT_1.png, ... instead of one grid")
@_model_options
@click.option("-S", "--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="override a param, e.g. -S vad.aggressiveness=3 (repeatable)")
def generate(voice, out, n, seed, separate, vnet, generator, params_file, overrides):
    """Draw the face of the speaker of VOICE (wav, mp3, or a video's audio track).

    Runs the pipeline's VAD, features, V-net and G-net on the recording; needs at
    least 0.3 s of speech (shorter speech is repeated to the features' 10 s, longer
    is cut). The line it prints says whether the voice is close to a training speaker or
    new (the similarity and threshold of models/vnet_calibration.json, beside --vnet). With --n > 1 the faces go into one grid image (row-major, the smallest
    square that holds them, 2 black pixels apart), or one file each with --separate.
    """
    from pathlib import Path

    from PIL import Image

    from .inference import faces_from_voice, grid
    from .io import atomic_path
    from .params import load_params
    from .overrides import apply_overrides

    if n < 1:
        raise FeganError(f"--n must be at least 1, got {n}")
    out = Path(out)
    if out.is_dir():
        raise FeganError(f"-o {out} is a folder; give an image file name such as {out / 'face.png'}")
    fmt = Image.registered_extensions().get(out.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise FeganError(f"-o {out}: unknown image type {out.suffix or '(no extension)'!r} (use .png)")
    params = apply_overrides(load_params(params_file), overrides)
    res = faces_from_voice(voice, params, vnet, generator, n=n, seed=seed)
    if separate and n > 1:
        targets = [(out.with_name(f"{out.stem}_{i}{out.suffix}"), res.images[i:i + 1]) for i in range(n)]
    else:
        targets = [(out, res.images)]
    for path, imgs in targets:
        with atomic_path(path, suffix=out.suffix) as tmp:
            Image.fromarray(grid(imgs)).save(tmp, format=fmt)
    s = res.images.shape[-1]
    what = (f"{targets[0][0]}" if len(targets) == 1 else f"{targets[0][0]} .. {targets[-1][0]}")
    layout = (f"{n} faces {s}x{s} in a grid" if len(targets) == 1 and n > 1 else
              f"{n} face{'s' if n > 1 else ''} {s}x{s}")
    click.echo(f"wrote {what} ({layout}, seed {seed}) from {res.voiced_s:.2f} s of speech in {voice}; "
               f"{res.voice_line()}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on (0.0.0.0: every interface, for other machines of your network)")
@click.option("--port", default=7860, show_default=True, type=click.IntRange(0, 65535))
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="also answer requests for this Host name (repeatable); by default only localhost's "
                   "names, the --host address and, with 0.0.0.0, this machine's names and addresses")
@_model_options
@click.option("--judge", default="models/emotion_judge.pt", show_default=True, metavar="FILE",
              help="the evaluate stage's emotion judge (optional: without it the page reads no emotion); "
                   "its judges_calibration.json and attribute_judges.pt are read beside it")
def demo(host, port, allow_hosts, vnet, generator, judge, params_file):
    """Serve a page where you speak (or upload a recording) and see the face.

    The page records from the microphone or takes a file (wav, mp3, m4a, webm/opus, a
    video's audio track), draws N faces with a seed through the same code as `fegan
    generate`, and says whether the voice is close to a training speaker (with one of their
    real training faces) or new, by a similarity threshold calibrated on unseen speakers; the
    seconds of speech used; and what the emotion judge reads in each face, temperature-scaled
    (and under the speaker protocol the attribute judges, over the faces). It
    loads nothing from the internet, bounds uploads, the seconds it hears and the requests it
    draws at once, and answers only its own Host names (docs/demo.md). Ctrl-C stops it.
    """
    import importlib.util

    if importlib.util.find_spec("uvicorn") is None or importlib.util.find_spec("starlette") is None:
        raise FeganError("the demo needs starlette and uvicorn (run `make setup`)")
    from .demo.app import Workspace, serve

    try:
        serve(host, port, Workspace(params=params_file, vnet=vnet, generator=generator, judge=judge), allow_hosts)
    except OSError as e:
        raise FeganError(f"cannot serve on {host}:{port}: {e.strerror or e}") from None


@cli.command("paper-tables")
@click.option("--queue", "queue_", is_flag=True,
              help="queue the experiments (dvc exp run --queue); `dvc queue start` or --run runs them")
@click.option("--run", "run_", is_flag=True,
              help="run them now: one after another in the workspace (dvc exp run -n paper-NAME ...), "
                   "or with --queue the queue (dvc exp run --run-all); then print the tables")
@click.option("--only", "only", multiple=True, metavar="NAME[,NAME]",
              help="these experiments or sets only (repeatable): recipes, table4, switches, lambda (params.yaml's "
                   "recipe's), lambda-RECIPE, lr (params.yaml's recipe's), lr-RECIPE, authors-baselines, or names "
                   "such as authors-acgan (docs/experiments.md)")
@click.option("-S", "--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="an extra override for every experiment, e.g. -S train.iterations=2000 (repeatable)")
@click.option("--force", is_flag=True, help="with --queue/--run: remove and rerun experiments already done")
@click.option("--dry-run", is_flag=True, help="with --queue/--run: print the dvc commands, run nothing")
@click.option("-A", "--all-commits", is_flag=True,
              help="read experiments of every commit (the newest of each name made with today's "
                   "params.yaml), not only HEAD's")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False), metavar="FILE",
              help="write the markdown here instead of stdout")
@click.option("--seeds", metavar="N[,N]",
              help="with --queue/--run: each experiment once per training seed (paper-NAME-sN, -S train.seed=N); "
                   "the tables print mean ± standard deviation over the seeds that finished")
@click.option("--ledger", "ledger_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="the committed record of finished runs, read beside the live experiments "
                   "[default: reports/paper_runs.json; missing: none]")
@click.option("--record", is_flag=True,
              help="add the finished runs the tables use to the ledger, so a fresh clone renders them too")
def paper_tables(queue_, run_, only, overrides, force, dry_run, all_commits, out, seeds, ledger_file, record):
    """The paper's Tables 2-5 from DVC experiments `paper-*`, ours beside the paper's numbers.

    Without flags, reads the finished experiments of this commit (`dvc exp show`) and the
    ledger, and prints the tables as markdown. --queue / --run start the experiments behind
    them, each pinning a recipe (fegan/recipes.py): FE-GAN under each recipe, Table 4's methods
    under two, one choice at a time, lambda, and the authors' masked-part baselines. Experiments
    done already are skipped.
    """
    import shlex

    from .io import atomic_path
    from .paper import catalogue, ledger, results, runs, tables
    from .paper.client import DvcClient
    from .params import load_params

    names = catalogue.select(only, catalogue.default_recipe("params.yaml"))
    if (force or dry_run or seeds) and not (queue_ or run_):
        raise FeganError("--force, --dry-run and --seeds go with --queue or --run (the tables group the seeds they find)")
    seed_list = catalogue.parse_seeds(seeds)
    ledger_file = ledger_file or ledger.LEDGER
    recorded = ledger.load(ledger_file)
    if queue_ or run_:
        say = (lambda s: click.echo(s, err=True))
        if queue_:
            cmds = runs.queue(names, overrides, run=run_, dry_run=dry_run, force=force, say=say, seeds=seed_list,
                              recorded=recorded)     # recorded runs of these settings are not run again
        else:
            cmds = runs.run_in_workspace(names, overrides, dry_run=dry_run, force=force, say=say, seeds=seed_list,
                                         recorded=recorded)
        if dry_run:
            click.echo("\n".join(shlex.join(c) for c in cmds))
            return
        if not run_:
            return
    # several commits (-A, or the ledger's runs): only runs made with today's params.yaml (the
    # compared keys and seed aside)
    left_out: list[str] = []
    like = load_params() if all_commits or recorded else None
    found = results.collect(DvcClient("."), all_commits=all_commits, like=like, left_out=left_out, extra=recorded)
    text = tables.render(found, left_out)
    if record:
        added = ledger.record(found.values(), ledger_file)
        click.echo(f"recorded {added} new run(s) in {ledger_file}", err=True)
    if left_out:
        click.echo(f"left out {len(left_out)} runs made with other settings than params.yaml (listed in the tables)",
                   err=True)
    if out:
        with atomic_path(out, suffix=".md") as tmp:
            tmp.write_text(text)
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)


def _say_changes(changed, params_file: str, kind: str, name: str) -> None:
    """What ``fegan profile``/``fegan recipe`` changed in params.yaml, a line a key."""
    if not changed:
        click.echo(f"{params_file} already has {kind} {name}")
    for key, old, new in changed:
        click.echo(f"{key}: {old} -> {new}")
    if changed:
        click.echo(f"{params_file}: {kind} {name} ({len(changed)} key(s) changed); `dvc repro` runs it")


@cli.command()
@click.argument("name", required=False)
@click.option("--raw-dir", type=click.Path(), metavar="DIR",
              help="the dataset's folder (needed by ravdess-paper, enterface and cremad; an absolute path also "
                   "works for queued experiments)")
@click.option("--params", "params_file", default="params.yaml", show_default=True,
              type=click.Path(dir_okay=False))
@click.option("--print-dvc", is_flag=True,
              help="print the same switch as one `dvc exp run -S ...` line; params.yaml is left as it is")
def profile(name, raw_dir, params_file, print_dvc):
    """Switch params.yaml to a profile: synthetic, synthetic-population, ravdess-paper, enterface, cremad.

    Rewrites only the profile's keys (comments and order kept, written atomically) and prints
    each change; `synthetic` restores the shipped values. Without NAME, lists the profiles.
    """
    from .profiles import PROFILES, active, apply_profile, dvc_command, profile_values

    if name is None:
        on = active(params_file)
        width = max(map(len, PROFILES))
        for n, p in PROFILES.items():
            click.echo(f"{n:{width}s} {p.help}{'  (active)' if n in on else ''}")
        return
    if print_dvc:
        profile_values(name, raw_dir)           # the same errors as applying it
        click.echo(dvc_command(name, raw_dir))
        return
    _say_changes(apply_profile(name, raw_dir, params_file), params_file, "profile", name)


@cli.command()
@click.argument("name", required=False)
@click.option("--params", "params_file", default="params.yaml", show_default=True,
              type=click.Path(dir_okay=False))
@click.option("--print-dvc", is_flag=True,
              help="print the same switch as one `dvc exp run -S ...` line; params.yaml is left as it is")
def recipe(name, params_file, print_dvc):
    """Switch params.yaml to a training recipe: paper, authors, fegan-v1.

    The paper's text, the authors' code (gan_train_v2.py) or fegan's first default: the choices
    where they differ (fegan/recipes.py). Rewrites only the recipe's keys, as `fegan profile`
    does; scale, dataset and learning rate are the profile's. Without NAME, lists the recipes.
    """
    from pathlib import Path

    from .params import read_yaml
    from .recipes import HELP, RECIPES, active, apply_recipe, dvc_command, recipe_values

    if name is None:
        try:
            on = active(read_yaml(Path(params_file).read_text()) or {})
        except OSError:
            on = []
        for n in RECIPES:
            click.echo(f"{n:10s} {HELP[n]}{'  (active)' if n in on else ''}")
        return
    if print_dvc:
        recipe_values(name)
        click.echo(dvc_command(name))
        return
    _say_changes(apply_recipe(name, params_file), params_file, "recipe", name)


_stage_command("synthesize", "fegan.synth.dataset", "Write the synthetic dataset from params.yaml's `synth`.")
_stage_command("demux", "fegan.preprocess.demux", "Find clips, parse labels, split, decode 32 kHz audio.")
_stage_command("vad", "fegan.preprocess.vad", "webrtcvad speech segments per clip.")
_stage_command("features", "fegan.preprocess.features", "Fbank/MFCC/spectrogram of 10 s of voiced audio.")
_stage_command("faces", "fegan.preprocess.faces", "dlib face detection, 5-point alignment, crops.")
_stage_command("noisy_voices", "fegan.preprocess.noisy_voices",
               "Babble-noisy copies of the training voices (noisy_voices.copies; 0 = off).")
_stage_command("train_judges", "fegan.evaluation.judges_stage",
               "The identity and emotion judges of evaluate, trained on real training faces only.")
_stage_command("train_vnet", "fegan.training.vnet_stage", "V-net pretraining as a speaker classifier; E_v of every clip.")
_stage_command("train_fegan", "fegan.training.gan_stage", "G-net with (D1, C1) and (D2, C2): the triple loss; resumes a killed run.")
_stage_command("evaluate", "fegan.evaluation.stage",
               "FID/KID/IS, identity and emotion accuracy, robustness (needs the trained models).")


def main():
    cli()
