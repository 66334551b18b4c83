"""What the two training stages share: metrics as JSON, the dvclive logger.

Each stage is its own module (``vnet_stage``, ``gan_stage``; the GAN's data of one split in
``gan_data``) so that a DVC stage's deps, its import closure, are its own code: an edit of the
GAN reruns neither V-net nor anything V-net's closure does not reach (``tests/test_stage_deps.py``).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..io import atomic_path


def write_json(path: str | Path, obj: dict) -> None:
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def open_live(directory: str, resume: bool = False):
    from dvclive import Live

    class OfflineLive(Live):
        def post_data_to_studio(self):
            # dvclive re-reads every curve file on each next_step() to post them to DVC Studio, even
            # with no Studio set up (it drops them later): 80 ms a logged step after 1000 of them,
            # 25 s of a 10000-step train_fegan. Skipped when there is no Studio to post to.
            if getattr(self, "_dvc_studio_config", True):
                super().post_data_to_studio()

    # dvc.yaml declares the plots and metrics; dvclive must not edit it or make experiments
    return OfflineLive(directory, resume=resume, save_dvc_exp=False, dvcyaml=None, report=None)
