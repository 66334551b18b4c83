"""FE-GAN training: D/C updated, then G, on every step (paper 3.5 and 4.1).

Adam (betas 0.5/0.999), batch 64. Each step draws its whole batch once (``batch.draw``: real
faces with their labels, flipped at random; independently, training voices and noise), builds
E_v of the voices (the stored whole-voice E_v, or with ``train.voice_crops`` the frozen V-net on
a fresh 300-800 ms crop of each, as the authors' code does), then the objective
(``objectives``: the triple loss, or Wav2Pix's for the cGAN baseline) takes its D phase and its
G phase. An exponential moving average of G's weights (``ema``) is what samples and the exported
generator use. All randomness comes from one generator, saved in checkpoints, so a resumed run
continues the same trajectory.

Speed (``bench/train.py``): D sees real and fake faces in one pass of each trunk (D has no
BatchNorm, so a concatenated batch gives the same outputs); during G's backward D's weights
need no gradients, so they are frozen; the conv stacks run in channels-last memory; and on
CPUs with bf16 dot products ``train.precision: auto`` runs the networks under bf16 autocast.
Under torchrun (several processes, see ``distributed``) every rank draws the same batch and
trains on its rows of it; DDP averages gradients and G's BatchNorm normalises over the whole
batch (``sync_bn``), so N processes train the one-process model up to float rounding.
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
from ..models.config import GANConfig
from ..models.fegan import FEGAN
from . import batch as batches, checkpoint, distributed
from .device import autocast, channels_last
from .ema import EMA, recalibrate
from .objectives import Inputs, objective
from .vnet import pick_versions, random_crops


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
    # the recipe's switches (fegan/recipes.py: the paper's text against the authors' code)
    voice_crops: bool             # E_v of a fresh crop of each voice every step, through the frozen V-net
    voice_crop_ms: list[float]    # [shortest, longest] crop
    classify_fakes: bool          # C1/C2 also learn from generated faces (paper eqs. 1-2); off: real only
    lambda_in_g: bool             # lambda1/lambda2 weigh G's adversarial terms too; off: their mean (eq. 3)
    ev_noise: float               # G sees E_v/|E_v| + this x N(0, I) in training (model.normalize_ev renormalises)
    noisy_voices: bool            # G's voices include the noisy_voices stage's babble copies (when it made any):
                                  # crops of them (voice_crops), else their whole-voice E_v

    def validate(self) -> None:
        from ..errors import FeganError
        if self.precision not in ("auto", "fp32", "bf16"):
            raise FeganError(f"train.precision must be auto, fp32 or bf16, got {self.precision!r}")
        if self.ema_images < 0 or self.iterations < 1 or self.batch_size < 2 or self.log_every < 1:
            raise FeganError("train.ema_images must be >= 0, train.iterations and train.log_every >= 1, "
                             "train.batch_size >= 2")
        crop = list(self.voice_crop_ms)
        if len(crop) != 2 or not 0 < crop[0] <= crop[1]:
            raise FeganError(f"train.voice_crop_ms must be [shortest, longest] in ms, got {self.voice_crop_ms!r}")
        if self.ev_noise < 0:
            raise FeganError(f"train.ev_noise must be >= 0, got {self.ev_noise}")

    def crop_frames(self, hop_ms: float) -> tuple[int, int] | None:
        """The crop range in feature frames, None without voice crops."""
        if not self.voice_crops:
            return None
        return tuple(max(1, int(round(ms / hop_ms))) for ms in self.voice_crop_ms)


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
    # for train.voice_crops: each voice's features and each face's own voice
    voice_feat: torch.Tensor | None = None    # (Nv, F, T) the features V-net embeds
    face_voice: torch.Tensor | None = None    # (Nf,) row of voice_* of the face's clip
    voice_noisy: torch.Tensor | None = None   # (Nv, copies, F, T) babble copies of voice_feat (train.noisy_voices)

    def to(self, device) -> "GANData":
        return GANData(**{k: None if v is None else v.to(device) for k, v in vars(self).items()})


def to_image(u8: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1] (G's Tanh range)."""
    return u8.float() / 127.5 - 1.0


def fingerprint(model_cfg: GANConfig, train_cfg: GANTrainConfig, lambdas: tuple, data: GANData,
                crop_frames: tuple | None = None) -> str:
    """What a checkpoint must match to be resumed: configs and every byte of the data.

    The checkpoint is no DVC output (DVC leaves it alone between runs), so this is all that
    keeps a run from resuming one of other params, data or labels. Hashing all of it takes
    0.2 s once a run at RAVDESS scale (160 MB of 128x128 training faces; sha256 here).
    """
    h = hashlib.sha256(json.dumps([asdict(model_cfg), asdict(train_cfg), list(lambdas), crop_frames],
                                  sort_keys=True).encode())
    for name, t in sorted(vars(data).items()):
        if t is None:
            continue
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


def voice_embeddings(data: GANData, rows: torch.Tensor, starts: torch.Tensor | None, length: int,
                     vnet, version: torch.Tensor | None = None) -> torch.Tensor:
    """(b,) voices -> (b, D) E_v: stored whole-voice ones, or V-net's on each row's crop (of the
    clean voice, or of its noisy copy ``version - 1`` where ``version`` > 0). D is 128, plus the
    emotion code's classes when V-net has one (``VNet.condition``)."""
    if starts is None:
        return data.voice_ev[rows]
    feats = pick_versions(data.voice_feat, data.voice_noisy, rows, version)     # (b, F, T)
    crops = random_crops(feats, length, starts=starts)                          # (b, F, length)
    with torch.no_grad():
        return vnet.condition(crops).float()


def step_inputs(data: GANData, b: batches.Batch, wav2pix: bool, vnet=None, conditional: bool = True) -> Inputs:
    """The step's tensors from its drawn rows: real faces, labels and E_v.

    ``conditional``: the D/C heads read each real face's E_v. Off (FE-GAN, AC-GAN), the crops of
    the faces' own voices are not embedded (a V-net pass a step saved): the heads ignore
    ``face_ev`` then, and the stored whole-voice E_v stands in for it."""
    real = to_image(data.faces[b.face])
    real = channels_last(torch.where(b.flip[:, None, None, None], real.flip(3), real))
    face_id, face_emo = data.face_id[b.face], data.face_emo[b.face]
    starts = (None, None) if b.crop_start is None else (b.crop_start[0], b.crop_start[1])
    version = (None, None) if b.crop_version is None else (b.crop_version[0], b.crop_version[1])
    own = data.face_voice[b.face] if data.face_voice is not None else None
    if b.crop_start is not None and own is None:
        raise ValueError("train.voice_crops needs GANData.face_voice and voice_feat")
    if own is None or not (conditional or wav2pix):
        face_ev = data.face_ev[b.face]
    else:
        face_ev = voice_embeddings(data, own, starts[1], b.crop_len, vnet, version[1])
    if wav2pix:    # Wav2Pix draws each voice with its own face: G must draw that face (its L1 term)
        e_v, voice_id, voice_emo = face_ev, face_id, face_emo
        wrong = channels_last(to_image(data.faces[b.wrong]))
        wrong_ok = data.face_id[b.wrong] != face_id
    else:
        e_v = voice_embeddings(data, b.voice, starts[0], b.crop_len, vnet, version[0])
        voice_id, voice_emo, wrong, wrong_ok = data.voice_id[b.voice], data.voice_emo[b.voice], None, None
    if b.ev_noise is not None:     # the authors' perturbation: E_v/|E_v| + sigma N(0, I) (G renormalises)
        e_v = torch.nn.functional.normalize(e_v, dim=1) + b.ev_noise
    return Inputs(real=real, face_id=face_id, face_emo=face_emo, face_ev=face_ev, e_v=e_v, voice_id=voice_id,
                  voice_emo=voice_emo, wrong=wrong, wrong_ok=wrong_ok, offsets_d=b.offsets_d, offsets_g=b.offsets_g)


def train_step(model: FEGAN, opt_g, opt_d, data: GANData, gen: torch.Generator, cfg: GANTrainConfig,
               lambda1: float, lambda2: float, device, ddp: distributed.Replicated | None = None,
               vnet=None, hop_ms: float = 16.0) -> dict[str, float]:
    """One D/C phase then one G phase of the variant's objective; returns every loss term and accuracy.

    ``ddp`` (several processes): the DDP-wrapped networks; this rank trains on its rows of the
    batch every rank draws alike, and the gradients are averaged. ``vnet``: the frozen V-net that
    embeds the voice crops (``cfg.voice_crops``); ``hop_ms`` its features' hop.
    """
    obj = objective(model.cfg.parts["conditional"], lambda1, lambda2, cfg.classify_fakes, cfg.lambda_in_g)
    b = batches.draw(gen, cfg.batch_size, len(data.faces), len(data.voice_ev), model.g, wav2pix=obj.wav2pix,
                     ev_noise=cfg.ev_noise, embed_dim=data.voice_ev.shape[1], crop_frames=cfg.crop_frames(hop_ms),
                     n_frames=0 if data.voice_feat is None else data.voice_feat.shape[2],
                     copies=0 if data.voice_noisy is None else data.voice_noisy.shape[1],
                     augment_shift=cfg.augment_shift, image_size=model.cfg.image_size)
    nets = model
    if ddp is not None:
        b, nets = b.shard(ddp.ctx.share(cfg.batch_size)), ddp
    b = b.to(device)
    x = step_inputs(data, b, obj.wav2pix, vnet, conditional=model.cfg.parts["conditional"])

    with autocast(device, cfg.precision):
        fake = nets.g(x.e_v, b.noise, b.drop)
        loss_d, terms_d, out_real, out_fake = obj.d_phase(nets.judge, x, fake.detach())
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()

    # D unwrapped even under DDP, and frozen: G's backward needs gradients through D's
    # activations, not D's weight gradients (no optimizer would step them, no all-reduce runs)
    d_params = [p for m in model.discriminators() for p in m.parameters()]
    for p in d_params:
        p.requires_grad_(False)
    try:
        with autocast(device, cfg.precision):
            loss_g, terms_g, out_gen = obj.g_phase(model.judge, x, fake)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
    finally:
        for p in d_params:
            p.requires_grad_(True)
    opt_g.step()

    with torch.no_grad():
        return _step_logs(terms_d, terms_g, loss_d, loss_g, out_real, out_fake, out_gen,
                          x.face_id, x.face_emo, x.voice_id, x.voice_emo, least_squares=obj.wav2pix)


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
              stop_after: int | None = None, vnet: torch.nn.Module | None = None,
              hop_ms: float = 16.0) -> tuple[FEGAN, torch.nn.Module]:
    """Train, resuming from ``ckpt_path`` when it holds a checkpoint of this same run.

    Returns the model and the generator to export: G's weight average (BatchNorm statistics
    recalibrated on the training voices), or G itself with ``ema_images: 0``; in eval mode.
    ``sample(step, model, g)`` gets the same. ``stop_after`` ends the loop early after that
    many steps (a kill, for tests). ``vnet`` (frozen, eval mode) embeds the voice crops of
    ``train.voice_crops``, whose features have a hop of ``hop_ms``. Under torchrun (WORLD_SIZE > 1) this joins the process
    group (unless the caller has) and trains with DDP; only rank 0 calls ``log`` and
    ``sample`` and writes the checkpoint.
    """
    distributed.from_env().local_batch(train_cfg.batch_size)    # one clear error before any rank talks
    with distributed.session(device) as (ctx, device):
        if not ctx.is_main:
            log = sample = None
        if train_cfg.voice_crops and (vnet is None or data.voice_feat is None or data.face_voice is None):
            from ..errors import FeganError
            raise FeganError("train.voice_crops needs V-net and the training voices' features")
        return _train(model_cfg, train_cfg, lambda1, lambda2, data, device, ckpt_path, log, sample, stop_after,
                      vnet, hop_ms)


def export_generator(model: FEGAN, ema: EMA | None, voice_ev: torch.Tensor, seed: int) -> torch.nn.Module:
    """The generator that samples and ``models/generator.pt`` use (see ``train_gan``)."""
    if ema is None:
        return model.g.eval()
    g = copy.deepcopy(ema.g)
    return recalibrate(g, voice_ev, seed)


def _train(model_cfg: GANConfig, train_cfg: GANTrainConfig, lambda1: float, lambda2: float, data: GANData,
           device, ckpt_path: Path, log, sample, stop_after: int | None, vnet, hop_ms: float
           ) -> tuple[FEGAN, torch.nn.Module]:
    ctx = distributed.current()
    fp = fingerprint(model_cfg, train_cfg, (lambda1, lambda2), data, train_cfg.crop_frames(hop_ms))
    data = data.to(device)
    if vnet is not None:
        vnet = vnet.to(device).eval().requires_grad_(False)
    torch.manual_seed(train_cfg.seed)
    gen = torch.Generator().manual_seed(train_cfg.seed)
    model, opt_g, opt_d = build(model_cfg, train_cfg, device)    # the same initial weights on every rank
    ema = EMA(model.g, train_cfg.ema_images, train_cfg.ema_rampup) if train_cfg.ema_images > 0 else None
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
    ddp = distributed.wrap(model, ctx, device)     # None for one process
    model.train()
    # rank 0 shows the step, the rate, the ETA, this step's losses and the last sample grid's step
    sampled = ""
    with progress.bar(train_cfg.iterations, "train_fegan", unit="step", initial=start, enabled=ctx.is_main) as bar:
        for step in range(start, train_cfg.iterations):
            if stop_after is not None and step >= stop_after:
                break
            logs = train_step(model, opt_g, opt_d, data, gen, train_cfg, lambda1, lambda2, device, ddp, vnet, hop_ms)
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
                if ctx.is_main:
                    extra = {"g_ema": ema.state_dict()} if ema is not None else {}
                    checkpoint.save(ckpt_path, step=done, fingerprint=fp, model_config=model_cfg.to_dict(),
                                    model=model.state_dict(), opt_g=opt_g.state_dict(), opt_d=opt_d.state_dict(),
                                    rng=checkpoint.rng_state(gen, device), **extra)
                distributed.barrier()    # the file is whole before any rank goes on (and may read it)
            bar.set_postfix_str(f"loss_DC {logs['loss_DC']:.3f}, loss_G {logs['loss_G']:.3f}{sampled}", refresh=False)
            bar.update()
    distributed.sync_buffers(model)     # G's running statistics: rank 0's on every rank
    g_out = export_generator(model, ema, data.voice_ev, train_cfg.seed)
    model.train()
    return model, g_out
