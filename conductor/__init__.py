"""Conductor: job orchestration and error recovery for Django teams."""

from conductor.celery import app as celery_app

__all__ = ["celery_app"]
