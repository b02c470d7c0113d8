"""Workflow DAGs (pure): validation, order, levels, compensation."""

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conductor.errors import ValidationFailed
from conductor.workflows import conditions, dag
from conductor.workflows.dag import DagInvalid
from tests.conductor.workflows.test_conditions import leaf, nested

TYPES = frozenset({"demo.noop", "http.request"})


def node(node_id, *deps, **fields):
    item = {"id": node_id, "type": "demo.noop", **fields}
    if deps:
        item["depends_on"] = list(deps)
    return item


def chain(*ids):
    """Nodes each depending on the one before it."""
    return [node(ids[0]), *(node(b, a) for a, b in pairwise(ids))]


def errors_of(definition, **options):
    with pytest.raises(DagInvalid) as info:
        dag.validate(definition, known_types=TYPES, **options)
    return info.value.errors


def problems(definition, **options):
    return [(e.field, e.code) for e in errors_of(definition, **options)]


def with_condition(condition):
    return {"nodes": [node("fetch"), node("parse", "fetch", condition=condition)]}


# --- validation errors: every problem, named by its JSON path and code ----------


# fmt: off
INVALID_DEFINITIONS = [
    ([node("a")], [("definition", "type")]),  # the definition is not an object
    ({}, [("nodes", "required")]),  # no nodes at all
    ({"nodes": []}, [("nodes", "empty")]),  # nodes must be non-empty
    ({"nodes": {"a": node("a")}}, [("nodes", "type")]),  # nodes must be a list
    ({"nodes": [node("a"), 5]}, [("nodes[1]", "type")]),  # a node must be an object
    ({"nodes": [{"type": "demo.noop"}]}, [("nodes[0].id", "required")]),  # id missing
    ({"nodes": [node("a b")]}, [("nodes[0].id", "invalid")]),  # space not allowed in an id
    ({"nodes": [node("x" * 101)]}, [("nodes[0].id", "invalid")]),  # id longer than 100
    ({"nodes": [node("")]}, [("nodes[0].id", "invalid")]),  # empty id
    ({"nodes": [node(7)]}, [("nodes[0].id", "type")]),  # id must be a string
    ({"nodes": [node("a"), node("b"), node("a")]}, [("nodes[2].id", "duplicate")]),  # duplicate id, the later one named
    ({"nodes": [*chain("a", "b", "c"), node("d", type="x")]}, [("nodes[3].type", "unknown_type")]),  # unknown job type
    ({"nodes": [{"id": "a"}]}, [("nodes[0].type", "required")]),  # type missing
    ({"nodes": [node("a", type=["demo.noop"])]}, [("nodes[0].type", "type")]),  # type must be a string
    ({"nodes": [node("a", payload=[1])]}, [("nodes[0].payload", "type")]),  # payload must be an object
    ({"nodes": [node("a", payload=None)]}, [("nodes[0].payload", "type")]),  # ...null is not an object
    ({"nodes": [node("a", priority="urgent")]}, [("nodes[0].priority", "invalid_choice")]),  # unknown priority
    ({"nodes": [node("a"), node("b", depends_on="a")]}, [("nodes[1].depends_on", "type")]),  # depends_on must be a list
    ({"nodes": [*chain("a", "b", "c", "d"), node("e", "zzz")]}, [("nodes[4].depends_on[0]", "unknown_node")]),  # unknown parent
    ({"nodes": [node("a"), node("b", "a", "b")]}, [("nodes[1].depends_on[1]", "self_dependency")]),  # depends on itself
    ({"nodes": [node("a"), node("b", "a", "a")]}, [("nodes[1].depends_on[1]", "duplicate")]),  # parent listed twice
    ({"nodes": [node("a"), node("b", "a", 3)]}, [("nodes[1].depends_on[1]", "type")]),  # parent id not a string
    ({"nodes": [node("a"), node("b", dependson=["a"])]}, [("nodes[1].dependson", "unknown_field")]),  # typo would drop an edge
    ({"nodes": [node("a")], "on_failure": "explode"}, [("on_failure", "invalid_choice")]),  # unknown failure action
    ({"nodes": [node("a")], "name": "wf"}, [("name", "unknown_field")]),  # unknown top-level field
    ({"nodes": [node("a", compensate={"type": "x"})]}, [("nodes[0].compensate.type", "unknown_type")]),  # unknown compensating type
    ({"nodes": [node("a", compensate={"payload": {}})]}, [("nodes[0].compensate.type", "required")]),  # compensation needs a type
    ({"nodes": [node("a", compensate="demo.noop")]}, [("nodes[0].compensate", "type")]),  # compensation must be an object
    ({"nodes": [node("a", compensate={"type": "demo.noop", "payload": 1})]}, [("nodes[0].compensate.payload", "type")]),  # its payload an object
    ({"nodes": [node("a", compensate={"type": "demo.noop", "delay": 1})]}, [("nodes[0].compensate.delay", "unknown_field")]),  # unknown field in it
]
# fmt: on


@pytest.mark.parametrize(("definition", "expected"), INVALID_DEFINITIONS)
def test_each_validation_error_names_its_path_and_code(definition, expected):
    assert problems(definition) == expected


# fmt: off
INVALID_CONDITIONS = [
    ({"nodes": [node("fetch"), node("other"), node("parse", "fetch", condition=leaf("eq", 1, on="other"))]}, [("nodes[2].condition.node", "not_a_dependency")]),  # a node that is not a parent
    ({"nodes": [*chain("fetch", "mid"), node("parse", "mid", condition=leaf("eq", 1))]}, [("nodes[2].condition.node", "not_a_dependency")]),  # a grandparent: only direct parents
    (with_condition(leaf("eq", 1, on="nowhere")), [("nodes[1].condition.node", "not_a_dependency")]),  # a node that does not exist
    (with_condition({"path": "status", "op": "exists"}), [("nodes[1].condition.node", "required")]),  # no node named
    (with_condition(leaf("matches", "2..")), [("nodes[1].condition.op", "invalid_choice")]),  # bad operator
    (with_condition({"node": "fetch"}), [("nodes[1].condition.op", "required")]),  # no operator
    (with_condition(leaf("eq")), [("nodes[1].condition.value", "required")]),  # eq needs a value
    (with_condition(leaf("in", 200)), [("nodes[1].condition.value", "type")]),  # in needs a list
    (with_condition(leaf("gt", {"a": 1})), [("nodes[1].condition.value", "type")]),  # gt needs a number or string
    (with_condition(leaf("gt", True)), [("nodes[1].condition.value", "type")]),  # ...and a boolean is not a number
    (with_condition(leaf("exists", path=3)), [("nodes[1].condition.path", "type")]),  # path must be a string
    (with_condition({**leaf("truthy"), "negate": True}), [("nodes[1].condition.negate", "unknown_field")]),  # unknown field
    (with_condition("fetch.status == 200"), [("nodes[1].condition", "type")]),  # not an object
    (with_condition({"all": []}), [("nodes[1].condition.all", "empty")]),  # empty combination
    (with_condition({"any": leaf("truthy")}), [("nodes[1].condition.any", "type")]),  # combination must be a list
    (with_condition({"all": [leaf("truthy")], "any": [leaf("truthy")]}), [("nodes[1].condition", "invalid")]),  # all and any together
    (with_condition({"all": [leaf("truthy"), {"any": [leaf("exists"), leaf("eqq", 1)]}]}), [("nodes[1].condition.all[1].any[1].op", "invalid_choice")]),  # nested path
    (with_condition(nested(8)), [("nodes[1].condition" + ".all[0]" * 8, "depth")]),  # the leaf 9 levels deep: one too many
]
# fmt: on


@pytest.mark.parametrize(("definition", "expected"), INVALID_CONDITIONS)
def test_each_condition_error_names_its_path_and_code(definition, expected):
    assert problems(definition) == expected


def test_conditions_nest_up_to_the_depth_limit():
    plan = dag.validate(with_condition(nested(7)), known_types=TYPES)
    assert plan.nodes["parse"].condition == nested(7)
    assert conditions.condition_holds(nested(7), {"fetch": {"status": 1}})


def test_every_problem_is_collected_and_sorted_by_node():
    definition = {
        "nodes": [
            node("a", type="nope"),  # unknown type
            node("a"),  # duplicate
            5,  # not an object
            node("c", "zzz", "c", priority="p"),  # unknown parent, itself, bad priority
        ],
        "on_failure": "later",
    }
    assert problems(definition) == [
        ("on_failure", "invalid_choice"),
        ("nodes[0].type", "unknown_type"),
        ("nodes[1].id", "duplicate"),
        ("nodes[2]", "type"),
        ("nodes[3].depends_on[0]", "unknown_node"),
        ("nodes[3].depends_on[1]", "self_dependency"),
        ("nodes[3].priority", "invalid_choice"),
    ]


def test_messages_name_the_offending_value():
    errors = errors_of({"nodes": [node("a", "zzz"), node("b", type="x")]})
    assert [e.message for e in errors] == ["unknown node 'zzz'", "unknown job type 'x'"]


def test_too_many_nodes_is_rejected_before_anything_else():
    nodes = [node(f"n{i}", type="nope") for i in range(10_001)]
    assert problems({"nodes": nodes}) == [("nodes", "too_many")]
    assert problems({"nodes": nodes[:3]}, max_nodes=2) == [("nodes", "too_many")]


def test_dag_invalid_is_a_validation_failure_the_api_maps_to_400():
    with pytest.raises(DagInvalid) as info:
        dag.validate({}, known_types=TYPES)
    error = info.value
    assert isinstance(error, ValidationFailed)
    assert error.status == 400 and error.code == "VALIDATION_ERROR"
    assert error.detail == "invalid workflow: nodes: must be a non-empty list"


# --- cycles -----------------------------------------------------------------------


# fmt: off
CYCLES = [
    ([node("a", "b"), node("b", "a")], "nodes[0].depends_on", "cycle: a → b → a"),  # 2 nodes: b depends on a, a on b
    ([node("b", "a"), node("a", "b")], "nodes[0].depends_on", "cycle: b → a → b"),  # named from the earliest-defined node
    ([node("root"), node("a", "root", "d"), node("b", "a"), node("c", "b"), node("d", "c"), node("e", "d")], "nodes[1].depends_on", "cycle: a → b → c → d → a"),  # 4 nodes, with a root and a tail outside it
    ([node("c", "b"), node("d", "c"), node("a", "d"), node("b", "a")], "nodes[0].depends_on", "cycle: c → d → a → b → c"),  # the same 4-cycle defined in another order
]
# fmt: on


@pytest.mark.parametrize(("nodes", "field", "message"), CYCLES)
def test_a_cycle_is_named_in_order(nodes, field, message):
    errors = errors_of({"nodes": nodes})
    assert [(e.field, e.message, e.code) for e in errors] == [(field, message, "cycle")]


def test_a_cycle_is_reported_beside_other_problems():
    nodes = [node("a", "b"), node("b", "a", type="x")]
    assert problems({"nodes": nodes}) == [
        ("nodes[0].depends_on", "cycle"),
        ("nodes[1].type", "unknown_type"),
    ]


# --- the plan ---------------------------------------------------------------------


def test_order_takes_the_earliest_defined_ready_node():
    # c waits for a; a is ready first, then c is defined before b.
    nodes = [node("c", "a"), node("a"), node("b"), node("d", "b", "c")]
    plan = dag.validate({"nodes": nodes}, known_types=TYPES)
    assert plan.order == ("a", "c", "b", "d")
    assert dag.validate({"nodes": nodes}, known_types=TYPES).order == plan.order


def test_a_definition_in_dependency_order_keeps_its_order():
    nodes = [node("z"), node("y", "z"), node("x"), node("w", "x", "y"), node("v")]
    plan = dag.validate({"nodes": nodes}, known_types=TYPES)
    assert plan.order == ("z", "y", "x", "w", "v")


def test_levels_roots_and_children():
    nodes = [
        node("fetch"),
        node("audit"),
        node("parse", "fetch"),
        node("store", "parse", "audit"),
        node("notify", "fetch", "store"),
    ]
    plan = dag.validate({"nodes": nodes}, known_types=TYPES)
    assert plan.levels == (("fetch", "audit"), ("parse",), ("store",), ("notify",))
    assert plan.roots == ("fetch", "audit")
    assert plan.children == {
        "fetch": ("parse", "notify"),
        "audit": ("store",),
        "parse": ("store",),
        "store": ("notify",),
        "notify": (),
    }


def test_nodes_carry_their_fields_with_defaults():
    condition = leaf("eq", 200)
    nodes = [
        node("fetch", type="http.request", payload={"url": "https://x.test"}),
        node("parse", "fetch", priority="high", condition=condition,
             compensate={"type": "demo.noop"}),
    ]  # fmt: skip
    definition = {"nodes": nodes, "on_failure": "continue"}
    plan = dag.validate(definition, known_types=TYPES)
    assert plan.nodes["fetch"] == dag.Node(
        id="fetch", type="http.request", payload={"url": "https://x.test"}
    )
    assert plan.nodes["parse"] == dag.Node(
        id="parse",
        type="demo.noop",
        payload={},
        depends_on=("fetch",),
        condition=condition,
        compensate={"type": "demo.noop", "payload": {}},
        priority="high",
    )
    assert plan.on_failure == "continue"
    assert dag.validate({"nodes": nodes}, known_types=TYPES).on_failure == "abort"


# --- compensation -----------------------------------------------------------------


def saga():
    undo = {"type": "demo.noop"}
    nodes = [
        node("reserve", compensate=undo),
        node("charge", "reserve", compensate=undo),
        node("email", "reserve"),
        node("ship", "charge", "email", compensate=undo),
    ]
    return dag.validate({"nodes": nodes}, known_types=TYPES)


# fmt: off
COMPENSATIONS = [
    ({"reserve", "charge", "email"}, ["charge", "reserve"]),  # ship failed: undo the rest, last first
    ({"reserve", "charge", "email", "ship"}, ["ship", "charge", "reserve"]),  # everything ran
    ({"reserve", "email"}, ["reserve"]),  # email has nothing to undo
    (set(), []),  # nothing completed, nothing to undo
    ({"reserve", "ghost"}, ["reserve"]),  # unknown ids are ignored
]
# fmt: on


@pytest.mark.parametrize(("completed", "expected"), COMPENSATIONS)
def test_compensation_runs_in_reverse_order(completed, expected):
    assert dag.compensation_order(saga(), completed) == expected


# --- properties -------------------------------------------------------------------


@st.composite
def acyclic(draw, min_nodes=1, max_nodes=25):
    """(nodes, names, parents): edges only from a lower to a higher index; ids
    shuffled; definition order shuffled too."""
    n = draw(st.integers(min_nodes, max_nodes))
    names = draw(st.permutations([f"n{k}" for k in range(n)]))
    parents = [
        draw(st.sets(st.integers(0, j - 1), max_size=4)) if j else set()
        for j in range(n)
    ]
    placement = draw(st.permutations(range(n)))
    return names, parents, placement


def definition_of(names, parents, placement):
    return {
        "nodes": [
            node(names[j], *(names[p] for p in sorted(parents[j]))) for j in placement
        ]
    }


@settings(max_examples=200)
@given(graph=acyclic())
def test_any_acyclic_graph_validates_and_its_order_respects_every_edge(graph):
    names, parents, placement = graph
    definition = definition_of(names, parents, placement)
    plan = dag.validate(definition, known_types=TYPES)
    position = {node_id: k for k, node_id in enumerate(plan.order)}
    assert sorted(plan.order) == sorted(names)
    level = {n: k for k, group in enumerate(plan.levels) for n in group}
    defined = [item["id"] for item in definition["nodes"]]
    for item in definition["nodes"]:
        deps = item.get("depends_on", [])
        assert all(position[dep] < position[item["id"]] for dep in deps)
        assert level[item["id"]] == max((level[d] + 1 for d in deps), default=0)
        assert all(item["id"] in plan.children[dep] for dep in deps)
    assert [n for group in plan.levels for n in sorted(group, key=defined.index)] == [
        n for group in plan.levels for n in group
    ]


@settings(max_examples=200)
@given(graph=acyclic())
def test_a_definition_in_topological_order_keeps_it(graph):
    names, parents, _placement = graph
    definition = definition_of(names, parents, range(len(names)))
    assert dag.validate(definition, known_types=TYPES).order == tuple(names)


@st.composite
def cyclic(draw):
    """An acyclic graph, a path from node i up to node j > i, and then i depending
    on j: the back edge that closes a cycle."""
    names, parents, placement = draw(acyclic(min_nodes=2))
    path = sorted(draw(st.sets(st.integers(0, len(names) - 1), min_size=2)))
    for before, after in pairwise(path):
        parents[after].add(before)
    parents[path[0]].add(path[-1])
    return names, parents, placement, (names[path[-1]], names[path[0]])


@settings(max_examples=200)
@given(graph=cyclic())
def test_a_back_edge_is_rejected_and_the_named_cycle_is_real(graph):
    names, parents, placement, back_edge = graph
    definition = definition_of(names, parents, placement)
    [error] = errors_of(definition)
    assert error.code == "cycle"
    named = error.message.removeprefix("cycle: ").split(" → ")
    assert named[0] == named[-1] and len(set(named)) == len(named) - 1
    deps = {item["id"]: item.get("depends_on", []) for item in definition["nodes"]}
    # graphlib's direction: each named node is a parent of the next one.
    assert all(a in deps[b] for a, b in pairwise(named))
    # Every cycle uses the one back edge; the first node is the earliest defined.
    assert back_edge in set(pairwise(named))
    defined = list(deps)
    first = min(named, key=defined.index)
    assert named[0] == first
    assert error.field == f"nodes[{defined.index(first)}].depends_on"
