"""The benches' own PostgreSQL databases: which one a bench may use, and making and dropping it.

A bench drops and creates its database, so it must never be the one DATABASE_URL names (CI's
database, or a developer's real data) nor one the server needs (postgres, the templates).
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit, urlunsplit

LOCAL_SERVER = "postgres://postgres@127.0.0.1:5432"
SERVER_DATABASES = frozenset({"postgres", "template0", "template1"})


def name_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def on_server_of(url: str, name: str) -> str:
    """The database `name` on the server (and with the user and options) that `url` names."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def bench_database_url(requested: str | None, default_name: str, script: str) -> str:
    """`requested`, else `default_name` on DATABASE_URL's server (127.0.0.1:5432 without a
    PostgreSQL DATABASE_URL); refused if it is not the bench's to drop."""
    theirs = os.environ.get("DATABASE_URL", "")
    if requested:
        url = requested
    elif theirs.startswith(("postgres://", "postgresql://")):
        url = on_server_of(theirs, default_name)
    else:
        url = f"{LOCAL_SERVER}/{default_name}"
    refuse_a_database_not_ours(url, script)
    return url


def refuse_a_database_not_ours(url: str, script: str) -> None:
    """Stops the bench before it drops DATABASE_URL's database (by name, on any server: the
    safe side) or one the server needs."""
    theirs = os.environ.get("DATABASE_URL", "")
    taken = set(SERVER_DATABASES)
    if theirs.startswith(("postgres://", "postgresql://")):
        taken.add(name_of(theirs))
    name = name_of(url)
    if not name or name in taken:
        raise SystemExit(
            f"{script}: refusing to drop the database {name!r} "
            "(DATABASE_URL names it, or the server needs it); name another"
        )


def ensure_database(url: str, *, fresh: bool) -> bool:
    """Drops and creates the database when `fresh`, or creates it when missing. Returns whether
    it was created (and so holds nothing yet)."""
    import psycopg
    from psycopg import sql

    database = name_of(url)
    with psycopg.connect(on_server_of(url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if exists and not fresh:
            return False
        name = sql.Identifier(database)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
        return True


def drop_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    if "django.db" in sys.modules:  # this process's own connections, if it made any
        from django.db import connections

        connections.close_all()
    with psycopg.connect(on_server_of(url, "postgres"), autocommit=True) as conn:
        name = sql.Identifier(name_of(url))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
