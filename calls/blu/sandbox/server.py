"""The sandbox over HTTP: Blu's endpoints, the control endpoints, and the callback dispatcher.

`Sandbox` is the one object tests and the demo hold: it owns the world, the faults, the HTTP
server thread and the thread that POSTs dial-result callbacks. It checks what Blu checks (the
signature, the timestamp, the body) and answers the way Blu does: HTTP 200 with a JSON `code`.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import requests

from calls.blu.sandbox.audio import wav_bytes
from calls.blu.sandbox.faults import (
    CALLBACK_FAULTS,
    Fault,
    FaultBook,
    altered_page,
    applicable_kinds,
    error_body,
    garbage,
    truncated,
)
from calls.blu.sandbox.world import SandboxAccount, SandboxTask, World, account_kwargs, task_kwargs
from calls.blu.signing import sign

logger = logging.getLogger(__name__)

QUERY_PATH = "/rest/v1/queryCallResult"
UPLOAD_PATH = "/rest/v1/uploadAndStartJob"
CANCEL_PATH = "/rest/v1/taskCancelPhoneCall"
DOWNLOAD_PREFIX = "/download/v1/getDownloadUrl/"
CONTROL_PREFIX = "/_sandbox/"
DEFAULT_PAGE_SIZE = 10  # "With taskId alone Blu returns page 1 with 10 records."
MAX_UPLOAD_RECORDS = 200
MAX_BODY_BYTES = 8 * 1024 * 1024
# The logs keep the newest entries only, so a demo left running for days stays small.
LOG_LIMIT = 10_000
CALLBACK_TIMEOUT = (2.0, 5.0)  # connect, read
_TIMESTAMP = re.compile(r"[0-9]{13}")
JSON_TYPE = "application/json;charset=UTF-8"


class BluError(Exception):
    """A protocol error, answered as Blu does: HTTP 200 with {"code", "message"}."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes
    code: int | None = None  # Blu's `code`, when the body carries one

    @classmethod
    def json(cls, data: dict[str, Any], status: int = 200) -> Reply:
        try:
            body = json.dumps(data, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            # Unpaired surrogates (records a "raw_records" fault serves): JSON's \u escapes
            # carry them, UTF-8 cannot.
            body = json.dumps(data).encode()
        return cls(status, JSON_TYPE, body, data.get("code"))


@dataclass(frozen=True)
class _Delivery:
    app_id: str
    task_id: str
    call_id: int
    body: bytes
    attempt: int = 1
    due: float = 0.0  # time.monotonic() of the next attempt


class Sandbox:
    """A stand-in for Blu that tests and the demo talk to over real HTTP.

    Thread-safe: the world, the faults and the logs share one lock. The sandbox clock is real
    time plus whatever advance() added; timestamps in request headers are checked against real
    time, as Blu would.
    """

    def __init__(
        self,
        *,
        max_page_size: int = 100,
        page_delay: float = 0.0,
        callback_retry_seconds: float = 300.0,
        callback_max_retries: int = 5,
        tick_seconds: float = 1.0,
        timestamp_tolerance_seconds: float = 300,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.world = World()
        self._lock = self.world.lock
        self.faults = FaultBook(self._lock)
        # Blu publishes no maximum pageSize; larger requests are quietly capped to this.
        self.max_page_size = max_page_size
        self.page_delay = page_delay
        self.callback_retry_seconds = callback_retry_seconds
        self.callback_max_retries = callback_max_retries
        self.tick_seconds = tick_seconds
        self.timestamp_tolerance_seconds = timestamp_tolerance_seconds
        self.host = host
        self.port = port
        self.url: str | None = None
        self._request_log: list[dict[str, Any]] = []
        self._callback_log: list[dict[str, Any]] = []
        self._uploads: list[dict[str, Any]] = []
        self._cancels: list[dict[str, Any]] = []
        self._retries: list[_Delivery] = []
        # Requests being answered now, and the most at once, per appId: what Blu would see of
        # our workers together (observed only; the sandbox limits nothing).
        self._in_flight: dict[str, int] = {}
        self._peak_in_flight: dict[str, int] = {}
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []

    # --- the world -----------------------------------------------------------------------------

    def add_account(
        self,
        app_id: str,
        app_key: str,
        time_zone: str = "Asia/Colombo",
        callback_url: str | None = None,
    ) -> SandboxAccount:
        return self.world.add_account(app_id, app_key, time_zone, callback_url)

    def set_callback_url(self, app_id: str, url: str | None) -> None:
        self.world.set_callback_url(app_id, url)

    def add_task(
        self,
        app_id: str,
        task_id: str | int,
        calls: int = 0,
        started_at: datetime | None = None,
        pace_seconds: float = 30.0,
        seed: int = 0,
        with_script: bool = False,
        borrowers: int = 0,
    ) -> SandboxTask:
        """Adds a task whose calls start at started_at (default: now), one per pace_seconds;
        with `borrowers`, they go to that many borrowers of the account, again and again."""
        return self.world.add_task(
            app_id, task_id, calls, started_at, pace_seconds, seed, with_script, borrowers
        )

    def task(self, task_id: str | int) -> SandboxTask:
        with self._lock:
            return self.world.tasks[str(task_id)]

    def advance(self, seconds: float | timedelta) -> datetime:
        """Moves the sandbox clock forward; returns the new sandbox now."""
        return self.world.advance(seconds)

    def now(self) -> datetime:
        return self.world.now()

    def inject(
        self,
        kind: str,
        task_id: str | int | None = None,
        page_no: int | None = None,
        times: int | None = 1,
        **params: Any,
    ) -> Fault:
        return self.faults.inject(kind, task_id, page_no, times, **params)

    def clear_faults(self) -> None:
        self.faults.clear()

    def records(self, task_id: str | int) -> list[dict[str, Any]]:
        """Every record queryable now, in page order, as the API serialises it."""
        with self._lock:
            task = self.task(task_id)
            now = self.world.now_ts()
            indices = self.world.queryable(task, now)
            records: list[dict[str, Any]] = json.loads(
                self.world.render_page(task, indices, now, self._base_url())
            )
            return records

    def state(self) -> dict[str, Any]:
        with self._lock:
            state = self.world.state(self.world.now_ts())
            state["faults"] = self.faults.snapshot()
            state["pendingCallbacks"] = len(self._retries)
            state["peakConcurrentRequests"] = dict(self._peak_in_flight)
            return state

    # --- what happened -------------------------------------------------------------------------
    # Copies, so a test can read them while the server threads append.

    @property
    def request_log(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._request_log)

    @property
    def callback_log(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._callback_log)

    @property
    def uploads(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._uploads)

    @property
    def cancels(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._cancels)

    def peak_concurrent_requests(self, app_id: str) -> int:
        """The most API requests naming this appId that were being answered at once."""
        with self._lock:
            return self._peak_in_flight.get(app_id, 0)

    @property
    def pending_callbacks(self) -> int:
        """Failed deliveries still waiting for a retry."""
        with self._lock:
            return len(self._retries)

    def _log(self, log: list[dict[str, Any]], entry: dict[str, Any]) -> None:
        with self._lock:
            log.append(entry)
            if len(log) > LOG_LIMIT:
                del log[: len(log) - LOG_LIMIT]

    # --- threads -------------------------------------------------------------------------------

    def start(self) -> str:
        """Starts the HTTP server and the callback dispatcher; returns the base URL."""
        if self._server is not None or self._stopping.is_set():
            raise RuntimeError("a sandbox starts once")
        self._server = _Server((self.host, self.port), self)
        self.url = f"http://{self.host}:{self._server.server_port}"
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="blu-sandbox-http",
            ),
            threading.Thread(target=self._dispatch_callbacks, name="blu-sandbox-callbacks"),
        ]
        for thread in self._threads:
            thread.start()
        return self.url

    def stop(self) -> None:
        """Stops both threads and closes every socket; safe to call twice."""
        self._stopping.set()  # ends page delays, slow faults and the dispatcher's wait
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()  # joins the request threads
        for thread in self._threads:
            thread.join()
        self._threads = []

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _base_url(self) -> str:
        return self.url or f"http://{self.host}:{self.port}"

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    # --- Blu's endpoints -----------------------------------------------------------------------

    def handle_api(self, path: str, headers: Any, raw: bytes) -> Reply:
        app_id = str(headers.get("appId") or "")
        with self._lock:
            self._in_flight[app_id] = self._in_flight.get(app_id, 0) + 1
            peak = max(self._peak_in_flight.get(app_id, 0), self._in_flight[app_id])
            self._peak_in_flight[app_id] = peak
        try:
            return self._answer_api(path, headers, raw)
        finally:
            with self._lock:
                self._in_flight[app_id] -= 1

    def _answer_api(self, path: str, headers: Any, raw: bytes) -> Reply:
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        try:
            app_id = self._authenticate(headers)
            content_type = headers.get("Content-Type", "")
            if not content_type.lower().startswith("application/json"):
                raise BluError(4000, "Content-Type must be application/json")
            if not isinstance(body, dict):
                raise BluError(4000, "the body must be a JSON object")
            if path == QUERY_PATH:
                reply = self._query(app_id, body)
            elif path == UPLOAD_PATH:
                reply = self._upload(app_id, body)
            else:
                reply = self._cancel(app_id, body)
        except BluError as exc:
            reply = Reply.json({"code": exc.code, "message": exc.message})
        self._log(
            self._request_log,
            {
                "path": path,
                "app_id": headers.get("appId"),
                "body": body,
                "code": reply.code,
                "http_status": reply.status,
            },
        )
        return reply

    def _authenticate(self, headers: Any) -> str:
        """The appId of a correctly signed request, per "Signing every request to Blu"."""
        app_id, stamp, signature = (headers.get(name) for name in ("appId", "timeStamp", "sign"))
        if not app_id or not stamp or not signature:
            raise BluError(4001, "missing appId, timeStamp or sign")
        with self._lock:
            account = self.world.accounts.get(app_id)
        if account is None:
            raise BluError(4003, "invalid appId")
        # Checked against real time, not the sandbox clock: the client signs with its own clock.
        skew_ms = abs(time.time() * 1000 - int(stamp)) if _TIMESTAMP.fullmatch(stamp) else None
        if skew_ms is None or skew_ms > self.timestamp_tolerance_seconds * 1000:
            raise BluError(4004, "timeStamp expired")
        if not hmac.compare_digest(signature, sign(app_id, account.app_key, stamp)):
            raise BluError(4005, "sign error")
        return app_id

    def _task(self, app_id: str, task_id: str) -> SandboxTask:
        task = self.world.task_of(app_id, task_id)
        if task is None:
            raise BluError(4006, "task not found")
        return task

    def _query(self, app_id: str, body: dict[str, Any]) -> Reply:
        """POST /rest/v1/queryCallResult, per "dial result query" in the contract."""
        task_id = _task_id(body)
        page_no = _positive_int(body, "pageNo", 1)
        page_size = min(_positive_int(body, "pageSize", DEFAULT_PAGE_SIZE), self.max_page_size)
        task = self._task(app_id, task_id)
        now = self.world.now_ts()
        indices = self.world.page(task, page_no, page_size, now)
        fault = self.faults.take(applicable_kinds(page_no, bool(indices)), task_id, page_no)
        self._pause(self.page_delay)
        if fault is not None:
            if fault.kind == "http500":
                return Reply(500, "text/plain;charset=UTF-8", b"Internal Server Error")
            if (error := error_body(fault)) is not None:
                return Reply.json(error)
            if fault.kind == "garbage":
                return Reply(200, *garbage(fault))
            if fault.kind == "slow":
                self._pause(float(fault.params.get("seconds", 2.0)))
        base_url = self._base_url()
        # count is the number of records on this page, not the task's total.
        if fault is None:
            # The bytes Reply.json would make of the answer, joined from the records' JSON as
            # the world keeps it: a page asked for again renders nothing.
            data = self.world.render_page(task, indices, now, base_url)
            head = b'{"code": 2000, "message": "success", "count": %d, "data": ' % len(indices)
            return Reply(200, JSON_TYPE, head + data + b"}", 2000)
        records = [self.world.render(task, i, now, base_url) for i in indices]
        if fault.kind in ("duplicate", "missing_call_id", "raw_records"):
            previous = None
            if fault.kind == "duplicate":
                previous = self.world.render(task, indices.start - 1, now, base_url)
            records = altered_page(fault, records, previous)
        answer = {"code": 2000, "message": "success", "count": len(records), "data": records}
        if fault.kind == "truncated":
            return Reply(200, JSON_TYPE, truncated(answer), None)
        return Reply.json(answer)

    def _upload(self, app_id: str, body: dict[str, Any]) -> Reply:
        """POST /rest/v1/uploadAndStartJob, per "upload the call list" in the contract."""
        task_id = _task_id(body)
        people = _people(body.get("records"))
        task = self._task(app_id, task_id)
        with self._lock:
            now = self.world.now_ts()
            if not self.world.created_today(task, now):
                raise BluError(4007, "task expired: a taskId is valid only on the day it was made")
            try:
                self.world.upload(task, people, now)
            except ValueError as exc:
                raise BluError(4000, str(exc)) from None
            self._log(self._uploads, {"app_id": app_id, "task_id": task_id, "records": people})
        return Reply.json({"code": 2000, "message": "success"})

    def _cancel(self, app_id: str, body: dict[str, Any]) -> Reply:
        """POST /rest/v1/taskCancelPhoneCall, per "cancel a call" in the contract."""
        task_id = _task_id(body)
        mobile = body.get("mobile")
        if not isinstance(mobile, str) or not mobile.strip():
            raise BluError(4000, "mobile is required")
        task = self._task(app_id, task_id)
        cancelled = self.world.cancel(task, mobile, self.world.now_ts())
        self._log(
            self._cancels,
            {
                "app_id": app_id,
                "task_id": task_id,
                "mobile": mobile,
                "order_id": body.get("orderId"),
                "cancelled": cancelled,
            },
        )
        return Reply.json({"code": 2000, "message": "success"})

    def recording(self, token: str) -> Reply:
        if not self.world.recording(token, self.world.now_ts()):
            return Reply(404, "text/plain;charset=UTF-8", b"Not Found")
        return Reply(200, "audio/wav", wav_bytes())

    # --- control endpoints for the demo (no auth: the server is meant for 127.0.0.1) -----------

    def handle_control(self, method: str, path: str, raw: bytes) -> Reply:
        name = path.removeprefix(CONTROL_PREFIX)
        try:
            data = json.loads(raw) if raw.strip() else {}
            if not isinstance(data, dict):
                raise ValueError("the body must be a JSON object")
            if (method, name) == ("GET", "state"):
                return Reply.json(self.state())
            if (method, name) == ("POST", "accounts"):
                self.add_account(**account_kwargs(data))
            elif (method, name) == ("POST", "tasks"):
                self.add_task(**task_kwargs(data, self.now()))
            elif (method, name) == ("POST", "faults"):
                self.inject(
                    str(data.get("kind")),
                    task_id=data.get("taskId"),
                    page_no=data.get("pageNo"),
                    times=data.get("times", 1),
                    **(data.get("params") or {}),
                )
            elif (method, name) == ("DELETE", "faults"):
                self.clear_faults()
            elif (method, name) == ("POST", "clock"):
                self.advance(float(data.get("advanceSeconds", 0)))
            else:
                return Reply.json({"error": f"no such control endpoint: {method} {path}"}, 404)
        except (ValueError, TypeError) as exc:
            return Reply.json({"error": str(exc)}, 400)
        return Reply.json({"ok": True, "now": self.now().isoformat()})

    # --- callbacks -----------------------------------------------------------------------------

    def _dispatch_callbacks(self) -> None:
        """Every tick: POST the calls that ended since the last tick, and the retries now due."""
        with requests.Session() as session:
            while not self._stopping.wait(self.tick_seconds):
                for delivery in self._due_deliveries():
                    if self._stopping.is_set():
                        return
                    self._deliver(session, delivery)

    def _due_deliveries(self) -> list[_Delivery]:
        base_url = self._base_url()
        with self._lock:
            now = self.world.now_ts()
            deliveries = []
            for task in self.world.tasks.values():
                since, task.callbacks_through = task.callbacks_through, now
                if self.world.accounts[task.app_id].callback_url is None:
                    continue
                for i in self.world.ended_between(task, since, now):
                    record = self.world.render(task, i, now, base_url)
                    # "one record per request", the same fields as the query.
                    payload = {"taskId": task.wire_task_id, "records": [record]}
                    body = json.dumps(payload, ensure_ascii=False).encode()
                    delivery = _Delivery(task.app_id, task.task_id, record["callId"], body)
                    copies = 2 if self.faults.take(CALLBACK_FAULTS, task.task_id) else 1
                    deliveries += [delivery] * copies
            soon = time.monotonic()
            due = [d for d in self._retries if d.due <= soon]
            self._retries = [d for d in self._retries if d.due > soon]
            return due + deliveries

    def _deliver(self, session: requests.Session, delivery: _Delivery) -> None:
        with self._lock:
            account = self.world.accounts.get(delivery.app_id)
            url = account.callback_url if account is not None else None
        if url is None:
            return  # the merchant removed its callback URL: nowhere to deliver
        status: int | None
        try:
            response = session.post(
                url,
                data=delivery.body,
                headers={"Content-Type": "application/json;charset=UTF-8"},
                timeout=CALLBACK_TIMEOUT,
            )
            status = response.status_code
            response.close()
        except requests.RequestException:
            status = None
        with self._lock:
            self._log(
                self._callback_log,
                {
                    "url": url,
                    "task_id": delivery.task_id,
                    "call_id": delivery.call_id,
                    "http_status": status,
                    "attempt": delivery.attempt,
                },
            )
            # "Blu treats HTTP 200 as delivered; on failure it retries ... at most 5 times."
            if status != 200 and delivery.attempt <= self.callback_max_retries:
                self._retries.append(
                    replace(
                        delivery,
                        attempt=delivery.attempt + 1,
                        due=time.monotonic() + self.callback_retry_seconds,
                    )
                )


def _task_id(body: dict[str, Any]) -> str:
    value = body.get("taskId")
    # Blu's examples send taskId as a string and as a number: both are the same task.
    if isinstance(value, bool) or not isinstance(value, int | str) or str(value).strip() == "":
        raise BluError(4000, "taskId is required (a number or a string)")
    return str(value)


def _positive_int(body: dict[str, Any], key: str, default: int) -> int:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BluError(4000, f"{key} must be a positive integer")
    return value


def _special(text: str) -> bool:
    """Emoji and the like, which Blu says inputs must not contain."""
    return any(
        ord(char) > 0xFFFF or 0x2600 <= ord(char) <= 0x27BF or char in "\u200d\ufe0f"
        for char in text
    )


def _people(records: Any) -> list[dict[str, str]]:
    """The upload's records, checked as strictly as Blu would, as plain strings."""
    if not isinstance(records, list) or not records:
        raise BluError(4000, "records must be a non-empty list")
    if len(records) > MAX_UPLOAD_RECORDS:
        raise BluError(4008, f"at most {MAX_UPLOAD_RECORDS} records per request")
    people = []
    for n, record in enumerate(records):
        where = f"records[{n}]"
        if not isinstance(record, dict):
            raise BluError(4000, f"{where} must be an object")
        person_id = record.get("id")
        if isinstance(person_id, bool) or not isinstance(person_id, int | str) or person_id == "":
            raise BluError(4000, f"{where}.id is required")
        person = {"id": str(person_id)}
        for key in ("mobile", "name", "extVars", "callVars"):
            value = record.get(key)
            if value is None:
                value = ""
            if not isinstance(value, str):
                raise BluError(4000, f"{where}.{key} must be a string")
            if _special(value):
                raise BluError(4000, f"{where}.{key} contains special characters such as emoji")
            person[key] = value
        if not person["mobile"].strip():
            raise BluError(4000, f"{where}.mobile is required")
        people.append(person)
    return people


class _Server(ThreadingHTTPServer):
    # Request threads are joined by server_close(), so stop() leaves nothing running; open
    # keep-alive connections are shut down first so that the join does not wait on idle clients.
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already gone
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client that hung up, or stop() closing its connection
        logger.exception("sandbox request from %s failed", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests' sessions expect
    server_version = "BluSandbox/1.0"
    timeout = 30  # an idle keep-alive connection ends after this many seconds
    server: _Server

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith(DOWNLOAD_PREFIX):
            self._send(self.server.sandbox.recording(path.removeprefix(DOWNLOAD_PREFIX)))
        elif path.startswith(CONTROL_PREFIX):
            self._send(self.server.sandbox.handle_control("GET", path, b""))
        else:
            self._not_found(path)

    def do_POST(self) -> None:
        raw = self._read_body()
        if raw is None:
            return
        path = urlsplit(self.path).path
        if path in (QUERY_PATH, UPLOAD_PATH, CANCEL_PATH):
            self._send(self.server.sandbox.handle_api(path, self.headers, raw))
        elif path.startswith(CONTROL_PREFIX):
            self._send(self.server.sandbox.handle_control("POST", path, raw))
        else:
            self._not_found(path)

    def do_DELETE(self) -> None:
        raw = self._read_body()
        if raw is None:
            return
        path = urlsplit(self.path).path
        if path.startswith(CONTROL_PREFIX):
            self._send(self.server.sandbox.handle_control("DELETE", path, raw))
        else:
            self._not_found(path)

    def _not_found(self, path: str) -> None:
        if path in (QUERY_PATH, UPLOAD_PATH, CANCEL_PATH):
            self._send(Reply(405, "text/plain;charset=UTF-8", b"Method Not Allowed"))
        else:
            self._send(Reply(404, "text/plain;charset=UTF-8", b"Not Found"))

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering a body the sandbox will not read."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._send(Reply(411, "text/plain;charset=UTF-8", b"Length Required"))
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            self._send(Reply(413, "text/plain;charset=UTF-8", b"Payload Too Large"))
            return None
        return self.rfile.read(length)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)
