"""RAVDESS file names: ``MM-VV-EE-II-SS-RR-AA.mp4`` (SPEC section 6).

modality (01 audio-video, 02 video-only, 03 audio-only), vocal channel (01 speech,
02 song), emotion (01..08), intensity (01 normal, 02 strong; neutral has only 01),
statement (01, 02), repetition (01, 02), actor (01..24; odd male, even female).
The embedded synthetic dataset is written with these names so that one adapter
serves both.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

EMOTIONS = {
    1: "neutral", 2: "calm", 3: "happy", 4: "sad",
    5: "angry", 6: "fearful", 7: "disgust", 8: "surprised",
}
MODALITIES = {1: "audio-video", 2: "video-only", 3: "audio-only"}
VOCAL_CHANNELS = {1: "speech", 2: "song"}
INTENSITIES = {1: "normal", 2: "strong"}
STATEMENTS = {1: "Kids are talking by the door", 2: "Dogs are sitting by the door"}

_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


class InvalidName(ValueError):
    """A file name that does not follow the RAVDESS convention."""


@dataclass(frozen=True)
class RavdessName:
    modality: int
    vocal_channel: int
    emotion: int
    intensity: int
    statement: int
    repetition: int
    actor: int

    @property
    def gender(self) -> str:
        return "male" if self.actor % 2 == 1 else "female"

    @property
    def emotion_name(self) -> str:
        return EMOTIONS[self.emotion]

    @property
    def stem(self) -> str:
        return "-".join(f"{v:02d}" for v in (
            self.modality, self.vocal_channel, self.emotion, self.intensity,
            self.statement, self.repetition, self.actor))

    @property
    def relpath(self) -> str:
        """Path inside the dataset root: ``Actor_XX/<stem>.mp4``."""
        return f"Actor_{self.actor:02d}/{self.stem}.mp4"


def format_name(*, emotion: int, intensity: int, statement: int, repetition: int,
                actor: int, modality: int = 1, vocal_channel: int = 1) -> RavdessName:
    """Build and validate a name; raises ``InvalidName`` on an impossible combination."""
    return _validate(RavdessName(modality, vocal_channel, emotion, intensity,
                                 statement, repetition, actor))


def parse_name(stem: str) -> RavdessName:
    """Parse a file stem (no extension); raises ``InvalidName`` with the reason."""
    m = _NAME.match(stem)
    if not m:
        raise InvalidName(f"not a RAVDESS name (want MM-VV-EE-II-SS-RR-AA): {stem!r}")
    return _validate(RavdessName(*(int(g) for g in m.groups())))


def _validate(n: RavdessName) -> RavdessName:
    checks = [
        (n.modality in MODALITIES, f"modality {n.modality:02d}"),
        (n.vocal_channel in VOCAL_CHANNELS, f"vocal channel {n.vocal_channel:02d}"),
        (n.emotion in EMOTIONS, f"emotion {n.emotion:02d}"),
        (n.intensity in INTENSITIES, f"intensity {n.intensity:02d}"),
        (not (n.emotion == 1 and n.intensity == 2), "strong intensity for neutral"),
        (n.statement in STATEMENTS, f"statement {n.statement:02d}"),
        (n.repetition in (1, 2), f"repetition {n.repetition:02d}"),
        (1 <= n.actor <= 99, f"actor {n.actor:02d}"),
    ]
    for ok, what in checks:
        if not ok:
            raise InvalidName(f"invalid RAVDESS name {n.stem}: {what}")
    return n
