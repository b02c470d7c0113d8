"""Conductor's writers: each changes state in one transaction and journals it."""

from conductor.services.api_keys import api_key_create, api_key_revoke
from conductor.services.events import NewEvent, event_record, events_record
from conductor.services.heartbeats import heartbeat_record
from conductor.services.job_types import (
    SyncReport,
    job_type_ensure,
    job_type_sync,
    job_type_update,
)
from conductor.services.jobs import JobRequest, doorbell_ring, job_submit

__all__ = [
    "JobRequest",
    "NewEvent",
    "SyncReport",
    "api_key_create",
    "api_key_revoke",
    "doorbell_ring",
    "event_record",
    "events_record",
    "heartbeat_record",
    "job_submit",
    "job_type_ensure",
    "job_type_sync",
    "job_type_update",
]
