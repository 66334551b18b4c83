"""``fegan demo``: a local page where a person speaks or uploads a voice and sees the face.

``app.py`` is a small Starlette app with one page (``page.html``: no asset, font or script
from anywhere else) and one JSON endpoint. The faces come from ``inference.faces_from_voice``,
the code path of ``fegan generate``, so the page and the command give the same image for
the same file and seed. What bounds it under bad and heavy input: ``upload.py`` (the form,
read as it streams, refused past its size), ``gate.py`` (how many requests draw and wait),
``hosts.py`` (the Host names it answers); docs/demo.md states the limits.
"""
