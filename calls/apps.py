from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def python_lower_on_sqlite(sender: Any, connection: Any, **kwargs: Any) -> None:
    """SQLite's own LOWER() folds ASCII only ('Émile' stays 'Émile'), while a search lowers its
    term in Python: on SQLite, LOWER() is Python's, so a stored lower-case name and a term agree.
    (PostgreSQL's lower() follows the database's UTF-8 ctype.)"""
    if connection.vendor == "sqlite":
        connection.connection.create_function("lower", 1, _lower, deterministic=True)


class CallsConfig(AppConfig):
    name = "calls"
    verbose_name = "Blu calls"

    def ready(self) -> None:
        # Imported for their side effects: system checks and signal receivers.
        from calls import seed, tasks  # noqa: F401  (tasks: it sends the alert emails)
        from calls.audit import sign_ins  # noqa: F401
        from calls.exports import checks, deleted  # noqa: F401
        from calls.security import deploy_checks  # noqa: F401

        connection_created.connect(python_lower_on_sqlite, dispatch_uid="python_lower_on_sqlite")
