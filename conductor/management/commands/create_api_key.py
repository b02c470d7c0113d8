"""``manage.py create_api_key --name NAME --scopes read,write,admin [--tier …]``.

Prints the new key alone on the last line of output (scripts take ``tail -n 1``).
"""

from django.core.management.base import BaseCommand, CommandError

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

    def handle(self, *args, name, scopes, tier, **options):
        scope_list = [s.strip() for s in scopes.split(",") if s.strip()]
        try:
            row, key = services.api_key_create(
                name=name, scopes=scope_list, tier=tier, actor="manage.py"
            )
        except ValidationFailed as exc:
            problems = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
            raise CommandError(problems) from None
        self.stdout.write(
            f"Created API key {row.name!r} (prefix {row.prefix}, scopes "
            f"{','.join(scope_list)}, tier {tier}). Store it now; it is not shown"
            " again:"
        )
        self.stdout.write(key)
