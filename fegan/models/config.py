"""Model configs, saved inside every checkpoint (so a checkpoint rebuilds its model)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import FeganError

# The paper's model and the baselines/ablations of Tables 2, 4 and 5 as switches:
# d1/c1 = real/fake head and identity classifier on trunk 1, d2/c2 = real/fake head
# and emotion classifier on trunk 2, conditional = how the real/fake head sees E_v
# (None: it does not; "concat": Wav2Pix's, trained with Wav2Pix's losses, see
# ``losses.wav2pix_dc_loss``; "projection": Miyato & Koyama's, with the triple loss's terms).
VARIANTS: dict[str, dict] = {
    "fegan": dict(d1=True, c1=True, d2=True, c2=True, conditional=None),
    "acgan": dict(d1=True, c1=True, d2=False, c2=False, conditional=None),          # Wen et al. 2019
    "cgan": dict(d1=True, c1=False, d2=False, c2=False, conditional="concat"),      # Wav2Pix (paper's cGAN)
    "cgan_proj": dict(d1=True, c1=False, d2=False, c2=False, conditional="projection"),
    "no_c1": dict(d1=True, c1=False, d2=True, c2=True, conditional=None),
    "no_c2": dict(d1=True, c1=True, d2=True, c2=False, conditional=None),
    "no_d1": dict(d1=False, c1=True, d2=True, c2=True, conditional=None),
    "no_d2": dict(d1=True, c1=True, d2=False, c2=True, conditional=None),
}


@dataclass
class VNetConfig:
    in_channels: int = 64
    channels: list[int] = field(default_factory=lambda: [256, 256, 256, 256, 128])
    n_speakers: int = 24
    attribute_classes: list[int] = field(default_factory=list)   # one head per voice-borne attribute; [] none
    emotion_classes: int = 0                                     # the emotion head's classes; 0 none
    emotion_code: int = 0                                        # the emotion reader's classes (G's code); 0 none

    def to_dict(self) -> dict:
        d = asdict(self)
        # a V-net without the heads saves the same checkpoint as before they existed
        if not d["attribute_classes"]:
            del d["attribute_classes"]
        if not d["emotion_classes"]:
            del d["emotion_classes"]
        if not d["emotion_code"]:
            del d["emotion_code"]
        return d


@dataclass
class GANConfig:
    """The ``model`` section of params.yaml plus the class counts found in the data."""
    variant: str = "fegan"
    image_size: int = 64
    width: float = 0.25          # 1.0 is the paper's 1024..32 channels
    embed_dim: int = 128
    noise_dim: int = 128         # 0: E_v alone (the authors' recipe)
    dropout: float = 0.2
    normalize_ev: bool = False   # G reads E_v / |E_v| (the authors' recipe)
    n_identities: int = 24
    n_emotions: int = 8

    def validate(self) -> None:
        if self.variant not in VARIANTS:
            raise FeganError(f"model.variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        if self.noise_dim < 0:
            raise FeganError(f"model.noise_dim must be >= 0, got {self.noise_dim}")
        if self.image_size not in (32, 64, 128):
            raise FeganError(f"model.image_size must be 32, 64 or 128, got {self.image_size}")

    @property
    def parts(self) -> dict:
        return VARIANTS[self.variant]

    def to_dict(self) -> dict:
        return asdict(self)
