"""bench/pages.py's seed written by PostgreSQL itself: the calls, their borrowers and the promises
made by their promise calls, each an INSERT ... SELECT over generate_series.

At 10,000,000 calls a seed built row by row in Python and sent with COPY wrote 2,500 to 6,000 rows
a second on the loaded bench machine (over half an hour, never finished); here the server makes
each row from a few numbers per task, without a round trip or a Python object per call. While the
calls go in, the table's secondary indexes are dropped and foreign keys not checked (the ids are
made here and are right by construction), then the indexes are built again in one pass each, as
a bulk load is done.

The rows are what the sync would store: the raw record is spelled out as
calls.blu.records.read_record writes it (sorted keys, no spaces, Python's escaping, which
PostgreSQL's to_json matches for these characters) and hashed the same way; bench/pages.py reads a
sample back through read_record and stops if any field differs.

Borrowers follow calls/ingest/borrowers.py: the call's extVars uniqueId, else Blu's userId under
its prefix; each borrower's name, phone, orderId, first and last call and calls in 7 days are then
recounted from their calls in one statement, as `recount` does for a page. Promises are made for
the newest promise calls (conclusions flagged promise_to_pay), their window the slot's (PTP, one
day after the call) or the default one (HPTP: 3 days); a third of them kept, by a repayment each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

RECORDING_BASE = "https://api.blu.example/download/v1/getDownloadUrl/"
# Every 100 consecutive calls: 2 with extVars that is not JSON, 3 with empty extVars (their
# borrower is Blu's userId), 95 naming a borrower by uniqueId: the mix calls/blu/records.py expects.
NOT_JSON, EMPTY = 2, 5
TASKS_A_STATEMENT = 1_000  # about 500,000 calls at 10,000,000 over 20,000 tasks: visible progress
DEFAULT_WINDOW_DAYS = 3


@dataclass(frozen=True)
class BorrowerPlan:
    """How many borrowers of each kind the calls name: by uniqueId, and by userId (the calls
    without a usable extVars), together `total`."""

    total: int
    by_user_id: int

    @property
    def by_unique_id(self) -> int:
        return self.total - self.by_user_id

    @classmethod
    def for_calls(cls, calls: int, borrowers: int) -> BorrowerPlan:
        messy = messy_calls(calls)
        by_user_id = min(messy, max(1, borrowers // 10))
        plan = cls(borrowers, by_user_id)
        if plan.by_unique_id < 1 or calls - messy < plan.by_unique_id:
            raise SystemExit(
                f"bench/pages.py: {calls:,} calls cannot name {borrowers:,} borrowers "
                f"(each borrower needs a call)"
            )
        return plan


def messy_calls(calls: int) -> int:
    """How many of calls 0 .. calls - 1 have no usable extVars (the first EMPTY of every 100)."""
    whole, rest = divmod(calls, 100)
    return whole * EMPTY + min(rest, EMPTY)


def key_sql(column: str) -> str:
    return f"'U' || lpad(({column})::text, 9, '0')"


PLAN_TABLE = """
CREATE TEMPORARY TABLE bench_plan (
    task_id bigint, number int, blu_task_id bigint, size int, first_call int,
    start timestamptz, span_s double precision, strategy_id int, bot_a int, bot_b int
)
"""

CODES_TABLE = """
CREATE TEMPORARY TABLE bench_codes (code text, label text, connected bool, lo float8, hi float8)
"""

# One statement a chunk of tasks. %(...)s are parameters; the rest is spelled out below.
CALLS = """
INSERT INTO calls_callrecord (
    account_id, task_id, call_id, job_id, user_id, phone, name, status, code, "desc",
    strategy_id, bot_id, start_time, answer_time, end_time, duration, record_url, ext_vars,
    ext_vars_raw, script, slots, raw, content_hash, problems, first_seen_at, last_changed_at,
    borrower_id)
SELECT %(account)s, task_id, call_id::text, job_id::text, user_id::text, phone, name, status,
    code, label, strategy_id::text, bot_id::text, start_time, answer_time, end_time, talk,
    record_url, CASE WHEN kind = 'json' THEN ext_text::jsonb END,
    CASE WHEN kind = 'text' THEN ext_text ELSE '' END, NULL, NULL, raw_text::jsonb,
    left(encode(sha256(convert_to(raw_text, 'UTF8')), 'hex'), 32), '[]'::jsonb, seen, seen,
    borrower_id
FROM (
    SELECT *,
        '{"answerTime":' || to_json(pg_temp.blu_time(answer_time))::text
        || ',"botId":' || bot_id || ',"callId":' || call_id || ',"code":' || to_json(code)::text
        || ',"desc":' || to_json(label)::text || ',"duration":' || talk
        || ',"endTime":' || to_json(pg_temp.blu_time(end_time))::text
        || ',"extVars":' || to_json(ext_text)::text || ',"jobId":' || job_id
        || ',"name":' || to_json(name)::text || ',"phone":' || to_json(phone)::text
        || ',"recordUrl":' || to_json(record_url)::text
        || ',"startTime":' || to_json(pg_temp.blu_time(start_time))::text || ',"status":' || status
        || ',"strategyId":' || strategy_id || ',"taskId":' || blu_task_id
        || ',"userId":' || user_id || '}' AS raw_text
    FROM (
        SELECT task_id, blu_task_id, strategy_id, bot_id, call_id, job_id, user_id, phone, name,
            kind, ext_text, borrower_id, start_time,
            CASE WHEN in_progress THEN '' ELSE code END AS code,
            CASE WHEN in_progress THEN '' ELSE label END AS label,
            CASE WHEN in_progress THEN 1 ELSE 2 END AS status,
            CASE WHEN in_progress THEN 0 ELSE talk END AS talk,
            CASE WHEN answer_time <= %(now)s THEN answer_time END AS answer_time,
            CASE WHEN in_progress THEN NULL ELSE ends END AS end_time,
            CASE WHEN connected AND NOT in_progress
                THEN %(recordings)s || call_id || '-' || lpad(to_hex(r_rec), 10, '0')
                ELSE '' END AS record_url,
            CASE WHEN in_progress THEN %(now)s ELSE ends + r_seen * interval '1 second' END
                AS seen
        FROM (
            SELECT *, ends > %(now)s AS in_progress
            FROM (
                SELECT *,
                    start_time + (ring + talk) * interval '1 second' AS ends,
                    CASE WHEN connected THEN start_time + ring * interval '1 second' END
                        AS answer_time
                FROM (
                    SELECT p.task_id, p.blu_task_id, p.strategy_id, c.code, c.label, c.connected,
                        CASE WHEN g.i %% 2 = 0 THEN p.bot_a ELSE p.bot_b END AS bot_id,
                        p.number::bigint * 1000000 + 10000000000 + g.i + 1 AS call_id,
                        p.number::bigint * 100000 + g.i AS job_id,
                        p.start + round(g.i * p.span_s / greatest(1, p.size - 1)
                            + g.r_off * least(p.span_s / greatest(1, p.size - 1), 30))
                            * interval '1 second' AS start_time,
                        5 + floor(g.r_ring * 36)::int AS ring,
                        CASE WHEN c.connected THEN 8 + round(292 * g.r_talk * g.r_talk)::int
                            ELSE 0 END AS talk,
                        CASE WHEN g.m < %(empty)s
                            THEN 500000 + (g.messy %% %(by_user_id)s)
                            ELSE 500000 + floor(g.r_user * 200000)::int END AS user_id,
                        CASE WHEN g.m < %(empty)s
                            THEN %(by_unique_id)s + 1 + (g.messy %% %(by_user_id)s)
                            ELSE 1 + (g.keyed %% %(by_unique_id)s) END AS borrower_id,
                        CASE WHEN g.m < %(not_json)s THEN 'text' WHEN g.m < %(empty)s THEN ''
                            ELSE 'json' END AS kind,
                        CASE WHEN g.m < %(not_json)s THEN 'orderId=' || (10000 + g.i)
                            WHEN g.m < %(empty)s THEN ''
                            ELSE '{"uniqueId": "' || KEYED_KEY
                                || '", "orderId": ' || (10000 + g.i) || '}' END AS ext_text,
                        left(g.mobile, 4) || '***' || right(g.mobile, 4) AS phone,
                        (%(first)s::text[])[1 + floor(g.r_first * %(firsts)s)::int] || ' '
                            || (%(last)s::text[])[1 + floor(g.r_last * %(lasts)s)::int] AS name,
                        floor(g.r_rec_f * 1099511627776)::bigint AS r_rec,
                        30 + floor(g.r_seen_f * 271)::int AS r_seen
                    FROM bench_plan p
                    CROSS JOIN LATERAL (
                        SELECT i, n %% 100 AS m,
                            (n / 100) * %(empty)s + least(n %% 100, %(empty)s) AS messy,
                            (n / 100) * (100 - %(empty)s) + greatest(n %% 100 - %(empty)s, 0)
                                AS keyed,
                            (%(prefixes)s::text[])[1 + floor(random() * %(nprefixes)s)::int]
                                || lpad(floor(random() * 10000000)::int::text, 7, '0')
                                AS mobile,
                            random() AS r_code, random() AS r_off, random() AS r_ring,
                            random() AS r_talk, random() AS r_user, random() AS r_first,
                            random() AS r_last, random() AS r_rec_f, random() AS r_seen_f
                        FROM (SELECT i, p.first_call + i AS n
                              FROM generate_series(0, p.size - 1) i) s
                    ) g
                    JOIN bench_codes c ON g.r_code >= c.lo AND g.r_code < c.hi
                    WHERE p.number >= %(from)s AND p.number < %(to)s
                ) a
            ) b
        ) c2
    ) d
) e
"""

CALLS = CALLS.replace("KEYED_KEY", key_sql("1 + (g.keyed %% %(by_unique_id)s)"))

BLU_TIME_FUNCTION = """
CREATE OR REPLACE FUNCTION pg_temp.blu_time(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(to_char(t AT TIME ZONE '{zone}', 'YYYY-MM-DD HH24:MI:SS'), '')
$$
"""

BORROWERS = """
INSERT INTO calls_borrower (id, account_id, key, key_source, name, order_id, phone, search_name,
    calls_7d)
SELECT n, %(account)s,
    CASE WHEN n <= %(by_unique_id)s THEN KEY_OF_N
        ELSE 'userId:' || (500000 + n - %(by_unique_id)s - 1) END,
    CASE WHEN n <= %(by_unique_id)s THEN 'uniqueId' ELSE 'userId' END, '', '', '', '', 0
FROM generate_series(1, %(total)s) n
"""

BORROWERS = BORROWERS.replace("KEY_OF_N", key_sql("n"))

# calls/ingest/borrowers.py's recount, for every borrower at once.
RECOUNT = """
UPDATE calls_borrower b SET name = s.name, search_name = lower(s.name), phone = s.phone,
    order_id = s.order_id, first_call_at = s.first_call_at, last_call_at = s.last_call_at,
    calls_7d = s.calls_7d, calls_7d_until = s.oldest_recent + interval '7 days'
FROM (
    SELECT DISTINCT ON (borrower_id) borrower_id,
        left(coalesce(name, ''), 200) AS name, left(coalesce(phone, ''), 200) AS phone,
        coalesce(left(ext_vars ->> 'orderId', 200), '') AS order_id,
        min(start_time) OVER w AS first_call_at, max(start_time) OVER w AS last_call_at,
        count(*) FILTER (WHERE start_time >= %(since)s AND start_time <= %(now)s) OVER w
            AS calls_7d,
        min(start_time) FILTER (WHERE start_time >= %(since)s AND start_time <= %(now)s) OVER w
            AS oldest_recent
    FROM calls_callrecord
    WINDOW w AS (PARTITION BY borrower_id)
    ORDER BY borrower_id, start_time DESC NULLS LAST, id DESC
) s
WHERE b.id = s.borrower_id
"""

PROMISES = """
INSERT INTO calls_promise (id, account_id, task_id, borrower_id, call_id, made_at, window_start,
    window_end, clear_time, outcome, paid_amount, settled_at)
SELECT n, account_id, task_id, borrower_id, call_pk, made_at,
    CASE WHEN clear THEN made_at + interval '1 day' ELSE made_at END,
    CASE WHEN clear THEN made_at + interval '2 days'
        ELSE made_at + %(default_days)s * interval '1 day' END,
    clear,
    CASE WHEN n %% 3 = 0 THEN 'kept' WHEN n %% 7 = 0 THEN 'superseded' ELSE 'open' END,
    CASE WHEN n %% 3 = 0 THEN 100 ELSE 0 END,
    CASE WHEN n %% 3 = 0 THEN made_at + interval '1 day 3 hours' END
FROM (
    SELECT row_number() OVER (ORDER BY start_time, id) AS n, *
    FROM (
        SELECT c.id AS call_pk, c.id, c.account_id, c.task_id, c.borrower_id, c.start_time,
            coalesce(c.answer_time, c.start_time) AS made_at, c.code = 'PTP' AS clear
        FROM calls_callrecord c
        WHERE c.code = ANY(%(codes)s) AND c.borrower_id IS NOT NULL
        ORDER BY c.start_time DESC, c.id DESC
        LIMIT %(promises)s
    ) newest
) numbered
"""

REPAYMENTS = """
INSERT INTO calls_repayment (account_id, borrower_id, amount, paid_at, order_id, reference,
    source, imported_at, promise_id)
SELECT account_id, borrower_id, 100, settled_at, '', 'R' || id, 'file', now(), id
FROM calls_promise WHERE outcome = 'kept'
"""


def secondary_indexes(cursor: Any, table: str) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of the table's indexes that back no constraint."""
    cursor.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.tablename = %s AND NOT EXISTS (
            SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        """,
        [table],
    )
    return list(cursor.fetchall())


def write_plan(cursor: Any, rows: Sequence[tuple], codes: Sequence[tuple]) -> None:
    cursor.execute("DROP TABLE IF EXISTS bench_plan")
    cursor.execute(PLAN_TABLE)
    with cursor.copy("COPY bench_plan FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    cursor.execute("DROP TABLE IF EXISTS bench_codes")
    cursor.execute(CODES_TABLE)
    with cursor.copy("COPY bench_codes FROM STDIN") as copy:
        for row in codes:
            copy.write_row(row)
