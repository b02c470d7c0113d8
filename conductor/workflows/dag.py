"""Workflow definitions: which are valid, in which order their nodes run, when a
node's condition holds, and which completed nodes a failed workflow compensates.

Pure: no database, clock or settings; the standard library plus ``FieldError``
and ``ValidationFailed`` (themselves pure). The workflow service calls
``validate`` at submit, with the registered type names, and writes the ``Plan``
it returns; it still checks each payload against its type's JSON Schema
(``registry.validate(spec, payload, prefix="nodes[3].payload")``).

Definition format
-----------------
::

    {"nodes": [
        {"id": "fetch", "type": "http.request", "payload": {...}},
        {"id": "parse", "type": "demo.noop", "depends_on": ["fetch"],
         "priority": "high",
         "condition": {"node": "fetch", "path": "status", "op": "eq", "value": 200},
         "compensate": {"type": "demo.noop", "payload": {}}}],
     "on_failure": "abort"}

- ``nodes`` (required): a non-empty list of at most ``max_nodes`` node objects.
- ``on_failure`` (optional): ``abort`` (default), ``continue`` or ``retry``.
- A node holds ``id`` (required; 1-100 characters of ``A-Z a-z 0-9 _ . -``,
  unique), ``type`` (required; a registered job type), ``payload`` (an object,
  default ``{}``), ``depends_on`` (a list of node ids, default none),
  ``priority`` (``low``, ``normal``, ``high`` or ``critical``; absent: the job
  type's default), ``condition`` and ``compensate`` (``{"type", "payload"?}``,
  the job that undoes this node's work: saga rollback). A null ``priority``,
  ``condition`` or ``compensate`` is the same as an absent one.

Validation rules
----------------
Every problem is collected, each naming its JSON path (``nodes[3].type``,
``nodes[4].depends_on[0]``, ``nodes[1].condition.all[0].op``), and raised
together as ``DagInvalid``. Codes: ``type`` (wrong JSON type), ``required``,
``empty``, ``too_many``, ``unknown_field`` (typos such as ``dependson`` would
otherwise silently drop an edge), ``invalid`` (a malformed id), ``duplicate``
(an id, or an entry of ``depends_on``), ``unknown_type``, ``unknown_node``,
``self_dependency``, ``not_a_dependency`` (a condition may only read the result
of one of the node's own ``depends_on``), ``invalid_choice``, ``depth`` (a
condition nested deeper than ``MAX_CONDITION_DEPTH``) and ``cycle``. A cycle is
named in order, starting at its earliest-defined node: ``cycle: a → b → c → a``
means b depends on a, c on b and a on c (an arrow points from a node to one that
waits for it); it is reported on that first node's ``depends_on``. Only one
cycle is named; ``graphlib`` finds it among the nodes Kahn's algorithm could
not order.

Order and levels
----------------
``Plan.order`` is the topological order that, whenever several nodes are ready,
takes the one defined first: a definition already written in dependency order
keeps its order. ``Plan.levels`` groups nodes by the length of the longest path
from a root (each group in definition order): every node of a level can run in
parallel once the previous levels are done.

A node's ``condition`` is checked and evaluated by ``conductor.workflows.conditions``.
"""

import graphlib
import heapq
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from conductor.errors import FieldError, ValidationFailed
from conductor.workflows.conditions import ConditionCheck

ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_NODE_FIELD = re.compile(r"nodes\[(\d+)\]")
PRIORITIES = ("low", "normal", "high", "critical")
ON_FAILURE = ("abort", "continue", "retry")

DEFINITION_FIELDS = frozenset({"nodes", "on_failure"})
NODE_FIELDS = frozenset(
    {"id", "type", "payload", "depends_on", "priority", "condition", "compensate"}
)
COMPENSATE_FIELDS = frozenset({"type", "payload"})


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    type: str
    payload: dict
    depends_on: tuple[str, ...] = ()
    condition: dict | None = None
    compensate: dict | None = None  # {"type": str, "payload": dict}
    priority: str | None = None  # None: the job type's default


@dataclass(frozen=True)
class Plan:
    nodes: dict[str, Node]  # in definition order
    order: tuple[str, ...]
    roots: tuple[str, ...]
    children: dict[str, tuple[str, ...]]  # every node, its dependents in def. order
    levels: tuple[tuple[str, ...], ...]
    on_failure: str = "abort"


class DagInvalid(ValidationFailed):
    """The definition is not a valid workflow; ``errors`` names every problem."""

    def __init__(self, errors: list[FieldError]):
        super().__init__(errors, detail=_summary(errors))


def _summary(errors: list[FieldError]) -> str:
    shown = "; ".join(f"{e.field}: {e.message}" for e in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return f"invalid workflow: {shown}{more}"


# --- validation ---------------------------------------------------------------


def validate(
    definition: Any, *, known_types: Collection[str], max_nodes: int = 10_000
) -> Plan:
    """The plan of ``definition``, or ``DagInvalid`` naming every problem."""
    items = _node_list(definition, max_nodes)
    check = _Check(known_types=frozenset(known_types))
    check.definition(definition)
    check.ids(items)
    nodes = [check.node(i, item) for i, item in enumerate(items)]
    graph = _Graph(nodes, check.index)
    if len(graph.order) < len(nodes):
        check.cycle(graph.cycle())
    if check.errors:
        raise DagInvalid(sorted(check.errors, key=_position))
    return graph.plan(on_failure=definition.get("on_failure", "abort"))


def _position(error: FieldError) -> int:
    """The node an error is about (-1: the definition): errors sort by node."""
    found = _NODE_FIELD.match(error.field)
    return int(found[1]) if found else -1


def _node_list(definition: Any, max_nodes: int) -> list:
    if not isinstance(definition, dict):
        raise DagInvalid([FieldError("definition", "must be a JSON object", "type")])
    items = definition.get("nodes")
    if not isinstance(items, list) or not items:
        code = "required" if items is None else "empty" if items == [] else "type"
        raise DagInvalid([FieldError("nodes", "must be a non-empty list", code)])
    if len(items) > max_nodes:
        message = f"has {len(items)} nodes; at most {max_nodes} are allowed"
        raise DagInvalid([FieldError("nodes", message, "too_many")])
    return items


class _Check:
    """Collects the problems of one definition while it builds its nodes."""

    def __init__(self, *, known_types: frozenset[str]):
        self.known_types = known_types
        self.errors: list[FieldError] = []
        self.index: dict[str, int] = {}  # id -> position of its first definition

    def fail(self, field: str, message: str, code: str) -> None:
        self.errors.append(FieldError(field, message, code))

    def definition(self, definition: dict) -> None:
        self.unknown_fields("", definition, DEFINITION_FIELDS)
        if definition.get("on_failure", "abort") not in ON_FAILURE:
            self.not_one_of("on_failure", ON_FAILURE)

    def not_one_of(self, field: str, choices: tuple[str, ...]) -> None:
        self.fail(field, f"must be one of {', '.join(choices)}", "invalid_choice")

    def unknown_fields(self, where: str, value: dict, allowed: frozenset) -> None:
        if value.keys() <= allowed:
            return
        message = f"unknown field; allowed: {', '.join(sorted(allowed))}"
        for key in sorted(map(str, value.keys() - allowed)):
            self.fail(f"{where}.{key}" if where else key, message, "unknown_field")

    def ids(self, items: list) -> None:
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                self.fail(f"nodes[{i}]", "must be a JSON object", "type")
                continue
            node_id = item.get("id")
            if isinstance(node_id, str) and ID_PATTERN.fullmatch(node_id):
                first = self.index.setdefault(node_id, i)
                if first != i:
                    message = f"duplicate id {node_id!r} (first at nodes[{first}])"
                    self.fail(f"nodes[{i}].id", message, "duplicate")
            else:
                self.bad_id(i, node_id)

    def bad_id(self, i: int, node_id: Any) -> None:
        if node_id is None:
            self.fail(f"nodes[{i}].id", "is required", "required")
        elif not isinstance(node_id, str):
            self.fail(f"nodes[{i}].id", "must be a string", "type")
        else:
            message = "must be 1-100 characters of A-Z a-z 0-9 _ . -"
            self.fail(f"nodes[{i}].id", message, "invalid")

    def node(self, i: int, item: Any) -> Node | None:
        """The node at ``nodes[i]``; None when it has no id of its own."""
        if not isinstance(item, dict):
            return None
        node_id = item.get("id")
        kind, payload = item.get("type"), item.get("payload", {})
        if not (item.keys() <= NODE_FIELDS and self.plain(kind, payload)):
            self.fields(f"nodes[{i}]", item, NODE_FIELDS)
        deps = self.depends_on(i, node_id, item.get("depends_on", []))
        node = Node(node_id, kind, payload, deps, *self.options(i, item))
        owned = isinstance(node_id, str) and self.index.get(node_id) == i
        return node if owned else None

    def plain(self, kind: Any, payload: Any) -> bool:
        """Whether a job type and payload are valid (the fast path)."""
        return (
            isinstance(kind, str)
            and kind in self.known_types
            and isinstance(payload, dict)
        )

    def fields(self, where: str, item: dict, allowed: frozenset[str]) -> None:
        """Report the unknown fields, type and payload of a node or compensation."""
        self.unknown_fields(where, item, allowed)
        self.job_type(f"{where}.type", item.get("type"))
        if not isinstance(item.get("payload", {}), dict):
            self.fail(f"{where}.payload", "must be a JSON object", "type")

    def job_type(self, field: str, name: Any) -> None:
        if name is None:
            self.fail(field, "is required", "required")
        elif not isinstance(name, str):
            self.fail(field, "must be a string", "type")
        elif name not in self.known_types:
            self.fail(field, f"unknown job type {name!r}", "unknown_type")

    def options(self, i: int, item: dict) -> tuple[Any, Any, Any]:
        """A node's condition, compensation and priority, each checked if given."""
        condition = item.get("condition")
        compensate = item.get("compensate")
        priority = item.get("priority")
        if condition is not None:
            self.condition(f"nodes[{i}].condition", condition, item.get("depends_on"))
        if compensate is not None:
            compensate = self.compensate(f"nodes[{i}].compensate", compensate)
        if priority is not None and priority not in PRIORITIES:
            self.not_one_of(f"nodes[{i}].priority", PRIORITIES)
        return condition, compensate, priority

    def depends_on(self, i: int, node_id: Any, deps: Any) -> tuple[str, ...]:
        """The valid entries of ``depends_on``; each invalid one is reported."""
        if not isinstance(deps, list):
            self.fail(f"nodes[{i}].depends_on", "must be a list of node ids", "type")
            return ()
        if self.plain_deps(node_id, deps):
            return tuple(deps)
        seen: set[str] = set()
        for k, dep in enumerate(deps):
            problem = self.dependency_problem(node_id, dep, seen)
            if problem is None:
                seen.add(dep)
            else:
                self.fail(f"nodes[{i}].depends_on[{k}]", *problem)
        if len(seen) == len(deps):
            return tuple(deps)
        # Only the strings: an unhashable entry (reported above) cannot be a key.
        named = (dep for dep in deps if isinstance(dep, str))
        return tuple(dep for dep in dict.fromkeys(named) if dep in seen)

    def plain_deps(self, node_id: Any, deps: list) -> bool:
        """Whether every entry is a known, distinct id other than the node's own."""
        try:
            unique = set(deps)
            return (
                len(unique) == len(deps)
                and unique <= self.index.keys()
                and node_id not in unique
            )
        except TypeError:  # an unhashable entry (or id): the slow path names it
            return False

    def dependency_problem(
        self, node_id: Any, dep: Any, seen: set[str]
    ) -> tuple[str, str] | None:
        if not isinstance(dep, str):
            return "must be a node id (a string)", "type"
        if dep == node_id:
            return f"node {dep!r} depends on itself", "self_dependency"
        if dep not in self.index:
            return f"unknown node {dep!r}", "unknown_node"
        if dep in seen:
            return f"{dep!r} is listed twice", "duplicate"
        return None

    def compensate(self, field: str, compensate: Any) -> dict | None:
        if not isinstance(compensate, dict):
            self.fail(field, "must be a JSON object", "type")
            return None
        self.fields(field, compensate, COMPENSATE_FIELDS)
        return {
            "type": compensate.get("type"),
            "payload": compensate.get("payload", {}),
        }

    def condition(self, field: str, condition: Any, parents: Any) -> None:
        # Against the raw list: a misspelt parent is reported once, on depends_on.
        ConditionCheck(self.fail, _names(parents)).check(field, condition)

    def cycle(self, cycle: list[str]) -> None:
        # graphlib lists a cycle along its edges (each node is followed by one that
        # depends on it) and closes it with its first node; start at the earliest
        # defined node so the message does not depend on graphlib's search order.
        ring = cycle[:-1]
        start = min(range(len(ring)), key=lambda k: self.index[ring[k]])
        ring = ring[start:] + ring[:start]
        named = " → ".join([*ring, ring[0]])
        first = self.index[ring[0]]
        self.fail(f"nodes[{first}].depends_on", f"cycle: {named}", "cycle")


def _names(value: Any) -> frozenset[str]:
    if not isinstance(value, list):
        return frozenset()
    return frozenset(name for name in value if isinstance(name, str))


# --- the plan -----------------------------------------------------------------


class _Graph:
    """The edges of a definition's nodes, by position, ordered by Kahn's algorithm.

    Kahn's algorithm on positions rather than ``graphlib.TopologicalSorter``: for
    10,000 nodes graphlib spends ~20 ms building its graph and searching it for a
    cycle, and ~10 ms handing out one node at a time in the order required here,
    which is most of the 100 ms budget (SPEC §12); this pass costs ~8 ms and yields
    the levels too. graphlib names the cycle when the pass cannot order every node.
    """

    def __init__(self, nodes: list[Node | None], index: dict[str, int]):
        self.nodes = nodes  # None: a node without an id of its own (reported)
        self.parents = [[index[p] for p in n.depends_on] if n else [] for n in nodes]
        self.children: list[list[int]] = [[] for _ in nodes]
        for child, parents in enumerate(self.parents):
            for parent in parents:
                self.children[parent].append(child)
        self.order, self.level = self.sort()

    def sort(self) -> tuple[list[int], list[int]]:
        """Positions in order, taking the earliest-defined ready node each time,
        and each position's level (its longest path from a root)."""
        waiting = [len(parents) for parents in self.parents]
        ready = [i for i, count in enumerate(waiting) if not count]  # sorted: a heap
        level = [0] * len(waiting)
        order = []
        while ready:
            node = heapq.heappop(ready)
            order.append(node)
            for child in self.children[node]:
                waiting[child] -= 1
                if level[child] <= level[node]:
                    level[child] = level[node] + 1
                if not waiting[child]:
                    heapq.heappush(ready, child)
        return order, level

    def cycle(self) -> list[str]:
        """A cycle among the nodes the sort left waiting, as graphlib names it."""
        ordered = set(self.order)
        stuck = {
            node.id: node.depends_on
            for i, node in enumerate(self.nodes)
            if node and i not in ordered
        }
        try:
            graphlib.TopologicalSorter(stuck).prepare()
        except graphlib.CycleError as error:
            return error.args[1]
        raise AssertionError("every node left waiting lies on or after a cycle")

    def plan(self, *, on_failure: str) -> Plan:
        ids = [node.id for node in self.nodes]
        levels: list[list[str]] = [[] for _ in range(max(self.level) + 1)]
        for i, node_id in enumerate(ids):
            levels[self.level[i]].append(node_id)
        return Plan(
            nodes=dict(zip(ids, self.nodes, strict=True)),
            order=tuple([ids[i] for i in self.order]),
            roots=tuple(levels[0]),
            children={
                node_id: tuple([ids[child] for child in children])
                for node_id, children in zip(ids, self.children, strict=True)
            },
            levels=tuple(map(tuple, levels)),
            on_failure=on_failure,
        )


def compensation_order(plan: Plan, completed: Collection[str]) -> list[str]:
    """The completed nodes that name a compensation, in reverse ``plan.order``:
    a node is undone before the nodes it depended on (saga rollback)."""
    done = frozenset(completed)
    return [
        node_id
        for node_id in reversed(plan.order)
        if node_id in done and plan.nodes[node_id].compensate is not None
    ]
