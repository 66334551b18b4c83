"""Preprocessing stages: demux -> vad -> features, and faces (SPEC section 2)."""
