"""The audit log: who did what, when and from where. `trail.record` writes every event (an admin's
change, an export, a recording played, a connection test); `sign_ins` adds sign-ins, failures,
lockouts and sign-outs from Django's and axes's signals.

May import `calls.models` and `calls.security`. Never `calls.ingest` or `calls.dashboard`, which
call it.
"""
