"""Promises to pay and the repayments that keep them: the window a promise's call names
(windows), promises made and settled by every write of calls and every repayment import
(ledger), their state as read at a moment (states), and the one import of the lender's
payments feed (repayments)."""
