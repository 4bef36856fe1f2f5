"""How current our copy of Blu is: sync health per account and task, failures in a row and the
one alert email per run of them, and the admins' connection test.

May import: `calls.blu`, `calls.models`, `calls.security`, `calls.audit` (the connection test is
audited). Never `calls.ingest` or `calls.dashboard` (both read from here).
"""
