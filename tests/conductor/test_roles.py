"""Roles (SPEC §6): the groups carry their permissions, admin actions ask for theirs,
and the dashboard, like the API, needs a role."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from conductor.models import Job
from recovery.models import DeadLetter
from tests.factories import DOOMED, JobFactory
from tests.worker import run_due_jobs

pytestmark = pytest.mark.django_db

ACTIONS = {
    "conductor.cancel_job", "conductor.retry_job", "recovery.resubmit_deadletter",
    "recovery.resolve_deadletter", "recovery.operate_circuitbreaker",
}  # fmt: skip


def _perms(role: str) -> set[str]:
    rows = Permission.objects.filter(group__name=role).select_related("content_type")
    return {f"{p.content_type.app_label}.{p.codename}" for p in rows}


def test_each_role_carries_what_spec_6_describes():
    viewer, operator, admin = _perms("viewer"), _perms("operator"), _perms("admin")
    assert {"conductor.view_job", "recovery.view_deadletter"} <= viewer
    assert not viewer & ACTIONS  # a viewer only looks
    assert not {p for p in viewer if not p.split(".")[1].startswith("view_")}
    assert viewer < operator and operator >= ACTIONS
    assert "conductor.revoke_apikey" not in operator
    assert "conductor.view_apikey" not in operator  # keys are the admins' business
    assert operator < admin
    assert {"conductor.revoke_apikey", "conductor.add_apikey"} <= admin


def _staff(make_user, client, role):
    user = make_user(username=role, role=role)
    user.is_staff = True
    user.save()
    client.force_login(user)
    return client


def _act(client, model, action, ids):
    url = reverse(f"admin:{model}_changelist")
    data = {"action": action, "_selected_action": [str(i) for i in ids]}
    return client.post(url, data, follow=True)


def test_view_only_staff_see_jobs_but_cannot_cancel_them(client, make_user):
    job = JobFactory()
    viewer = _staff(make_user, client, "viewer")
    page = viewer.get(reverse("admin:conductor_job_changelist"))
    assert page.status_code == 200
    assert b"cancel_jobs" not in page.content  # the action is not offered ...
    _act(viewer, "conductor_job", "cancel_jobs", [job.id])
    assert Job.objects.get(id=job.id).state == "pending"  # ... nor carried out


def test_an_operator_cancels_in_the_admin(client, make_user):
    job = JobFactory()
    operator = _staff(make_user, client, "operator")
    _act(operator, "conductor_job", "cancel_jobs", [job.id])
    assert Job.objects.get(id=job.id).state == "cancelled"


def test_view_only_staff_cannot_resubmit_a_dead_letter(client, make_user):
    JobFactory(type="demo.flaky", payload=DOOMED)
    run_due_jobs()
    entry = DeadLetter.objects.get()
    viewer = _staff(make_user, client, "viewer")
    _act(viewer, "recovery_deadletter", "resolve_entries", [entry.id])
    assert DeadLetter.objects.get(id=entry.id).resolved_at is None


def test_the_dashboard_needs_a_role(client, make_user):
    client.force_login(make_user(username="nobody"))
    assert client.get("/dashboard/").status_code == 403
    client.force_login(make_user(username="watcher", role="viewer"))
    assert client.get("/dashboard/").status_code == 200


def test_the_groups_exist_with_their_names():
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "viewer", "operator", "admin",
    }  # fmt: skip
