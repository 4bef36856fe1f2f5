from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "calls"
    verbose_name = "Blu calls"

    def ready(self) -> None:
        # Imported for their side effects: system checks and signal receivers.
        from calls import seed, tasks  # noqa: F401  (tasks: it sends the alert emails)
        from calls.audit import sign_ins  # noqa: F401
        from calls.exports import checks  # noqa: F401
        from calls.security import deploy_checks  # noqa: F401
