"""Getting Blu's records in: the sync run and its lease, which tasks are due, tasks Blu does not
know, the page write (one bulk upsert), the callback receiver and the share of new tasks its
callbacks may add, the task summaries and the borrowers kept current from what was written, and the
borrowers' one-time backfill.

May import: `calls.blu`, `calls.conclusions`, `calls.models`, `calls.security`,
`calls.health` (a sync's outcome feeds the failure counts) and `calls.promises` (every write
makes, moves and settles the promises of its calls). Never `calls.dashboard`, never the
Celery tasks: a plain function here that needs a job queued leaves it to its caller
(`calls.tasks.enqueue_sync_on_commit`).
"""
