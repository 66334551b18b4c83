"""Training loops: V-net pretraining (``vnet``) and FE-GAN (``gan``), plus checkpoints."""
