"""Acting on what the calls said, before the robots call again: complaints for a person to
handle (complaints), who must not be called next and why (stop_list), and the answer to Blu's
pre-dial check (predial).

May import `calls.models`, `calls.conclusions`, `calls.security` and `calls.audit`: every write
of calls (`calls.ingest`) calls in here to keep complaints current, so nothing here may import
the write path. The pages live in `calls.dashboard`, the pre-dial endpoint in `calls.endpoints`.
"""
