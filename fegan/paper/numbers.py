"""The paper's numbers (Tables 2-5 and the text of section 4.5), in one place.

Each value is as printed in the paper; ``None`` is a cell the paper leaves empty
("—"). Keys: experiment names of ``fegan.paper.catalogue.EARLIER`` for Tables 2, 4
and 5, robustness condition names of ``metrics/robustness.json`` for Table 3.
Percentages stay percentages (99.40 means 99.40 %).
"""
from __future__ import annotations

# Table 2 "Ablation experiments: FID and IS results of different audio features, duration time,
# noises and components on RAVDESS dataset" (the "without C1-net or C2-net" cell is
# "101.94/110.84", "1.96/1.91"; the D1/D2 one "127.12/90.02", "1.77/1.67").
TABLE2 = {
    "spectrogram": {"fid": 96.16, "is": 1.91},
    "mfcc": {"fid": 64.35, "is": 1.65},
    "fbank": {"fid": 58.79, "is": 1.71},
    "no_c1": {"fid": 101.94, "is": 1.96},
    "no_c2": {"fid": 110.84, "is": 1.91},
    "no_d1": {"fid": 127.12, "is": 1.77},
    "no_d2": {"fid": 90.02, "is": 1.67},
}

# Table 3 "Robustness tests: FID and IS results of different duration times and noises on
# RAVDESS dataset" (FE-GAN with Fbank; babble noise at an SNR, or only the first seconds).
TABLE3 = {
    "snr01db": {"fid": 61.56, "is": 1.71},
    "snr05db": {"fid": 68.08, "is": 1.73},
    "snr10db": {"fid": 72.92, "is": 1.63},
    "snr25db": {"fid": 93.57, "is": 1.43},
    "dur01s": {"fid": 72.70, "is": 1.67},
    "dur03s": {"fid": 67.98, "is": 1.68},
    "dur05s": {"fid": 64.17, "is": 1.72},
    "dur10s": {"fid": 58.54, "is": 1.71},
}

# Table 4 "FID and IS results of different methods on RAVDESS and eINTERFACE dataset";
# "gt" is the row "Ground truth (GT)": real faces, FID "—".
TABLE4 = {
    "fbank": {"fid_ravdess": 58.79, "fid_enterface": 84.58, "is_ravdess": 1.71, "is_enterface": 1.89},
    "acgan": {"fid_ravdess": 77.04, "fid_enterface": 94.26, "is_ravdess": 1.76, "is_enterface": 1.71},
    "cgan": {"fid_ravdess": 113.31, "fid_enterface": 129.28, "is_ravdess": 1.75, "is_enterface": 1.78},
    "cgan_proj": {"fid_ravdess": None, "fid_enterface": None, "is_ravdess": None, "is_enterface": None},  # not in the paper
    "gt": {"fid_ravdess": None, "fid_enterface": None, "is_ravdess": 1.71, "is_enterface": 1.94},
}

# Table 5 "Identity classification accuracy of different methods on RAVDESS and eINTERFACE
# dataset" (%, faces generated from training and from testing voices). No real-face row.
TABLE5 = {
    "fbank": {"train_ravdess": 99.40, "train_enterface": 99.23, "test_ravdess": 84.64, "test_enterface": 76.83},
    "acgan": {"train_ravdess": 89.37, "train_enterface": 92.10, "test_ravdess": 74.79, "test_enterface": 68.03},
    "cgan": {"train_ravdess": 84.22, "train_enterface": 83.57, "test_ravdess": 66.67, "test_enterface": 59.27},
    "cgan_proj": {"train_ravdess": None, "train_enterface": None, "test_ravdess": None, "test_enterface": None},
}

# Section 4.5, text only: FE-GAN's emotion accuracy on training voices (%), no other method's.
EMOTION_TRAIN = {"ravdess": 95.08, "enterface": 73.15}
