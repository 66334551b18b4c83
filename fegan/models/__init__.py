"""FE-GAN's networks (paper section 3, SPEC section 3): one concept per module.

``vnet`` (voice encoder), ``gnet`` (generator), ``dnet`` (a discriminator trunk with
its real/fake head D and class head C), ``config`` (what a checkpoint stores).
"""
