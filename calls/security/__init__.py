"""Who may do what, and what keeps secrets secret: roles and the one access check, the audit log,
sign-in throttling, rate limits, app-key encryption, log redaction and the production checks.

`roles`, `crypto`, `rate_limit`, `signin_throttle`, `log_redaction` and `deploy_checks` import
nothing of ours (the models build on `crypto`); `audit`, `access`, `signin_audit` and
`lockout_view` may import `calls.models` and each other. Never `calls.ingest` or
`calls.dashboard`.
"""
