"""Who speaks and how: per-actor identity and per-emotion expression/prosody.

Everything an actor *is* (face shape, colours, pitch, vocal-tract length) is drawn
from a generator seeded by ``(seed, actor)`` alone, so it is the same in every
clip of that actor. Everything an emotion *does* is a fixed table scaled by
intensity, so it is learnable across actors. The population mode
(``fegan.synth.population``) redraws part of an actor from its sex, age and size.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SKIN_TONES = [(236, 200, 170), (224, 180, 150), (205, 160, 130), (180, 130, 100),
              (150, 105, 75), (115, 80, 55)]
HAIR_COLOURS = [(30, 25, 20), (70, 45, 30), (120, 80, 40), (190, 150, 90),
                (140, 60, 30), (110, 110, 110)]
IRIS_COLOURS = [(70, 50, 35), (60, 90, 130), (80, 110, 70), (40, 30, 25)]
LIP_COLOURS = [(170, 80, 80), (150, 60, 70), (190, 100, 100), (130, 60, 60)]


@dataclass(frozen=True)
class Actor:
    actor: int
    male: bool
    # face
    face_w: float      # half-width as a fraction of half-height
    face_h: float      # half-height scale
    jaw: float         # chin narrowing, 0..1
    skin: tuple
    hair: tuple
    hair_style: int    # 0 short, 1 long, 2 fringe, 3 receding
    eye_sep: float
    eye_size: float
    iris: tuple
    nose_len: float
    nose_w: float
    mouth_w: float
    lips: tuple
    brow_w: float
    # voice
    f0: float          # Hz, mean pitch in neutral speech
    tract: float       # formant scale (shorter vocal tract -> higher formants)
    breath: float      # aspiration noise mix
    tilt: float        # glottal open quotient (spectral tilt)
    # Drawn only in population mode; these defaults leave the default set's voices and
    # faces as they were, bit for bit.
    f0_range: float = 1.0   # accent range multiplier
    jitter: float = 0.0     # cycle-to-cycle F0 perturbation (std, fraction of the period)
    rate: float = 1.0       # speaking-rate multiplier
    lines: float = 0.0      # forehead, eye and cheek lines, 0..1
    stubble: float = 0.0    # beard shadow, 0..1
    # sex, age, size and the independent draws: the truth's columns (hash=False: a dict)
    attributes: dict | None = field(default=None, hash=False)


def draw_actor(seed: int, actor: int) -> tuple[Actor, dict[str, int]]:
    """The actor of ``make_actor`` and which entry of each palette it drew (``skin_tone``,
    ``hair_colour``, ``iris_colour``, ``lip_colour``), for the population's truth."""
    rng = np.random.default_rng([seed, 1, actor])
    male = actor % 2 == 1
    picks: dict[str, int] = {}

    def pick(key, seq):
        picks[key] = int(rng.integers(len(seq)))
        return seq[picks[key]]

    jitter = lambda c, a=12: tuple(int(np.clip(v + rng.integers(-a, a + 1), 0, 255)) for v in c)  # noqa: E731
    return Actor(
        actor=actor, male=male,
        face_w=float(rng.uniform(0.68, 0.84) + (0.04 if male else 0.0)),
        face_h=float(rng.uniform(0.92, 1.08)),
        jaw=float(rng.uniform(0.0, 1.0)),
        skin=jitter(pick("skin_tone", SKIN_TONES)), hair=jitter(pick("hair_colour", HAIR_COLOURS)),
        hair_style=int(rng.integers(4)),
        eye_sep=float(rng.uniform(0.27, 0.37)), eye_size=float(rng.uniform(0.8, 1.25)),
        iris=pick("iris_colour", IRIS_COLOURS),
        nose_len=float(rng.uniform(0.8, 1.25)), nose_w=float(rng.uniform(0.8, 1.3)),
        mouth_w=float(rng.uniform(0.8, 1.2)), lips=jitter(pick("lip_colour", LIP_COLOURS), 8),
        brow_w=float(rng.uniform(0.6, 1.4) + (0.3 if male else 0.0)),
        f0=float(rng.uniform(95, 140) if male else rng.uniform(175, 245)),
        tract=float(rng.uniform(0.86, 1.0) if male else rng.uniform(1.04, 1.2)),
        breath=float(rng.uniform(0.01, 0.08)),
        tilt=float(rng.uniform(0.45, 0.7)),
    ), picks


def make_actor(seed: int, actor: int) -> Actor:
    return draw_actor(seed, actor)[0]


@dataclass(frozen=True)
class Expression:
    """Face action amounts, roughly in [-1, 1]; 0 is the neutral face."""
    smile: float = 0.0        # mouth corners up (+) or down (-)
    brow_raise: float = 0.0   # whole brow up (+) / down (-)
    brow_inner: float = 0.0   # inner ends up (+, sad/fear) or down (-, anger)
    eye_open: float = 0.0     # wider (+) or squinting (-)
    jaw_open: float = 0.0     # mouth open at rest (surprise)
    mouth_w: float = 0.0      # wider (+) / pursed (-)


@dataclass(frozen=True)
class Prosody:
    """Voice modifiers relative to the actor's neutral speech."""
    pitch: float = 1.0        # F0 multiplier
    range_st: float = 2.0     # accent range in semitones
    rate: float = 1.0         # syllables per second multiplier
    energy: float = 1.0       # loudness multiplier
    tremor: float = 0.0       # F0 vibrato depth (fear)


EMOTION_STYLE: dict[int, tuple[Expression, Prosody]] = {
    1: (Expression(), Prosody()),
    2: (Expression(smile=0.25, eye_open=-0.2), Prosody(0.96, 1.5, 0.88, 0.8)),
    3: (Expression(smile=1.0, eye_open=-0.35, brow_raise=0.15, mouth_w=0.3),
        Prosody(1.18, 5.0, 1.1, 1.25)),
    4: (Expression(smile=-0.8, brow_inner=0.9, eye_open=-0.3, brow_raise=-0.1),
        Prosody(0.9, 1.0, 0.75, 0.6)),
    5: (Expression(smile=-0.35, brow_inner=-1.0, brow_raise=-0.6, eye_open=0.15, mouth_w=-0.2),
        Prosody(1.12, 4.0, 1.2, 1.7)),
    6: (Expression(smile=-0.4, brow_inner=0.6, brow_raise=0.5, eye_open=0.3, mouth_w=0.35,
                   jaw_open=0.15), Prosody(1.3, 3.0, 1.25, 0.9, tremor=0.6)),
    7: (Expression(smile=-0.6, brow_inner=-0.5, eye_open=-0.5, mouth_w=-0.1),
        Prosody(0.92, 2.5, 0.8, 1.0)),
    8: (Expression(brow_raise=1.0, eye_open=0.6, jaw_open=0.45, mouth_w=-0.3),
        Prosody(1.35, 7.0, 1.0, 1.3)),
}

# "strong" intensity pushes both face and voice further from neutral.
STRONG = 1.5


def emotion_style(emotion: int, intensity: int) -> tuple[Expression, Prosody]:
    expr, pros = EMOTION_STYLE[emotion]
    k = STRONG if intensity == 2 else 1.0
    expr = Expression(**{f: getattr(expr, f) * k for f in expr.__dataclass_fields__})
    pros = Prosody(pitch=pros.pitch ** k, range_st=2.0 + (pros.range_st - 2.0) * k,
                   rate=pros.rate ** k, energy=pros.energy ** k, tremor=pros.tremor * k)
    return expr, pros
