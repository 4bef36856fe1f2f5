"""Everything that speaks Blu's protocol: signing, the client, the limit on requests to one
account at once (slots), reading one Blu record, and the sandbox standing in for Blu.

Imports nothing of ours but settings, and touches no database: `calls.ingest` turns what the
client returns into rows. The slots are counted in the Redis that settings name, or per process.
"""
