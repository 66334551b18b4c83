"""The embedded synthetic talking-face dataset (SPEC section 5).

``identity`` draws a stable per-actor face and voice and the per-emotion
expression and prosody; ``population`` (``synth.population``) makes each actor's
sex, age and size drive both; ``voice`` synthesises the speech; ``face`` renders
the frames; ``clip`` muxes one H.264 + AAC clip with PyAV; ``dataset`` writes the
whole RAVDESS-layout folder in parallel.
"""
