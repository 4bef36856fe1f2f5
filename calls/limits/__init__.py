"""Contact limits: how often and when the lender's rules let a borrower be called (the account's
ContactLimits, editable in the admin), which calls broke them (rules), the flags kept by every
write of calls (breaches), and where a borrower stands now (standing: also the one question the
stop list asks, which of an account's borrowers are at or over a limit).

May import: `calls.models` and `calls.conclusions`: every write of calls (`calls.ingest`) calls
in here, so nothing here may import the write path; the account's write turn is
`calls.models.lock_account_writes`.
"""
