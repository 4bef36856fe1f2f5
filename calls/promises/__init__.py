"""Promises to pay and the repayments that keep them: the window a promise's call names
(windows), promises made and settled by every write of calls and every repayment import
(ledger), their state as read at a moment (states), and the one import of the lender's
payments feed (repayments).

May import: `calls.models`, `calls.conclusions` and `calls.security`: every write of calls
(`calls.ingest`) calls in here, so nothing here may import the write path; the account's write
turn is `calls.models.lock_account_writes`. The pages' kept rate lives in `calls.dashboard`.
"""
