"""Several processes through torchrun: DistributedDataParallel (DDP) on one node.

``torchrun --nproc_per_node=N stages/train_fegan.py`` starts N processes and gives each
RANK, LOCAL_RANK and WORLD_SIZE in its environment; without them (``dvc repro``, tests)
training is one process and nothing here does anything. With them, every rank holds the
same model (same seed, and DDP broadcasts rank 0's weights when it wraps), trains on its
own share of each batch, and DDP averages the gradients across ranks, so the weights stay
identical and one step of N processes is one step on the whole batch: every rank draws the
same batch and takes its rows (``batch``), G's BatchNorm normalises over all ranks' rows
(``sync_bn``), so the result is the one-process model up to float rounding. Rank 0 alone writes
files (curves, samples, checkpoints, the exported generator, metrics).

Backend: NCCL on CUDA (rank r on ``cuda:LOCAL_RANK``), gloo on the CPU (the tests).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as tdist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from ..errors import FeganError
from ..models.fegan import FEGAN
from . import sync_bn


@dataclass(frozen=True)
class Dist:
    """This process's place among those torchrun started (one process: rank 0 of 1)."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only one that logs and writes files."""
        return self.rank == 0

    def local_batch(self, batch: int) -> int:
        """This rank's share of ``train.batch_size`` (the global batch)."""
        if batch % self.world_size:
            raise FeganError(f"train.batch_size {batch} does not divide among {self.world_size} processes "
                             f"(torchrun --nproc_per_node); use a multiple of {self.world_size}")
        return batch // self.world_size

    def share(self, batch: int) -> slice:
        """This rank's rows of a batch that every rank draws alike."""
        b = self.local_batch(batch)
        return slice(self.rank * b, (self.rank + 1) * b)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise FeganError(f"environment variable {name}={value!r} is not an integer (set by torchrun)") from None


def from_env() -> Dist:
    """Rank and world size as torchrun sets them; one process when they are absent."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    if world < 1 or not 0 <= rank < world:
        raise FeganError(f"RANK {rank} and WORLD_SIZE {world} do not make sense (start with torchrun)")
    return Dist(rank, world, _env_int("LOCAL_RANK", rank))


def current() -> Dist:
    """The context of the live process group (one process when there is none)."""
    if not (tdist.is_available() and tdist.is_initialized()):
        return Dist()
    return Dist(tdist.get_rank(), tdist.get_world_size(), _env_int("LOCAL_RANK", tdist.get_rank()))


def is_main() -> bool:
    return current().is_main


def local_device(device: torch.device, ctx: Dist) -> torch.device:
    """Under torchrun each rank has a GPU of its own: rank r on ``cuda:LOCAL_RANK``."""
    if ctx.enabled and device.type == "cuda":
        return torch.device("cuda", ctx.local_rank)
    return device


def init(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the process group when torchrun started several processes (idempotent).

    Returns this rank's context and device. MASTER_ADDR/MASTER_PORT come from torchrun
    (``env://``).
    """
    ctx = from_env()
    device = local_device(device, ctx)
    if ctx.enabled and not tdist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)   # NCCL and all_gather_object use the current device
        tdist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=ctx.rank,
                                 world_size=ctx.world_size)
    return ctx, device


def cleanup() -> None:
    if tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()


@contextlib.contextmanager
def session(device: torch.device):
    """``init`` on entry; on exit destroy the process group, if this call created it."""
    owner = from_env().enabled and not tdist.is_initialized()
    ctx, device = init(device)
    try:
        yield ctx, device
    finally:
        if owner:
            cleanup()


class _Judges(nn.Module):
    """D1/C1 and D2/C2 as one module, so that one DDP (one reducer) averages every gradient
    that opt_d steps, in one fixed order on every rank; forward is FEGAN.judge."""

    def __init__(self, model: FEGAN):
        super().__init__()
        self.d1, self.d2 = model.d1, model.d2

    def forward(self, img: torch.Tensor, e_v: torch.Tensor | None = None, features: bool = False,
                img1: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return FEGAN.judge(self, img, e_v, features, img1)


class Replicated:
    """``g`` and ``judge`` of a FEGAN, each through DDP: what the training step calls for
    the gradients each optimizer steps (see ``wrap``). The FEGAN itself is left as it was
    (its state_dict, checkpoints and samples do not see DDP)."""

    def __init__(self, model: FEGAN, ctx: Dist, device: torch.device):
        ids = [device.index] if device.type == "cuda" else None
        self.module, self.ctx = model, ctx
        # G's BatchNorm normalises over the whole batch of all ranks (sync_bn: the one-process
        # statistics), so its running statistics agree on every rank as well
        self.g = DDP(sync_bn.convert(model.g), device_ids=ids, broadcast_buffers=False)
        # D has no buffers. The D/C step calls it once, on real and fake faces concatenated, before
        # one backward, so each gradient is marked ready, and averaged, once. find_unused_parameters
        # stays off: a variant does not build the parts it lacks, so every parameter is used.
        self.judge = DDP(_Judges(model), device_ids=ids)


def wrap(model: FEGAN, ctx: Dist, device: torch.device) -> Replicated | None:
    """DDP wrappers for a multi-process run, None for one process.

    Wrapping broadcasts rank 0's parameters and buffers, so wrap after loading a checkpoint.
    How the training step uses them (``fegan.training.gan.train_step``):

    - D/C step: G runs through ``g`` (DDP), D through ``judge`` (DDP) on the real faces and
      ``fake.detach()`` in one batch; ``loss_d.backward()`` reaches only D's parameters, and
      D's reducer averages their gradients before ``opt_d.step()``.
    - G step: D is called *unwrapped* (``model.judge``) with its parameters frozen
      (``requires_grad`` off), so ``loss_g.backward()`` computes no D weight gradients and
      D's reducer sees no hooks: no D all-reduce fires for gradients no optimizer steps.
      G's reducer, armed by the G forward of this step, averages G's gradients in this
      backward, before ``opt_g.step()``.

    Every rank thus steps the same averaged gradients from the same weights with the same
    Adam state: the weights stay identical.
    """
    if not ctx.enabled:
        return None
    return Replicated(model, ctx, device)


def average(logs: dict[str, float], device: torch.device) -> dict[str, float]:
    """Mean of each logged value over the ranks (each is a mean over an equal share)."""
    ctx = current()
    if not ctx.enabled:
        return logs
    keys = sorted(logs)
    t = torch.tensor([logs[k] for k in keys], dtype=torch.float64, device=device)
    tdist.all_reduce(t)
    return dict(zip(keys, (t / ctx.world_size).tolist()))


def sync_buffers(model: nn.Module) -> None:
    """Rank 0's buffers (G's BatchNorm running statistics) to every rank.

    DDP broadcasts them before each forward, so after the last step each rank still holds
    the statistics of its own last batch; this makes the final models identical.
    """
    if current().enabled:
        for b in model.buffers():
            tdist.broadcast(b, src=0)


def barrier() -> None:
    if current().enabled:
        tdist.barrier()
