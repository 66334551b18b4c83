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


def main():
    cli()
