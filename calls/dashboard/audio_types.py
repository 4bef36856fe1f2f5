"""Whether what Blu sent for a recording is audio, and the type to serve it as.

A recordUrl arrives in an unsigned callback and may name any path on Blu's hosts (or on those an
admin allowed): whatever else is served there (the API's JSON, a page, an image) must not come
back through our origin as if it were a recording. Blu's contract does not say how recordings
are labelled (the sandbox sends audio/wav), so the rule is strict about labels and realistic
about object stores:

- an audio/* type, or application/ogg, is audio, served as that type (its parameters dropped:
  the browser is given the very type that was judged);
- bytes labelled only as bytes (application/octet-stream, binary/octet-stream, or no type at
  all: what a file store sends for a file it has no type for) are audio only if the file begins
  as an audio format does, and are served as that format;
- anything else (text, images, video, multipart) is refused.
"""

from __future__ import annotations

import re

# Enough of a file's start to tell every format below.
SNIFF_BYTES = 16

_BYTES_ONLY = {"", "application/octet-stream", "binary/octet-stream"}
_TOKEN_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,60}/[a-z0-9][a-z0-9!#$&^_.+-]{0,60}$")


def essence(content_type: str) -> str:
    """The type without its parameters, lowercased: "audio/wav; codecs=1" -> "audio/wav"."""
    return content_type.split(";", 1)[0].strip().lower()


def is_labelled_audio(type_essence: str) -> bool:
    """Whether the label is one audio type. A header holding two ("audio/wav, text/html", as a
    server sending Content-Type twice reaches us) is not: browsers take the last of them."""
    if not _TOKEN_TYPE.match(type_essence):
        return False
    return type_essence.startswith("audio/") or type_essence == "application/ogg"


def is_labelled_bytes_only(type_essence: str) -> bool:
    return type_essence in _BYTES_ONLY


def described(type_essence: str) -> str:
    """The type for a message or a log line: as sent when it reads as a type, else not at all
    (it is whatever the remote server wrote)."""
    return type_essence if _TOKEN_TYPE.match(type_essence) else "an unreadable type"


def sniffed_type(start: bytes) -> str | None:
    """The audio type a file beginning with `start` (its first SNIFF_BYTES) is, or None when it
    begins as no audio format we know. The signatures are mostly those the WHATWG MIME Sniffing
    standard uses for audio, with AAC's ADTS and AMR (a telephony format) added."""
    if start[:4] == b"RIFF" and start[8:12] == b"WAVE":
        return "audio/wav"
    if start[:3] == b"ID3":
        return "audio/mpeg"
    if len(start) >= 2 and start[0] == 0xFF:
        # A frame header: AAC's ADTS (12-bit sync, layer 00) or MPEG audio's (11-bit sync,
        # layer not 00), as MP3 files without an ID3 tag begin.
        if start[1] & 0xF6 == 0xF0:
            return "audio/aac"
        if start[1] & 0xE0 == 0xE0 and start[1] & 0x06:
            return "audio/mpeg"
    if start[:4] == b"OggS":
        return "audio/ogg"
    if start[:4] == b"fLaC":
        return "audio/flac"
    if start[4:8] == b"ftyp":
        return "audio/mp4"
    if start[:6] == b"#!AMR\n":
        return "audio/amr"
    if start[:4] == b"\x1a\x45\xdf\xa3":
        return "audio/webm"
    return None
