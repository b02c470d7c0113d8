"""Conductor's writers: each changes state in one transaction and journals it."""

from conductor.services.api_keys import api_key_create, api_key_revoke
from conductor.services.heartbeats import heartbeat_record
from conductor.services.job_control import job_cancel, job_requeue, job_resume
from conductor.services.job_types import (
    SyncReport,
    job_type_ensure,
    job_type_sync,
    job_type_update,
)
from conductor.services.progress import job_checkpoint_record, job_progress_record
from conductor.services.submit import JobRequest, job_submit, jobs_submit
from conductor.services.transitions import job_transition

__all__ = [
    "JobRequest",
    "SyncReport",
    "api_key_create",
    "api_key_revoke",
    "heartbeat_record",
    "job_cancel",
    "job_checkpoint_record",
    "job_progress_record",
    "job_requeue",
    "job_resume",
    "job_submit",
    "job_transition",
    "job_type_ensure",
    "job_type_sync",
    "job_type_update",
    "jobs_submit",
]
