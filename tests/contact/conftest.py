"""The contact tests receive calls as the promise tests do (by Blu's callback, with a code, a
time and a borrower) and import repayments the same way."""

from tests.promises.conftest import call, pay, task  # noqa: F401  (fixtures shared as they are)
