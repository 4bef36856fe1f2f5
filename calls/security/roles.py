"""The three roles and what each may do. A migration creates the groups from this table; every
view checks permissions (calls/security/access.py), never group names, so an admin can grant a
single right too.
"""

STAFF = "Collections staff"
MANAGERS = "Managers"
ADMINS = "Admins"

_VIEW = [
    "calls.view_task",
    "calls.view_callrecord",
    "calls.view_conclusion",
    "calls.view_statuslabel",
    "calls.view_syncrun",
    "calls.view_borrower",
    "calls.view_promise",
    "calls.view_repayment",
]
_MANAGE = [
    "calls.export_callrecord",
    "calls.change_conclusion",
    "calls.add_task",
    "calls.add_repayment",
    "calls.manage_complaints",
    "calls.review_calls",
]
_ADMIN = [
    "calls.add_bluaccount",
    "calls.change_bluaccount",
    "calls.view_bluaccount",
    "calls.delete_bluaccount",
    "calls.change_task",
    # Only a learned code no call uses (calls/admin.py): a flood of made-up codes can be cleared.
    "calls.delete_conclusion",
    "calls.add_statuslabel",
    "calls.change_statuslabel",
    "calls.delete_statuslabel",
    "calls.view_raw_callrecord",
    "calls.view_auditevent",
    "calls.add_repaymenttoken",
    "calls.change_repaymenttoken",
    "calls.view_repaymenttoken",
    "calls.add_contactlimits",
    "calls.change_contactlimits",
    "calls.view_contactlimits",
    "django_celery_beat.view_periodictask",
    "django_celery_beat.change_periodictask",
]

GROUPS: dict[str, list[str]] = {
    STAFF: _VIEW,
    MANAGERS: _VIEW + _MANAGE,
    ADMINS: _VIEW + _MANAGE + _ADMIN,
}

# What the pages require. Kept here so views, templates and tests name the same permission.
VIEW_DASHBOARD = "calls.view_callrecord"
EXPORT = "calls.export_callrecord"
EDIT_CONCLUSIONS = "calls.change_conclusion"
VIEW_RAW = "calls.view_raw_callrecord"
MANAGE_ACCOUNTS = "calls.change_bluaccount"
REGISTER_TASKS = "calls.add_task"
VIEW_BORROWERS = "calls.view_borrower"
VIEW_PROMISES = "calls.view_promise"
IMPORT_REPAYMENTS = "calls.add_repayment"
MANAGE_COMPLAINTS = "calls.manage_complaints"
REVIEW_CALLS = "calls.review_calls"
