from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "calls"
    verbose_name = "Blu calls"

    def ready(self) -> None:
        # Imported for their side effects: system checks and signal receivers.
        from . import audit_signals, checks, signals  # noqa: F401
