"""What counts as audio in Blu's answer for a recording (calls/dashboard/audio_types.py): its
label when it is an audio type, its first bytes when it is labelled only as bytes."""

from __future__ import annotations

import pytest

from calls.blu.sandbox import wav_bytes
from calls.dashboard import audio_types


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (wav_bytes(), "audio/wav"),  # what the sandbox serves
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x64\x00", "audio/mpeg"),  # an MP3 frame with no ID3 tag
        (b"\xff\xf1\x50\x80\x00", "audio/aac"),  # ADTS
        (b"OggS\x00\x02\x00\x00", "audio/ogg"),
        (b"fLaC\x00\x00\x00\x22", "audio/flac"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00", "audio/mp4"),
        (b"#!AMR\n\x3c\x91", "audio/amr"),
        (b"\x1a\x45\xdf\xa3\x9f\x42", "audio/webm"),
    ],
)
def test_a_file_that_begins_as_an_audio_format_is_that_format(start, expected):
    assert audio_types.sniffed_type(start[: audio_types.SNIFF_BYTES]) == expected


@pytest.mark.parametrize(
    "start",
    [
        b"<!doctype html><script>",
        b'{"code": 2000, "message"',
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"%PDF-1.7\n",
        b"PK\x03\x04\x14\x00",
        b"RIFF\x00\x00\x00\x00AVI LIST",  # a RIFF that is video
        b"\xff\xd8\xff\xe0\x00\x10JFIF",  # a JPEG starts with 0xFF too
        b"",
    ],
)
def test_a_file_that_begins_as_anything_else_is_not_audio(start):
    assert audio_types.sniffed_type(start) is None


@pytest.mark.parametrize(
    ("content_type", "audio", "bytes_only"),
    [
        ("audio/wav", True, False),
        ("Audio/MPEG; charset=binary", True, False),
        ("application/ogg", True, False),
        ("application/octet-stream", False, True),
        ("binary/octet-stream", False, True),
        ("", False, True),
        ("text/html", False, False),
        ("video/mp4", False, False),
        ("multipart/byteranges; boundary=x", False, False),
        ("audio/wav, text/html", False, False),  # two types: a browser takes the last
        ("audio/", False, False),
    ],
)
def test_audio_labels_and_bytes_only_labels_are_told_apart(content_type, audio, bytes_only):
    essence = audio_types.essence(content_type)
    assert audio_types.is_labelled_audio(essence) is audio
    assert audio_types.is_labelled_bytes_only(essence) is bytes_only


def test_a_label_that_reads_as_no_type_is_not_repeated():
    assert audio_types.described("text/html") == "text/html"
    assert audio_types.described("text/html<script>") == "an unreadable type"
