"""Everything that speaks Blu's protocol: signing, the client, and the sandbox standing in for Blu.

Nothing in this package touches the database; `calls.sync` turns what the client returns into rows.
"""
