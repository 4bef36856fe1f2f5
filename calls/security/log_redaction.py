"""Keeps callback and pre-dial tokens out of logs: the token in the URL is the request's only
credential, and Django logs the path of every 4xx answer (django.request) and every request
(runserver)."""

import logging
import re

_CALLBACK_PATH = re.compile(r"(/blu/(?:callback|predial)/)[^/\s\"?]+")


def redact(text: str) -> str:
    return _CALLBACK_PATH.sub(r"\1[token]", text)


class RedactCallbackTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if record.exc_info and not record.exc_text:
            # Formatted here, once, as handlers would: an exception's message may name the URL
            # (Django's refusal to redirect a POST to add a slash does).
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        request = getattr(record, "request", None)
        path = getattr(request, "path", "") if request is not None else ""
        if "/blu/callback/" in path or "/blu/predial/" in path:
            # Handlers that format the request object (e.g. AdminEmailHandler) get none.
            record.request = None
        return True
