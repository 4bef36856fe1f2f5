"""Reading one Blu dial-result record: a tolerant reader of "queryCallResult" in shared/blu-api.md.

Missing, empty or null optional fields become empty values; ids come as numbers or strings and
are kept as text; extVars that is not JSON is kept raw; a value of the wrong kind is stored empty
and named in the record's problems, the raw record keeping what Blu sent. Only a record without a
usable callId cannot be stored: UnstorableRecord says why.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

ID_MAX = 64
CODE_MAX = 64
# Keys Blu's "slots and scripts" variant may use; its field names are not public.
SCRIPT_KEYS = ("script", "scripts", "dialogue", "conversation")
SLOT_KEYS = ("slots", "slot")
# JSON may carry "\ud800" escapes that are no character at all; UTF-8 cannot encode them.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class UnstorableRecord(ValueError):
    """The record has no usable callId (or is no object), so there is no key to store it under."""


def clean(value: Any) -> Any:
    """The value with what PostgreSQL text and jsonb refuse made safe: NUL and lone surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {clean(str(k)): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def canonical_json(raw: dict[str, Any]) -> str:
    """The record as JSON text with sorted keys: what is hashed, and what is stored as `raw`."""
    return json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def content_hash(raw: dict[str, Any]) -> str:
    """A digest of the record's content: equal digests mean nothing changed, nothing to write."""
    return _digest(canonical_json(raw))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _needs_cleaning(text: str) -> bool:
    # json.dumps writes NUL as the escape \u0000 and keeps lone surrogates as they are.
    return "\\u0000" in text or _LONE_SURROGATE.search(text) is not None


class _Unreadable(ValueError):
    """One field's value is not of the contract's kind."""


def _id(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _Unreadable(f"{key} is a {type(value).__name__}, not a number or string")
    text = str(value).strip()
    if len(text) > ID_MAX:
        raise _Unreadable(f"{key} is longer than {ID_MAX} characters")
    return text


def _text(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _Unreadable(f"{key} is a {type(value).__name__}, not text")


def _code(raw: dict[str, Any], key: str) -> str:
    code = _text(raw, key).strip()
    if len(code) > CODE_MAX:
        raise _Unreadable(f"{key} is longer than {CODE_MAX} characters")
    return code


def _int(raw: dict[str, Any], key: str, minimum: int | None = None) -> int | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _Unreadable(f"{key} is a boolean, not a number")
    try:
        number = round(value) if isinstance(value, float) else int(value)
    except (TypeError, ValueError, OverflowError):
        raise _Unreadable(f"{key} is not a whole number: {str(value)[:40]!r}") from None
    if not -(2**31) <= number < 2**31 or (minimum is not None and number < minimum):
        raise _Unreadable(f"{key} is out of range: {number}")
    return number


def _time(raw: dict[str, Any], key: str, zone: ZoneInfo) -> datetime | None:
    """Blu's local `YYYY-MM-DD HH:MM:SS`, read in the account's time zone."""
    value = raw.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _Unreadable(f"{key} is a {type(value).__name__}, not YYYY-MM-DD HH:MM:SS")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _Unreadable(f"{key} is not YYYY-MM-DD HH:MM:SS: {value[:40]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _ext_vars(raw: dict[str, Any]) -> tuple[Any, str]:
    """(parsed, raw text): Blu sends a JSON object inside a string; keep it raw when it is not."""
    value = raw.get("extVars")
    if value is None or value == "":
        return None, ""
    if isinstance(value, dict | list):
        return value, ""
    if not isinstance(value, str):
        return None, str(value)
    try:
        return json.loads(value), ""
    except ValueError:
        return None, value


def _first_present(raw: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if raw.get(key) not in (None, "", [], {}):
            value = raw[key]
            if isinstance(value, str):
                try:
                    return json.loads(value)
                except ValueError:
                    return value
            return value
    return None


def call_id_of(raw: Any) -> str:
    """The record's callId as text: the one field without which nothing can be stored."""
    if not isinstance(raw, dict):
        raise UnstorableRecord(f"the record is a {type(raw).__name__}, not an object")
    value = raw.get("callId")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise UnstorableRecord("callId is missing")
    try:
        return _id(raw, "callId")
    except _Unreadable as exc:
        raise UnstorableRecord(str(exc)) from None


def read_record(raw: Any, zone: ZoneInfo) -> dict[str, Any]:
    """The CallRecord field values for one raw record (account and task excepted).

    Raises UnstorableRecord only when there is no usable callId. A field of the wrong kind is
    stored empty, named in `problems`, and stays readable in `raw`: the record is never lost.
    """
    call_id = call_id_of(raw)
    text = canonical_json(raw)
    if _needs_cleaning(text):  # rare: walking every value costs more than the rest together
        raw = clean(raw)
        text = canonical_json(raw)
    problems: list[str] = []

    def read(reader, key: str, *args, empty=None):
        try:
            return reader(raw, key, *args)
        except _Unreadable as exc:
            problems.append(str(exc))
            return empty

    ext_vars, ext_vars_raw = _ext_vars(raw)
    fields = {
        "call_id": call_id,
        "job_id": read(_id, "jobId", empty=""),
        "user_id": read(_id, "userId", empty=""),
        "phone": read(_text, "phone", empty=""),
        "name": read(_text, "name", empty=""),
        "status": read(_int, "status"),
        "code": read(_code, "code", empty=""),
        "desc": read(_text, "desc", empty=""),
        "strategy_id": read(_id, "strategyId", empty=""),
        "bot_id": read(_id, "botId", empty=""),
        "start_time": read(_time, "startTime", zone),
        "answer_time": read(_time, "answerTime", zone),
        "end_time": read(_time, "endTime", zone),
        "duration": read(_int, "duration", 0),
        "record_url": read(_text, "recordUrl", empty=""),
        "ext_vars": ext_vars,
        "ext_vars_raw": ext_vars_raw,
        "script": _first_present(raw, SCRIPT_KEYS),
        "slots": _first_present(raw, SLOT_KEYS),
        "raw": raw,
        "raw_json": text,
        "content_hash": _digest(text),
    }
    fields["problems"] = problems
    return fields


def record_task_id(raw: Any) -> str | None:
    """The taskId a record names, as text, or None."""
    if isinstance(raw, dict) and isinstance(raw.get("taskId"), int | str):
        return str(raw["taskId"]).strip() or None
    return None
