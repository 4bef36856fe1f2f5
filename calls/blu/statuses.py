"""What Blu's call `status` values mean, as far as we know: Blu publishes no table (blu-api.md,
"status"). Its own example of an ended call (an end time, a talk time, a conclusion code) has
status 2; the sandbox reports a call still ringing or talking as 1 and an ended one as 2.

These are the labels every database starts with (calls/seed.py); admins edit them, and add
others, under Status labels. A value nobody labelled shows as itself.
"""

IN_PROGRESS = 1
ENDED = 2

LABELS: dict[int, str] = {IN_PROGRESS: "In progress", ENDED: "Ended"}
