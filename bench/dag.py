"""Benchmark: validate and order a 10,000-node workflow (SPEC §12: < 100 ms).

The baseline, measured in the same run over the same graph, is the bare
``graphlib.TopologicalSorter(graph).static_order()``: ordering alone, with no
validation, no deterministic tie-break, no levels or children.

    .venv/bin/python bench/dag.py

Prints one JSON line. The graph is layered: 100 layers of 100 nodes, each node
past the first layer depending on 3 random nodes of the two layers above it
(seeded, so every run times the same graph).
"""

import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from graphlib import TopologicalSorter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conductor.workflows import dag  # after the sys.path insert above

NODES = 10_000
WIDTH = 100
PARENTS = 3
RUNS = 7
TARGET_MS = 100
TYPES = ("demo.noop", "demo.sleep", "http.request")


def layered_definition(*, nodes: int, width: int, parents: int, seed: int) -> dict:
    rng = random.Random(seed)
    ids = [f"step-{i}" for i in range(nodes)]
    definition = []
    for i, node_id in enumerate(ids):
        layer = i // width
        above = ids[max(0, layer - 2) * width : layer * width]
        node = {"id": node_id, "type": TYPES[i % 3], "payload": {"n": i}}
        if above:
            node["depends_on"] = rng.sample(above, parents)
        definition.append(node)
    return {"nodes": definition, "on_failure": "abort"}


def median_ms(run: Callable[[], object]) -> float:
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000


def main() -> None:
    definition = layered_definition(nodes=NODES, width=WIDTH, parents=PARENTS, seed=7)
    graph = {n["id"]: n.get("depends_on", []) for n in definition["nodes"]}
    plan = dag.validate(definition, known_types=TYPES)  # warm up, and sanity
    assert len(plan.order) == NODES
    baseline = median_ms(lambda: list(TopologicalSorter(graph).static_order()))
    conductor = median_ms(lambda: dag.validate(definition, known_types=TYPES))
    line = {
        "bench": "dag",
        "nodes": NODES,
        "edges": sum(map(len, graph.values())),
        "baseline_ms": round(baseline, 2),
        "conductor_ms": round(conductor, 2),
        "ratio": round(conductor / baseline, 2),
        "target_ms": TARGET_MS,
        "ok": conductor < TARGET_MS,
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
