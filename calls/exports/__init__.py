"""Exports built in the background: when an export becomes a job (`background.py`), the job's run
from queued to a stored file or a clear failure (`jobs.py`), who may fetch it and until when, and
the clean-up of expired files (`expiry.py`); the storage checked at start (`checks.py`).

May import `calls.models`, `calls.security`, `calls.audit` and `calls.dashboard` (the calls
table, its filters and the row writing of `calls.dashboard.export`, which stays the one place rows
are made safe for spreadsheets). Imported by `calls.tasks` (the thin jobs) and the export pages in
`calls.dashboard.views`.
"""
