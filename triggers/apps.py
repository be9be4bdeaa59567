from django.apps import AppConfig

#: The module of each installed app that is imported at startup, so that the tasks it
#: registers (``@register_task``) are known to every process: web, shell and RQ workers.
#: Named so that it cannot collide with Celery's ``tasks.py``.
TASK_MODULE = "trigger_tasks"


class TriggersConfig(AppConfig):
    name = "triggers"
    verbose_name = "Triggers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers only; checks run when Django asks for them.
        from django.utils.module_loading import autodiscover_modules

        from . import checks  # noqa: F401

        # Imports only (no I/O): every installed app's trigger_tasks module, if it has one.
        autodiscover_modules(TASK_MODULE)
