"""The URLs machines call rather than people: Blu's push callback, the lender's repayments, the
load balancer's probes (`/healthz/`, `/readyz/`) and Prometheus' scrape (`/metrics`). Each
answers without a session, reads its input strictly and hands the work to the room that does it
(`calls.ingest`, `calls.promises`, `calls.health`).

Beside the page views at the top of the house: may import `calls.blu`, `calls.models`,
`calls.security`, `calls.audit` (the repayments API's imports are audited), `calls.health`,
`calls.ingest`, `calls.promises` and `calls.tasks` (to queue the sync of a task first seen here).
"""
