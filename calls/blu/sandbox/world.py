"""The sandbox's world: accounts, tasks, the clock, and the calls Blu would have made.

Calls are never stored. Call i of a task is a pure function of (seed, task_id, i), of what was
uploaded, and of the sandbox clock: a 100,000-call task costs no memory per call, a page costs
O(pageSize), and the same world file gives the same calls on every run. Start times never
decrease with i (slot i + a jitter below 0.9 of the pace, rounded up to the second), so "which
calls have started" and "which are inside the 45-day window" are binary searches over i.

Rendering a call costs about 100 µs of CPU (its own seeded rng, three formatted times, a MAC), which
would make the sandbox, not the network, the floor of a benchmark on the same machine. So the World
keeps the JSON of records that are final, whose text no longer changes, in a bounded cache: a
page asked for again costs a lookup per record. A record still in progress is rendered every time.
"""

from __future__ import annotations

import base64
import bisect
import functools
import hashlib
import hmac
import json
import math
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# "Only calls of the last 45 days can be queried."
QUERY_WINDOW_SECONDS = 45 * 86400
RING_SECONDS = (5, 40)
TALK_SECONDS = (10, 300)
# The longest a call can last from start to end; bounds the search for calls that just ended.
MAX_CALL_SECONDS = RING_SECONDS[1] + TALK_SECONDS[1]
# callId = task number * CALL_ID_SPAN + i + 1, so a task holds fewer calls than this.
CALL_ID_SPAN = 1_000_000
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
STATUS_IN_PROGRESS = 1
STATUS_FINAL = 2

# Conclusion codes from the contract's dictionaries, with the English desc Blu would send, the
# weight of each in the simulated mix, and whether a conversation took place.
LINE_CODES = {
    "D00": ("Ringing", 12.0),
    "D01": ("Busy signal", 5.0),
    "D02": ("Power off", 6.0),
    "D03": ("Number does not exist", 3.0),
    "D04": ("Out of service", 3.0),
    "D05": ("Muted", 1.0),
    "D06": ("Not connected", 3.0),
    "D07": ("Not activated", 1.0),
    "D08": ("Forwarded to voicemail", 2.0),
    "D09": ("Ringback music", 1.0),
    "D10": ("Merchant number (music)", 0.5),
    "D90": ("Unidentified", 1.0),
    "D91": ("Cannot be connected now", 1.5),
    "D99": ("Connected", 0.5),
    "NAN": ("Unknown", 0.5),
}
CONVERSATION_CODES = {
    # Blu's own query example uses PTP, which is in neither dictionary.
    "PTP": ("Promised to payback", 14.0),
    "HPTP": ("Promised to pay, no clear time", 8.0),
    "LMS": ("Voicemail", 5.0),
    "Busy": ("Busy", 5.0),
    "AP": ("Already paid back", 4.0),
    "NOST": ("No agreement", 7.0),
    "NotOneself": ("Not the right person", 3.0),
    "CPL": ("Inclined to complain", 1.5),
    "unknown": ("Intention unknown", 4.0),
    "undefined": ("Undefined", 1.0),
    "Willing": ("Willing", 1.5),
    "Unwilling": ("Unwilling", 1.0),
    "Donotknow": ("Does not know the customer", 1.0),
    "Whichcompany": ("Asks which company", 1.0),
    "Complan": ("Complains, stop calling", 0.5),
    "Undecided": ("Undecided", 1.0),
    "Voicemail": ("Voicemail", 1.0),
}
CANCELLED = ("Taskcancel", "Task cancelled")
_OUTCOMES = [(code, desc, False) for code, (desc, _) in LINE_CODES.items()] + [
    (code, desc, True) for code, (desc, _) in CONVERSATION_CODES.items()
]
_OUTCOME_CUM_WEIGHTS = list(
    accumulate(weight for _, weight in [*LINE_CODES.values(), *CONVERSATION_CODES.values()])
)


def _words(text: str) -> list[str]:
    return text.split()


_NAMES = [
    # (weight, first names, last names): mostly Sri Lankan, as Blu's own example.
    (
        55,
        _words(
            "Anoji Nimal Kumari Dilshan Tharindu Sanduni Chaminda Ishara Ruwan Nadeesha Kasun "
            "Malsha Pradeep Hiruni Lahiru Dinithi"
        ),
        _words(
            "Mohoo Perera Fernando Silva Jayasinghe Wickramasinghe Bandara Dissanayake "
            "Rajapaksha Gunawardena Herath Kumarasinghe Ratnayake Senanayake"
        ),
    ),
    (
        25,
        _words("Priya Arjun Lakshmi Rahul Kavitha Suresh Ananya Vikram Meena Karthik Divya Sanjay"),
        _words("Sharma Reddy Iyer Nair Patel Krishnan Pillai Menon Sivakumar Rao Gupta Thevarajah"),
    ),
    (
        12,
        _words("Oliver Emily James Charlotte Harry Sophie George Amelia Jack Grace"),
        _words("Smith Jones Taylor Brown Williams Wilson O'Brien Clarke Walker Hughes"),
    ),
    (
        8,
        _words("José Zoë François Renée Jürgen Inês Chloé Björn Agnès Núria"),
        _words("Muñoz Côté Müller Conceição Brontë Dvořák García Lefèvre Ångström Ferrández"),
    ),
]
_NAME_CUM_WEIGHTS = list(accumulate(weight for weight, _, _ in _NAMES))
_MOBILE_PREFIXES = ["070", "071", "072", "074", "075", "076", "077", "078"]

# Payment-time phrases and the slot the robot makes of them, per "Payment-time slot" in the
# contract: (day offset of the start, start time, day offset of the end, end time).
_PAYMENT_PHRASES = {
    "tomorrow": (1, "00:00:00", 1, "23:59:59"),
    "today": (0, "00:00:00", 0, "23:59:59"),
    "this morning": (0, "07:00:00", 0, "12:00:00"),
    "at midday": (0, "12:00:00", 0, "14:00:00"),
    "this afternoon": (0, "13:00:00", 0, "18:00:00"),
    "this evening": (0, "18:00:00", 0, "23:59:59"),
    "at 5 p.m.": (0, "17:00:00", 0, "17:00:00"),
    "around 5": (0, "17:00:00", 0, "18:00:00"),
    "before 5": (0, "17:00:00", 0, "18:00:00"),
    "tomorrow or the day after": (1, "00:00:00", 2, "23:59:59"),
}
_REPLIES = {
    "HPTP": "I will pay soon, I just cannot say when.",
    "AP": "I already paid it last week.",
    "NOST": "I cannot pay anything right now.",
    "NotOneself": "Wrong number, that person does not live here.",
    "CPL": "Stop calling me or I will complain.",
    "Busy": "I am busy now, call me later.",
    "unknown": "Hmm, okay.",
    "undefined": "Hello? Hello?",
    "Willing": "Yes, tell me more.",
    "Unwilling": "No, I am not interested.",
    "Donotknow": "I do not know who that is.",
    "Whichcompany": "Which company is this?",
    "Complan": "Do not call this number again.",
    "Undecided": "I will think about it.",
}
_VOICEMAIL_GREETING = "The person you are calling is not available, please leave a message."

# Recording tokens carry (task_id, i) and a MAC, so the download route can tell a token it made
# from a guessed one. Not a secret: it only keeps the sandbox honest about 404s.
_RECORDING_MAC_SALT = b"bludash-sandbox-recording"
_MAC_BYTES = 10

# Final records whose JSON the World keeps, over all tasks; the least recently used go first.
# A kept record takes about 800 bytes (more with a script): a full cache is about 250 MB.
RENDERED_CACHE_SIZE = 300_000


class TaskConstants(NamedTuple):
    strategy_id: int
    bot_ids: tuple[int, int]
    job_base: int


class _Rendered(NamedTuple):
    """A final record's JSON, and what it was rendered for."""

    end: int  # the call's end: the record is the same at any time from then on
    base_url: str
    zone: str
    data: bytes  # json.dumps(record, ensure_ascii=False).encode()


class CallPlan(NamedTuple):
    """What call i of a task will be, whatever the clock says; times are epoch seconds."""

    start: int
    answer: int  # == start + ring, even when nobody answered
    end: int
    answered: bool
    code: str
    desc: str
    user_id: int
    bot_id: int
    job_id: int
    name: str
    phone: str
    ext_vars: str


@dataclass(frozen=True)
class UploadedPerson:
    """One person appended by uploadAndStartJob; `slot` is when their call may start."""

    slot: float
    batch: int
    person_id: str
    name: str
    mobile: str
    ext_vars: str
    call_vars: str


@dataclass(eq=False)
class SandboxAccount:
    app_id: str
    app_key: str
    zone: ZoneInfo
    callback_url: str | None = None

    @property
    def time_zone(self) -> str:
        return self.zone.key


@dataclass(eq=False)
class SandboxTask:
    """A task: `calls` generated calls, then everyone uploaded to it, in callId order."""

    app_id: str
    task_id: str
    calls: int
    started_at: datetime
    pace_seconds: float
    seed: int
    with_script: bool
    # How many borrowers the account's generated calls go to (0: a new person every call). The
    # pool is the account's, so one borrower is called in many tasks on many days.
    borrowers: int = 0
    uploaded: list[UploadedPerson] = field(default_factory=list)
    cancelled: set[int] = field(default_factory=set)
    # Sandbox-clock time up to which calls that ended were handed to the callback dispatcher.
    callbacks_through: float = 0.0

    @property
    def total(self) -> int:
        return self.calls + len(self.uploaded)

    @property
    def wire_task_id(self) -> int | str:
        """taskId as records carry it: a number when it is one (Blu's example), else the text."""
        return int(self.task_id) if _is_number(self.task_id) else self.task_id

    def call_id(self, i: int) -> int:
        if _is_number(self.task_id):
            base = int(self.task_id)
        else:
            base = int.from_bytes(hashlib.sha256(self.task_id.encode()).digest()[:4]) + 1
        return base * CALL_ID_SPAN + i + 1

    def _rng(self, i: int, purpose: str = "") -> random.Random:
        return random.Random(f"{self.seed}:{self.task_id}:{i}{purpose}")

    def _slot(self, i: int) -> float:
        if i < self.calls:
            return self.started_at.timestamp() + i * self.pace_seconds
        return self.uploaded[i - self.calls].slot

    def start_of(self, i: int) -> int:
        # The jitter is the rng's first draw, so this agrees with plan() at a fraction of its cost.
        jitter = self._rng(i).random() * 0.9 * self.pace_seconds
        return math.ceil(self._slot(i) + jitter)

    def next_free_slot(self) -> float:
        if self.uploaded:
            return self.uploaded[-1].slot + self.pace_seconds
        return self.started_at.timestamp() + self.calls * self.pace_seconds

    def plan(self, i: int) -> CallPlan:
        """Call i, drawn from its own rng in a fixed order so that nothing else changes it."""
        rng = self._rng(i)
        start = math.ceil(self._slot(i) + rng.random() * 0.9 * self.pace_seconds)
        ring = rng.randint(*RING_SECONDS)
        code, desc, answered = rng.choices(_OUTCOMES, cum_weights=_OUTCOME_CUM_WEIGHTS)[0]
        talk = rng.randint(*TALK_SECONDS)
        if code in ("LMS", "Voicemail"):
            talk = min(talk, 10 + talk % 30)  # a voicemail greeting is short
        user_id = rng.randint(1_000_000, 9_999_999)
        bot_id = rng.choice(self.constants.bot_ids)
        name, phone, ext_vars = _person(rng, i)
        if self.borrowers:
            name, phone, ext_vars = _pooled(self.app_id, rng.randrange(self.borrowers), ext_vars)
        job_id = self.constants.job_base + i // 500  # Blu splits a list into batches
        answer = start + ring
        end = answer + talk if answered else answer
        if i >= self.calls:
            person = self.uploaded[i - self.calls]
            name, phone, ext_vars = person.name, mask_mobile(person.mobile), person.ext_vars
            job_id = self.constants.job_base + 5_000 + person.batch
            if i in self.cancelled:
                (code, desc), answered, answer, end = CANCELLED, False, start, start
        return CallPlan(
            start, answer, end, answered, code, desc, user_id, bot_id, job_id, name, phone, ext_vars
        )

    @functools.cached_property
    def constants(self) -> TaskConstants:
        rng = random.Random(f"{self.seed}:{self.task_id}")
        return TaskConstants(
            strategy_id=rng.randint(1, 9),
            bot_ids=(rng.randint(100, 999), rng.randint(100, 999)),
            job_base=rng.randint(8_900_000, 8_999_999) * 100,
        )

    def first_index(self, at_or_after: float) -> int:
        """The first i whose call starts at or after `at_or_after` (total if none)."""
        return bisect.bisect_left(range(self.total), at_or_after, key=self.start_of)

    def started_count(self, now: float) -> int:
        return bisect.bisect_right(range(self.total), math.floor(now), key=self.start_of)


def _is_number(text: str) -> bool:
    # "007" is text: int() would lose what the caller typed.
    return text.isascii() and text.isdigit() and str(int(text)) == text


def _person(rng: random.Random, i: int) -> tuple[str, str, str]:
    _, firsts, lasts = rng.choices(_NAMES, cum_weights=_NAME_CUM_WEIGHTS)[0]
    name = f"{rng.choice(firsts)} {rng.choice(lasts)}"
    mobile = rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10_000_000):07d}"
    order_id = 10_000 + i
    messy = rng.random()
    # Real data is messy: a few extVars are not JSON at all, some are empty.
    if messy < 0.02:
        ext_vars = f"orderId={order_id}"
    elif messy < 0.05:
        ext_vars = ""
    else:
        ext_vars = json.dumps({"uniqueId": f"U{rng.randrange(10**8):08d}", "orderId": order_id})
    return name, mask_mobile(mobile), ext_vars


def _pooled(app_id: str, k: int, ext_vars: str) -> tuple[str, str, str]:
    """Borrower k of the account's pool: the same name, phone, uniqueId and orderId on every
    call, whatever the task. Messy extVars (not JSON, empty) stay messy."""
    rng = random.Random(f"{app_id}:borrower:{k}")
    name, phone, _ = _person(rng, k)
    if not ext_vars.startswith("{"):
        return name, phone, ext_vars
    own = {"uniqueId": f"U{rng.randrange(10**8):08d}", "orderId": 10_000 + k}
    return name, phone, json.dumps(own)


def mask_mobile(mobile: str) -> str:
    """Blu-style masking: the first and last four digits survive (0159***0188)."""
    if len(mobile) <= 8:
        return mobile[:2] + "***" + mobile[-2:]
    return mobile[:4] + "***" + mobile[-4:]


def format_time(epoch: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(epoch, zone).strftime(TIME_FORMAT)


def conversation(
    task: SandboxTask, i: int, plan: CallPlan, zone: ZoneInfo
) -> tuple[list[dict[str, str]], dict[str, list[str] | None]]:
    """The script and slots of an answered call, for tasks made with_script."""
    rng = task._rng(i, ":script")
    first_name = plan.name.split(" ")[0] if plan.name else "there"
    payment_time: list[str] | None = None
    if plan.code in ("LMS", "Voicemail"):
        turns = [
            ("person", _VOICEMAIL_GREETING),
            ("robot", "This is a message about your loan instalment. Please call us back."),
        ]
    else:
        amount = rng.randrange(20, 400) * 50
        days = rng.randint(1, 60)
        turns = [
            ("robot", f"Hello, am I speaking with {first_name}?"),
            ("person", "Yes, speaking." if plan.code != "NotOneself" else "No."),
            ("robot", f"Your instalment of Rs. {amount} is {days} days overdue. When can you pay?"),
        ]
        if plan.code == "PTP":
            phrase = rng.choice(list(_PAYMENT_PHRASES))
            turns.append(("person", f"I will pay {phrase}."))
            turns.append(("robot", f"Thank you, we have noted that you will pay {phrase}."))
            day = datetime.fromtimestamp(plan.answer, zone).date()
            start_days, start_time, end_days, end_time = _PAYMENT_PHRASES[phrase]
            payment_time = [
                f"{day + timedelta(days=start_days)} {start_time}",
                f"{day + timedelta(days=end_days)} {end_time}",
            ]
        else:
            turns.append(("person", _REPLIES.get(plan.code, "Okay.")))
            turns.append(("robot", "Thank you for your time. Goodbye."))
    talk = plan.end - plan.answer
    script = [
        {
            "role": role,
            "text": text,
            "time": format_time(plan.answer + talk * n // len(turns), zone),
        }
        for n, (role, text) in enumerate(turns)
    ]
    return script, {"paymentTime": payment_time}


class World:
    """Accounts, tasks and the clock, behind one lock that every method takes."""

    def __init__(self, rendered_cache_size: int = RENDERED_CACHE_SIZE) -> None:
        self.lock = threading.RLock()
        self.accounts: dict[str, SandboxAccount] = {}
        self.tasks: dict[str, SandboxTask] = {}
        self._offset = 0.0  # seconds the sandbox clock is ahead of real time
        # (taskId, i) -> the final record's JSON, least recently used first: see _kept(), _keep().
        self._rendered: OrderedDict[tuple[str, int], _Rendered] = OrderedDict()
        self._rendered_cache_size = rendered_cache_size

    # --- the clock ---------------------------------------------------------------------------

    def now_ts(self) -> float:
        with self.lock:
            return time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.now_ts(), UTC)

    def advance(self, seconds: float | timedelta) -> datetime:
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        # Backwards would un-finish calls whose callbacks already went out.
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self.lock:
            self._offset += float(seconds)
            return self.now()

    # --- accounts and tasks ------------------------------------------------------------------

    def add_account(
        self,
        app_id: str,
        app_key: str,
        time_zone: str = "Asia/Colombo",
        callback_url: str | None = None,
    ) -> SandboxAccount:
        """Adds an account, or replaces the key, zone and URL of the one with this appId."""
        app_id = str(app_id)
        if not app_id or not app_key:
            raise ValueError("an account needs an appId and an appKey")
        try:
            zone = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {time_zone!r}") from exc
        _check_url(callback_url)
        account = SandboxAccount(app_id, app_key, zone, callback_url or None)
        with self.lock:
            self.accounts[app_id] = account
        return account

    def set_callback_url(self, app_id: str, url: str | None) -> None:
        _check_url(url)
        with self.lock:
            self._account(app_id).callback_url = url or None

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
        task_id = str(task_id)
        if not task_id:
            raise ValueError("a task needs a taskId")
        if isinstance(calls, bool) or not isinstance(calls, int) or not 0 <= calls < CALL_ID_SPAN:
            raise ValueError(f"calls must be an integer from 0 to {CALL_ID_SPAN - 1}")
        if not pace_seconds > 0:
            raise ValueError("pace_seconds must be positive")
        if isinstance(borrowers, bool) or not isinstance(borrowers, int) or borrowers < 0:
            raise ValueError("borrowers must be a whole number, 0 or more")
        if started_at is not None and started_at.utcoffset() is None:
            raise ValueError("started_at must be an aware datetime")
        with self.lock:
            self._account(app_id)
            if task_id in self.tasks:
                raise ValueError(f"task {task_id} already exists")
            now = self.now_ts()
            task = SandboxTask(
                app_id=str(app_id),
                task_id=task_id,
                calls=calls,
                started_at=(started_at or datetime.fromtimestamp(now, UTC)).astimezone(UTC),
                pace_seconds=float(pace_seconds),
                seed=int(seed),
                with_script=bool(with_script),
                borrowers=borrowers,
                callbacks_through=now,
            )
            self.tasks[task_id] = task
            return task

    def task_of(self, app_id: str, task_id: str) -> SandboxTask | None:
        """The task, if it exists and belongs to this account (Blu shows nobody else's)."""
        with self.lock:
            task = self.tasks.get(task_id)
            return task if task is not None and task.app_id == app_id else None

    def _account(self, app_id: str) -> SandboxAccount:
        try:
            return self.accounts[str(app_id)]
        except KeyError:
            raise ValueError(f"unknown appId {app_id}") from None

    # --- what the API shows ------------------------------------------------------------------

    def queryable(self, task: SandboxTask, now: float) -> range:
        """Indices of the calls that started within the last 45 days, in callId order."""
        with self.lock:
            return range(task.first_index(now - QUERY_WINDOW_SECONDS), task.started_count(now))

    def page(self, task: SandboxTask, page_no: int, page_size: int, now: float) -> range:
        """Page `page_no` (1-based) of the queryable calls; empty past the end."""
        calls = self.queryable(task, now)
        return calls[(page_no - 1) * page_size : page_no * page_size]

    def render(self, task: SandboxTask, i: int, now: float, base_url: str) -> dict[str, Any]:
        """Call i as Blu serialises it at sandbox time `now` (the call must have started)."""
        with self.lock:
            zone = self.accounts[task.app_id].zone
            kept = self._kept(task, i, now, base_url, zone)
        if kept is not None:
            data: dict[str, Any] = json.loads(kept)
            return data
        record, end = self._render(task, i, now, base_url, zone)
        if now >= end:
            self._keep(task, i, end, base_url, zone, _encode(record))
        return record

    def render_page(self, task: SandboxTask, indices: range, now: float, base_url: str) -> bytes:
        """The JSON array of render() for each index, as json.dumps(..., ensure_ascii=False)
        encodes it: what a page's "data" is on the wire."""
        with self.lock:
            zone = self.accounts[task.app_id].zone
            kept = [self._kept(task, i, now, base_url, zone) for i in indices]
        parts = []
        for i, data in zip(indices, kept, strict=True):
            if data is None:
                record, end = self._render(task, i, now, base_url, zone)
                data = _encode(record)
                if now >= end:
                    self._keep(task, i, end, base_url, zone, data)
            parts.append(data)
        return b"[" + b", ".join(parts) + b"]"

    def _kept(
        self, task: SandboxTask, i: int, now: float, base_url: str, zone: ZoneInfo
    ) -> bytes | None:
        """The kept JSON of call i, if it was final by `now` and rendered for this URL and zone."""
        with self.lock:
            key = (task.task_id, i)
            kept = self._rendered.get(key)
            if kept is None or now < kept.end or kept.base_url != base_url or kept.zone != zone.key:
                return None
            self._rendered.move_to_end(key)
            return kept.data

    def _keep(
        self, task: SandboxTask, i: int, end: int, base_url: str, zone: ZoneInfo, data: bytes
    ) -> None:
        """Keeps the JSON of call i, which is final: nothing in it depends on the time any more."""
        with self.lock:
            key = (task.task_id, i)
            self._rendered[key] = _Rendered(end, base_url, zone.key, data)
            self._rendered.move_to_end(key)
            while len(self._rendered) > self._rendered_cache_size:
                self._rendered.popitem(last=False)

    def _forget(self, task: SandboxTask, indices: Iterable[int]) -> None:
        """Drops what was kept of these calls of the task: upload and cancel change them.

        Only to be sure: a cancelled call has not started, so it cannot have been kept, and an
        uploaded call is new. Generated calls (i < task.calls) never change.
        """
        with self.lock:
            for i in indices:
                self._rendered.pop((task.task_id, i), None)

    def _render(
        self, task: SandboxTask, i: int, now: float, base_url: str, zone: ZoneInfo
    ) -> tuple[dict[str, Any], int]:
        """render() without the cache: the record, and the end of the call (final from then on)."""
        with self.lock:
            plan = task.plan(i)
        final = now >= plan.end
        record: dict[str, Any] = {
            "taskId": task.wire_task_id,
            "callId": task.call_id(i),
            "jobId": plan.job_id,
            "userId": plan.user_id,
            "phone": plan.phone,
            "recordUrl": (
                f"{base_url}/download/v1/getDownloadUrl/{recording_token(task.task_id, i)}"
                if final and plan.answered
                else ""
            ),
            "name": plan.name,
            "status": STATUS_FINAL if final else STATUS_IN_PROGRESS,
            "code": plan.code if final else "",
            "desc": plan.desc if final else "",
            "strategyId": task.constants.strategy_id,
            "botId": plan.bot_id,
            "startTime": format_time(plan.start, zone),
            "answerTime": format_time(plan.answer, zone)
            if plan.answered and now >= plan.answer
            else "",
            "endTime": format_time(plan.end, zone) if final else "",
            "duration": plan.end - plan.answer if final and plan.answered else 0,
            "extVars": plan.ext_vars,
        }
        if task.with_script and final and plan.answered:
            record["script"], record["slots"] = conversation(task, i, plan, zone)
        return record, plan.end

    def ended_between(self, task: SandboxTask, after: float, until: float) -> list[int]:
        """Indices of the calls that turned final in (after, until], in the order they ended."""
        with self.lock:
            first = task.first_index(math.floor(after) - MAX_CALL_SECONDS)
            last = task.started_count(until)
            ends = [(task.plan(i).end, i) for i in range(first, last)]
        return [i for end, i in sorted(ends) if after < end <= until]

    def final_count(self, task: SandboxTask, now: float) -> int:
        with self.lock:
            surely_final = task.first_index(math.floor(now) - MAX_CALL_SECONDS)
            started = task.started_count(now)
            recent = sum(now >= task.plan(i).end for i in range(surely_final, started))
        return surely_final + recent

    def recording(self, token: str, now: float) -> bool:
        """Whether `token` names an answered call that has ended, so has a recording."""
        try:
            raw = base64.b32decode(token)
        except ValueError:
            return False
        payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if not hmac.compare_digest(mac, _mac(payload)):
            return False
        task_id, _, index = payload.decode(errors="replace").rpartition(":")
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None or not index.isdigit() or int(index) >= task.total:
                return False
            plan = task.plan(int(index))
        return plan.answered and now >= plan.end

    # --- what the API changes ----------------------------------------------------------------

    def created_today(self, task: SandboxTask, now: float) -> bool:
        """Whether the task was made today in the account's time zone.

        "A taskId is valid only on the day it was made."
        """
        with self.lock:
            zone = self.accounts[task.app_id].zone
        made = task.started_at.astimezone(zone).date()
        return made == datetime.fromtimestamp(now, zone).date()

    def upload(self, task: SandboxTask, people: list[dict[str, str]], now: float) -> None:
        """Appends people to the task; their calls start from now, at the task's pace."""
        with self.lock:
            if task.total + len(people) >= CALL_ID_SPAN:
                raise ValueError("the task is full")
            slot = max(now, task.next_free_slot())
            batch = len({person.batch for person in task.uploaded})
            self._forget(task, range(task.total, task.total + len(people)))
            for n, person in enumerate(people):
                task.uploaded.append(
                    UploadedPerson(
                        slot=slot + n * task.pace_seconds,
                        batch=batch,
                        person_id=person["id"],
                        name=person["name"],
                        mobile=person["mobile"],
                        ext_vars=person["extVars"],
                        call_vars=person["callVars"],
                    )
                )

    def cancel(self, task: SandboxTask, mobile: str, now: float) -> int:
        """Cancels the not yet started calls to `mobile`; returns how many."""
        with self.lock:
            cancelled = 0
            for n, person in enumerate(task.uploaded):
                i = task.calls + n
                if person.mobile == mobile and i not in task.cancelled and task.start_of(i) > now:
                    task.cancelled.add(i)
                    self._forget(task, [i])
                    cancelled += 1
            return cancelled

    def state(self, now: float) -> dict[str, Any]:
        with self.lock:
            return {
                "now": datetime.fromtimestamp(now, UTC).isoformat(),
                "accounts": [
                    {
                        "appId": account.app_id,
                        "timeZone": account.time_zone,
                        "callbackUrl": account.callback_url,
                    }
                    for account in self.accounts.values()
                ],
                "tasks": [
                    {
                        "appId": task.app_id,
                        "taskId": task.wire_task_id,
                        "calls": task.calls,
                        "uploaded": len(task.uploaded),
                        "startedAt": task.started_at.isoformat(),
                        "paceSeconds": task.pace_seconds,
                        "seed": task.seed,
                        "withScript": task.with_script,
                        "borrowers": task.borrowers,
                        "started": task.started_count(now),
                        "final": self.final_count(task, now),
                        "queryable": len(self.queryable(task, now)),
                    }
                    for task in self.tasks.values()
                ],
            }


def _encode(record: dict[str, Any]) -> bytes:
    # As Reply.json encodes a whole answer, so kept records can be joined into one.
    return json.dumps(record, ensure_ascii=False).encode()


def _mac(payload: bytes) -> bytes:
    return hmac.new(_RECORDING_MAC_SALT, payload, hashlib.sha256).digest()[:_MAC_BYTES]


def recording_token(task_id: str, i: int) -> str:
    """A base32 token (Blu's recordUrl looks like this) that names call i of the task."""
    payload = f"{task_id}:{i}".encode()
    return base64.b32encode(payload + _mac(payload)).decode()


def _check_url(url: str | None) -> None:
    if url and not url.startswith(("http://", "https://")):
        raise ValueError(f"callback URL must be http(s), not {url!r}")


# --- the JSON shapes of world files and control requests ------------------------------------


def account_kwargs(data: dict[str, Any]) -> dict[str, Any]:
    """add_account() arguments from {appId, appKey, timeZone, callbackUrl}."""
    return {
        "app_id": str(_required(data, "appId")),
        "app_key": str(_required(data, "appKey")),
        "time_zone": data.get("timeZone") or "Asia/Colombo",
        "callback_url": data.get("callbackUrl") or None,
    }


def task_kwargs(data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """add_task() arguments from {appId, taskId, calls, startedAt | startedMinutesAgo, ...}."""
    started_at = None
    if data.get("startedAt") is not None:
        started_at = datetime.fromisoformat(str(data["startedAt"]))
        if started_at.utcoffset() is None:
            raise ValueError("startedAt needs a UTC offset, e.g. 2024-08-15T10:00:00+05:30")
    elif data.get("startedMinutesAgo") is not None:
        started_at = now - timedelta(minutes=float(data["startedMinutesAgo"]))
    return {
        "app_id": str(_required(data, "appId")),
        "task_id": str(_required(data, "taskId")),
        "calls": int(data.get("calls", 0)),
        "started_at": started_at,
        "pace_seconds": float(data.get("paceSeconds", 30.0)),
        "seed": int(data.get("seed", 0)),
        "with_script": bool(data.get("withScript", False)),
        "borrowers": int(data.get("borrowers", 0)),
    }


def _required(data: dict[str, Any], key: str) -> Any:
    if data.get(key) in (None, ""):
        raise ValueError(f"{key} is required")
    return data[key]


def load_world(sandbox: Any, path: str | Path) -> None:
    """Fills a Sandbox from a world file (see the management command `sandbox`).

    {"maxPageSize": 100, "accounts": [{appId, appKey, timeZone, callbackUrl}],
     "tasks": [{appId, taskId, calls, startedAt | startedMinutesAgo, paceSeconds, seed,
     withScript, borrowers}]}. Raises ValueError (or OSError) with a message that names the problem.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object")
    if data.get("maxPageSize") is not None:
        sandbox.max_page_size = int(data["maxPageSize"])
    for n, account in enumerate(data.get("accounts", [])):
        try:
            sandbox.add_account(**account_kwargs(account))
        except (TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{path}: accounts[{n}]: {exc}") from exc
    now = sandbox.now()
    for n, task in enumerate(data.get("tasks", [])):
        try:
            sandbox.add_task(**task_kwargs(task, now))
        except (TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{path}: tasks[{n}]: {exc}") from exc
