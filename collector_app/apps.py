from django.apps import AppConfig


class CollectorAppConfig(AppConfig):
    name = "collector_app"
    verbose_name = "Collectors"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers only: pipeline files are read when a pipeline runs, not here.
        from . import checks  # noqa: F401  (registers the COLLECTORS checks)
        from .tasks import register_pipeline_tasks

        register_pipeline_tasks()
        from .gathering.tasks import register_gather_tasks  # gather:<name>

        register_gather_tasks()
        # Every triggers recovery pass also fails pipeline and gather runs whose process died.
        from triggers.signals import recovery_pass

        from .recovery import recover_runs

        recovery_pass.connect(recover_runs, dispatch_uid="collector_app.recover_runs")
