"""Reading one Blu dial-result record: a tolerant reader of "queryCallResult" in docs/blu-api.md.

Missing, empty or null optional fields become empty values; ids come as numbers or strings and
are kept as text; extVars that is not JSON is kept raw; a value of the wrong kind is stored empty
and named in the record's problems, the raw record keeping what Blu sent. Only a record without a
usable callId cannot be stored: UnstorableRecord says why.

What JSON can say but the database cannot keep is replaced, never left to fail the page's write,
and named in the problems too: NUL and unpaired surrogates in text (PostgreSQL text and jsonb
refuse them), NaN and Infinity (jsonb has no such numbers), nesting deeper than MAX_DEPTH (it
would exhaust the stack of whoever reads or shows the record later).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import UTC, datetime
from itertools import pairwise, product
from typing import Any
from zoneinfo import ZoneInfo

ID_MAX = 64
CODE_MAX = 64
# Below a field. Blu's deepest value, a script, is a list of objects of text: 3 levels.
MAX_DEPTH = 32
DEEP_PLACEHOLDER = f"[nested deeper than {MAX_DEPTH} levels]"
# Times outside these years are no call Blu made; beyond them the conversions to and from UTC
# that storing and showing a time need can overflow Python's or PostgreSQL's calendar.
FIRST_YEAR, LAST_YEAR = 1970, 2999
# Keys Blu's "slots and scripts" variant may use; its field names are not public.
SCRIPT_KEYS = ("script", "scripts", "dialogue", "conversation")
SLOT_KEYS = ("slots", "slot")
# JSON may carry "\ud800" escapes that are no character at all; UTF-8 cannot encode them.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Python writes no int of more than 4300 digits as text; json.loads reads none either.
_LONGEST_INT = 10**4000
# Whole numbers that need no check: an id this short, a status or duration in range.
_SHORT_ID = 10**60
_INT_LOW, _INT_HIGH = -(2**31), 2**31

# A record names at most this many problems, the last saying how many more there were: a flaky
# Blu can send thousands of broken fields, and the list is stored, shown and logged with the call.
MAX_PROBLEMS = 20
# How much of a field's name a problem quotes: a name can be as long as the record.
NAME_SHOWN = 40

# What was replaced, as a record's problems name it.
_REPLACED = {
    "text": "{key} held NUL or unpaired surrogate characters, stored as U+FFFD",
    "number": "{key} held NaN, Infinity or an over-long number, stored as text",
    "deep": "{key} nests deeper than {depth} levels, stored cut off",
}


class UnstorableRecord(ValueError):
    """The record has no usable callId (or is no object), so there is no key to store it under."""


def _unstorable_text(text: str) -> bool:
    return "\x00" in text or _LONE_SURROGATE.search(text) is not None


def _storable(value: Any, damage: set[str], depth: int = 0) -> Any:
    """`value` made storable; adds to `damage` the kinds of replacement made ("text", ...)."""
    if isinstance(value, str):
        if _unstorable_text(value):
            damage.add("text")
            return _LONE_SURROGATE.sub("\ufffd", value.replace("\x00", "\ufffd"))
        return value
    if isinstance(value, float) and not math.isfinite(value):
        damage.add("number")
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _LONGEST_INT:
        # Past Python's limit of 4300 digits for int to text: json.dumps could not write it.
        damage.add("number")
        return "an over-long number"
    if isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            damage.add("deep")
            return DEEP_PLACEHOLDER
        if isinstance(value, list):
            return [_storable(item, damage, depth + 1) for item in value]
        return {
            _storable(str(key), damage, depth + 1): _storable(item, damage, depth + 1)
            for key, item in value.items()
        }
    return value


def canonical_json(raw: dict[str, Any]) -> str:
    """The record as JSON text with sorted keys: what is hashed, and what is stored as `raw`."""
    return json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _needs_cleaning(text: str) -> bool:
    """Whether the record's JSON text, known to encode as UTF-8 (so without lone surrogates), may
    hold something to replace: a cheap look that may say yes for nothing (a name "NaNa"), never
    no for something."""
    # json.dumps writes NUL as the escape \u0000 and NaN and Infinity bare; nesting deeper than
    # MAX_DEPTH needs more brackets than that.
    return (
        "\\u0000" in text
        or "NaN" in text
        or "Infinity" in text
        or text.count("[") + text.count("{") > MAX_DEPTH
    )


def _storable_record(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The raw record made storable, and a problem for each field that had to change."""
    record: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in raw.items():
        damage: set[str] = set()
        name = _storable(str(key), damage)
        record[name] = _storable(value, damage, 1)
        shown = name if len(name) <= NAME_SHOWN else name[:NAME_SHOWN] + "..."
        problems += [_REPLACED[kind].format(key=shown, depth=MAX_DEPTH) for kind in sorted(damage)]
    return record, problems


def _listed(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    more = len(problems) - (MAX_PROBLEMS - 1)
    return [
        *problems[: MAX_PROBLEMS - 1],
        f"and {more} more problems, in fields the raw record keeps",
    ]


def problem_kind(problem: str) -> str:
    """A problem without the value it quotes ("duration is not a whole number"): what a sync
    counts, so that many bad values of one kind make one line on the run, not one each."""
    return problem.split(": ", 1)[0]


class _Unreadable(ValueError):
    """One field's value is not of the contract's kind."""


def _id(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _Unreadable(f"{key} is a {type(value).__name__}, not a number or string")
    try:
        text = str(value).strip()
    except ValueError:  # an integer of more than 4300 digits
        text = "9" * (ID_MAX + 1)
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
        raise _Unreadable(f"{key} is out of range: {str(number)[:40]}")
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
    # The local year: a zone moves a time by less than a day, far from where calendars end.
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise _Unreadable(f"{key} is out of range ({FIRST_YEAR} to {LAST_YEAR}): {value[:40]!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


# --- local times across daylight saving ---------------------------------------------------------
#
# Blu's times carry no offset (docs/blu-api.md), so around a change of the clocks a local time
# can name two moments (autumn: 01:30 happens twice) or none (spring: 02:30 never happens). The
# rule, for the three times of one call together:
# - an ambiguous time is read as whichever of its two moments keeps start <= answer <= end,
#   trying the earlier first for each time; when no choice keeps that order, as the earlier;
# - a time that does not exist (spring: the clocks skip it) is read with the offset in force just
#   before the clocks moved (the moment a clock that had not been changed yet would mean), or
#   with the one after when only that keeps the call's times in order; either way it is named
#   in the problems.
_TIME_FIELDS = (("start_time", "startTime"), ("answer_time", "answerTime"), ("end_time", "endTime"))


def _shifts(value: datetime, zone: ZoneInfo) -> bool:
    """Whether the time lies where the clocks change (twice or never): only there does the
    offset depend on `fold`. Every other time is read at the cost of two offset look-ups."""
    # The other fold is enough: `value` itself has one of the two.
    return value.tzinfo is zone and (
        value.utcoffset() != value.replace(fold=1 - value.fold).utcoffset()
    )


def _missing(value: datetime, zone: ZoneInfo) -> bool:
    """A local time the clocks skipped: it does not come back from UTC as itself."""
    there_and_back = value.replace(fold=0).astimezone(UTC).astimezone(zone)
    return there_and_back.replace(tzinfo=None) != value.replace(tzinfo=None, fold=0)


def _moments(value: datetime, zone: ZoneInfo) -> list[datetime]:
    """The UTC moments a local time in `zone` may mean, in the order the rule tries them: the
    earlier first for a repeated time, the offset before the change first for a skipped one."""
    first = value.replace(fold=0).astimezone(UTC)
    if not _shifts(value, zone):
        return [first]
    second = value.replace(fold=1).astimezone(UTC)  # a skipped time: fold 0 is the offset before
    return [first, second] if _missing(value, zone) else sorted([first, second])


def _in_order(moments: list[datetime | None]) -> bool:
    present = [m for m in moments if m is not None]
    return all(a <= b for a, b in pairwise(present))


def resolve_local_times(fields: dict[str, Any], zone: ZoneInfo, problems: list[str]) -> None:
    """Replace the call's local times in `fields` by UTC moments, by the rule above."""
    # Nearly every call lies where the clocks do not change: each time then names one moment,
    # and the rule has nothing to choose.
    plain: list[datetime | None] = []
    for name, _key in _TIME_FIELDS:
        value = fields[name]
        if value is None:
            plain.append(None)
        elif _shifts(value, zone):
            break
        else:
            plain.append(value.astimezone(UTC))
    else:
        fields["start_time"], fields["answer_time"], fields["end_time"] = plain
        return
    options: list[list[datetime | None]] = []
    for name, key in _TIME_FIELDS:
        value = fields[name]
        if value is None:
            options.append([None])
            continue
        if _shifts(value, zone) and _missing(value, zone):
            problems.append(
                f"{key} does not exist in {zone.key} (the clocks went forward): "
                "read with the offset before the change unless only the one after keeps the "
                "call's times in order"
            )
        options.append(list(_moments(value, zone)))
    chosen = [choice[0] for choice in options]  # each time's first reading: the fallback
    for combination in product(*options):  # each time's first reading first, start first
        if _in_order(list(combination)):
            chosen = list(combination)
            break
    for (name, _key), moment in zip(_TIME_FIELDS, chosen, strict=True):
        fields[name] = moment


def _json_in_text(text: str) -> tuple[bool, Any]:
    """(True, value) for text that is JSON we can store as such, else (False, None).

    Strict where Python's json is lenient: NaN, Infinity and 1e999 are not JSON numbers. JSON
    whose values would need replacing (NUL, lone surrogates, deep nesting) is not taken apart
    either: the text stays as it came.
    """
    try:
        value = _STRICT_JSON.decode(text)
    except (ValueError, RecursionError):
        return False, None
    # NUL and surrogates can only come from \u escapes (the text itself was made storable).
    if "\\u" in text or text.count("[") + text.count("{") > MAX_DEPTH:
        damage: set[str] = set()
        _storable(value, damage, 1)
        if damage:
            return False, None
    return True, value


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is too large")
    return number


# Made once: json.loads(text, **hooks) would build a decoder for every call.
_STRICT_JSON = json.JSONDecoder(parse_constant=_not_a_number, parse_float=_finite)


def _ext_vars(raw: dict[str, Any], key: str) -> tuple[Any, str]:
    """(parsed, raw text): Blu sends a JSON object inside a string; keep it raw when it is not."""
    value = raw.get(key)
    if value is None or value == "":
        return None, ""
    if isinstance(value, dict | list):
        return value, ""
    if not isinstance(value, str):
        raise _Unreadable(f"{key} is a {type(value).__name__}, not text")
    readable, parsed = _json_in_text(value)
    return (parsed, "") if readable else (None, value)


def _first_present(raw: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if raw.get(key) not in (None, "", [], {}):
            value = raw[key]
            if isinstance(value, str):
                readable, parsed = _json_in_text(value)
                return parsed if readable else value
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
        call_id = _id(raw, "callId")
    except _Unreadable as exc:
        raise UnstorableRecord(str(exc)) from None
    if _unstorable_text(call_id):
        # A key changed would be another call's key: better not stored than stored wrongly.
        raise UnstorableRecord("callId holds NUL or unpaired surrogate characters")
    return call_id


def read_record(raw: Any, zone: ZoneInfo) -> dict[str, Any]:
    """The CallRecord field values for one raw record (account and task excepted).

    Raises UnstorableRecord only when there is no usable callId. A field of the wrong kind is
    stored empty, named in `problems`, and stays readable in `raw`: the record is never lost.
    """
    call_id = call_id_of(raw)
    problems: list[str] = []
    try:
        text = canonical_json(raw)
        # Encoding fails on lone surrogates, faster than any search for them.
        data = text.encode("utf-8")
        suspect = _needs_cleaning(text)
    except (ValueError, RecursionError):  # a lone surrogate, too deep, a number too long
        suspect = True
    if suspect:  # rare: walking every value costs more than the rest together
        raw, problems = _storable_record(raw)
        text = canonical_json(raw)
        data = text.encode("utf-8")

    def read(reader, key: str, *args, empty=None):
        try:
            return reader(raw, key, *args)
        except _Unreadable as exc:
            problems.append(str(exc))
            return empty

    # Each field is read by its reader only when it is not of the contract's usual kind: the
    # checks below take what those readers would return unchanged, in a fraction of the time.
    def ident(key: str) -> str:
        value = raw.get(key)
        if type(value) is int and -_SHORT_ID < value < _SHORT_ID:
            return str(value)
        return read(_id, key, empty="")

    def text_of(key: str) -> str:
        value = raw.get(key)
        return value if type(value) is str else read(_text, key, empty="")

    def when(key: str) -> datetime | None:
        value = raw.get(key)
        return None if value == "" or value is None else read(_time, key, zone)

    def whole(key: str, minimum: int = _INT_LOW) -> int | None:
        value = raw.get(key)
        if type(value) is int and minimum <= value < _INT_HIGH:
            return value
        return read(_int, key, None if minimum == _INT_LOW else minimum)

    try:
        ext_vars, ext_vars_raw = _ext_vars(raw, "extVars")
    except _Unreadable as exc:  # a number or a boolean: kept as its text
        problems.append(str(exc))
        ext_vars, ext_vars_raw = None, str(raw["extVars"])
    fields = {
        "call_id": call_id,
        "job_id": ident("jobId"),
        "user_id": ident("userId"),
        "phone": text_of("phone"),
        "name": text_of("name"),
        "status": whole("status"),
        "code": read(_code, "code", empty=""),
        "desc": text_of("desc"),
        "strategy_id": ident("strategyId"),
        "bot_id": ident("botId"),
        "start_time": when("startTime"),
        "answer_time": when("answerTime"),
        "end_time": when("endTime"),
        "duration": whole("duration", 0),
        "record_url": text_of("recordUrl"),
        "ext_vars": ext_vars,
        "ext_vars_raw": ext_vars_raw,
        "script": _first_present(raw, SCRIPT_KEYS),
        "slots": _first_present(raw, SLOT_KEYS),
        "raw": raw,
        "raw_json": text,
        # Equal digests mean nothing changed, nothing to write (calls/ingest/page_writer.py).
        "content_hash": hashlib.sha256(data).hexdigest()[:32],
    }
    resolve_local_times(fields, zone, problems)
    fields["problems"] = _listed(problems)
    return fields


def record_task_id(raw: Any) -> str | None:
    """The taskId a record (or a callback body) names, as text, or None when it names none we
    could store: not a number or string, blank, or holding NUL or unpaired surrogates."""
    if not isinstance(raw, dict):
        return None
    value = raw.get("taskId")
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        text = str(value).strip()
    except ValueError:  # an integer of more than 4300 digits
        return None
    if not text or _unstorable_text(text):
        return None
    return text
