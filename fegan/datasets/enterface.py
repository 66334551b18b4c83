"""eNTERFACE'05 paths: ``subject N/<emotion>/sentence K/sN_xx_K.avi`` (SPEC section 6).

Folder names contain spaces and the depth is not uniform across subjects (some
have an extra level), so labels come from the file name first and from the
folder names only to fill in what the name lacks.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

# eNTERFACE codes -> (folder name, RAVDESS emotion code), so both datasets share labels.
EMOTIONS = {
    "an": ("anger", 5), "di": ("disgust", 7), "fe": ("fear", 6),
    "ha": ("happiness", 3), "sa": ("sadness", 4), "su": ("surprise", 8),
}
_FOLDER_EMOTION = {folder: code for code, (folder, _) in EMOTIONS.items()}
_FILE = re.compile(r"^s_?(\d+)_(an|di|fe|ha|sa|su)_(\d+)$", re.IGNORECASE)
_SUBJECT = re.compile(r"^subject\s*(\d+)$", re.IGNORECASE)
_SENTENCE = re.compile(r"^sentence\s*(\d+)$", re.IGNORECASE)


class InvalidPath(ValueError):
    """A path whose labels cannot be read."""


@dataclass(frozen=True)
class EnterfaceName:
    subject: int
    emotion_code: str
    sentence: int

    @property
    def emotion(self) -> int:
        return EMOTIONS[self.emotion_code][1]

    @property
    def clip_id(self) -> str:
        return f"s{self.subject}_{self.emotion_code}_{self.sentence}"


def parse_path(relpath: str | PurePath) -> EnterfaceName:
    p = PurePath(relpath)
    subject = sentence = code = None
    m = _FILE.match(p.stem)
    if m:
        subject, code, sentence = int(m.group(1)), m.group(2).lower(), int(m.group(3))
    for part in p.parts[:-1]:
        part = part.strip()
        if subject is None and (ms := _SUBJECT.match(part)):
            subject = int(ms.group(1))
        if sentence is None and (mt := _SENTENCE.match(part)):
            sentence = int(mt.group(1))
        if code is None and part.lower() in _FOLDER_EMOTION:
            code = _FOLDER_EMOTION[part.lower()]
    missing = [k for k, v in (("subject", subject), ("emotion", code), ("sentence", sentence)) if v is None]
    if missing:
        raise InvalidPath(f"not an eNTERFACE'05 path (no {', '.join(missing)}): {p.as_posix()}")
    return EnterfaceName(subject, code, sentence)
