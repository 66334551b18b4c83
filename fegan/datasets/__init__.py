"""Dataset naming conventions (SPEC section 6) and, later, the demux adapters."""
