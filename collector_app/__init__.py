"""Collectors: pipelines of sources, aggregators and sinks that run as trigger tasks."""
