"""The recording every answered sandbox call links to: a short, real WAV made with the stdlib.

Two seconds of 8 kHz, 16-bit mono telephone-band tones, built once in memory, so a client that
downloads a recording gets bytes any audio library (or `wave`) can open.
"""

import functools
import io
import math
import struct
import wave

SAMPLE_RATE = 8000
SECONDS = 2.0
# Two tones, one a second, so a listener hears that something was "said".
TONES_HZ = (440.0, 660.0)
AMPLITUDE = 0.3 * 32767


@functools.cache
def wav_bytes() -> bytes:
    """The whole WAV file (RIFF header included); the same bytes on every call."""
    frames_per_tone = int(SAMPLE_RATE * SECONDS / len(TONES_HZ))
    samples = [
        int(AMPLITUDE * math.sin(2 * math.pi * hz * n / SAMPLE_RATE))
        for hz in TONES_HZ
        for n in range(frames_per_tone)
    ]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        # WAV samples are little-endian whatever the machine is.
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return buffer.getvalue()
