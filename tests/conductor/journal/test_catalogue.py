"""The event catalogue (pure): one entry per type, and every type the code writes is in
it (the writer refuses others, so the suite would fail on a stray one)."""

import re
from pathlib import Path

from conductor.journal import catalogue
from conductor.management.commands.event_catalogue import markdown

ROOT = Path(__file__).resolve().parents[3]
# A dotted name in quotes: an event type, if the catalogue has it.
LITERAL = re.compile(r"""["']([a-z_]+\.[a-z_]+)["']""")


def test_every_type_is_named_once_with_a_subject_and_a_description():
    names = [t.name for t in catalogue.all_types()]
    assert len(names) == len(set(names))
    for event_type in catalogue.all_types():
        assert event_type.subject and event_type.description, event_type
        assert catalogue.get(event_type.name) is event_type


def test_the_events_spec_5_names_are_catalogued():
    for name in (
        "job.succeeded", "job.failed", "job.retry_scheduled", "job.dead_lettered",
        "job.cancelled", "breaker.opened", "breaker.half_opened", "breaker.closed",
        "dlq.entry_added", "dlq.entry_resolved",
    ):  # fmt: skip
        assert catalogue.get(name).name == name


def test_patterns_match_by_prefix():
    names = {t.name for t in catalogue.matching("breaker.*")}
    assert names == {"breaker.opened", "breaker.half_opened", "breaker.closed",
                     "breaker.updated"}  # fmt: skip
    assert [t.name for t in catalogue.matching("job.ready")] == ["job.ready"]
    assert catalogue.matching("nothing.here") == []


def test_no_code_outside_the_catalogue_spells_an_event_type():
    names = {t.name for t in catalogue.all_types()}
    offenders = []
    for folder in ("conductor", "recovery", "scheduling", "webhooks", "dashboard"):
        for path in (ROOT / folder).rglob("*.py"):
            if "migrations" in path.parts or path.name == "catalogue.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if any(m in names for m in LITERAL.findall(line)):
                    offenders.append(
                        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
                    )
    assert offenders == []


def test_the_docs_list_every_event_type_as_the_catalogue_says():
    assert (ROOT / "docs" / "events.md").read_text() == markdown(), (
        "docs/events.md is stale: manage.py event_catalogue > docs/events.md"
    )
