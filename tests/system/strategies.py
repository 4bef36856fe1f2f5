"""Hypothesis strategies for Blu dial-result records ("queryCallResult" in docs/blu-api.md).

`valid_records()` follows the contract: ids as numbers or strings, local times
`YYYY-MM-DD HH:MM:SS`, extVars a JSON object inside a string, optional fields missing, empty or
null. `malformed_records()` starts from a valid record and breaks one to three fields: a value of
the wrong kind, odd text, an impossible time, a field left out. `broken` in the returned
`Malformed` names what was broken, so a test can say what it expects of each field.

Every value is one `json.loads` can make, since that is all Blu's bytes can become: str keys,
lone surrogates ("\\ud800" is a legal escape), NaN and Infinity (Python reads them), integers of
any size up to Python's 4300 digits. `to_wire()` writes such a value back as JSON bytes.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
HUGE = 100_000  # characters in a huge string

# --- pieces of valid records -------------------------------------------------------------------

ID_FIELDS = ("jobId", "userId", "strategyId", "botId")
TIME_FIELDS = ("startTime", "answerTime", "endTime")
TEXT_FIELDS = ("phone", "name", "desc", "recordUrl")
INT_FIELDS = ("status", "duration")
# Fields the reader turns into typed columns; the rest of a record is kept in `raw` only.
TYPED_FIELDS = (*ID_FIELDS, *TIME_FIELDS, *TEXT_FIELDS, *INT_FIELDS, "code", "extVars")
CODES = ("PTP", "HPTP", "LMS", "Busy", "AP", "NOST", "D00", "D03", "D99", "NAN", "Taskcancel")

# Text as Blu's example has it: no control characters, no surrogates (odd_text has those).
plain_text = st.characters(exclude_categories=["Cs", "Cc"])
numeric_ids = st.integers(min_value=1, max_value=2**63 - 1)
text_ids = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=24)
ids = st.one_of(numeric_ids, numeric_ids.map(str), text_ids)

blu_times = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)).map(
    lambda moment: moment.strftime(TIME_FORMAT)
)
masked_phones = st.from_regex(r"0[0-9]{3}\*{3}[0-9]{4}", fullmatch=True)
# Names as lenders upload them: letters of any script, spaces, apostrophes, hyphens.
names = st.text(
    alphabet=st.characters(categories=["L", "M", "Zs"], include_characters="'-."), max_size=40
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(plain_text, max_size=20),
)
ext_vars_objects = st.dictionaries(st.text(plain_text, max_size=12), json_scalars, max_size=4)
ext_vars_texts = st.one_of(
    ext_vars_objects.map(json.dumps),
    st.builds(
        lambda unique, order: json.dumps({"uniqueId": unique, "orderId": order}),
        st.text(string.digits, min_size=1, max_size=10),
        st.integers(min_value=1, max_value=10**9),
    ),
)
record_urls = st.builds(
    lambda token: f"https://bluapi.shanghu.ai/download/v1/getDownloadUrl/{token}=",
    st.text(alphabet=string.ascii_uppercase + "234567", min_size=16, max_size=40),
)
script_turns = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["robot", "user"]), "text": st.text(plain_text, max_size=60)},
        optional={"time": blu_times},
    ),
    min_size=1,
    max_size=4,
)
slots = st.fixed_dictionaries(
    {"paymentTime": st.one_of(st.none(), st.lists(blu_times, min_size=2, max_size=2).map(sorted))}
)
empty = st.sampled_from([None, ""])


def valid_records(call_ids: st.SearchStrategy[Any] = ids) -> st.SearchStrategy[dict[str, Any]]:
    """Records as the contract describes them; optional fields may be missing, "" or null."""
    return st.fixed_dictionaries(
        {"callId": call_ids},
        optional={
            "taskId": st.just(66547748) | st.just("66547748"),
            "jobId": ids,
            "userId": ids,
            "phone": masked_phones,
            "name": names,
            "status": st.integers(min_value=0, max_value=9),
            "code": st.sampled_from(CODES) | empty,
            "desc": st.text(plain_text, max_size=40) | empty,
            "strategyId": ids,
            "botId": ids,
            "startTime": blu_times,
            "answerTime": blu_times | empty,
            "endTime": blu_times | empty,
            "duration": st.integers(min_value=0, max_value=7200),
            "recordUrl": record_urls | empty,
            "extVars": ext_vars_texts | empty,
            "script": script_turns,
            "slots": slots,
            "futureField": json_scalars,  # a field Blu adds later: kept in raw
        },
    )


# --- pieces of malformed records -----------------------------------------------------------------

# Characters that break careless code: NUL (PostgreSQL text cannot hold it), lone surrogates
# (UTF-8 cannot encode them), direction marks and overrides, combining marks, zero-width
# characters, emoji sequences, and what HTML and SQL treat specially.
ODD_CHARACTERS = (
    "\x00",
    "\ud800",
    "\udfff",
    "\u200e",
    "\u200f",
    "\u202e",
    "\u2066",
    "\u0301",
    "\u0336",
    "\u200b",
    "\u200d",
    "\ufeff",
    "\ufffd",
    "\U0001f600",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\U0001f1f1\U0001f1f0",
    "<",
    "&",
    "'",
    '"',
    "\\",
    "%",
    "\n",
)
odd_text = st.lists(
    st.sampled_from(ODD_CHARACTERS) | st.characters(codec="utf-8"), min_size=1, max_size=12
).map("".join)
huge_text = st.sampled_from(["x", "\u00e9", "\U0001f600", "\u202e", "\x00"]).map(
    lambda char: char * HUGE
)
huge_ints = st.one_of(
    st.integers(min_value=2**63, max_value=10**100),
    st.integers(min_value=-(10**100), max_value=-(2**63)),
    st.sampled_from([2**64, 2**31, -(2**31) - 1, 10**4000]),
)
not_a_number_text = st.sampled_from(
    ["NaN", "nan", "Infinity", "-Infinity", "1e999", "-0", "0x10", "1_000", "\u0661\u0662", " "]
)
not_finite = st.sampled_from([float("nan"), float("inf"), float("-inf")])


def nested(depth: int) -> Any:
    """A list inside a list ... `depth` levels deep, around one string."""
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


deep_values = st.integers(min_value=33, max_value=80).map(nested)
wrong_kinds = st.one_of(
    st.lists(json_scalars, max_size=3),
    st.dictionaries(st.text(max_size=5), json_scalars, max_size=3),
    st.floats(),  # NaN and Infinity included
    st.booleans(),
    huge_ints,
    deep_values,
)
# Times no call had: impossible dates, out of any plausible range, or no time at all. Each is
# unreadable in any time zone.
impossible_times = st.sampled_from(
    [
        "2024-02-30 10:00:00",
        "2023-02-29 00:00:00",
        "2024-13-01 00:00:00",
        "2024-01-01 24:00:00",
        "2024-01-01 23:60:00",
        "0000-01-01 00:00:00",
        "0001-01-01 00:00:00",
        "9999-12-31 23:59:59",
        "1900-01-01 00:00:00",
        "3001-01-01 00:00:00",
        "yesterday",
        "2024-01-01 13:00:00 +0800 (CST)",
    ]
)
bad_ext_vars = st.one_of(
    st.sampled_from(
        [
            "{",
            "orderId=10000",
            "{'orderId': 10000}",
            '{"a": NaN}',
            '{"a": 1e999}',
            '{"a": "\\u0000"}',
            '"\\ud800"',
            "[" * 5000,
            "[" * 40 + "]" * 40,
            "5",
            "null",
            "[1, 2]",
        ]
    ),
    huge_text.map(lambda text: json.dumps({"note": text})),
    wrong_kinds,
)
bad_durations = st.one_of(
    st.integers(max_value=-1), huge_ints, st.sampled_from([1e300, -0.5, "forty", "40 s"])
)
# A script turn at an impossible time, or a slot that is no range.
bad_scripts = st.one_of(
    st.lists(
        st.fixed_dictionaries(
            {"role": st.just("robot"), "text": odd_text, "time": impossible_times}
        ),
        min_size=1,
        max_size=2,
    ),
    wrong_kinds,
    odd_text,
)
bad_slots = st.one_of(
    st.fixed_dictionaries(
        {"paymentTime": st.lists(impossible_times | odd_text, min_size=2, max_size=2)}
    ),
    wrong_kinds,
    odd_text,
)
# Values that are of no field's kind, or of the right kind but odd.
anything_odd = st.one_of(wrong_kinds, odd_text, huge_text, not_a_number_text, not_finite, st.none())

BAD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "callId": st.one_of(
        wrong_kinds, odd_text, st.sampled_from(["", "  ", "9" * 65]), huge_ints, st.none()
    ),
    **{key: anything_odd for key in (*ID_FIELDS, *TEXT_FIELDS, "code")},
    **{key: impossible_times | anything_odd for key in TIME_FIELDS},
    "status": bad_durations | anything_odd,
    "duration": bad_durations | anything_odd,
    "extVars": bad_ext_vars,
    "script": bad_scripts,
    "slots": bad_slots,
    "taskId": anything_odd,
    # Keys no record should have: odd names, odd values.
    "\x00odd\ud800key": anything_odd,
    "\u202eemanKCAB": anything_odd,
}
MISSING = object()  # a field left out


@dataclass
class Malformed:
    record: dict[str, Any]
    broken: dict[str, Any] = field(default_factory=dict)  # key -> value put there, or MISSING


@st.composite
def malformed_records(draw: st.DrawFn, call_ids: st.SearchStrategy[Any] = ids) -> Malformed:
    """A valid record with one to three fields broken (callId included, sometimes)."""
    record = draw(valid_records(call_ids))
    keys = draw(st.lists(st.sampled_from(sorted(BAD_VALUES)), min_size=1, max_size=3, unique=True))
    broken: dict[str, Any] = {}
    for key in keys:
        if key == "callId" and draw(st.booleans()):
            record.pop(key, None)
            broken[key] = MISSING
        else:
            record[key] = broken[key] = draw(BAD_VALUES[key])
    return Malformed(record, broken)


def not_objects() -> st.SearchStrategy[Any]:
    """What a page's data may hold instead of a record."""
    return st.one_of(json_scalars, st.lists(json_scalars, max_size=3), odd_text)


# --- on the wire ---------------------------------------------------------------------------------


def to_wire(value: Any) -> bytes:
    """`value` as JSON bytes json.loads reads back to it: lone surrogates as \\u escapes, NaN and
    Infinity as Python writes them (not JSON, but what a careless server sends)."""
    return json.dumps(value, ensure_ascii=True).encode("ascii")
