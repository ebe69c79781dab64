"""The emergence measure of Li et al. (arXiv 2311.17403, Neural Computation 37(8), 2025).

For a directed graph G and an observed subgraph H (here: the units active on a data batch),

    E(G, H) = sum over nodes x outside H, over x's out-neighbours s inside H, of P_H(s),

The full discussion (layer counting, consequences, limits, what is unverified) is in
docs/init-schemes.md, section "The emergence measure".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def _check_counts(units: Sequence[int], active: Sequence[int]) -> None:
    if len(units) != len(active):
        raise ValueError(f"got {len(units)} level sizes but {len(active)} active counts")
    for n, a in zip(units, active, strict=True):
        if not 0 <= a <= n:
            raise ValueError(f"active count {a} outside [0, {n}]")


def emergence_count(units: Sequence[int], active: Sequence[int]) -> int:
    """E of a layered, fully connected graph as an exact integer (for small nets and tests)."""
    _check_counts(units, active)
    total, above = 0, 1
    for i in range(len(units) - 2, -1, -1):
        above *= active[i + 1]
        total += (units[i] - active[i]) * above
    return total


def log_emergence(units: Sequence[int], active: Sequence[int]) -> float:
    """Natural log of E for a layered, fully connected graph; -inf when E = 0."""
    _check_counts(units, active)
    terms: list[float] = []
    log_above = 0.0  # log prod_{j > i} a_j
    for i in range(len(units) - 2, -1, -1):
        if active[i + 1] == 0:
            break  # every path from below dies at level i+1
        log_above += math.log(active[i + 1])
        if units[i] > active[i]:
            terms.append(math.log(units[i] - active[i]) + log_above)
    return _logsumexp(terms)


def _logsumexp(terms: list[float]) -> float:
    if not terms:
        return float("-inf")
    top = max(terms)
    return top + math.log(math.fsum(math.exp(t - top) for t in terms))


def level_counts(
    depths: Sequence[int], units: Sequence[int], active: Sequence[int]
) -> tuple[list[int], list[int]]:
    """Merge layers that share a depth into one level: (units per level, active per level)."""
    merged: dict[int, list[int]] = {}
    for d, n, a in zip(depths, units, active, strict=True):
        level = merged.setdefault(d, [0, 0])
        level[0] += n
        level[1] += a
    order = sorted(merged)
    return [merged[d][0] for d in order], [merged[d][1] for d in order]


def emergence_of_dag(
    num_nodes: int, edges: Iterable[tuple[int, int]], active: Iterable[int]
) -> int:
    """E(G, H) of the module docstring on an explicit DAG, exactly, by dynamic programming.

    Nodes are 0..num_nodes-1, ``edges`` (u, v) pairs, ``active`` the node ids in H. Paths are
    counted from a node in H to an output of G (no out-edges), through nodes of H only.
    """
    succ: list[list[int]] = [[] for _ in range(num_nodes)]
    indegree = [0] * num_nodes
    for u, v in edges:
        succ[u].append(v)
        indegree[v] += 1
    in_h = [False] * num_nodes
    for node in active:
        in_h[node] = True
    order, ready = [], [v for v in range(num_nodes) if indegree[v] == 0]
    while ready:  # Kahn's topological sort
        u = ready.pop()
        order.append(u)
        for v in succ[u]:
            indegree[v] -= 1
            if indegree[v] == 0:
                ready.append(v)
    if len(order) != num_nodes:
        raise ValueError("the graph has a cycle; the measure is defined here for DAGs")
    paths = [0] * num_nodes
    for u in reversed(order):
        if in_h[u]:
            paths[u] = 1 if not succ[u] else sum(paths[v] for v in succ[u] if in_h[v])
    return sum(paths[s] for x in range(num_nodes) if not in_h[x] for s in succ[x] if in_h[s])
