"""The authors' own runs, as their ``Experiment.md`` logs them, each beside the experiment of ours
with the same switches (the authors' recipe plus the masked parts).

fanguu/FE-GAN-voice-to-face-v2.0 at commit 0e0aa29 logs RAVDESS runs of its code with parts
masked ("屏蔽C2, 释放C1, 包含d1 [等同ACGAN]": mask C2, keep C1 and d1 = AC-GAN): the paper's
baselines and ablations were these, not separate implementations. docs/authors_runs.md maps
every number of the paper's Tables 2 and 4 to its log line; this is the part of it the tables
render. ``ours`` is a key of ``catalogue.EXPERIMENTS``, or None with ``why`` when no switch of
ours expresses the configuration.
"""
from __future__ import annotations

from dataclasses import dataclass

SOURCE = "fanguu/FE-GAN-voice-to-face-v2.0, Experiment.md (commit 0e0aa29)"


@dataclass(frozen=True)
class Logged:
    config: str          # the configuration as logged, in English
    lines: str           # where in Experiment.md
    fid: str             # the logged FID(s) this row concerns, with the checkpoint's iteration
    paper: str           # what the paper printed it as ("" when it printed none of it)
    ours: str | None     # our experiment with the same switches
    why: str = ""        # when ours is None


LOGGED = [
    Logged("mask C2; keep C1, d1 (\"= ACGAN\")", "L13-14", "77.05 at 30000",
           "Table 4 AC-GAN, RAVDESS 77.04", "authors-acgan"),
    Logged("mask C1; keep C2, d1", "L17-18", "154.13 at 32000", "", "authors-no_c1"),
    Logged("mask C1 and C2 (\"= CGAN\"): D1 alone", "L21-23", "181.88 at 30000; 177.49 at 90000",
           "", None, "no variant has D1 without C1, C2 and a conditional D (model.variant's list)"),
    Logged("keep C1, C2, d1 (D2's adversarial term off)", "L27-31", "59.30 at 30000 (20000-36000: 59.30-66.14)",
           "", "authors-fegan"),
    Logged("keep C1, C2, d1; drop d2", "L58-69", "90.02 at 58000 (49.96 at 26000)",
           "Table 2 without D2 90.02", "authors-fegan",
           ),
    Logged("keep C1, C2, d2; drop d1", "L71-81", "127.12 at 24000; 64.35 at 20000 (56.63 at 26000)",
           "Table 2 without D1 127.12, and MFCCs 64.35", "authors-no_d1-lambda1_0"),
    Logged("keep C1, d1, d2; drop C2", "L84-85", "110.84 at 32000", "Table 2 without C2 110.84",
           "authors-no_c2-lambda1_0.7"),
    Logged("keep C2, d1, d2; drop C1", "L88-89", "none: \"mode collapse, unusable\"", "",
           "authors-no_c1-lambda1_0.7"),
    Logged("keep all; lambda 0.5/0.5", "L35-39", "62.09 at 20000 - 77.66 at 50000", "",
           "authors-fegan-lambda1_0.5"),
    Logged("keep all; lambda 0.7/0.3", "L41-44", "60.00 at 20000 - 62.58 at 40000", "",
           "authors-fegan-lambda1_0.7"),
    Logged("keep all; lambda 0.3/0.7", "L52-56", "101.94 at 62000; 113.31 at 50000",
           "Table 2 without C1 101.94; Table 4 CGANs, RAVDESS 113.31", "authors-fegan-lambda1_0.3"),
    Logged("keep all; MFCC, lambda 0.3/0.7", "L101-104", "58.79 at 50000", "Table 2 Fbank and Table 4 FE-GAN, "
           "RAVDESS 58.79", "authors-mfcc-lambda1_0.3"),
]
