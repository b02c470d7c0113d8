"""Recovery's writers: breakers, dead letters, retry policies, error rules."""

from recovery.services.breakers import (
    BreakerReport,
    breaker_admit_trial,
    breaker_ensure,
    breaker_force_open,
    breaker_record,
    breaker_reset,
    breaker_update,
    breakers_half_open_due,
)
from recovery.services.dead_letters import (
    dead_letter_discard,
    dead_letter_resolve,
    dead_letter_resubmit,
    dead_letters_add,
    dead_letters_bulk,
    dead_letters_cleanup,
    dead_letters_close_for_job,
)
from recovery.services.policies import (
    error_rule_create,
    error_rule_delete,
    error_rule_update,
    retry_policy_create,
    retry_policy_delete,
    retry_policy_update,
)
from recovery.services.retries import job_retry

__all__ = [
    "BreakerReport",
    "breaker_admit_trial",
    "breaker_ensure",
    "breaker_force_open",
    "breaker_record",
    "breaker_reset",
    "breaker_update",
    "breakers_half_open_due",
    "dead_letter_discard",
    "dead_letter_resolve",
    "dead_letter_resubmit",
    "dead_letters_add",
    "dead_letters_bulk",
    "dead_letters_cleanup",
    "dead_letters_close_for_job",
    "error_rule_create",
    "error_rule_delete",
    "error_rule_update",
    "job_retry",
    "retry_policy_create",
    "retry_policy_delete",
    "retry_policy_update",
]
