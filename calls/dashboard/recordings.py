"""A call's recording, fetched from Blu and streamed to a user who may hear it: the recording
link (a bearer URL) never leaves the server, the server only fetches from Blu's own hosts, and
only what is audio comes back (audio_types)."""

from __future__ import annotations

import itertools
import logging
import re
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urljoin

import requests
from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from urllib3.exceptions import LocationParseError
from urllib3.util import Url, parse_url

from calls.dashboard import audio_types
from calls.models import BluAccount

logger = logging.getLogger(__name__)


def is_recording_url(url: str) -> bool:
    # Callbacks are unsigned: only an http(s) URL is ever fetched or offered as a recording.
    return url.lower().startswith(("https://", "http://"))


RECORDING_CHUNK = 64 * 1024
_PASSED_HEADERS = ("Content-Length", "Content-Range", "Accept-Ranges")
_SINGLE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _requested_range(header: str, size: int) -> tuple[int, int] | None:
    """The (first, last) byte of a single-range header, or None when it is absent, several ranges
    or unreadable (then the whole file is the answer, as RFC 9110 allows). Raises ValueError when
    the range lies wholly past the end."""
    match = _SINGLE_RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        suffix = int(last)
        if suffix == 0:
            raise ValueError("empty suffix range")
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size:
        raise ValueError("range starts past the end")
    if end < start:
        return None
    return start, end


# A play is the run of fetches one user makes of one call's recording with no pause longer than
# this: the ranges a player fetches as it buffers and seeks, Safari's two-byte probe before it.
PLAY_GAP_SECONDS = 600


def starts_a_play(response: HttpResponseBase, user_id: int | None, call_id: int) -> bool:
    """Whether this answer serves recording bytes to a user who has fetched none of this call's
    for PLAY_GAP_SECONDS: the first fetch of a play, whatever range it asks for. Judged by who
    fetched, not by the range: a player asks for byte 0 first, but anyone can start from byte 1
    or ask for several ranges at once and still hear the whole recording."""
    if response.status_code not in (200, 206):
        return False
    key = f"recording-play:{user_id}:{call_id}"
    try:
        if cache.add(key, 1, timeout=PLAY_GAP_SECONDS):
            return True
        cache.touch(key, timeout=PLAY_GAP_SECONDS)
        return False
    except Exception:  # the cache is down: an extra event rather than a play unaudited
        logger.warning("recording plays cannot be told apart: the cache is unavailable")
        return True


def _body(
    upstream: requests.Response, chunks: Iterator[bytes], skip: int = 0, length: int | None = None
) -> Iterator[bytes]:
    """Blu's body (`chunks` of `upstream`) from byte `skip` for `length` bytes; closes the
    connection at the end or when the browser goes away (Django closes the generator)."""
    try:
        for chunk in chunks:
            if skip:
                dropped = min(skip, len(chunk))
                chunk, skip = chunk[dropped:], skip - dropped
            if length is not None:
                chunk, length = chunk[:length], length - min(length, len(chunk))
            if chunk:
                yield chunk
            if length == 0:
                break
    finally:
        upstream.close()


@dataclass
class _Audio:
    """Blu's answer once it is known to be audio: the type to serve it as, and its body."""

    content_type: str
    chunks: Iterator[bytes]


def _audio(upstream: requests.Response, url: str) -> _Audio | HttpResponse:
    """Blu's 200 or 206 answer from `url` as audio, or the refusal when it is not audio
    (audio_types says what counts)."""
    declared = audio_types.essence(upstream.headers.get("Content-Type", ""))
    chunks = upstream.iter_content(RECORDING_CHUNK)
    if audio_types.is_labelled_audio(declared):
        return _Audio(declared, chunks)
    if not audio_types.is_labelled_bytes_only(declared):
        upstream.close()
        return _not_audio(f"it is labelled {audio_types.described(declared)}")
    # Labelled only as bytes: told by how the file begins.
    start = b""
    for chunk in chunks:
        start += chunk
        if len(start) >= audio_types.SNIFF_BYTES:
            break
    chunks = itertools.chain([start], chunks)
    if _first_byte(upstream) != 0 or len(start) < audio_types.SNIFF_BYTES:
        # A range from further in (a seek), or too short to tell: the file's own start.
        start = _file_start(url)
    sniffed = audio_types.sniffed_type(start)
    if sniffed is None:
        upstream.close()
        if not start:
            logger.warning("recording refused: Blu did not send the file's first bytes")
            return _failed(
                "Blu did not send the start of this recording, so whether it is audio cannot be "
                "told. Try again in a minute."
            )
        return _not_audio("its bytes are not of an audio format bludash knows")
    return _Audio(sniffed, chunks)


_CONTENT_RANGE_FIRST = re.compile(r"^\s*bytes\s+(\d+)-")


def _first_byte(upstream: requests.Response) -> int | None:
    """Which byte of the file Blu's body begins with (None when a 206 does not say)."""
    if upstream.status_code == 200:
        return 0
    match = _CONTENT_RANGE_FIRST.match(upstream.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _file_start(url: str) -> bytes:
    """The first SNIFF_BYTES of the file at `url` (already checked against the hosts, and
    reached without a redirect), or b"" when Blu does not send them."""
    try:
        probe = requests.get(
            url,
            headers={
                "Accept-Encoding": "identity",
                "Range": f"bytes=0-{audio_types.SNIFF_BYTES - 1}",
            },
            stream=True,
            allow_redirects=False,
            timeout=(settings.BLUDASH_BLU_CONNECT_TIMEOUT, settings.BLUDASH_BLU_READ_TIMEOUT),
        )
    except requests.RequestException:
        return b""
    try:
        if probe.status_code not in (200, 206):
            return b""
        start = b""
        for chunk in probe.iter_content(audio_types.SNIFF_BYTES):
            start += chunk
            if len(start) >= audio_types.SNIFF_BYTES:
                break
        return start[: audio_types.SNIFF_BYTES]
    finally:
        probe.close()


def _not_audio(why: str) -> HttpResponse:
    logger.warning("recording refused: what Blu sent is not audio (%s)", why)
    return _failed(
        f"This is not a recording: what Blu sent for it is not audio ({why}), so bludash does "
        "not pass it on. The call's recording link may point at something else on Blu's host."
    )


def _failed(message: str) -> HttpResponse:
    return HttpResponse(message, status=502, content_type="text/plain; charset=utf-8")


def allowed_hosts(account: BluAccount) -> frozenset[str]:
    """Where this account's recordings may be fetched from, as "host:port": Blu's API origin and
    the hosts an admin listed (on their default ports unless given as host:port). Recording URLs
    arrive in unsigned callbacks, so without this anyone holding a callback token could make the
    server fetch an address inside our network."""
    origins = {_origin(account.base_url)}
    for entry in settings.BLUDASH_RECORDING_HOSTS:
        # Ends in a port: "host:port", "[v6]:port" (a bare "[v6]" holds colons but no port).
        if re.search(r":\d+$", entry):
            origins.add(entry.lower())
        else:
            origins.update({f"{entry.lower()}:80", f"{entry.lower()}:443"})
    return frozenset(origin for origin in origins if origin)


MAX_REDIRECTS = 3
# Characters no honest recording URL holds, and on which URL parsers disagree about the host
# (a backslash reads as a path to one parser and ends the host for another).
_AMBIGUOUS = re.compile(r"[\\\s\x00-\x1f\x7f]")


def _origin(url: str) -> str | None:
    """ "host:port" of an http(s) URL as requests will connect to it, or None when the URL is not
    one we would fetch (another scheme, user info, characters parsers read differently)."""
    if _AMBIGUOUS.search(url):
        return None
    try:
        parts = parse_url(url)
    except LocationParseError:
        return None
    if parts.scheme not in ("http", "https") or parts.auth or not parts.host:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.host.lower()}:{port}"


def _checked(url: str, origins: frozenset[str]) -> str | None:
    """The URL rebuilt from the very parts that were checked, or None when it may not be fetched:
    what requests connects to is then exactly what was allowed."""
    origin = _origin(url)
    if origin is None or origin not in origins:
        return None
    parts = parse_url(url)
    return Url(parts.scheme, None, parts.host, parts.port, parts.path, parts.query).url


def _not_allowed(url: str) -> HttpResponse:
    host = (_origin(url) or "an address bludash does not fetch").rsplit(":", 1)[0]
    logger.warning("recording refused: %s is not one of Blu's hosts", host)
    return _failed(
        f"This recording is on {host}, which is not one of this account's Blu hosts. "
        "An administrator can allow it with BLUDASH_RECORDING_HOSTS."
    )


def stream_recording(url: str, hosts: frozenset[str], range_header: str = "") -> HttpResponseBase:
    """Blu's recording at `url` as our own streaming response, fetched only from `hosts` (also
    after a redirect), and only when what Blu sends is audio. The browser's Range is passed on
    when it is a single range;
    a Blu that ignores it (answers 200 to a ranged request) is answered 206 all the same, by
    skipping bytes, because Safari plays only media served in ranges. Network errors and Blu's
    errors become a 502 that names no part of the URL but its host (it is a bearer link), as
    does an answer that is not audio."""
    # identity: a compressed body would no longer match the Content-Length we pass on.
    headers = {"Accept-Encoding": "identity"}
    if _SINGLE_RANGE.match(range_header.strip()):
        # Several ranges would come back as one multipart body, which is no audio: those get
        # the whole file, as RFC 9110 allows.
        headers["Range"] = range_header.strip()
    for _ in range(MAX_REDIRECTS + 1):
        checked = _checked(url, hosts)
        if checked is None:
            return _not_allowed(url)
        try:
            upstream = requests.get(
                checked,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=(settings.BLUDASH_BLU_CONNECT_TIMEOUT, settings.BLUDASH_BLU_READ_TIMEOUT),
            )
        except requests.RequestException as exc:
            logger.warning("recording download failed: %s", type(exc).__name__)
            return _failed("Blu could not be reached for this recording. Try again in a minute.")
        if not upstream.is_redirect:
            break
        upstream.close()
        url = urljoin(checked, upstream.headers.get("Location", ""))
    else:
        return _failed("Blu redirected this recording too many times.")
    if upstream.status_code not in (200, 206):
        upstream.close()
        if upstream.status_code == 416:
            return _range_not_satisfiable(upstream.headers.get("Content-Range", ""))
        logger.warning("recording download failed: Blu answered HTTP %s", upstream.status_code)
        return _failed(
            f"Blu did not send this recording (it answered HTTP {upstream.status_code})."
        )
    audio = _audio(upstream, checked)
    if isinstance(audio, HttpResponse):
        return audio
    size = upstream.headers.get("Content-Length", "")
    if upstream.status_code == 200 and range_header and size.isdigit():
        return _ranged_from_whole(upstream, audio, range_header, int(size))
    response = _streamed(upstream, audio, upstream.status_code)
    for name in _PASSED_HEADERS:
        if name in upstream.headers:
            response[name] = upstream.headers[name]
    if upstream.status_code == 200 and size.isdigit():
        # We can serve ranges ourselves (below), whatever Blu says.
        response["Accept-Ranges"] = "bytes"
    return response


def _ranged_from_whole(upstream: requests.Response, audio: _Audio, range_header: str, size: int):
    """The browser's range cut from a whole file Blu sent in answer to a ranged request."""
    try:
        wanted = _requested_range(range_header, size)
    except ValueError:
        upstream.close()
        return _range_not_satisfiable(f"bytes */{size}")
    if wanted is None:
        response = _streamed(upstream, audio, 200)
        response["Content-Length"] = str(size)
    else:
        first, last = wanted
        response = _streamed(upstream, audio, 206, skip=first, length=last - first + 1)
        response["Content-Length"] = str(last - first + 1)
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response


def _streamed(
    upstream: requests.Response,
    audio: _Audio,
    status: int,
    skip: int = 0,
    length: int | None = None,
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        _body(upstream, audio.chunks, skip, length), status=status, content_type=audio.content_type
    )
    # A response dropped unread (a browser gone before the first byte) never runs _body's
    # `finally`: the connection to Blu is let go when the response is.
    weakref.finalize(response, upstream.close)
    # Only signed-in users may hear it: no shared cache keeps a copy, and the bytes never run
    # as a document even if Blu's server sent something other than audio.
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Security-Policy"] = "sandbox"
    return response


def _range_not_satisfiable(content_range: str) -> HttpResponse:
    response = HttpResponse(status=416)
    if content_range:
        response["Content-Range"] = content_range
    return response
