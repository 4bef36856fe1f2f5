"""Request signing, per "Signing every request to Blu" in docs/blu-api.md.

Used by the client to sign and by the sandbox to check, so both follow one definition.
"""

import hashlib
import time


def timestamp_ms(now: float | None = None) -> str:
    """Milliseconds since the Unix epoch as a decimal string (13 digits), as Blu wants it."""
    return str(int((time.time() if now is None else now) * 1000))


def sign(app_id: str, app_key: str, timestamp: str) -> str:
    """Lowercase hex SHA-256 of appId + appKey + timeStamp, concatenated in that order."""
    return hashlib.sha256(f"{app_id}{app_key}{timestamp}".encode()).hexdigest()


def signed_headers(app_id: str, app_key: str, now: float | None = None) -> dict[str, str]:
    """The headers of one request; a fresh timeStamp (and so a fresh sign) every time."""
    stamp = timestamp_ms(now)
    return {
        "appId": app_id,
        "timeStamp": stamp,
        "sign": sign(app_id, app_key, stamp),
        "Content-Type": "application/json",
    }
