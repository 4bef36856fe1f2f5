"""The database's clock, the one every machine shares: sync leases and due times are compared
with it, so an application server whose own clock runs ahead cannot take a live lease early, nor
one whose clock runs behind hold a dead one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection


def db_now() -> datetime:
    """Now by the database server's clock (aware, UTC), read afresh."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT clock_timestamp()")
            return cursor.fetchone()[0].astimezone(UTC)
        # SQLite runs in this process, but asks the operating system, not Python, for the time.
        cursor.execute("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")
        return datetime.fromisoformat(cursor.fetchone()[0]).replace(tzinfo=UTC)
