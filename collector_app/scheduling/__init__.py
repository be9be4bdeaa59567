"""Schedules: when named pipelines run.

``slots`` (cron and interval slots on a grid), ``spec`` (a definition's ``schedule`` table),
``schedules`` (``PipelineSchedule`` rows run by RQ's scheduler) and ``scheduler`` (the
plain-process ``Scheduler``). The old module names (``collector_app.scheduler``,
``collector_app.schedules``, ``collector_app.slots``, ``collector_app.definition_schedule``)
are the same modules.
"""
