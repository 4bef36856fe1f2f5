"""`python manage.py sandbox`: run the Blu sandbox in the foreground until Ctrl-C."""

import signal
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template.defaultfilters import pluralize

from calls.blu.sandbox import Sandbox, load_world


class Command(BaseCommand):
    help = (
        "Run the Blu sandbox, a stand-in for Blu's HTTP API with control endpoints under "
        "/_sandbox/, in the foreground until Ctrl-C. Needs BLUDASH_SANDBOX_ENABLED."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
        parser.add_argument("--port", type=int, default=8765, help="default: 8765")
        parser.add_argument(
            "--world", type=Path, help="a JSON file of accounts and tasks to start with"
        )
        parser.add_argument(
            "--page-delay",
            type=float,
            default=0.0,
            help="seconds to wait before answering each queryCallResult",
        )
        parser.add_argument(
            "--max-page-size",
            type=int,
            help="the largest pageSize honoured (default: the world file's, else 100)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.BLUDASH_SANDBOX_ENABLED:
            raise CommandError(
                "The Blu sandbox is disabled here: set BLUDASH_SANDBOX_ENABLED=1 to run it."
            )
        sandbox = Sandbox(host=options["host"], port=options["port"])
        sandbox.page_delay = options["page_delay"]
        if options["world"] is not None:
            try:
                load_world(sandbox, options["world"])
            except (OSError, ValueError) as exc:
                raise CommandError(f"Cannot load the world file: {exc}") from exc
        if options["max_page_size"] is not None:
            sandbox.max_page_size = options["max_page_size"]
        if sandbox.max_page_size < 1 or sandbox.page_delay < 0:
            raise CommandError("--max-page-size must be positive and --page-delay not negative.")
        if options["host"] not in ("127.0.0.1", "localhost", "::1"):
            # The control endpoints take no credentials.
            self.stderr.write(
                self.style.WARNING(f"Listening on {options['host']}: /_sandbox/ has no auth.")
            )
        stop = threading.Event()
        # Process managers (honcho, systemd) stop with SIGTERM: shut down as cleanly as on Ctrl-C.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            url = sandbox.start()
        except OSError as exc:
            address = f"{options['host']}:{options['port']}"
            raise CommandError(f"Cannot listen on {address}: {exc}") from exc
        state = sandbox.state()
        self.stdout.write(f"Blu sandbox at {url} (max pageSize {sandbox.max_page_size})")
        for account in state["accounts"]:
            tasks = [t for t in state["tasks"] if t["appId"] == account["appId"]]
            self.stdout.write(
                f"  appId {account['appId']} ({account['timeZone']}): "
                f"{len(tasks)} task{pluralize(len(tasks))}, "
                f"callbacks to {account['callbackUrl'] or 'nowhere'}"
            )
        self.stdout.write("Ctrl-C to stop.")
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stdout.write("Stopping the Blu sandbox.")
            sandbox.stop()
