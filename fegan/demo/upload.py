"""The demo's form, read as it streams: every byte counted, the recording written straight to
a file, nothing held in memory but the few short fields.

Starlette's own ``request.form()`` bounds only the non-file fields (its ``max_part_size``): a
file part of any size is spooled whole, so the demo parses the body itself with
python-multipart (the parser Starlette uses) and refuses it past ``max_bytes`` while it
arrives (413). Every other mistake in the form is a ``Refused`` with status 400 and one line.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

FIELD_BYTES = 64          # "n" and "seed" are a few digits
HEADER_BYTES = 4096       # one part's headers (Content-Disposition with a long file name)
MAX_PARTS = 8
FORM_SLACK = 64 << 10     # boundaries, part headers and fields around the recording


class Refused(Exception):
    """A request the demo does not serve: ``status`` and the one line it answers."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def too_large(max_bytes: int) -> Refused:
    return Refused(413, f"the recording is larger than {max_bytes >> 20} MiB, the most the demo takes")


def _clean_name(raw: bytes) -> str:
    """The uploaded file's name as the person knows it: no folders, no control or format
    characters (a line break, or a right-to-left override that would turn the line around)."""
    name = raw.decode("utf-8", "replace").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp")).strip()
    return name[:100] or "the recording"


@dataclass
class Form:
    """What the request carried: the recording (a file in the request's folder) and the fields."""
    path: Path | None = None
    filename: str = "the recording"
    fields: dict[str, str] = field(default_factory=dict)
    file_bytes: int = 0


class _Reader:
    """python-multipart's callbacks: fields into ``form.fields``, the recording into its file."""

    def __init__(self, folder: Path, max_bytes: int, suffixes: set[str]):
        self.folder, self.max_bytes, self.suffixes = folder, max_bytes, suffixes
        self.form, self.parts, self._file = Form(), 0, None
        self._name = self._value = self._disposition = b""
        self._header_bytes, self._field, self._data = 0, None, bytearray()

    def on_part_begin(self):
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise Refused(400, f"the form has more than {MAX_PARTS} parts (it takes audio, n and seed)")
        self._disposition, self._header_bytes, self._field, self._data = b"", 0, None, bytearray()

    def _header(self, data, start, end, attr):
        self._header_bytes += end - start
        if self._header_bytes > HEADER_BYTES:
            raise Refused(400, f"a part of the form has more than {HEADER_BYTES} bytes of headers")
        setattr(self, attr, getattr(self, attr) + data[start:end])

    def on_header_field(self, data, start, end):
        self._header(data, start, end, "_name")

    def on_header_value(self, data, start, end):
        self._header(data, start, end, "_value")

    def on_header_end(self):
        if self._name.lower() == b"content-disposition":
            self._disposition = self._value
        self._name = self._value = b""

    def on_headers_finished(self):
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise Refused(400, "a part of the form has no name (Content-Disposition: form-data; name=...)")
        self._field = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            if self._field != "audio":
                raise Refused(400, f"a file in the field {self._field[:40]!r}: the recording goes in 'audio'")
            if self.form.path is not None:
                raise Refused(400, "more than one recording: send one file in 'audio'")
            self.form.filename = _clean_name(options[b"filename"])
            suffix = Path(self.form.filename).suffix.lower()
            # a known suffix helps FFmpeg's probe of raw streams (ADTS AAC, an mp3 without ID3)
            self.form.path = self.folder / f"recording{suffix if suffix in self.suffixes else '.bin'}"
            self._file = open(self.form.path, "wb")

    def on_part_data(self, data, start, end):
        if self._file is not None:
            self.form.file_bytes += end - start
            if self.form.file_bytes > self.max_bytes:
                raise too_large(self.max_bytes)
            # a page-cache write of one received chunk (at most 64 KiB): no thread hop needed
            self._file.write(data[start:end])
        else:
            self._data += data[start:end]
            if len(self._data) > FIELD_BYTES:
                raise Refused(400, f"the form field {self._field[:40]!r} is longer than {FIELD_BYTES} bytes")

    def on_part_end(self):
        if self._file is not None:
            self._file.close()
            self._file = None
        elif self._field is not None:
            self.form.fields[self._field] = self._data.decode("utf-8", "replace")

    def close(self):
        if self._file is not None:
            self._file.close()


async def read_form(request, folder: Path, max_bytes: int, suffixes: set[str]) -> Form:
    """The multipart form of ``request``; the recording goes to ``folder`` (the caller's
    temporary folder, removed on every path). Raises ``Refused`` (400, 413)."""
    ctype, options = parse_options_header(request.headers.get("content-type"))
    if ctype != b"multipart/form-data" or not options.get(b"boundary"):
        raise Refused(400, "send a multipart/form-data form with the recording in the field 'audio'")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + FORM_SLACK:
        raise too_large(max_bytes)         # said before a byte is read; uvicorn drains the rest
    reader = _Reader(folder, max_bytes, suffixes)
    callbacks = {name: getattr(reader, name) for name in (
        "on_part_begin", "on_header_field", "on_header_value", "on_header_end", "on_headers_finished",
        "on_part_data", "on_part_end")}
    parser, seen = MultipartParser(options[b"boundary"], callbacks), 0
    try:
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > max_bytes + FORM_SLACK:
                raise too_large(max_bytes)
            parser.write(chunk)
        parser.finalize()
    except FormParserError:
        raise Refused(400, "the form is not valid multipart/form-data") from None
    finally:
        reader.close()
    return reader.form
