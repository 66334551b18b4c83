"""The population mode (``synth.population``): voices that carry what real voices carry.

A real voice reveals the speaker's sex, age and body size, and says nothing of skin, hair or
eye colour (issue 26). Here each actor gets a sex (RAVDESS's: odd male, even female), an age
(20-75 years) and a body size (0-1), and these three drive the voice (``voice_of``: F0 and its
range, formant scale, breathiness, jitter, speaking rate) and the face (``face_of``: width, jaw,
grey hair, a receding hairline, lines, a beard shadow) together, each with a chance part so that
two actors alike still differ. The colours stay drawn independently of them: skin, iris and lips
are the default actor's own draws (``draw_actor``), hair colour (before greying) and style are
drawn here from palettes without the grey and the receding style, which only age brings. So what
a voice -> face model can learn of a face from a voice is what a real voice could tell; the
table of which attribute drives what, with the numbers and what they were measured to show at
32 px, is in docs/pipeline.md ("The synthetic population").

The eye spacing keeps its draw at half the spread: the faces stage scales a crop by the eyes,
and the face's width against them is what shows the size. Width and grey hair are the cues
meant to survive a 32 px crop; the lines are detail for 64 px and more.

The extra draws come from a generator seeded by ``(seed, 3, actor)``, beside the default
actor's ``(seed, 1, actor)`` and the clips' ``(seed, 2, ...)``: the default set's draws are
untouched, and an actor's attributes do not depend on how many actors there are.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..datasets.attributes import SEXES
from .identity import HAIR_COLOURS, Actor, draw_actor

AGES = (20, 75)                     # years, uniform, whole years as a census records them
NATURAL_HAIR = HAIR_COLOURS[:5]     # the palette's last, grey, comes with age here, not by chance
GREY = (175, 175, 172)              # fully grey hair
STYLES = 3                          # short, long, fringe; 3 (receding) comes from sex and age
# by sex (male True): a young, medium-sized speaker's F0 (Hz), accent range and formant scale
# (identity.Actor.tract: a shorter vocal tract, higher formants)
F0_HZ = {True: 118.0, False: 208.0}
F0_RANGE = {True: 0.85, False: 1.25}
TRACT = {True: 0.93, False: 1.12}


def _blend(a, b, k: float) -> tuple:
    return tuple(int(round((1 - k) * x + k * y)) for x, y in zip(a, b))


def voice_of(male: bool, age: float, size: float, rng: np.random.Generator) -> dict:
    """The voice fields of ``identity.Actor`` from sex, age and size, and a little chance."""
    old = (age - AGES[0]) / (AGES[1] - AGES[0])                 # 0 at 20, 1 at 75
    # F0: women's falls 3 semitones over the span, men's rises 2 from 45 on; a bigger body is
    # 1 semitone lower (size 1) than a medium one, a smaller 1 higher
    age_st = 2.0 * np.clip((age - 45) / 30, 0, 1) if male else -3.0 * old
    semitones = age_st - 2.0 * (size - 0.5) + rng.uniform(-1.5, 1.5)
    return dict(
        f0=float(F0_HZ[male] * 2 ** (semitones / 12)),
        f0_range=F0_RANGE[male],
        # a bigger body, a longer vocal tract: formants 7 % lower at size 1 and 7 % higher at 0
        # than at 0.5, and 3 % lower at 75 than at 20
        tract=float(TRACT[male] * (1 - 0.14 * (size - 0.5)) * (1 - 0.03 * old) * (1 + rng.uniform(-0.02, 0.02))),
        breath=float(0.01 + 0.09 * old + rng.uniform(0, 0.02)),    # the default set: 0.01-0.08
        jitter=float(0.004 + 0.016 * old),                          # 0.4 % of the period at 20, 2 % at 75
        rate=float((1.08 - 0.22 * old) * (1 + rng.uniform(-0.04, 0.04))),
    )


def face_of(base: Actor, male: bool, age: float, size: float, rng: np.random.Generator) -> tuple[dict, dict]:
    """The face fields of ``identity.Actor`` that sex, age and size set, with the hair colour
    and style drawn here (their palette indices: the second dict)."""
    hair_colour = int(rng.integers(len(NATURAL_HAIR)))
    hair = tuple(int(np.clip(v + rng.integers(-12, 13), 0, 255)) for v in NATURAL_HAIR[hair_colour])
    grey = float(np.clip((age - rng.uniform(30, 42)) / 20, 0, 1))   # from an onset age, grey 20 years on
    style = int(rng.integers(STYLES))
    receding = bool(rng.uniform(35, 65) < age) and male
    return dict(
        # half the face's width over its half height: 0.60 (size 0) to 0.90 (size 1), men +0.04
        # (the default set: 0.68-0.84, men +0.04)
        face_w=float(0.60 + 0.30 * size + (0.04 if male else 0.0) + rng.uniform(-0.015, 0.015)),
        # the chin's narrowing: pointed for small women, square for big men
        jaw=float(np.clip(0.75 - 0.9 * size - (0.25 if male else 0.0) + rng.uniform(-0.15, 0.15), 0, 1)),
        eye_sep=0.32 + (base.eye_sep - 0.32) / 2,
        hair=_blend(hair, GREY, grey), hair_style=3 if receding else style,
        lines=float(np.clip((age - 30) / 40, 0, 1)),                 # from 30, full at 70
        stubble=float(rng.uniform(0.5, 1.0)) * male,
    ), dict(hair_colour=hair_colour, hair_style=style)


def make_person(seed: int, actor: int) -> Actor:
    """Actor ``actor`` of the population: ``make_actor``'s draws, then sex, age and size
    drawn and applied. ``attributes`` holds what the truth records."""
    base, picks = draw_actor(seed, actor)
    rng = np.random.default_rng([seed, 3, actor])
    age = int(rng.integers(AGES[0], AGES[1] + 1))
    size = float(rng.uniform(0, 1))
    voice = voice_of(base.male, age, size, rng)
    face, hair = face_of(base, base.male, age, size, rng)
    attributes = {"sex": SEXES[base.male], "age": float(age), "size": size,
                  "skin_tone": picks["skin_tone"], **hair,
                  "iris_colour": picks["iris_colour"], "lip_colour": picks["lip_colour"]}
    return dataclasses.replace(base, **voice, **face, attributes=attributes)


def actor_table(seed: int, actors: int) -> list[dict]:
    """One row per actor: ``actor, sex, age, size``, then the independent draws (``actors.csv``)."""
    return [{"actor": a, **make_person(seed, a).attributes} for a in range(1, actors + 1)]
