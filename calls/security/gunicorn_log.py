"""gunicorn's logger with callback tokens taken out: its access log writes every request's URL,
and its error log the URL of a request that failed, and the token in a callback URL is the
callback's only credential (the same redaction as Django's logs: log_redaction.py).

Named by deploy/gunicorn.conf.py (`logger_class`); only gunicorn imports it.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from calls.security.log_redaction import RedactCallbackTokens, redact


class RedactingLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # "Error handling request /blu/callback/<token>/" and the like.
        self.error_log.addFilter(RedactCallbackTokens())

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        # Every atom, not only the request line: the path, the raw URI, a Referer, any header
        # or environ value the format may name.
        return {
            name: redact(value) if isinstance(value, str) else value
            for name, value in super().atoms(resp, req, environ, request_time).items()
        }
