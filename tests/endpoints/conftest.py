"""The pre-dial tests receive calls as the promise tests do (by Blu's callback)."""

from tests.promises.conftest import call, task  # noqa: F401  (fixtures shared as they are)
