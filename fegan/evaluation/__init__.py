"""Evaluation (paper 4.2, SPEC section 4): the judges of generated faces, babble noise, the `evaluate` stage."""
