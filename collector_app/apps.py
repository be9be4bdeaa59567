from django.apps import AppConfig


class CollectorAppConfig(AppConfig):
    name = "collector_app"
    verbose_name = "Collectors"
    default_auto_field = "django.db.models.BigAutoField"
