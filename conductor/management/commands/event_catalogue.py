"""``manage.py event_catalogue``: the event catalogue as Markdown (docs/events.md)."""

from django.core.management.base import BaseCommand

from conductor.journal import catalogue


class Command(BaseCommand):
    help = "Print every journal event type, its subject, topic and data fields."

    def handle(self, *args, **options) -> None:
        self.stdout.write(markdown(), ending="")


def markdown() -> str:
    lines = [
        "# Journal events",
        "",
        "Every event type the journal holds (`conductor/journal/catalogue.py`),",
        "made by `manage.py event_catalogue > docs/events.md`; a test keeps this file",
        "current.",
        "",
        "| type | subject | topic | what happened | data |",
        "|---|---|---|---|---|",
    ]
    for event in catalogue.all_types():
        data = "<br>".join(f"`{k}`: {v}" for k, v in event.fields.items()) or "—"
        topic = f"`{event.topic}`" if event.topic else "—"
        row = f"| `{event.name}` | {event.subject} | {topic} | {event.description} | "
        lines.append(row + data + " |")
    return "\n".join(lines) + "\n"
