"""The sweeper now runs inside beat (conductor.beat), like the tick: drop its old
PeriodicTask row, or beat would also send it as a task every few seconds."""

from django.db import migrations


def drop_sweep(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name="conductor.sweep").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("conductor", "0009_journal_position"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(drop_sweep, migrations.RunPython.noop)]
