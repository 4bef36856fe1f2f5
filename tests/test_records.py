from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from calls.records import UnstorableRecord, content_hash, read_record

from .conftest import BLU_EXAMPLE

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


def test_text_postgresql_would_refuse_is_made_safe():
    fields = read_record({**BLU_EXAMPLE, "name": "Ano\x00ji \ud800"}, ZONE)
    assert fields["name"] == "Ano\ufffdji \ufffd"
    fields["name"].encode("utf-8")


def test_the_content_hash_ignores_key_order_but_not_values():
    assert content_hash({"a": 1, "b": 2}) == content_hash({"b": 2, "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})
