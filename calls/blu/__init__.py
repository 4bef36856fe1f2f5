"""Everything that speaks Blu's protocol: signing, the client, reading one Blu record, and the
sandbox standing in for Blu.

Imports nothing of ours but settings, and touches no database: `calls.ingest` turns what the
client returns into rows.
"""
