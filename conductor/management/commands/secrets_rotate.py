"""``manage.py secrets_rotate``: seal every stored secret again with the first key.

Rotate a key: put the new one first in ``CONDUCTOR_SECRETS_KEYS`` (keep the old one
after it), restart, run this, then remove the old key. Exits 1 when some value could
not be opened by any configured key (those rows are left as they were).
"""

from django.core.management.base import BaseCommand, CommandError

from conductor.engine.secrets_rotation import secrets_rotate


class Command(BaseCommand):
    help = "Seal every stored secret payload value again with the first key."

    def handle(self, *args, **options):
        counts = secrets_rotate(actor="command:secrets_rotate")
        unreadable = counts.pop("unreadable")
        self.stdout.write(", ".join(f"{name}: {n}" for name, n in counts.items()))
        if unreadable:
            raise CommandError(
                f"{unreadable} row(s) hold a secret no configured key opens; "
                "they were left as they were (is an old key missing?)"
            )
