"""FE-GAN training: D/C updated, then G, on every step (paper 3.5 and 4.1).

Adam (lr 2e-4, betas 0.5/0.999), batch 64. Each step draws a batch of real faces
(with their face labels, horizontally flipped at random) and, independently, a
batch of training voices (E_v with their voice labels) and noise; the
discriminators and classifiers take a step on the triple loss, then G does.
The cGAN of Wav2Pix (variant ``cgan``) draws its voices paired with the real faces (each
face's own clip) and a "wrong" face, and trains on Wav2Pix's losses instead.
An exponential moving average of G's weights (``ema``) is what samples and the exported
generator use. All randomness comes from one generator plus torch's global state
(dropout), both saved in checkpoints, so a resumed run continues the same trajectory.

Speed (``bench/train.py``): D sees real and fake faces in one pass of each trunk (D has no
BatchNorm, so a concatenated batch gives the same outputs); during G's backward D's weights
need no gradients, so they are frozen; the conv stacks run in channels-last memory; and on
CPUs with bf16 dot products ``train.precision: auto`` runs the networks under bf16 autocast.
Under torchrun (several processes, see ``distributed``) every rank draws the same
batch from the same generator and trains on its share of it; DDP averages gradients.
"""
from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .. import progress
from ..losses import dc_loss, g_loss, wav2pix_dc_loss, wav2pix_g_loss
from ..models.config import GANConfig
from ..models.fegan import FEGAN
from . import checkpoint, distributed
from .device import autocast, channels_last
from .augment import translate
from .ema import EMA, recalibrate


@dataclass
class GANTrainConfig:
    """The ``train`` section of params.yaml (lambda1/lambda2 are top-level keys).

    No defaults here: params.yaml holds the values, and what each means (two sets drifted
    apart: 1500 steps at lr 2e-4 here, 10000 at 4e-4 there). Code outside the stages starts
    from ``fegan.params.defaults("train")``; ``tests/test_training_loop.py`` checks the fields
    and the section name the same keys.
    """
    iterations: int
    batch_size: int
    lr: float                     # both Adams
    beta1: float
    beta2: float
    checkpoint_every: int
    sample_every: int             # 0: no sample grids
    log_every: int                # curves: the mean of every this many steps
    seed: int
    ema_images: float             # half-life of G's weight average in images seen; 0 = no average
    ema_rampup: float             # ... at most this fraction of the images seen so far
    precision: str                # auto (bf16 autocast on CUDA and on CPUs with bf16 dot products) | fp32 | bf16
    augment_shift: float          # D1 sees every image translated by up to this fraction of its size (augment.py)

    def validate(self) -> None:
        from ..errors import FeganError
        if self.precision not in ("auto", "fp32", "bf16"):
            raise FeganError(f"train.precision must be auto, fp32 or bf16, got {self.precision!r}")
        if self.ema_images < 0 or self.iterations < 1 or self.batch_size < 2 or self.log_every < 1:
            raise FeganError("train.ema_images must be >= 0, train.iterations and train.log_every >= 1, "
                             "train.batch_size >= 2")


@dataclass
class GANData:
    """The training set, already on the training device."""
    faces: torch.Tensor        # (Nf, 3, S, S) uint8
    face_id: torch.Tensor      # (Nf,) identity index
    face_emo: torch.Tensor     # (Nf,) emotion index
    face_ev: torch.Tensor      # (Nf, 128) E_v of the face's own clip (for the conditional D)
    voice_ev: torch.Tensor     # (Nv, 128)
    voice_id: torch.Tensor     # (Nv,)
    voice_emo: torch.Tensor    # (Nv,)

    def to(self, device) -> "GANData":
        return GANData(**{k: v.to(device) for k, v in vars(self).items()})


def to_image(u8: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1] (G's Tanh range)."""
    return u8.float() / 127.5 - 1.0


def fingerprint(model_cfg: GANConfig, train_cfg: GANTrainConfig, lambdas: tuple, data: GANData) -> str:
    """What a checkpoint must match to be resumed: configs and every byte of the data.

    The checkpoint is no DVC output (DVC leaves it alone between runs), so this is all that
    keeps a run from resuming one of other params, data or labels. Hashing all of it takes
    0.2 s once a run at RAVDESS scale (160 MB of 128x128 training faces; sha256 here).
    """
    h = hashlib.sha256(json.dumps([asdict(model_cfg), asdict(train_cfg), list(lambdas)], sort_keys=True).encode())
    for name, t in sorted(vars(data).items()):
        h.update(f"{name} {t.dtype} {tuple(t.shape)}".encode())
        h.update(t.detach().cpu().contiguous().numpy())
    return h.hexdigest()[:16]


def resumable_step(ckpt_path: str | Path, fp: str, iterations: int) -> int:
    """The step to resume from: that of an unfinished checkpoint of this same run, else 0.

    A finished run's checkpoint is not resumed: DVC only reruns a finished stage when
    something changed or an output is missing, and then training again from step 0
    (deterministic) is what rebuilds every output, curves included.
    """
    ckpt_path = Path(ckpt_path)
    if not ckpt_path.is_file():
        return 0
    ck = checkpoint.load(ckpt_path)
    step = int(ck["step"])
    return step if ck.get("fingerprint") == fp and step < iterations else 0


def build(model_cfg: GANConfig, train_cfg: GANTrainConfig, device) -> tuple[FEGAN, torch.optim.Optimizer,
                                                                             torch.optim.Optimizer]:
    model = FEGAN(model_cfg).to(device).to(memory_format=torch.channels_last)
    betas = (train_cfg.beta1, train_cfg.beta2)
    opt_g = torch.optim.Adam(model.g.parameters(), lr=train_cfg.lr, betas=betas)
    opt_d = torch.optim.Adam([p for m in model.discriminators() for p in m.parameters()], lr=train_cfg.lr,
                             betas=betas)
    return model, opt_g, opt_d


def train_step(model: FEGAN, opt_g, opt_d, data: GANData, gen: torch.Generator, batch: int,
               lambda1: float, lambda2: float, device, ddp: distributed.Replicated | None = None,
               precision: str = "auto", augment_shift: float = 0.0) -> dict[str, float]:
    """One D/C update then one G update; returns every loss term and accuracy.

    ``ddp`` (several processes): the DDP-wrapped networks; this rank trains on its share
    of the ``batch`` that every rank draws alike, and the gradients are averaged.
    """
    B = batch
    wav2pix = model.cfg.parts["conditional"] == "concat"
    ri = torch.randint(0, len(data.faces), (B,), generator=gen).to(device)
    vi = torch.randint(0, len(data.voice_ev), (B,), generator=gen).to(device)
    flip = (torch.rand(B, generator=gen) < 0.5).to(device)
    noise = torch.randn(B, model.cfg.noise_dim, generator=gen).to(device)
    wi = torch.randint(0, len(data.faces), (B,), generator=gen).to(device) if wav2pix else ri
    nets = model
    if ddp is not None:
        share = ddp.ctx.share(B)
        ri, vi, flip, noise, wi = ri[share], vi[share], flip[share], noise[share], wi[share]
        nets = ddp

    real = to_image(data.faces[ri])
    real = channels_last(torch.where(flip[:, None, None, None], real.flip(3), real))
    face_id, face_emo, face_ev = data.face_id[ri], data.face_emo[ri], data.face_ev[ri]
    if wav2pix:    # Wav2Pix draws each voice with its own face: G must draw that face (its L1 term)
        e_v, voice_id, voice_emo = face_ev, face_id, face_emo
    else:
        e_v, voice_id, voice_emo = data.voice_ev[vi], data.voice_id[vi], data.voice_emo[vi]
    n = len(real)

    # D1 (real/fake and identity) sees translated images; D2, which reads the expression, sees
    # them as they are (``augment``). Returns None when augment_shift is 0 (no draws from gen).
    aug = lambda x: translate(x, augment_shift, gen) if augment_shift > 0 else None     # noqa: E731
    with autocast(device, precision):
        fake = nets.g(e_v, noise)
        if wav2pix:
            wrong = channels_last(to_image(data.faces[wi]))
            x = torch.cat([real, fake.detach(), wrong])
            out = nets.judge(x, torch.cat([e_v, e_v, e_v]), features=True, img1=aug(x))
            d_real, d_fake, d_wrong = out["d1"].split(n)
            real_map = out["f1"][:n].detach()
            loss_d, terms_d = wav2pix_dc_loss(d_real, d_fake, d_wrong, data.face_id[wi] != face_id)
            out_real, out_fake = {"d1": d_real}, {"d1": d_fake}
        else:
            x = torch.cat([real, fake.detach()])
            out = nets.judge(x, torch.cat([face_ev, e_v]), img1=aug(x))     # one pass per trunk
            out_real = {k: v[:n] for k, v in out.items()}
            out_fake = {k: v[n:] for k, v in out.items()}
            loss_d, terms_d = dc_loss(out_real, out_fake, face_id, face_emo, voice_id, voice_emo, lambda1, lambda2)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()

    # D unwrapped even under DDP, and frozen: G's backward needs gradients through D's
    # activations, not D's weight gradients (no optimizer would step them, no all-reduce runs)
    d_params = [p for m in model.discriminators() for p in m.parameters()]
    for p in d_params:
        p.requires_grad_(False)
    try:
        with autocast(device, precision):
            out_gen = model.judge(fake, e_v, features=wav2pix, img1=aug(fake))
            if wav2pix:
                loss_g, terms_g = wav2pix_g_loss(out_gen["d1"], out_gen["f1"], real_map, fake, real)
            else:
                loss_g, terms_g = g_loss(out_gen, voice_id, voice_emo)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
    finally:
        for p in d_params:
            p.requires_grad_(True)
    opt_g.step()

    with torch.no_grad():
        return _step_logs(terms_d, terms_g, loss_d, loss_g, out_real, out_fake, out_gen,
                          face_id, face_emo, voice_id, voice_emo, least_squares=wav2pix)


def _step_logs(terms_d, terms_g, loss_d, loss_g, out_real, out_fake, out_gen, face_id, face_emo, voice_id,
               voice_emo, least_squares: bool = False) -> dict[str, float]:
    logs = {**terms_d, **terms_g, "loss_DC": loss_d, "loss_G": loss_g}
    for name, target_real, target_fake in (("c1", face_id, voice_id), ("c2", face_emo, voice_emo)):
        if name in out_real:
            logs[f"acc_{name}_real"] = (out_real[name].argmax(1) == target_real).float().mean()
            logs[f"acc_{name}_fake"] = (out_gen[name].argmax(1) == target_fake).float().mean()
    # D's belief that a face is real: the sigmoid of its logit, or Wav2Pix's least-squares score itself
    squash = (lambda x: x) if least_squares else torch.sigmoid      # noqa: E731
    for name in ("d1", "d2"):
        if name in out_real:
            logs[f"{name}_real"] = squash(out_real[name].float()).mean()
            logs[f"{name}_fake"] = squash(out_fake[name].float()).mean()
    # one copy to Python for them all (a GPU waits once a step, not once a value); float64 holds
    # every float32 exactly, so each is the float() of its tensor
    return dict(zip(logs, torch.stack([v.detach().double().reshape(()) for v in logs.values()]).tolist()))


def train_gan(model_cfg: GANConfig, train_cfg: GANTrainConfig, lambda1: float, lambda2: float, data: GANData,
              device, ckpt_path: str | Path, log: Callable[[int, dict], None] | None = None,
              sample: Callable[[int, FEGAN, torch.nn.Module], None] | None = None,
              stop_after: int | None = None) -> tuple[FEGAN, torch.nn.Module]:
    """Train, resuming from ``ckpt_path`` when it holds a checkpoint of this same run.

    Returns the model and the generator to export: G's weight average (BatchNorm statistics
    recalibrated on the training voices), or G itself with ``ema_images: 0``; in eval mode.
    ``sample(step, model, g)`` gets the same. ``stop_after`` ends the loop early after that
    many steps (a kill, for tests). Under torchrun (WORLD_SIZE > 1) this joins the process
    group (unless the caller has) and trains with DDP; only rank 0 calls ``log`` and
    ``sample`` and writes the checkpoint.
    """
    distributed.from_env().local_batch(train_cfg.batch_size)    # one clear error before any rank talks
    with distributed.session(device) as (ctx, device):
        if not ctx.is_main:
            log = sample = None
        return _train(model_cfg, train_cfg, lambda1, lambda2, data, device, ckpt_path, log, sample, stop_after)


def export_generator(model: FEGAN, ema: EMA | None, voice_ev: torch.Tensor, seed: int) -> torch.nn.Module:
    """The generator that samples and ``models/generator.pt`` use (see ``train_gan``)."""
    if ema is None:
        return model.g.eval()
    g = copy.deepcopy(ema.g)
    return recalibrate(g, voice_ev, seed)


def _train(model_cfg: GANConfig, train_cfg: GANTrainConfig, lambda1: float, lambda2: float, data: GANData,
           device, ckpt_path: Path, log, sample, stop_after: int | None) -> tuple[FEGAN, torch.nn.Module]:
    ctx = distributed.current()
    fp = fingerprint(model_cfg, train_cfg, (lambda1, lambda2), data)   # on the CPU copy: device-independent
    data = data.to(device)
    torch.manual_seed(train_cfg.seed)
    gen = torch.Generator().manual_seed(train_cfg.seed)
    model, opt_g, opt_d = build(model_cfg, train_cfg, device)    # the same initial weights on every rank
    ema = EMA(model.g, train_cfg.ema_images, train_cfg.ema_rampup) if train_cfg.ema_images > 0 else None
    distributed.own_rng(train_cfg.seed)     # several ranks: dropout masks of each one's own
    start = 0
    ckpt_path = Path(ckpt_path)
    if resumable_step(ckpt_path, fp, train_cfg.iterations):
        ck = checkpoint.load(ckpt_path, map_location=device)
        model.load_state_dict(ck["model"])
        opt_g.load_state_dict(ck["opt_g"])
        opt_d.load_state_dict(ck["opt_d"])
        if ema is not None:
            ema.load_state_dict(ck["g_ema"])
        checkpoint.set_rng_state(ck["rng"], gen, device)
        start = int(ck["step"])
        distributed.own_rng(train_cfg.seed, start, ck.get("rng_ranks"), device)
    ddp = distributed.wrap(model, ctx, device)     # None for one process
    model.train()
    # rank 0 shows the step, the rate, the ETA, this step's losses and the last sample grid's step
    sampled = ""
    with progress.bar(train_cfg.iterations, "train_fegan", unit="step", initial=start, enabled=ctx.is_main) as bar:
        for step in range(start, train_cfg.iterations):
            if stop_after is not None and step >= stop_after:
                break
            logs = train_step(model, opt_g, opt_d, data, gen, train_cfg.batch_size, lambda1, lambda2, device, ddp,
                              train_cfg.precision, train_cfg.augment_shift)
            done = step + 1
            if ema is not None:
                ema.update(model.g, done * train_cfg.batch_size, train_cfg.batch_size)
            logs = distributed.average(logs, device)    # curves of the whole batch (a collective: every rank)
            if log is not None:
                log(step, logs)
            if sample is not None and train_cfg.sample_every and (done % train_cfg.sample_every == 0
                                                                   or done == train_cfg.iterations):
                sample(done, model, export_generator(model, ema, data.voice_ev, train_cfg.seed))
                model.g.train()
                sampled = f", sample {done}"
            if done % train_cfg.checkpoint_every == 0 or done == train_cfg.iterations:
                ranks = distributed.rng_states(device)    # a collective: every rank takes part, rank 0 writes
                if ctx.is_main:
                    extra = {"g_ema": ema.state_dict()} if ema is not None else {}
                    checkpoint.save(ckpt_path, step=done, fingerprint=fp, model_config=model_cfg.to_dict(),
                                    model=model.state_dict(), opt_g=opt_g.state_dict(), opt_d=opt_d.state_dict(),
                                    rng=checkpoint.rng_state(gen, device), **ranks, **extra)
                distributed.barrier()    # the file is whole before any rank goes on (and may read it)
            bar.set_postfix_str(f"loss_DC {logs['loss_DC']:.3f}, loss_G {logs['loss_G']:.3f}{sampled}", refresh=False)
            bar.update()
    distributed.sync_buffers(model)     # G's running statistics: rank 0's on every rank
    g_out = export_generator(model, ema, data.voice_ev, train_cfg.seed)
    model.train()
    return model, g_out
