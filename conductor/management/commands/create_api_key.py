"""``manage.py create_api_key --name NAME --scopes read,write,admin [--tier …]
[--expires-in-days N]``.

Prints the new key alone on the last line of output (scripts take ``tail -n 1``).
"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from conductor import services
from conductor.errors import ValidationFailed


class Command(BaseCommand):
    help = "Create an API key and print it (once) on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--scopes", default="read", help="comma list: read,write,admin"
        )
        parser.add_argument(
            "--tier", default="standard", choices=["standard", "premium"]
        )
        parser.add_argument(
            "--expires-in-days",
            type=int,
            default=None,
            help="the key stops working this many days from now",
        )

    def handle(self, *args, name, scopes, tier, expires_in_days, **options):
        scope_list = [s.strip() for s in scopes.split(",") if s.strip()]
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError("--expires-in-days: must be at least 1")
        expires_at = (
            timezone.now() + timedelta(days=expires_in_days)
            if expires_in_days is not None
            else None
        )
        try:
            row, key = services.api_key_create(
                name=name, scopes=scope_list, tier=tier, expires_at=expires_at,
                actor="manage.py",
            )  # fmt: skip
        except ValidationFailed as exc:
            problems = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
            raise CommandError(problems) from None
        self.stdout.write(
            f"Created API key {row.name!r} (prefix {row.prefix}, scopes "
            f"{','.join(scope_list)}, tier {tier}"
            + (f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "")
            + "). Store it now; it is not shown again:"
        )
        self.stdout.write(key)
