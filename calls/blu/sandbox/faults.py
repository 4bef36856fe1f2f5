"""Fault injection: the ways a real Blu misbehaves, on demand.

A fault matches queryCallResult requests by taskId (None = any) and pageNo (None = any); each
request that a fault changes consumes one of its `times` (None = forever). A fault is consumed only
where it can show: "duplicate" needs a page after the first that has records, "missing_call_id"
needs a page with records, "raw_records" a page with records or page 1 (so that a task without
calls can serve them). One fault at most changes a request: the first injected that matches.

"garbage" answers HTTP 200 with a body that is no JSON at all, as a proxy or a crashed gateway in
front of Blu does: an HTML error page (style="html", the default) or random bytes (style="bytes",
seeded by `seed`) under Blu's JSON content type. The contract counts such a body as an error.

"raw_records" appends the given records, exactly as given, to the page's own: a way to make Blu
serve records that break the contract's shape (wrong types, missing callId, odd text), which the
project's reader must take without failing. Text UTF-8 cannot carry (unpaired surrogates) goes
out as JSON's \\u escapes, NaN and Infinity as Python writes them.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

QUERY_FAULTS = frozenset(
    {
        "http500",
        "truncated",
        "code",
        "busy",
        "slow",
        "duplicate",
        "missing_call_id",
        "garbage",
        "raw_records",
    }
)
GARBAGE_STYLES = ("html", "bytes")
# Matched by the callback dispatcher, by taskId alone.
CALLBACK_FAULTS = frozenset({"duplicate_callback"})
FAULT_KINDS = QUERY_FAULTS | CALLBACK_FAULTS


@dataclass(eq=False)
class Fault:
    kind: str
    task_id: str | None = None
    page_no: int | None = None
    times: int | None = 1  # left to apply; None = forever
    params: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "taskId": self.task_id,
            "pageNo": self.page_no,
            "times": self.times,
            "params": self.params,
        }


class FaultBook:
    """The injected faults, sharing the world's lock."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._faults: list[Fault] = []

    def inject(
        self,
        kind: str,
        task_id: str | int | None = None,
        page_no: int | None = None,
        times: int | None = 1,
        **params: Any,
    ) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(sorted(FAULT_KINDS))}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1, or None for forever")
        _check_params(kind, params)
        fault = Fault(
            kind=kind,
            task_id=None if task_id is None else str(task_id),
            page_no=page_no,
            times=times,
            params=params,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, kinds: Iterable[str], task_id: str, page_no: int | None = None) -> Fault | None:
        """The first fault of one of `kinds` that matches, with one of its `times` used up."""
        kinds = frozenset(kinds)
        with self._lock:
            for fault in self._faults:
                if (
                    fault.kind in kinds
                    and fault.task_id in (None, task_id)
                    and (page_no is None or fault.page_no in (None, page_no))
                ):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.as_json() for fault in self._faults]


def _check_params(kind: str, params: dict[str, Any]) -> None:
    """Refuses, when injected, what would otherwise fail only when a request matches."""
    if kind == "raw_records" and not isinstance(params.get("records"), list):
        raise ValueError('"raw_records" needs records=[...], the records to serve')
    if kind == "garbage" and params.get("style", "html") not in GARBAGE_STYLES:
        raise ValueError(f'"garbage" style is one of {", ".join(GARBAGE_STYLES)}')


def applicable_kinds(page_no: int, page_has_records: bool) -> frozenset[str]:
    """The query faults that can show on this page."""
    kinds = set(QUERY_FAULTS)
    if not page_has_records:
        kinds -= {"duplicate", "missing_call_id"}
        if page_no > 1:
            # Past the end: the empty page that ends a sync stays empty.
            kinds.discard("raw_records")
    elif page_no < 2:
        kinds.discard("duplicate")
    return frozenset(kinds)


def altered_page(
    fault: Fault, records: list[dict[str, Any]], previous: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The page's records as a "duplicate", "missing_call_id" or "raw_records" fault leaves
    them."""
    if fault.kind == "duplicate" and previous is not None:
        # The last record of the previous page again: Blu's paging is not a snapshot.
        return [previous, *records]
    if fault.kind == "missing_call_id":
        index = min(int(fault.params.get("index", 0)), len(records) - 1)
        damaged = {key: value for key, value in records[index].items() if key != "callId"}
        return [*records[:index], damaged, *records[index + 1 :]]
    if fault.kind == "raw_records":
        return [*records, *fault.params["records"]]
    return records


_GARBAGE_HTML = b"""<!DOCTYPE html>
<html><head><title>502 Bad Gateway</title></head>
<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>
"""


def garbage(fault: Fault) -> tuple[str, bytes]:
    """(Content-Type, body) of a "garbage" answer: no JSON at all, however it is labelled."""
    if fault.params.get("style", "html") == "bytes":
        size = int(fault.params.get("size", 512))
        noise = random.Random(fault.params.get("seed", 0)).randbytes(size)
        # A first byte no JSON text starts with, so that no seed makes it JSON by chance.
        return "application/json;charset=UTF-8", b"\xff" + noise
    return "text/html", _GARBAGE_HTML


def error_body(fault: Fault) -> dict[str, Any] | None:
    """The JSON a "code" or "busy" fault answers with (HTTP 200, as Blu does), else None."""
    if fault.kind == "code":
        return {
            "code": fault.params.get("code", 5000),
            "message": fault.params.get("message", "internal error"),
        }
    if fault.kind == "busy":
        return {"code": 5003, "message": "System busy, please try again later"}
    return None


def truncated(body: dict[str, Any]) -> bytes:
    """The first half of the JSON body: what a proxy that gave up mid-response passes on."""
    data = json.dumps(body, ensure_ascii=False).encode()
    return data[: len(data) // 2]
