"""The roles of SPEC §6 carry their permissions (the groups come from 0002_roles).

- viewer: sees everything (view_* of every model of conductor and recovery).
- operator: what an operator does in the admin — cancel, retry and resume jobs,
  resubmit, resolve and discard dead letters, reset and force breakers, edit their
  thresholds, pause and override job types, manage retry policies and error rules.
- admin: every permission of conductor and recovery, API keys included.

Frozen here as migrations are; a later change of the roles is a later migration.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

APPS = ("conductor", "recovery")
SEEN = {
    "conductor": ("job", "jobtype", "jobdependency", "retryattempt", "event",
                  "workflow", "workflowrun", "heartbeat"),
    "recovery": ("retrypolicy", "errorrule", "circuitbreaker", "breakertransition",
                 "deadletter", "resubmission"),
}  # fmt: skip
OPERATOR = {
    "conductor": ("cancel_job", "retry_job", "change_jobtype"),
    "recovery": (
        "resubmit_deadletter", "resolve_deadletter", "operate_circuitbreaker",
        "change_circuitbreaker", "add_retrypolicy", "change_retrypolicy",
        "delete_retrypolicy", "add_errorrule", "change_errorrule", "delete_errorrule",
    ),
}  # fmt: skip


def grant(apps, schema_editor):
    for config in apps.get_app_configs():  # permissions are made after migrate
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def perms(by_app):
        found = []
        for app, codenames in by_app.items():
            found += Permission.objects.filter(
                content_type__app_label=app, codename__in=codenames
            )
        return found

    viewing = {app: [f"view_{m}" for m in models] for app, models in SEEN.items()}
    viewer = perms(viewing)
    Group.objects.get(name="viewer").permissions.set(viewer)
    Group.objects.get(name="operator").permissions.set(viewer + perms(OPERATOR))
    everything = Permission.objects.filter(content_type__app_label__in=APPS)
    Group.objects.get(name="admin").permissions.set(everything)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=("viewer", "operator", "admin")):
        group.permissions.clear()


class Migration(migrations.Migration):
    dependencies = [
        ("conductor", "0011_action_permissions"),
        ("recovery", "0002_action_permissions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
