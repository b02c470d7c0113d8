"""Celery tasks: doorbells and periodic chores. Each is a thin call into the engine."""

from celery import shared_task


@shared_task(name="conductor.jobs_wake", ignore_result=True)
def jobs_wake(queue: str) -> int:
    from conductor import doorbell
    from conductor.engine.run import drain

    return drain(queue=queue, ring=doorbell.ring)


@shared_task(name="conductor.sweep", ignore_result=True)
def sweep() -> dict:
    from django.utils import timezone

    from conductor.engine.sweep import sweep as run_sweep

    return run_sweep(now=timezone.now())


@shared_task(name="conductor.leases_recover_local", ignore_result=True)
def leases_recover_local() -> int:
    """Run in a worker as it starts: take back the jobs of its dead predecessors."""
    import socket

    from django.utils import timezone

    from conductor.engine.run import process_alive
    from conductor.engine.sweep import leases_recover_local as recover

    host, now = socket.gethostname(), timezone.now()
    return recover(host=host, alive=process_alive, now=now)


@shared_task(name="conductor.retention_prune", ignore_result=True)
def retention_prune() -> dict:
    from django.utils import timezone

    from conductor.engine.retention import prune

    return prune(now=timezone.now())


@shared_task(name="conductor.beat_heartbeat", ignore_result=True, bind=True)
def beat_heartbeat(self) -> None:
    from django.utils import timezone

    from conductor.services import heartbeat_record

    now = timezone.now()
    heartbeat_record(name="beat", kind="beat", at=now)
    heartbeat_record(name=self.request.hostname or "worker", kind="worker", at=now)


@shared_task(name="conductor.waiting_resolve", ignore_result=True)
def waiting_resolve(job_ids: list[str]) -> None:
    from conductor.engine.dependents import waiting_follow

    waiting_follow(job_ids=job_ids)
