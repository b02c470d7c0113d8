"""The tick now runs inside beat (conductor.beat); drop its old PeriodicTask row.

Earlier versions scheduled ``conductor.tick`` every 0.5 s through django-celery-beat,
which stored the interval as 0 seconds (django-celery-beat#673): left in the table,
that row would make beat send ticks in a busy loop.
"""

from django.db import migrations


def drop_tick(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask.objects.filter(name="conductor.tick").delete()
    IntervalSchedule.objects.filter(every=0, periodictask__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("conductor", "0006_parked_index"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(drop_tick, migrations.RunPython.noop)]
