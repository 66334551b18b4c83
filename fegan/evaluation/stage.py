"""The `evaluate` stage (paper 4.2 and Tables 3-5; SPEC section 4).

Faces are generated from voices the GAN never trained on (the test split, and the val
split, ``val_``-prefixed: the readings hyper-parameters are chosen on) and judged from
outside the GAN:
- FID and KID against the real faces of the same split, through pytorch-fid's Inception
  (``fegan.metrics``); IS when the original Inception weights are present;
- identity and emotion accuracy by the paper-style judges (``judge.train_judge``: CNNs
  trained on real training faces only, as the paper fine-tunes VGG-Face on the dataset;
  the `train_judges` stage trains them, ``judges_stage``); their accuracy on real faces is
  the ceiling reported beside. dlib's frozen face descriptor gives a second identity
  reading, ``id_acc_descriptor``;
- diversity (``fegan.metrics.diversity``): how far apart one voice's noise draws are, beside
  real faces of one (actor, emotion), and how many distinct images FID/KID rest on;
- V-net's own speaker accuracy on the same voices (``vnet_acc``, and under each robustness
  condition), so a table shows whether V-net or G loses the speaker;
- the voice-following control: the same noise with *other speakers'* test E_v (each voice
  swapped for one of the next speaker, same emotion where there is one) must be named as
  the donor speaker (``id_acc_swapped``), not as the original one;
- the same on training voices (paper Table 5) and, for the robustness table,
  on test voices under babble noise and shorter inputs (``conditions``).
The noise vectors are the same for every set, so sets differ only in the voice.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from .. import paths, progress
from ..datasets.ravdess import EMOTIONS
from ..errors import FeganError
from ..inference import load_generator, load_vnet
from ..io import atomic_path
from ..metrics import MetricInputs, cached_features, compute_metrics, fid_inception, inception_features, \
    inception_logits, to_uint8
from ..params import build_config
from ..preprocess.features import compute, features_kwargs
from ..preprocess.noisy_voices import voiced_waves
from ..training import checkpoint
from ..training.data import Labels, load_features, protocol, usable_clips
from ..training.device import resolve_device
from ..training.gan_data import gan_data
from ..training.stages import write_json
from ..training.vnet import embed_all
from . import plots, unseen
from .conditions import apply, conditions
from .descriptor import DescriptorJudge, cached_descriptors, descriptors
from .judge import predict
from .judges_stage import load_judges

REPORTS = "reports"
ROBUSTNESS_METRICS = "metrics/robustness.json"
EVAL_METRICS = "metrics/eval.json"


@dataclass
class EvalConfig:
    """The ``evaluate`` section of params.yaml."""
    samples_per_voice: int = 10             # generated faces per test voice for FID/KID and accuracies
    robust_samples_per_voice: int = 3       # the same for each robustness condition (9 of them)
    seed: int = 0
    talkers: int = 4                        # voices summed into the babble
    snr_db: list[float] = field(default_factory=lambda: [1, 5, 10, 25])
    durations_s: list[float] = field(default_factory=lambda: [1, 3, 5, 10])
    # FID/KID of each robustness condition: Inception at 299x299 is most of a condition's cost and
    # about half of the stage's; false keeps the judges' and V-net's readings (the paper tables' sets)
    robustness_fid: bool = True
    inception_weights: str | None = None    # pt_inception-2015-12-05-6726825d.pth, if you have it
    fid_dims: int = 2048                    # pytorch-fid's --dims; 2048 is the FID papers report
    kid_subset_size: int = 1000
    cache_dir: str = "data/cache"
    batch_size: int = 64
    identity: dict = field(default_factory=dict)     # the identity judge (JudgeConfig): train_judges reads it
    emotion: dict = field(default_factory=dict)      # the emotion judge (JudgeConfig): train_judges reads it

    def validate(self) -> None:
        if self.samples_per_voice < 1 or self.robust_samples_per_voice < 1 or self.talkers < 1:
            raise FeganError("evaluate.samples_per_voice, evaluate.robust_samples_per_voice and "
                             "evaluate.talkers must be >= 1")


@torch.no_grad()
def generate(g, e_v: torch.Tensor, n: int, seed: int, device, batch: int = 256) -> np.ndarray:
    """(V, 128) E_v -> (V * n, 3, S, S) uint8, voice-major; the noise depends only on the seed."""
    noise = torch.randn(len(e_v) * n, g.noise_dim, generator=torch.Generator().manual_seed(seed))
    ev = e_v.repeat_interleave(n, 0)
    return np.concatenate([to_uint8(g(ev[i:i + batch].to(device), noise[i:i + batch].to(device))).cpu().numpy()
                           for i in range(0, len(ev), batch)])


def swap_speakers(voice_id: np.ndarray, voice_emo: np.ndarray) -> np.ndarray:
    """For each voice, the index of a voice of the *next* speaker (same emotion where it has one).

    Speaker k's voices take speaker k+1's (cyclically), the j-th voice of an (actor, emotion)
    the j-th of the donor's, so every voice is replaced by another speaker's and the swapped
    set has the same emotions: a judge that follows the voice names the donor.
    """
    speakers = np.unique(voice_id)
    nxt = {int(a): int(b) for a, b in zip(speakers, np.roll(speakers, -1))}
    donor = np.empty(len(voice_id), dtype=np.int64)
    seen: dict[tuple[int, int], int] = {}
    for i, (s, e) in enumerate(zip(voice_id.tolist(), voice_emo.tolist())):
        j = seen.get((s, e), 0)
        seen[(s, e)] = j + 1
        pool = np.flatnonzero((voice_id == nxt[s]) & (voice_emo == e))
        if not len(pool):
            pool = np.flatnonzero(voice_id == nxt[s])
        donor[i] = pool[j % len(pool)]
    return donor


class Judges:
    """Everything that scores a set of faces: the identity and emotion judges, the descriptor, Inception."""

    PHASES = 2     # what __init__ tells ``phase`` it begins

    def __init__(self, cfg: EvalConfig, identity, emotion, train, padding: float, device, phase=lambda name: None):
        """``identity``, ``emotion``: the judges `train_judges` wrote (``load_judges``); ``train``: the
        real training faces (``face_id``), which the descriptor's classifier is fitted on."""
        self.cfg, self.padding, self.device = cfg, padding, device
        self.identity, self.emotion = identity, emotion
        faces = train.faces.numpy()
        phase(f"dlib descriptors of {len(faces)} real training faces")
        self.descriptor = DescriptorJudge(cfg.seed).fit(self.descriptors(faces, real=True), train.face_id.numpy())
        phase("loading the Inception network")
        self.inception = fid_inception(cfg.inception_weights, cache_dir=cfg.cache_dir, device=device,
                                       dims=cfg.fid_dims)

    def descriptors(self, faces: np.ndarray, real: bool = False) -> np.ndarray:
        """dlib face descriptors; real faces' are cached (they do not change with the GAN)."""
        if not real:
            return descriptors(faces, self.padding)
        return cached_descriptors(faces, self.padding, self.cfg.cache_dir)

    def features(self, faces: np.ndarray, real: bool = False) -> np.ndarray:
        """Inception features; real faces' are cached (they do not change with the GAN)."""
        inc, bs = self.inception, self.cfg.batch_size
        if real:
            return cached_features(inc.model, inc.weights_id, faces, self.cfg.cache_dir, bs, self.device)
        return inception_features(inc.model, faces, bs, self.device)

    def logits(self, feats: np.ndarray) -> np.ndarray | None:
        return inception_logits(self.inception.head, feats) if self.inception.has_logits else None

    def accuracy(self, faces: np.ndarray, id_true: np.ndarray, emo_true: np.ndarray, real: bool = False,
                 descriptor: int = 1):
        """Identity and emotion accuracy of a set (and the descriptor's identity reading), and the predictions.

        ``descriptor``: read every that-many-th face with dlib's descriptor (0: none). It costs
        75 ms a face here, so generated sets give it their first noise draw per voice only.
        """
        id_pred, emo_pred = predict(self.identity, faces), predict(self.emotion, faces)
        acc = {"id_acc": float((id_pred == id_true).mean()), "emo_acc": float((emo_pred == emo_true).mean())}
        if descriptor:
            desc_pred = self.descriptor.predict(self.descriptors(faces[::descriptor], real))
            acc["id_acc_descriptor"] = float((desc_pred == id_true[::descriptor]).mean())
        return acc, id_pred, emo_pred

    def score(self, fake: np.ndarray, id_true: np.ndarray, emo_true: np.ndarray, real_feats: np.ndarray,
              descriptor: int = 1, diversity: dict | None = None
              ) -> tuple[dict[str, float], dict[str, str], np.ndarray, np.ndarray]:
        """Accuracies, FID, KID (and IS when possible) of generated faces against real ones.

        ``diversity``: ``fake_groups`` (each generated face's voice), ``real_images`` and
        ``real_groups`` (the real faces of ``real_feats`` and their (actor, emotion)) add the
        diversity readings (``fegan.metrics.diversity``)."""
        acc, id_pred, emo_pred = self.accuracy(fake, id_true, emo_true, descriptor=descriptor)
        values, skipped = self.image_metrics(fake, real_feats, diversity)
        return {**acc, **values}, skipped, id_pred, emo_pred

    def image_metrics(self, fake: np.ndarray, real_feats: np.ndarray, diversity: dict | None = None
                      ) -> tuple[dict[str, float], dict[str, str]]:
        """FID, KID, IS (when possible) and, given ``diversity`` (see ``score``), the diversity readings."""
        feats = self.features(fake)
        names = ("fid", "kid", "is") + (("diversity",) if diversity else ())
        return compute_metrics(MetricInputs(
            real=real_feats, fake=feats, real_logits=self.logits(real_feats), fake_logits=self.logits(feats),
            no_logits_reason=self.no_is_reason(), kid_subset_size=self.cfg.kid_subset_size,
            is_splits=min(10, len(fake)), seed=self.cfg.seed,
            **({"fake_images": fake, **diversity} if diversity else {})), names)

    def no_is_reason(self) -> str | None:
        if self.inception.has_logits:
            return None
        if self.cfg.fid_dims != 2048:
            return f"IS not computed: it needs the 2048-d pool3 features (evaluate.fid_dims is {self.cfg.fid_dims})"
        return self.inception.no_logits_reason


def stage(params: dict) -> str:
    cfg = build_config(EvalConfig, params.get("evaluate"), "evaluate")
    if protocol(usable_clips()) == "speaker":
        with progress.Phases("evaluate", Judges.PHASES + 4) as phases:
            return _evaluate_unseen(params, cfg, phases.start)
    # the phases as they begin, with their count: the judges', six below, one a robustness condition, the reports
    total = Judges.PHASES + 6 + len(conditions(cfg.snr_db, cfg.durations_s)) + 1
    with progress.Phases("evaluate", total) as phases:
        return _evaluate(params, cfg, phases.start)


def vnet_accuracy(logits: torch.Tensor, vnet_actors: list, actors: np.ndarray) -> float:
    """V-net's speaker head against the true actor codes ``actors``. Its class i is
    ``vnet_actors[i]`` (train_vnet's ``Labels.from_clips`` order, saved in models/vnet.pt), compared
    by actor code, so it does not rest on the generator's class order being the same."""
    return float((np.asarray(vnet_actors)[logits.argmax(1).numpy()] == actors).mean())


def _groups(face_id: torch.Tensor, face_emo: torch.Tensor) -> np.ndarray:
    """One number per (actor, emotion) pair."""
    return face_id.numpy() * (int(face_emo.max()) + 1 if len(face_emo) else 1) + face_emo.numpy()


def _voices(g, data, n: int, cfg: EvalConfig, device) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """A split's voices' faces (voice-major, n each), their true labels, and the diversity inputs."""
    fake = generate(g, data.voice_ev, n, cfg.seed, device, cfg.batch_size)
    groups = {"fake_groups": np.arange(len(data.voice_ev)).repeat(n), "real_images": data.faces.numpy(),
              "real_groups": _groups(data.face_id, data.face_emo)}
    return fake, data.voice_id.numpy().repeat(n), data.voice_emo.numpy().repeat(n), groups


def _evaluate(params: dict, cfg: EvalConfig, phase) -> str:
    feat_kw = features_kwargs(params.get("features"))
    device = resolve_device(params.get("device", "auto"))
    g = load_generator(paths.GENERATOR).to(device)
    venc = load_vnet(paths.VNET)
    vnet = venc.model
    gen_ck = checkpoint.load(paths.GENERATOR)
    labels = Labels(list(gen_ck["actors"]), list(gen_ck["emotions"]))
    train, test = gan_data("train", labels), gan_data("test", labels)
    if len(test.faces) < 2 or len(test.voice_ev) < 2:
        raise FeganError(f"evaluate: {len(test.voice_ev)} test voices and {len(test.faces)} test faces; "
                         "need at least 2 of each")
    # val (data.val_fraction): the readings hyper-parameters are chosen on; none when it is 0
    val = gan_data("val", labels) if (usable_clips().split == "val").sum() >= 2 else None
    if val is not None and len(val.faces) < 2:
        val = None
    identity, emotion = load_judges(labels)
    judges = Judges(cfg, identity, emotion, train, params["faces"]["padding"], device, phase)
    n, nr = cfg.samples_per_voice, cfg.robust_samples_per_voice
    test_id, test_emo = test.voice_id.numpy(), test.voice_emo.numpy()
    actor_codes = np.asarray(labels.actors)

    # real faces: the judges' ceilings, and each split's real faces are the reference of its FID/KID
    phase(f"Inception features and judges' readings of {len(test.faces) + len(train.faces)} real faces")
    real_feats = judges.features(test.faces.numpy(), real=True)
    real = {s: judges.accuracy(d.faces.numpy(), d.face_id.numpy(), d.face_emo.numpy(), real=True)[0]
            for s, d in (("test", test), ("train", train))}

    phase(f"{len(test.voice_ev) * n} faces from test voices: judges, descriptors, Inception, FID/KID, diversity")
    fake_test, id_true, emo_true, groups = _voices(g, test, n, cfg, device)
    gen_test, skipped, id_pred, emo_pred = judges.score(fake_test, id_true, emo_true, real_feats,
                                                        descriptor=n, diversity=groups)   # one draw per voice
    clean_feats = load_features()
    gen_test["vnet_acc"] = _vnet_acc_clean(venc, clean_feats, "test")   # V-net's own reading of the same voices
    # training voices: the accuracies of paper Table 5 (no FID: its sqrtm is the stage's costliest step)
    phase(f"{len(train.voice_ev) * n} faces from training voices: judges")
    gen_train = judges.accuracy(generate(g, train.voice_ev, n, cfg.seed, device, cfg.batch_size),
                                train.voice_id.numpy().repeat(n), train.voice_emo.numpy().repeat(n),
                                descriptor=0)[0]
    # the control: other speakers' voices, the same noise; the judge must follow the voice
    phase(f"{len(test.voice_ev) * n} faces from swapped test voices: judges")
    donor = swap_speakers(test_id, test_emo)
    swapped = generate(g, test.voice_ev[torch.as_tensor(donor)], n, cfg.seed, device, cfg.batch_size)
    swap_pred = predict(judges.identity, swapped)
    control = {"id_acc_swapped": float((swap_pred == test_id[donor].repeat(n)).mean()),
               "id_acc_swapped_own": float((swap_pred == test_id.repeat(n)).mean()),
               "emo_acc_swapped": float((predict(judges.emotion, swapped) == test_emo[donor].repeat(n)).mean())}
    phase(f"{len(val.voice_ev) * n if val is not None else 0} faces from val voices: judges, Inception, FID/KID, "
          "diversity")
    gen_val = _val_readings(judges, g, val, n, cfg, device) if val is not None else {}
    if val is not None:
        gen_val["val_vnet_acc"] = _vnet_acc_clean(venc, clean_feats, "val")
    metrics = {**gen_test, **control, **{f"{k}_real": v for k, v in real["test"].items()},
               **{f"train_{k}": v for k, v in gen_train.items()},
               **{f"train_{k}_real": v for k, v in real["train"].items()}, **gen_val,
               "chance_identity": 1 / len(labels.actors), "chance_emotion": 1 / len(labels.emotions),
               "n_test_voices": len(test.voice_ev), "n_test_faces_real": len(test.faces),
               "n_generated": len(fake_test), "n_generated_robustness": len(test.voice_ev) * nr}
    is_note = skipped.get("is") or f"IS: {judges.inception.source}"

    # robustness: the same test voices (and noise vectors) under babble and shorter inputs
    phase("the test clips' voiced audio")
    clips = usable_clips()
    waves, sr = voiced_waves(clips[clips.split == "test"])     # in gan_data's order
    robust, rows = {}, []
    for cond in conditions(cfg.snr_db, cfg.durations_s):
        phase(f"robustness, {cond.name}: {len(waves) * nr} faces"
              + (", Inception, FID/KID" if cfg.robustness_fid else ""))
        cw = apply(cond, waves, test_id, sr, cfg.talkers, cfg.seed)
        e_v, logits = embed_all(vnet, torch.stack([compute(w, sr, **feat_kw) for w in cw]), condition=True)
        fake = generate(g, e_v, nr, cfg.seed, device, cfg.batch_size)
        if cfg.robustness_fid:
            scores, _, _, _ = judges.score(fake, test_id.repeat(nr), test_emo.repeat(nr), real_feats, descriptor=0)
        else:
            scores, _, _ = judges.accuracy(fake, test_id.repeat(nr), test_emo.repeat(nr), descriptor=0)
        scores = {k: v for k, v in scores.items() if not k.startswith("is_real") and not k.endswith("_std")}
        scores["vnet_acc"] = vnet_accuracy(logits, venc.actors, actor_codes[test_id])
        if cond.duration_s is not None:
            scores["seconds"] = float(np.mean([len(w) / sr for w in cw]))
        robust.update({f"{cond.name}_{k}": v for k, v in scores.items()})
        # fid/kid empty in the reports when not computed (the plots' columns stay); absent from the json
        rows.append({"condition": cond.name, "snr_db": cond.snr_db, "duration_s": cond.duration_s, **scores})
        rows[-1].setdefault("fid", None)
        rows[-1].setdefault("kid", None)

    phase("reports")
    _write_reports(metrics, rows, test, fake_test, id_pred, emo_pred, labels, n, is_note)
    write_json(EVAL_METRICS, metrics)
    write_json(ROBUSTNESS_METRICS, robust)
    return (f"evaluate: FID {metrics['fid']:.1f}, KID {metrics['kid']:.4f} ({len(fake_test)} generated faces, "
            f"{metrics['n_distinct_generated']} distinct; diversity {metrics.get('diversity_ratio', float('nan')):.2f} "
            f"of real), identity {metrics['id_acc']:.3f} (real {metrics['id_acc_real']:.3f}; V-net "
            f"{metrics['vnet_acc']:.3f}; swapped voices named as the donor {metrics['id_acc_swapped']:.3f}), "
            f"emotion {metrics['emo_acc']:.3f} (real {metrics['emo_acc_real']:.3f}), descriptor identity "
            f"{metrics['id_acc_descriptor']:.3f}; val FID {metrics.get('val_fid', float('nan')):.1f}, identity "
            f"{metrics.get('val_id_acc', float('nan')):.3f}, emotion {metrics.get('val_emo_acc', float('nan')):.3f}; "
            f"{is_note}")


def _evaluate_unseen(params: dict, cfg: EvalConfig, phase) -> str:
    """The speaker protocol (``data.split: speaker``): ``unseen.unseen_readings`` on the test
    speakers (``unseen_``) and the val ones (``val_unseen_``); the grid of the first test speakers.
    Robustness and the identity judge's readings belong to the utterance protocol."""
    device = resolve_device(params.get("device", "auto"))
    g = load_generator(paths.GENERATOR).to(device)
    gen_ck = checkpoint.load(paths.GENERATOR)
    labels = Labels(list(gen_ck["actors"]), list(gen_ck["emotions"]))
    identity, emotion = load_judges(labels)
    judges = Judges(cfg, identity, emotion, gan_data("train", labels), params["faces"]["padding"], device, phase)
    attr_judges, actors = unseen.load()
    phase("the oracle's references: descriptors and attribute readings of the real training faces")
    ref = unseen.train_references(judges, attr_judges, actors, labels)
    make = lambda g, e_v, n: generate(g, e_v, n, cfg.seed, device, cfg.batch_size)   # noqa: E731
    n = cfg.samples_per_voice
    metrics: dict[str, float] = {}
    splits = [s for s in ("test", "val") if (usable_clips().split == s).any()]
    for split in splits:
        scores, parts = unseen.unseen_readings(judges, attr_judges, g, split, labels, actors, ref, n, make, phase)
        metrics.update({f"{'val_' if split == 'val' else ''}unseen_{k}": v for k, v in scores.items()})
        if split == "test":
            test_parts = parts
    phase("reports")
    _write_unseen_reports(metrics, test_parts, labels, n)
    write_json(EVAL_METRICS, metrics)
    write_json(ROBUSTNESS_METRICS, {})
    m = lambda k: metrics.get(f"unseen_{k}", float("nan"))       # noqa: E731
    return (f"evaluate (unseen speakers): 1:2 matching {m('match_1to2_attr'):.3f} attributes / "
            f"{m('match_1to2_dlib'):.3f} dlib (oracle {m('oracle_match_1to2_attr'):.3f} / "
            f"{m('oracle_match_1to2_dlib'):.3f}, chance 0.5), R@1 {m('r_at_1_attr'):.3f} (chance "
            f"{m('chance_r_at_1'):.3f}), sex {m('sex_acc'):.3f}, emotion {m('emo_acc'):.3f}, FID {m('fid'):.1f}")


def _write_unseen_reports(metrics: dict, parts: dict, labels, n: int) -> None:
    """reports/grid.png (rows: the first 8 unseen test speakers) and reports/eval.md."""
    data, fake = parts["data"], parts["fake"]
    speakers = sorted(set(parts["voice_actor"].tolist()))[:8]
    cells: dict[tuple[int, int], list] = {}
    for i, (a, e) in enumerate(zip(parts["face_actor"].tolist(), data.face_emo.tolist())):
        cells.setdefault((a, labels.emotions[e]), [data.faces[i].numpy(), None])
    for v, (a, e) in enumerate(zip(parts["voice_actor"].tolist(), data.voice_emo.tolist())):
        cell = cells.setdefault((a, labels.emotions[e]), [None, None])
        if cell[1] is None:
            cell[1] = fake[v * n]
    grid = plots.face_grid({k: tuple(c) for k, c in cells.items() if k[0] in speakers}, speakers,
                           labels.emotions, EMOTIONS)
    plots.save_png(grid, f"{REPORTS}/grid.png")
    names = {i: EMOTIONS.get(e, str(e)) for i, e in enumerate(labels.emotions)}
    plots.save_csv(plots.confusion_pairs(parts["emo_true"], parts["emo_pred"], names),
                   f"{REPORTS}/confusion_emotion.csv")
    # no identity class for an unseen speaker, no robustness run here: the files stay, with no rows
    plots.save_csv(plots.confusion_pairs([], []), f"{REPORTS}/confusion_identity.csv")
    plots.save_csv(pd.DataFrame(columns=["condition", "snr_db", "fid", "kid", "id_acc", "emo_acc", "vnet_acc"]),
                   f"{REPORTS}/robustness_snr.csv")
    plots.save_csv(pd.DataFrame(columns=["condition", "duration_s", "seconds", "fid", "kid", "id_acc", "emo_acc",
                                         "vnet_acc"]), f"{REPORTS}/robustness_duration.csv")
    rows = []
    for p, name in (("unseen_", "test"), ("val_unseen_", "val")):
        for tag, what in (("attr", "attribute judges"), ("dlib", "dlib descriptor")):
            if f"{p}match_1to2_{tag}" in metrics:
                rows.append({"speakers": f"{name} ({int(metrics[p + 'n_speakers'])})", "embedding": what,
                             **{k: metrics.get(f"{p}{k}_{tag}") for k in ("match_1to2", "r_at_1", "r_at_5")},
                             **{f"oracle {k}": metrics.get(f"{p}oracle_{k}_{tag}") for k in ("match_1to2", "r_at_1")},
                             "chance r_at_1": metrics.get(f"{p}chance_r_at_1")})
    attrs = [{"speakers": name, **{k: metrics.get(f"{p}{k}") for k in
              ("sex_acc", "sex_acc_real", "age_band_acc", "age_band_acc_real", "size_band_acc",
               "size_band_acc_real", "emo_acc", "emo_acc_real", "fid", "kid")}}
             for p, name in (("unseen_", "test"), ("val_unseen_", "val")) if f"{p}emo_acc" in metrics]
    text = ("# Evaluation: speakers never heard in training (data.split speaker)\n\n"
            "## Does the face match the speaker? (1:2 matching, R@k over the unseen gallery)\n\n"
            + plots.markdown_table(rows, list(rows[0]) if rows else [])
            + "\n## Attributes and emotion of the generated faces (_real: the judges on real faces)\n\n"
            + plots.markdown_table(attrs, list(attrs[0]) if attrs else [])
            + "\nChoose settings on the val rows; read test once, at the end.\n")
    with atomic_path(f"{REPORTS}/eval.md", suffix=".md") as tmp:
        tmp.write_text(text)


def _vnet_acc_clean(venc, feats: torch.Tensor, split: str) -> float:
    """V-net's speaker accuracy on a split's clips, from the features stage's (clean) features."""
    clips = usable_clips()
    sel = clips[clips.split == split]
    _, logits = embed_all(venc.model, feats[torch.as_tensor(sel.row.to_numpy().copy())])
    return vnet_accuracy(logits, venc.actors, sel.actor.to_numpy())


def _val_readings(judges: Judges, g, val, n: int, cfg: EvalConfig, device) -> dict[str, float]:
    """The test set's readings on val voices against real val faces, ``val_``-prefixed (no
    descriptor: it costs 75 ms a face, and val is for choosing, test for reporting)."""
    real_feats = judges.features(val.faces.numpy(), real=True)
    real, _, _ = judges.accuracy(val.faces.numpy(), val.face_id.numpy(), val.face_emo.numpy(), real=True,
                                 descriptor=0)
    fake, id_true, emo_true, groups = _voices(g, val, n, cfg, device)
    scores, _, _, _ = judges.score(fake, id_true, emo_true, real_feats, descriptor=0, diversity=groups)
    out = {f"val_{k}": v for k, v in scores.items()}
    out.update({f"val_{k}_real": v for k, v in real.items()})
    out.update(n_val_voices=len(val.voice_ev), n_val_faces_real=len(val.faces), n_val_generated=len(fake))
    return out


def _diversity_line(metrics: dict, p: str, split: str) -> str:
    """One sentence of diversity readings of a split (``p``: its metrics' prefix)."""
    f = lambda k: f"{metrics[p + k]:.3f}" if p + k in metrics else "n/a"      # noqa: E731
    n_gen = metrics["n_generated" if not p else "n_val_generated"]
    return (f"Diversity, {split}: one voice's noise draws differ by {f('diversity_pixel')} (mean |difference| "
            f"of pixels in [0, 1]; Inception {f('diversity_inception')}), real faces of one actor and emotion "
            f"by {f('diversity_pixel_real')} (Inception {f('diversity_inception_real')}): ratio "
            f"{f('diversity_ratio')}; FID/KID rest on {metrics[p + 'n_distinct_generated']} distinct images of "
            f"{n_gen} generated.\n")


def _write_reports(metrics, rows, test, fake_test, id_pred, emo_pred, labels, n, is_note) -> None:
    names = {i: EMOTIONS.get(e, str(e)) for i, e in enumerate(labels.emotions)}
    actors = {i: f"A{a:02d}" for i, a in enumerate(labels.actors)}
    id_true, emo_true = test.voice_id.numpy().repeat(n), test.voice_emo.numpy().repeat(n)
    plots.save_csv(plots.confusion_pairs(id_true, id_pred, actors), f"{REPORTS}/confusion_identity.csv")
    plots.save_csv(plots.confusion_pairs(emo_true, emo_pred, names), f"{REPORTS}/confusion_emotion.csv")
    table = pd.DataFrame(rows)
    plots.save_csv(table[table.snr_db.notna()].drop(columns=["duration_s", "seconds"], errors="ignore"),
                   f"{REPORTS}/robustness_snr.csv")
    plots.save_csv(table[table.duration_s.notna()].drop(columns=["snr_db"]), f"{REPORTS}/robustness_duration.csv")

    # the grid: one real test face and one face generated from a test voice per (actor, emotion)
    cells = {}
    for i in range(len(test.faces)):
        cells.setdefault((int(test.face_id[i]), int(test.face_emo[i])), [test.faces[i].numpy(), None])
    for v in range(len(test.voice_ev)):
        cell = cells.setdefault((int(test.voice_id[v]), int(test.voice_emo[v])), [None, None])
        if cell[1] is None:
            cell[1] = fake_test[v * n]
    grid = plots.face_grid({(labels.actors[a], labels.emotions[e]): tuple(c) for (a, e), c in cells.items()},
                           labels.actors, labels.emotions, EMOTIONS)
    plots.save_png(grid, f"{REPORTS}/grid.png")

    cols = ["condition", "snr_db", "duration_s", "seconds", "fid", "kid", "id_acc", "emo_acc", "vnet_acc"]
    def row(name, prefix, suffix=""):
        get = lambda k: metrics.get(f"{prefix}{k}{suffix}")          # noqa: E731
        return {"set": name, "fid": get("fid"), "kid": get("kid"), "id_acc": get("id_acc"),
                "emo_acc": get("emo_acc"), "id_acc_descriptor": get("id_acc_descriptor"),
                "vnet_acc": get("vnet_acc"), "is": get("is_fake") if not suffix else metrics.get(f"{prefix}is_real")}
    sets = [row("generated, test voices", ""), row("generated, training voices (no FID)", "train_"),
            row("real test faces (the judges' ceiling)", "", "_real")]
    if "val_fid" in metrics:      # the split hyper-parameters are chosen on
        sets += [row("generated, val voices", "val_"), row("real val faces", "val_", "_real")]
    text = ("# Evaluation\n\n" + plots.markdown_table(
        sets, ["set", "fid", "kid", "is", "id_acc", "emo_acc", "id_acc_descriptor", "vnet_acc"])
        + f"\n{is_note}\n\nFID/KID: {metrics['n_generated']} generated faces ({n} per test voice) against "
        f"{metrics['n_test_faces_real']} real test faces; robustness rows {metrics['n_generated_robustness']}. "
        "Choose settings on the val rows; read test once, at the end.\n\n"
        + "".join(_diversity_line(metrics, p, name) for p, name in (("", "test"), ("val_", "val"))
                  if f"{p}n_distinct_generated" in metrics) + "\n"
        "# Does the judge follow the voice? (test E_v swapped for the next speaker's)\n\n"
        f"named as the donor speaker: {metrics['id_acc_swapped']:.3f}; as the original speaker: "
        f"{metrics['id_acc_swapped_own']:.3f}; emotion of the donor voice: {metrics['emo_acc_swapped']:.3f}\n"
        "\n# Robustness (test voices)\n\n" + plots.markdown_table(rows, cols))
    with atomic_path(f"{REPORTS}/eval.md", suffix=".md") as tmp:
        tmp.write_text(text)
