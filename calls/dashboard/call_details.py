"""How a call's script, slots, extVars and raw record read on its page: Blu publishes none of
their shapes, so each reader accepts what it recognises and says None for the rest."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from django.conf import settings
from django.utils import timezone

from calls.dashboard.formatting import talk_time
from calls.dashboard.recordings import is_recording_url
from calls.models import CallRecord, Conclusion, StatusLabel

logger = logging.getLogger(__name__)


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class Turn:
    speaker: str
    text: str
    time: str


_SPEAKER_KEYS = ("role", "speaker", "from", "who")
_TEXT_KEYS = ("text", "content", "message", "utterance")
_TIME_KEYS = ("time", "timestamp", "at")


def _first(item: dict, keys: tuple[str, ...]) -> Any:
    return next((item[key] for key in keys if item.get(key) not in (None, "")), None)


def script_turns(script: Any, zone: tzinfo) -> list[Turn] | None:
    """The script as turns of a conversation, or None when it is not a list of turns we can read
    (the page then shows it as JSON). The sandbox sends [{"role", "text", "time"}, ...]; Blu's
    own field names are not public, so a few likely synonyms are accepted too. Turn times are
    Blu's local times in `zone` (the account's), shown as clock times in the company's zone."""
    if not isinstance(script, list) or not script:
        return None
    turns = []
    for item in script:
        if not isinstance(item, dict) or _first(item, _TEXT_KEYS) is None:
            return None
        speaker = _first(item, _SPEAKER_KEYS)
        turns.append(
            Turn(
                speaker=str(speaker).capitalize() if speaker is not None else "?",
                text=str(_first(item, _TEXT_KEYS)),
                time=_clock(_first(item, _TIME_KEYS), zone),
            )
        )
    return turns


_BLU_TIME = "%Y-%m-%d %H:%M:%S"


def _blu_time(value: Any) -> datetime | None:
    try:
        return datetime.strptime(str(value).strip(), _BLU_TIME)
    except ValueError:
        return None


def _clock(value: Any, zone: tzinfo) -> str:
    """A turn's time as HH:MM:SS in the company's zone when it is one of Blu's local times (in
    `zone`), else as sent."""
    if value is None:
        return ""
    moment = _blu_time(value)
    if moment is None:
        return str(value)
    try:
        return f"{timezone.localtime(moment.replace(tzinfo=zone)):%H:%M:%S}"
    except OverflowError:  # year 1 or 9999: no zone can move it, so show it as sent
        return str(value)


def _day(moment: datetime) -> str:
    return f"{moment:%a} {moment.day} {moment:%b %Y}"


DASH = "\u2013"  # an en dash, as ranges are written


def payment_range(value: Any) -> str:
    """The payment-time slot ([start, end] local times, or null) as a person would say it:
    "Thu 15 Aug 2024, 13:00-18:00", "Thu 15 Aug 2024, all day", "Thu 15 Aug 2024, 17:00",
    "15 Aug 00:00 - 16 Aug 23:59" (with en dashes), or "none said". Anything else is shown as
    it came."""
    if value is None or value == []:
        return "none said"
    if not (isinstance(value, list | tuple) and len(value) == 2):
        return pretty_json(value)
    start, end = _blu_time(value[0]), _blu_time(value[1])
    if start is None or end is None or end < start:
        return f"{value[0]} {DASH} {value[1]}"
    if start.date() == end.date():
        if (start.hour, start.minute) == (0, 0) and (end.hour, end.minute) == (23, 59):
            return f"{_day(start)}, all day"
        if start == end:
            return f"{_day(start)}, {start:%H:%M}"
        return f"{_day(start)}, {start:%H:%M}{DASH}{end:%H:%M}"
    if start.year == end.year:
        return f"{start.day} {start:%b %H:%M} {DASH} {end.day} {end:%b %H:%M}"
    return f"{start.day} {start:%b %Y %H:%M} {DASH} {end.day} {end:%b %Y %H:%M}"


def slot_rows(slots: Any, zone_note: str = "") -> list[tuple[str, str]] | None:
    """Slots as (name, readable value) rows, or None when they are not a JSON object. The payment
    time stays in the account's local time (a day is a day where the borrower lives); `zone_note`
    names that zone when it is not the company's."""
    if not isinstance(slots, dict):
        return None
    rows = []
    for name, value in slots.items():
        if name == "paymentTime":
            text = payment_range(value)
            rows.append(("Payment time", f"{text} ({zone_note})" if zone_note and value else text))
        elif isinstance(value, str):
            rows.append((name, value))
        else:
            rows.append((name, json.dumps(value, ensure_ascii=False)))
    return rows


def ext_var_rows(ext_vars: Any) -> list[tuple[str, str]] | None:
    """extVars as (key, value) rows, or None when they are not a JSON object."""
    if not isinstance(ext_vars, dict):
        return None
    return [
        (key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        for key, value in ext_vars.items()
    ]


def call_context(call: CallRecord, *, with_raw: bool) -> dict[str, Any]:
    """What the call page shows beyond the record's own fields."""
    status = None
    if call.status is not None:
        label = StatusLabel.objects.filter(value=call.status).first()
        status = label.label if label else str(call.status)
    account_zone = call.account.zone
    turns = script_turns(call.script, account_zone)
    zone_note = "" if call.account.time_zone == settings.TIME_ZONE else call.account.time_zone
    slots = slot_rows(call.slots, zone_note)
    ext_vars = ext_var_rows(call.ext_vars)
    return {
        "status_label": status,
        "conclusion": Conclusion.objects.filter(code=call.code).first() if call.code else None,
        "talk": talk_time(call.duration),
        "has_recording": is_recording_url(call.record_url),
        "turns": turns,
        "script_json": pretty_json(call.script) if call.script and turns is None else "",
        "slots": slots,
        "slots_json": pretty_json(call.slots) if call.slots is not None and slots is None else "",
        "ext_vars": ext_vars,
        "ext_vars_json": (
            pretty_json(call.ext_vars) if call.ext_vars is not None and ext_vars is None else ""
        ),
        "raw_json": pretty_json(call.raw) if with_raw else "",
    }
