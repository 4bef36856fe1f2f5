"""How current our copy of Blu is, and whether this installation can do its work: sync health per
account and task, failures in a row and the one alert email per run of them, the admins'
connection test, the readiness probe's checks (database, broker, beat, a worker), the callback
counters in the shared cache, and the figures Prometheus scrapes.

May import: `calls.blu`, `calls.models`, `calls.security`, `calls.audit` (the connection test is
audited). Never `calls.ingest` or `calls.dashboard` (both read from here).
"""
