"""Schedules under /api/v2/schedules (routes in ``scheduling.api.urls``)."""
