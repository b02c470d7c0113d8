"""Conductor: job orchestration and error recovery for Django teams.

Nothing is imported here: importing a pure or core module must not load Celery. The
Celery app lives in ``conductor.celery`` (``celery -A conductor`` finds it there) and
is loaded with Django's app registry (``ConductorConfig.ready``).
"""
