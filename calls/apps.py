from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "calls"
    verbose_name = "Blu calls"

    def ready(self) -> None:
        from . import checks, signals  # noqa: F401  (registers checks and signal handlers)
