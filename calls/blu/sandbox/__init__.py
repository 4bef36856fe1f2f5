"""A faithful stand-in for Blu's HTTP API, for the demo and the tests (see docs/blu-api.md).

    with Sandbox(max_page_size=100) as sb:
        sb.add_account(app_id="10001", app_key="secret")
        sb.add_task(app_id="10001", task_id="66547748", calls=250)
        sb.advance(3600)
        ...  # talk to sb.url over HTTP

Pure stdlib plus `requests` (for callbacks): it must not import Django, so that it runs anywhere.
"""

from calls.blu.sandbox.audio import wav_bytes
from calls.blu.sandbox.faults import CALLBACK_FAULTS, FAULT_KINDS, QUERY_FAULTS, Fault
from calls.blu.sandbox.server import BluError, Sandbox
from calls.blu.sandbox.world import (
    QUERY_WINDOW_SECONDS,
    SandboxAccount,
    SandboxTask,
    load_world,
    mask_mobile,
    recording_token,
)

__all__ = [
    "CALLBACK_FAULTS",
    "FAULT_KINDS",
    "QUERY_FAULTS",
    "QUERY_WINDOW_SECONDS",
    "BluError",
    "Fault",
    "Sandbox",
    "SandboxAccount",
    "SandboxTask",
    "load_world",
    "mask_mobile",
    "recording_token",
    "wav_bytes",
]
