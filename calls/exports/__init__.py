"""Exports built in the background: when an export becomes a job and how many a user may have
waiting (`background.py`), the page's table a job replays (`sources.py`: the calls or the
promises), the job's run from queued to a stored file or a clear failure (`jobs.py`), the
clean-up of expired files (`expiry.py`) and of the files of deleted jobs, as when their
requester is deleted (`deleted.py`); the storage checked at start (`checks.py`).

May import `calls.models`, `calls.security`, `calls.audit` and `calls.dashboard` (the calls and
promises tables, their filters and the row writing of `calls.dashboard.export`, which stays the
one place rows are made safe for spreadsheets). Imported by `calls.tasks` (the thin jobs) and
the export pages in `calls.dashboard.views`.
"""
