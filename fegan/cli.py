"""The ``fegan`` command: one click CLI for everything a stage does."""
from __future__ import annotations

import click

from .errors import FeganError, one_line_errors


def _int_list(ctx, param, value):
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"want comma-separated integers, got {value!r}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


@one_line_errors
def main():
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        raise SystemExit(130)
    except click.ClickException as e:
        e.show()
        raise SystemExit(e.exit_code)
    except FeganError:
        raise
