"""Reading one Blu record (calls/blu/records.py): typed fields in the account's zone, the raw record
kept, and every unreadable field named, in a list of problems that stays short."""

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from calls.blu.records import (
    DEEP_PLACEHOLDER,
    MAX_DEPTH,
    UnstorableRecord,
    read_record,
    record_task_id,
)
from calls.ingest import page_writer
from calls.models import CallRecord, Task
from tests.helpers import BLU_EXAMPLE

ZONE = ZoneInfo("Asia/Colombo")


def test_blus_own_example_reads_into_typed_fields():
    fields = read_record(BLU_EXAMPLE, ZONE)
    assert fields["call_id"] == "123654" and fields["job_id"] == "890100048"
    assert fields["code"] == "PTP" and fields["duration"] == 40 and fields["status"] == 2
    # Colombo is UTC+05:30: Blu's zone-less local times are read in the account's zone.
    assert fields["start_time"] == datetime(2024, 1, 1, 7, 30, tzinfo=UTC)
    assert fields["ext_vars"] == {} and fields["raw"] == BLU_EXAMPLE


def test_ids_as_strings_and_missing_optional_fields_are_fine():
    fields = read_record(
        {"callId": "A-1", "taskId": "5573", "answerTime": "", "recordUrl": None}, ZONE
    )
    assert fields["call_id"] == "A-1"
    assert fields["answer_time"] is None and fields["record_url"] == "" and fields["code"] == ""


def test_ext_vars_that_is_not_json_is_kept_raw():
    fields = read_record({**BLU_EXAMPLE, "extVars": "orderId=10000"}, ZONE)
    assert fields["ext_vars"] is None and fields["ext_vars_raw"] == "orderId=10000"


def test_ext_vars_json_inside_a_string_is_parsed():
    fields = read_record(
        {**BLU_EXAMPLE, "extVars": '{"uniqueId": "12345678", "orderId": 10000}'}, ZONE
    )
    assert fields["ext_vars"] == {"uniqueId": "12345678", "orderId": 10000}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"callId": None}, "callId is missing"),
        ({"callId": "  "}, "callId is missing"),
        ({"callId": {"x": 1}}, "callId is a dict"),
        ({"callId": True}, "callId is a bool"),
        ({"callId": "9" * 65}, "callId is longer than 64"),
    ],
)
def test_a_record_without_a_usable_call_id_cannot_be_stored(change, reason):
    with pytest.raises(UnstorableRecord, match=reason):
        read_record({**BLU_EXAMPLE, **change}, ZONE)


def test_a_record_that_is_not_an_object_cannot_be_stored():
    with pytest.raises(UnstorableRecord, match="the record is a list"):
        read_record([1, 2], ZONE)


@pytest.mark.parametrize(
    ("change", "field", "empty", "problem"),
    [
        ({"startTime": "yesterday"}, "start_time", None, "startTime is not YYYY-MM-DD HH:MM:SS"),
        ({"duration": "forty"}, "duration", None, "duration is not a whole number"),
        ({"duration": -3}, "duration", None, "duration is out of range"),
        ({"code": "X" * 65}, "code", "", "code is longer than 64"),
        ({"name": {"first": "A"}}, "name", "", "name is a dict, not text"),
        ({"jobId": [1]}, "job_id", "", "jobId is a list"),
    ],
)
def test_an_unreadable_field_is_stored_empty_and_named_the_rest_kept(change, field, empty, problem):
    fields = read_record({**BLU_EXAMPLE, **change}, ZONE)

    assert fields[field] == empty
    assert len(fields["problems"]) == 1 and fields["problems"][0].startswith(problem)
    assert fields["raw"] == {**BLU_EXAMPLE, **change}
    assert fields["call_id"] == "123654" and fields["phone"] == "0159***0188"


def test_a_sound_record_has_no_problems():
    assert read_record(BLU_EXAMPLE, ZONE)["problems"] == []


def test_a_record_with_thousands_of_broken_fields_gets_a_short_list_of_problems(account):
    task = Task.objects.create(account=account, blu_task_id="66547748")
    long_key = "k" * 10_000
    record = {
        **BLU_EXAMPLE,
        **{f"extra{n}": "nul\x00" for n in range(2000)},
        long_key: "nul\x00",
    }

    result = page_writer.store_records(task, [record])

    call = CallRecord.objects.get()
    assert result.created == 1 and len(call.raw) == len(record)  # kept whole
    assert 1 < len(call.problems) <= 20
    assert all(len(problem) <= 200 for problem in call.problems)
    assert "more" in call.problems[-1]  # says that it stopped listing


def test_text_postgresql_would_refuse_is_made_safe_and_named():
    fields = read_record({**BLU_EXAMPLE, "name": "Ano\x00ji \ud800"}, ZONE)
    assert fields["name"] == fields["raw"]["name"] == "Ano\ufffdji \ufffd"
    fields["raw_json"].encode("utf-8")
    assert fields["problems"] == [
        "name held NUL or unpaired surrogate characters, stored as U+FFFD"
    ]


@pytest.mark.parametrize(
    ("number", "text"), [(math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity")]
)
def test_numbers_json_cannot_hold_are_kept_as_text_and_named(number, text):
    fields = read_record({**BLU_EXAMPLE, "duration": number, "futureField": [number]}, ZONE)

    assert fields["duration"] is None
    assert fields["raw"]["duration"] == fields["raw"]["futureField"][0] == text
    assert fields["problems"][0] == (
        "duration held NaN, Infinity or an over-long number, stored as text"
    )
    assert (
        "futureField held NaN, Infinity or an over-long number, stored as text"
        in (fields["problems"])
    )


def test_nesting_deeper_than_anyone_can_show_is_cut_off_and_named():
    deep: object = "bottom"
    for _ in range(5000):
        deep = [deep]

    fields = read_record({**BLU_EXAMPLE, "futureField": deep}, ZONE)

    kept = fields["raw"]["futureField"]
    for _ in range(MAX_DEPTH - 1):
        kept = kept[0]
    assert kept == DEEP_PLACEHOLDER
    assert fields["problems"] == [
        f"futureField nests deeper than {MAX_DEPTH} levels, stored cut off"
    ]


@pytest.mark.parametrize(
    "when", ["0001-01-01 00:00:00", "9999-12-31 23:59:59", "1969-12-31 23:59:59", "3001-01-01"]
)
def test_a_time_no_call_can_have_had_is_out_of_range(when):
    fields = read_record({**BLU_EXAMPLE, "startTime": when}, ZONE)
    assert fields["start_time"] is None
    assert fields["problems"] == [f"startTime is out of range (1970 to 2999): {when!r}"]


@pytest.mark.parametrize("call_id", ["12\x003", "12\ud800"])
def test_a_call_id_the_database_cannot_hold_is_not_altered_but_refused(call_id):
    with pytest.raises(UnstorableRecord, match="callId holds NUL or unpaired surrogate"):
        read_record({**BLU_EXAMPLE, "callId": call_id}, ZONE)


@pytest.mark.parametrize(
    "ext_vars",
    ['{"a": "\\u0000"}', '{"a": "\\ud800"}', '{"a": NaN}', '{"a": 1e999}', "[" * 5000],
)
def test_ext_vars_json_we_could_not_store_as_such_is_kept_as_its_text(ext_vars):
    fields = read_record({**BLU_EXAMPLE, "extVars": ext_vars}, ZONE)
    assert fields["ext_vars"] is None and fields["ext_vars_raw"] == ext_vars
    assert fields["problems"] == []


def test_ext_vars_of_another_kind_is_kept_as_text_and_named():
    fields = read_record({**BLU_EXAMPLE, "extVars": 10000}, ZONE)
    assert fields["ext_vars"] is None and fields["ext_vars_raw"] == "10000"
    assert fields["problems"] == ["extVars is a int, not text"]


def test_a_script_in_a_string_that_is_no_storable_json_stays_a_string():
    fields = read_record({**BLU_EXAMPLE, "script": "[NaN]", "slots": '{"p": 1}'}, ZONE)
    assert fields["script"] == "[NaN]" and fields["slots"] == {"p": 1}


@pytest.mark.parametrize(
    ("body", "task_id"),
    [
        ({"taskId": 66547748}, "66547748"),
        ({"taskId": " 5573 "}, "5573"),
        ({"taskId": "5573\x00"}, None),
        ({"taskId": "\ud800"}, None),
        ({"taskId": "  "}, None),
        ({"taskId": True}, None),
        ({"taskId": 5573.0}, None),
        ([], None),
    ],
)
def test_the_task_id_a_record_names_is_text_the_database_can_hold(body, task_id):
    assert record_task_id(body) == task_id


def test_the_content_hash_ignores_key_order_but_not_values():
    def digest(raw):
        return read_record({"callId": "1", **raw}, ZoneInfo("UTC"))["content_hash"]

    assert digest({"a": 1, "b": 2}) == digest({"b": 2, "a": 1})
    assert digest({"a": 1}) != digest({"a": 2})
