"""fegan: a reproducible DVC pipeline for FE-GAN voice-driven face generation."""

__version__ = "0.1.0"
