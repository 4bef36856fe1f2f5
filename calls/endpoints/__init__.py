"""The URLs machines call rather than people: Blu's push callback. Each answers without a session,
reads its body strictly and hands the work to the room that does it (`calls.ingest`).

The top of the house, beside the page views: may import every room and `calls.tasks` (to queue
the sync of a task first seen here).
"""
