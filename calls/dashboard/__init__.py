"""What the pages read and show: rates (KPIs) and the summary queries behind them, tables, filters,
paging, export, call details, recordings, formatting and charts, and the page views.

Reads; writes only what a page itself changes (a manager's conclusion flags, registered tasks,
audit events). May import every room below it: `calls.blu`, `calls.conclusions`,
`calls.models`, `calls.security`, `calls.audit`, `calls.health`, and `calls.ingest` (to keep
figures current after a manager's change, to register tasks); the page views alone may queue
work through `calls.tasks`. Nothing imports it but `calls.urls`, `calls.templatetags` and the
settings' dotted names.
"""
