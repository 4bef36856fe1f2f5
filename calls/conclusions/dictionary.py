"""Blu's reference dictionaries of conclusion codes ("Conclusion codes" in docs/blu-api.md), with
our category flags (calls/conclusions/categories.py). Seeded after migrate where missing
(calls/seed.py); managers edit them afterwards.
"""

from calls.conclusions.categories import FLAG_NAMES

C, L, R, P, A, X = FLAG_NAMES

DICTIONARY: dict[str, tuple[str, frozenset[str]]] = {
    # Conversation outcomes, collections style
    "LMS": ("Voicemail", frozenset({C})),
    "Busy": ("Busy", frozenset({C, L, R})),
    "AP": ("Already paid back", frozenset({C, L, R, A})),
    "HPTP": ("Promised to pay, no clear time", frozenset({C, L, R, P})),
    "PTP": ("Promised to payback", frozenset({C, L, R, P})),
    "NOST": ("No agreement", frozenset({C, L, R})),
    "NotOneself": ("Not the right person", frozenset({C, L})),
    "CPL": ("Inclined to complain", frozenset({C, L, R, X})),
    "unknown": ("Intention unknown", frozenset({C, L})),
    "undefined": ("Undefined (system)", frozenset()),
    # Contact-willingness style
    "Voicemail": ("Voicemail", frozenset({C})),
    "Willing": ("Willing", frozenset({C, L, R})),
    "Unwilling": ("Unwilling", frozenset({C, L, R})),
    "Donotknow": ("Does not know the customer", frozenset({C, L})),
    "Whichcompany": ("Asks which company", frozenset({C, L})),
    "Complan": ("Complains, stop calling", frozenset({C, L, R, X})),
    "Undecided": ("Undecided", frozenset({C, L, R})),
    "Unconnected": ("Unconnected", frozenset()),
    "Taskcancel": ("Task cancelled", frozenset()),
    # Line detection: calls that never became a conversation
    "D00": ("Ringing", frozenset()),
    "D01": ("Busy signal", frozenset()),
    "D02": ("Phone off", frozenset()),
    "D03": ("Number does not exist", frozenset()),
    "D04": ("Out of service", frozenset()),
    "D05": ("Muted", frozenset()),
    "D06": ("Not connected", frozenset()),
    "D07": ("Not activated", frozenset()),
    "D08": ("Forwarded to voicemail", frozenset()),
    "D09": ("Ringback music", frozenset()),
    "D10": ("Merchant number (music)", frozenset()),
    "D90": ("Unidentified", frozenset()),
    "D91": ("Cannot be connected now", frozenset()),
    "D99": ("Connected", frozenset({C})),
    "NAN": ("Unknown", frozenset()),
}
