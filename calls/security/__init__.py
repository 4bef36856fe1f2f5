"""Who may do what, and what keeps secrets secret: roles and the one access check, sign-in
throttling with its lockout page and the page when its cache does not answer, the password change
that checks the old password as a sign-in, sessions that end when idle, rate limits, app-key
encryption, log redaction (gunicorn's logs too: `gunicorn_log`), whose address a request is behind
a trusted proxy (`client_address`) and the production checks.

Imports nothing of ours but its own modules and settings: the models build on `crypto`, so
nothing here may read a model (the audit log, which does, is `calls.audit`).
"""
