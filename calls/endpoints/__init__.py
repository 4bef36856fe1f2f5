"""The URLs machines call rather than people: Blu's push callback. Each answers without a session,
reads its body strictly and hands the work to the room that does it (`calls.ingest`).

Beside the page views at the top of the house: may import `calls.blu`, `calls.models`,
`calls.security`, `calls.ingest` and `calls.tasks` (to queue the sync of a task first seen here).
"""
