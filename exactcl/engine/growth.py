"""Growth of the generated Lie algebra, with the provenance graph of its words.

W_0 is spanned by the generators, W_{k+1} = W_k + [W_0, W_k]. At depth
k + 1 the candidates are the brackets [X_i, Z] of every generator X_i with
every word Z kept at depth k (at depth 1, with every generator). A
candidate is evaluated at an integer point modulo a prime and kept when it
raises the rank of the kept values. Words are evaluated by jets
(:mod:`exactcl.kernel.jets`), never expanded; the exact field of a kept word is
computed only on request (:meth:`Growth.fields`). Every rank is a modular
rank of exact values, hence a rigorous lower bound on dim Lie(W)(theta)
at that point and on a dense open set.

The provenance is recorded as plain data, :attr:`Growth.nodes`: a dict
from integer node ids to attribute dicts carrying ``word`` (a string such
as ``"[X1,[X2,X3]]"``), ``depth``, ``raised`` (whether the word raised
the rank), ``generator`` (generators only), ``left``/``right`` (operand
node ids, brackets only), ``moves``/``involves`` (supersets of the
directions and variables of kept words) and, once computed, ``field``.
:attr:`Growth.graph` is the same provenance as a ``networkx.DiGraph``
with those nodes and attributes and edges from the two operands to their
bracket; it is built on first access, so that growing, counting and
certifying never import networkx.

Notes
-----
Stopping when a depth adds nothing, or when the rank reaches a known
upper bound (D minus the number of proven laws), is sound for the lower
bound; whether the final rank is dim Lie(W) is a separate claim, proven
by a sandwich with exhibited laws or by the closure check
(:mod:`exactcl.kernel.brackets`).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from math import isqrt
from typing import TYPE_CHECKING, Any

import numpy as np

from ..kernel import densemod
from ..kernel.brackets import bracket, bracket_value_mod, interact
from ..kernel.errors import bad_argument
from ..kernel.fields import VectorField, check_prime_for
from ..kernel.jets import WordJets
from ..kernel.linalg import block_rank_mod
from .bases import IncrementalBasis
from .progress import step

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

__all__ = ["DepthStats", "Growth", "basis_words", "grow", "word_field", "word_string"]

#: Candidates evaluated before each rank decision; a batch also stops
#: early once it holds twice the rank still missing.
BATCH_SIZE = 256
#: With more generators than this, depth 0 tries them in a seeded random order.
SHUFFLE_ABOVE = BATCH_SIZE
#: Default number of candidate brackets evaluated per depth before the
#: depth is declared sampled rather than exhaustive.
DEFAULT_BUDGET = 200_000
#: Brackets evaluated at one depth without raising the rank before growth
#: looks one depth further (:func:`_lookahead`), once per depth, when it
#: aims at a target below D (a sandwich with candidate laws).
LOOKAHEAD_STALL = 256
#: Brackets the look one depth further evaluates at most: this many per rank
#: still missing, plus a floor.
LOOKAHEAD_PER_MISSING, LOOKAHEAD_FLOOR = 8, 64


@dataclass(frozen=True)
class DepthStats:
    """What happened at one bracket depth."""

    depth: int
    rank: int
    kept: int
    evaluated: int
    candidates: int
    exhaustive: bool


@dataclass(frozen=True, eq=False)
class Growth:
    """The result of :func:`grow`.

    Attributes
    ----------
    nodes : dict of int to dict
        Provenance of the evaluated words: node id -> attributes (see the
        module docstring).
    graph : networkx.DiGraph
        The same provenance as a graph, built once, on first access; its
        node attribute dicts are the dicts of ``nodes``, so a field cached
        on one is seen by the other.
    basis : tuple of int
        Node ids of the kept words, in the order they were kept; their
        values at ``point`` are independent mod ``prime``.
    rank : int
        len(basis): a lower bound on dim Lie(W)(theta).
    depths : tuple of DepthStats
        Rank after each depth (the rank profile) and how it was obtained.
    point : tuple of int
    prime : int
    target : int or None
        The rank at which growth stopped early (an upper bound known from
        proven laws), if any.
    stop : str
        ``"target"``, ``"stalled"`` (a depth added nothing), ``"full"``
        (rank D) or ``"max_depth"``.
    """

    nodes: dict[int, dict[str, Any]]
    basis: tuple[int, ...]
    rank: int
    depths: tuple[DepthStats, ...]
    point: tuple[int, ...]
    prime: int
    target: int | None
    stop: str
    generators: tuple[VectorField, ...] = ()

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The provenance as a ``networkx.DiGraph`` (imports networkx).

        >>> from exactcl.models.builtin import linear
        >>> from exactcl.kernel.rings import DEFAULT_PRIME
        >>> g = grow(linear([2, 2, 2]).generators, [3, 1, 4, 1, 5, 9, 2, 6], DEFAULT_PRIME)
        >>> G = g.graph
        >>> sorted(G.predecessors(g.basis[-1])), G.nodes[g.basis[-1]]["word"]
        ([1, 3], '[X2,X4]')
        >>> G.nodes[4] is g.nodes[4]
        True
        """
        return _provenance_graph(self.nodes)

    @property
    def profile(self) -> tuple[int, ...]:
        """The rank after each depth: lower bounds on dim W_k(theta)."""
        return tuple(s.rank for s in self.depths)

    @property
    def exhaustive(self) -> bool:
        return all(s.exhaustive for s in self.depths)

    def fields(self) -> list[VectorField]:
        """The kept words as exact vector fields over Q, in basis order.

        Growth itself only evaluates words at the point (by jets); the
        symbolic brackets are computed here, on first request.
        """
        return [word_field(self.nodes, self.generators, n) for n in self.basis]

    def words(self) -> list[str]:
        return [self.nodes[n]["word"] for n in self.basis]

    def __repr__(self) -> str:
        return (f"Growth(rank={self.rank}, profile={list(self.profile)}, stop={self.stop!r}, "
                f"words={len(self.nodes)})")

    def stop_text(self) -> str:
        """Why growth stopped, in words.

        >>> from exactcl.models.builtin import product
        >>> from exactcl.kernel.rings import DEFAULT_PRIME
        >>> grow(product(2).generators, [1, 2], DEFAULT_PRIME).stop_text()
        'a depth added nothing'
        """
        if self.stop == "target":
            return f"reached the target rank {self.target} (D minus the proven laws)"
        return {"stalled": "a depth added nothing", "full": "full rank D",
                "max_depth": "reached the deepest depth allowed"}.get(self.stop, self.stop)

    def profile_text(self) -> str:
        """The rank per bracket depth, and which depths were only sampled.

        >>> from exactcl.models.builtin import linear
        >>> from exactcl.kernel.rings import DEFAULT_PRIME
        >>> grow(linear([2, 2, 2]).generators, [3, 1, 4, 1, 5, 9, 2, 6], DEFAULT_PRIME
        ...      ).profile_text()
        '4, 5, 5 (depths 0 to 2)'
        """
        last = len(self.depths) - 1
        text = ", ".join(map(str, self.profile)) + (
            " (depth 0)" if last == 0 else f" (depths 0 to {last})")
        sampled = [str(s.depth) for s in self.depths if not s.exhaustive]
        if sampled and self.stop not in ("target", "full"):  # else the rank is the largest possible
            text += f"; depth{'s' if len(sampled) > 1 else ''} {', '.join(sampled)} sampled, " \
                    "not exhaustive"
        return text

    def _repr_markdown_(self) -> str:
        """Markdown for Jupyter: the rank, the rank per depth, why growth
        stopped and the size of the provenance graph.

        >>> from exactcl.models.builtin import product
        >>> from exactcl.kernel.rings import DEFAULT_PRIME
        >>> print(grow(product(2).generators, [1, 2], DEFAULT_PRIME)._repr_markdown_())
        **Lie algebra growth**: rank 1 at the point (mod p = 4611686018427387847), a lower bound on $\\dim \\mathrm{Lie}(W)$
        <BLANKLINE>
        - rank per bracket depth: 1, 1 (depths 0 to 1)
        - stopped: a depth added nothing
        - provenance graph: 1 word, 1 kept
        """
        nodes = len(self.nodes)
        return "\n".join([
            f"**Lie algebra growth**: rank {self.rank} at the point (mod p = {self.prime}), "
            r"a lower bound on $\dim \mathrm{Lie}(W)$",
            "",
            f"- rank per bracket depth: {self.profile_text()}",
            f"- stopped: {self.stop_text()}",
            f"- provenance graph: {nodes} word{'' if nodes == 1 else 's'}, {len(self.basis)} kept",
        ])


def _attributes(nodes) -> Mapping[int, dict[str, Any]]:
    """Node id -> attributes, from :attr:`Growth.nodes` or a provenance graph."""
    return nodes if isinstance(nodes, Mapping) else nodes.nodes


def _provenance_graph(nodes: dict[int, dict[str, Any]]) -> nx.DiGraph:
    """The provenance ``nodes`` (:attr:`Growth.nodes`) as a ``networkx.DiGraph``.

    Nodes are added in id order (the order growth made them), each bracket
    with edges from its ``left`` and ``right`` operands. networkx copies
    attributes into dicts of its own, so each entry of ``nodes`` is then
    replaced by the graph's dict (same contents): one dict per node, shared
    by both views. Call it once per provenance (:attr:`Growth.graph` caches it).
    """
    import networkx as nx

    graph = nx.DiGraph()
    for node in sorted(nodes):
        data = nodes[node]
        graph.add_node(node, **data)
        if "left" in data:
            graph.add_edge(data["left"], node)
            graph.add_edge(data["right"], node)
        nodes[node] = graph.nodes[node]
    return graph


def basis_words(growth: Growth, ngens: int) -> list[list[int]]:
    """The bracket words needed to rebuild the basis of ``growth``, as
    certificates write them: [id, left, right], by id (ids below ``ngens``,
    the number of generator fields, are those fields)."""
    nodes = growth.nodes
    needed, stack = set(), [n for n in growth.basis if n >= ngens]
    while stack:
        node = stack.pop()
        if node in needed:
            continue
        needed.add(node)
        right = nodes[node]["right"]
        if right >= ngens:
            stack.append(right)
    return [[n, nodes[n]["left"], nodes[n]["right"]] for n in sorted(needed)]


def word_string(nodes: Mapping[int, dict[str, Any]] | nx.DiGraph, node: int) -> str:
    """The word of ``node``, such as ``"[X1,[X2,X3]]"``."""
    return _attributes(nodes)[node]["word"]


def _candidate_pairs(depth: int, frontier: list[int], ngens: int, budget: int,
                     rng: random.Random, nodes: Mapping[int, dict[str, Any]] | None = None,
                     tight: Mapping[int, tuple] | None = None
                     ) -> tuple[Iterator[tuple[int, int]], int]:
    """Candidate (generator, word) pairs of one depth in a seeded random order.

    Small pools are listed and shuffled. In a pool far larger than the
    budget, the pairs that may interact are listed from an index of the
    variables the generators move and involve (``nodes``, or ``tight`` where
    it holds a node) when there are few of them (the other pairs bracket to
    zero: every generator of a lifted flow but the drift moves only
    velocities and involves only positions, and a word [drift, Z] only what
    Z's path holds); otherwise the pool is sampled without replacement,
    each draw in constant time (:func:`_sample_indices`).
    """
    if depth == 1:
        total = len(frontier) * (len(frontier) - 1) // 2

        def pair(k: int) -> tuple[int, int]:
            # k-th pair (i, j), i < j, of the frontier (the generators)
            j = (1 + isqrt(1 + 8 * k)) // 2
            return frontier[k - j * (j - 1) // 2], frontier[j]
    else:
        total = len(frontier) * ngens

        def pair(k: int) -> tuple[int, int]:
            return k % ngens, frontier[k // ngens]
    if total <= 4 * budget:
        order = list(range(total))
        rng.shuffle(order)
        return (pair(k) for k in order), total
    if nodes is not None:
        listed = _interacting_pairs(depth, frontier, ngens, nodes, 4 * budget, tight)
        if listed is not None:
            rng.shuffle(listed)
            return (pair(k) for k in listed), total
    return (pair(k) for k in _sample_indices(total, rng)), total


#: Most (variable, field) incidences the index of :func:`_interacting_pairs`
#: walks, per pair it may list.
INDEX_WORK = 8


def _interacting_pairs(depth: int, frontier: list[int], ngens: int,
                       nodes: Mapping[int, dict[str, Any]], most: int,
                       tight: Mapping[int, tuple] | None = None) -> list[int] | None:
    """The indices k (numbered as in :func:`_candidate_pairs`) of the pairs of
    a depth that may interact (:func:`_interact`: one moves a variable the
    other involves), sorted, from an index of the variables the generators
    move and involve; None when a support is unknown, or when the index would
    walk more than INDEX_WORK * ``most`` incidences or list more than
    ``most`` pairs."""
    gens = frontier if depth == 1 else range(ngens)
    movers: dict[int, list[int]] = {}
    involvers: dict[int, list[int]] = {}
    growing = 0  # at depth 1, sum over v of |movers[v]| |involvers[v]| so far: it only grows
    for position, node in enumerate(gens):
        moves, involves = _supports(nodes, tight, node)
        if moves is None or involves is None:
            return None
        if depth == 1:
            growing += sum(len(involvers.get(v, ())) for v in moves)
        for v in moves:
            movers.setdefault(v, []).append(position)
        if depth == 1:
            growing += sum(len(movers.get(v, ())) for v in involves)
            if growing > INDEX_WORK * most:  # the work below would exceed it too
                return None
        for v in involves:
            involvers.setdefault(v, []).append(position)
    work = 0
    found: set[int] = set()
    if depth == 1:
        work = sum(len(a) * len(involvers.get(v, ())) for v, a in movers.items())
        if work > INDEX_WORK * most:
            return None
        for v, moving in movers.items():
            for a in moving:
                for b in involvers.get(v, ()):
                    if a != b:
                        i, j = (a, b) if a < b else (b, a)
                        found.add(j * (j - 1) // 2 + i)
            if len(found) > most:
                return None
        return sorted(found)
    for q, node in enumerate(frontier):
        moves, involves = _supports(nodes, tight, node)
        if moves is None or involves is None:
            return None
        partners: set[int] = set()
        for index, variables in ((movers, involves), (involvers, moves)):
            for v in variables:
                hit = index.get(v)
                if hit:
                    work += len(hit)
                    partners.update(hit)
        if work > INDEX_WORK * most:
            return None
        found.update(q * ngens + i for i in partners)
        if len(found) > most:
            return None
    return sorted(found)


def _sample_indices(total: int, rng: random.Random) -> Iterator[int]:
    """range(total) in a seeded random order, drawn lazily: Fisher-Yates with
    the swapped entries kept in a dict, so each draw costs constant time and
    memory grows only with the draws made."""
    swapped: dict[int, int] = {}
    for n in range(total):
        r = rng.randrange(n, total)
        drawn = swapped.get(r, r)
        head = swapped.pop(n, n)
        if r != n:
            swapped[r] = head
        yield drawn


class _Evaluator:
    """Values and Jacobians mod p at the point, cached per node, from jets
    (:mod:`exactcl.kernel.jets`): bracket words are never expanded."""

    def __init__(self, generators: Sequence[VectorField], point: Sequence[int],
                 prime: int) -> None:
        self.generators = generators
        self.brackets: dict[int, tuple[int, int]] = {}  # kept word -> (left, right)
        self.words = WordJets(generators, self.brackets, point, prime)
        self._value: dict[int, dict[int, int]] = {}
        self._jac: dict[int, dict[int, dict[int, int]]] = {}

    def value(self, node: int) -> dict[int, int]:
        if node not in self._value:
            if node < len(self.generators):  # depth 0 needs no Jacobian
                self._value[node] = self.words.value(node)
            else:
                self.jac(node)
        return self._value[node]

    def values(self, nodes: Sequence[int]) -> list[dict[int, int]]:
        return [self.value(node) for node in nodes]

    def jac(self, node: int) -> dict[int, dict[int, int]]:
        if node not in self._jac:
            self._value[node], self._jac[node] = self.words.value_and_jacobian(node)
        return self._jac[node]

    def bracket(self, i: int, j: int) -> dict[int, int]:
        """The value of [X_i, word j] at the point."""
        return bracket_value_mod(self.value(i), self.jac(i), self.value(j), self.jac(j),
                                 self.words.prime)

    def keep(self, node: int, i: int, j: int) -> None:
        """Register the kept word ``node`` = [X_i, word j] for evaluation."""
        self.brackets[node] = (i, j)


def _supports(nodes: Mapping[int, dict[str, Any]], tight: Mapping[int, tuple] | None,
              node: int) -> tuple[frozenset[int] | None, frozenset[int] | None]:
    """(moves, involves) of a node: from ``tight`` (the supports that
    :func:`_bracket_parts` bounds component by component) when it holds the
    node, else the provenance's (None when unknown)."""
    if tight is not None and node in tight:
        return tight[node][0], tight[node][1]
    data = nodes[node]
    return data["moves"], data["involves"]


def _interact(nodes: dict[int, dict[str, Any]], i: int, j: int,
              tight: Mapping[int, tuple] | None = None) -> bool:
    """False when [X_i, word j] is zero because neither moves a variable the
    other involves (judged on supersets for words, so a False is always right)."""
    moves_a, involves_a = _supports(nodes, tight, i)
    moves_b, involves_b = _supports(nodes, tight, j)
    if moves_a is None or moves_b is None:  # unknown supports (a program's fields)
        return True
    return interact(moves_a, involves_a, moves_b, involves_b)


def _lookahead(ev: Any, basis: list[int], frontier: list[int], ngens: int, limit: int,
               prime: int, seed: int, depth: int) -> tuple[list, list] | None:
    """(pairs, values) of brackets one depth further, [generator, word of
    ``frontier``], that raise the rank of the basis words to ``limit``, or
    None: a depth whose rank stalls below the target looks one depth further
    before it evaluates the rest of its pairs (a rank is a lower bound
    whichever words give it). Evaluated in a seeded order of its own, at
    most LOOKAHEAD_PER_MISSING per missing rank plus LOOKAHEAD_FLOOR; the
    basis is left as it was when the look fails."""
    known = [ev.value(b) for b in basis]
    missing = limit - _rank(known, prime)
    if missing <= 0:
        return None
    total = len(frontier) * ngens
    order = random.Random(f"lookahead {seed}/{depth}").sample(range(total), total)
    allowed = LOOKAHEAD_PER_MISSING * missing + LOOKAHEAD_FLOOR
    pairs: list[tuple[int, int]] = []
    values: list[dict[int, int]] = []
    step_size = max(4, missing)
    for count, k in enumerate(order[:allowed], 1):
        i, j = k % ngens, frontier[k // ngens]
        value = ev.bracket(i, j)
        if _nonzero(value):
            pairs.append((i, j))
            values.append(value)
        if len(values) and (len(values) % step_size == 0 or count == min(allowed, total)):
            if _rank(known + values, prime) >= limit:
                return pairs, values
    return None


def _nonzero(value: Mapping[int, int] | np.ndarray) -> bool:
    """Whether a value (sparse, or a row of residues on BLAS) is not zero."""
    return bool(value.any()) if isinstance(value, np.ndarray) else bool(value)


def _rank(values: list, prime: int) -> int:
    """The rank mod ``prime`` of values (sparse, or rows of residues on BLAS)."""
    if values and isinstance(values[0], np.ndarray):
        return densemod.rank(np.stack(values), prime)
    return block_rank_mod(values, prime)


def _record(nodes: dict[int, dict[str, Any]], basis_vectors: IncrementalBasis, basis: list[int],
            kept_here: list[int], ev: Any, depth: int,
            batch_pairs: list[tuple[int, int]], batch_values: list[dict[int, int]], limit: int,
            next_id: int, parts_cap: int = 0, tight: dict[int, tuple] | None = None) -> int:
    """Decide a batch of candidate brackets: add them to the provenance and
    register the kept ones for evaluation by jets; empty the batch and
    return the next free node id."""
    kept = set(basis_vectors.add(batch_values, limit=limit))
    for k, (i, j) in enumerate(batch_pairs):
        node = next_id
        next_id += 1
        left, right = nodes[i], nodes[j]
        data = nodes[node] = {"word": f"[{left['word']},{right['word']}]", "depth": depth,
                              "raised": k in kept, "left": i, "right": j}
        if k in kept:
            known = left["moves"] is not None and right["moves"] is not None
            data["moves"] = left["moves"] | right["moves"] if known else None
            data["involves"] = left["involves"] | right["involves"] if known else None
            if tight is not None and i in tight and j in tight:
                parts = _bracket_parts(tight[i][2], tight[j][2], parts_cap)
                if parts is not None:
                    tight[node] = (frozenset(parts), frozenset().union(*parts.values()), parts)
            ev.keep(node, i, j)
            basis.append(node)
            kept_here.append(node)
    batch_pairs.clear()
    batch_values.clear()
    return next_id


#: Growth bounds the variables each component of a kept word involves (a
#: superset per component, :func:`_bracket_parts`) while these hold at most
#: this many entries per variable of the ring in all; beyond, the word's
#: ``moves`` and ``involves`` (the unions over its operands) are used.
PARTS_PER_VARIABLE = 4


def _bracket_parts(a: Mapping[int, frozenset[int]] | None, b: Mapping[int, frozenset[int]] | None,
                   cap: int) -> dict[int, frozenset[int]] | None:
    """Per component v, a superset of the variables [X, Z]_v involves, from
    those of X (``a``) and Z (``b``): [X, Z]_v = sum_w X_w d_w Z_v - Z_w d_w X_v,
    and X_w d_w Z_v is zero unless X moves w and Z_v involves w, and then
    involves only what X_w and Z_v involve (likewise with X and Z swapped).
    None when an operand's are unknown or the result holds more than
    ``cap`` entries.

    >>> a = {0: frozenset({1})}                      # X = x1 d/dx0
    >>> b = {1: frozenset({0, 2}), 2: frozenset()}   # Z = x0 x2 d/dx1 + d/dx2
    >>> sorted((v, sorted(s)) for v, s in _bracket_parts(a, b, 10).items())
    [(0, [0, 1, 2]), (1, [0, 1, 2])]
    """
    if a is None or b is None:
        return None
    out: dict[int, frozenset[int]] = {}
    size = 0
    for x, z in ((a, b), (b, a)):
        for v, involved in z.items():
            hit = [w for w in involved if w in x]
            if not hit:
                continue
            new = out.get(v, frozenset()) | involved
            for w in hit:
                new |= x[w]
            size += len(new) - len(out.get(v, ()))
            if size > cap:
                return None
            out[v] = new
    return out


def word_field(nodes: Mapping[int, dict[str, Any]] | nx.DiGraph,
               generators: Sequence[VectorField], node: int) -> VectorField:
    """The word ``node`` as an exact vector field over Q, computed by symbolic
    brackets on first request and kept as the ``field`` attribute of the node.

    ``nodes`` is :attr:`Growth.nodes` or the provenance graph: both hold the
    same attribute dicts, so the field is computed once.
    """
    nodes = _attributes(nodes)
    data = nodes[node]
    fld = data.get("field")
    if fld is None:
        if node < len(generators):
            fld = generators[node]
        else:
            fld = bracket(generators[data["left"]], word_field(nodes, generators, data["right"]))
        data["field"] = fld
    return fld


def grow(
    generators: Sequence[VectorField],
    point: Sequence[int],
    prime: int,
    *,
    target: int | None = None,
    max_depth: int | None = None,
    budget: int = DEFAULT_BUDGET,
    seed: int = 0,
) -> Growth:
    """Grow the Lie algebra generated by ``generators`` at ``point`` mod ``prime``.

    Parameters
    ----------
    generators : sequence of VectorField
    point : sequence of int
        An integer point theta (length D).
    prime : int
        The prime for modular ranks (must not divide a denominator).
    target : int, optional
        Stop as soon as the rank reaches it (an upper bound on the rank,
        e.g. D minus the number of proven laws).
    max_depth : int, optional
        Deepest bracket depth to try (default: until growth stops).
    budget : int
        Candidate brackets evaluated per depth before the depth counts as
        sampled, not exhaustive.
    seed : int
        Seed of the order in which candidates are tried (tightness only).

    Returns
    -------
    Growth

    Examples
    --------
    >>> from exactcl.models.builtin import linear
    >>> from exactcl.kernel.rings import DEFAULT_PRIME
    >>> m = linear([2, 2, 2])
    >>> g = grow(m.generators, [3, 1, 4, 1, 5, 9, 2, 6], DEFAULT_PRIME)
    >>> g.profile, g.stop
    ((4, 5, 5), 'stalled')
    >>> g.words()
    ['X1', 'X2', 'X3', 'X4', '[X2,X4]']
    """
    if not generators:
        raise bad_argument("generators", "a non-empty sequence of vector fields", generators)
    D = generators[0].ring.nvars
    if len(point) != D:
        raise bad_argument("point", f"a sequence of {D} ints", point)
    check_prime_for(generators, prime)
    if max_depth is not None and (isinstance(max_depth, bool) or not isinstance(max_depth, int)
                                  or max_depth < 0):
        raise bad_argument("max_depth", "a non-negative int or None", max_depth)
    nodes = {i: {"word": f"X{i + 1}", "depth": 0, "raised": False, "generator": i,
                 "moves": X.directions, "involves": X.variables}
             for i, X in enumerate(generators)}
    cap = PARTS_PER_VARIABLE * D
    tight = {i: (X.directions, X.variables, X.support_of) for i, X in enumerate(generators)
             if sum(map(len, X.supports)) <= cap}
    ev = _Evaluator(generators, point, prime)
    return grow_with(ev, nodes, len(generators), D, point, prime, target=target,
                     max_depth=max_depth, budget=budget, seed=seed,
                     basis_vectors=IncrementalBasis(D, prime, keep_rows=False),
                     generators=tuple(generators), tight=tight)


def grow_with(ev: Any, nodes: dict[int, dict[str, Any]], ngens: int, D: int,
              point: Sequence[int], prime: int, *, target: int | None, max_depth: int | None,
              budget: int, seed: int, basis_vectors: Any,
              generators: tuple[VectorField, ...] = (), batch_size: int = BATCH_SIZE,
              tight: dict[int, tuple] | None = None, stall: int | None = None) -> Growth:
    """The growth loop of :func:`grow` on any evaluator of words: ``ev``
    gives ``value(node)`` and ``bracket(i, j)`` (the value of [X_i, word j])
    at the point mod p and ``keep(node, i, j)`` registers a kept word;
    ``nodes`` holds the generators' provenance (``moves`` None when their
    supports are unknown); ``basis_vectors`` decides ranks (``add``, ``rank``)
    on batches of at most ``batch_size`` values; ``tight`` maps generators
    to (moves, involves, the variables each component involves) when known,
    and growth adds its kept words' (:func:`_bracket_parts`), to skip more
    brackets that vanish identically. With ``stall``, depth 0 stops after
    that many batches in a row that keep nothing (the generators left are
    not evaluated: the depth is sampled, and the rank found a lower bound as
    always)."""
    limit = D if target is None else min(D, target)
    parts_cap = PARTS_PER_VARIABLE * D
    rng = random.Random(seed)
    basis: list[int] = []
    depths: list[DepthStats] = []
    evaluated = 0
    order = list(range(ngens))
    if ngens > SHUFFLE_ABOVE:
        # many generators (one per path of a deep net): a seeded random order
        # spreads the first batches over all parameters, so the rank reaches
        # the target after a few batches instead of after all of them
        random.Random(f"generator order {seed}").shuffle(order)
    barren = 0
    for start in range(0, len(order), batch_size):
        if basis_vectors.rank >= limit or (stall is not None and barren >= stall):
            break
        chunk = order[start:start + batch_size]
        values = ev.values(chunk)
        evaluated += len(chunk)
        kept = basis_vectors.add(values, limit=limit)
        for k in kept:
            node = chunk[k]
            nodes[node]["raised"] = True
            basis.append(node)
        barren = 0 if kept else barren + 1
        step("growth depth 0", basis_vectors.rank, limit, "rank", estimate=False)
    depths.append(DepthStats(0, basis_vectors.rank, len(basis), evaluated, ngens,
                             evaluated == ngens))

    next_id = ngens
    frontier = list(range(ngens))
    depth = 0
    stop = "max_depth"
    while True:
        if basis_vectors.rank >= limit:
            stop = "target" if limit < D else "full"
            break
        if max_depth is not None and depth >= max_depth:
            stop = "max_depth"
            break
        depth += 1
        pairs, total = _candidate_pairs(depth, frontier, ngens, budget, rng, nodes, tight)
        label = f"growth depth {depth}"
        kept_here: list[int] = []
        evaluated = 0
        batch_pairs: list[tuple[int, int]] = []
        batch_values: list[dict[int, int]] = []
        fruitless = 0
        since_gain, looked = 0, False
        can_look = (limit < D and (max_depth is None or depth < max_depth)
                    and getattr(ev, "looks_ahead", False))

        for i, j in pairs:
            if basis_vectors.rank >= limit or evaluated >= budget:
                break
            if not _interact(nodes, i, j, tight):
                continue
            value = ev.bracket(i, j)
            evaluated += 1
            since_gain += 1
            if _nonzero(value):
                batch_pairs.append((i, j))
                batch_values.append(value)
            missing = limit - basis_vectors.rank
            if len(batch_values) >= min(batch_size, max(8, 2 * missing) << fruitless):
                before = basis_vectors.rank
                next_id = _record(nodes, basis_vectors, basis, kept_here, ev, depth,
                                  batch_pairs, batch_values, limit, next_id, parts_cap, tight)
                # batches that keep nothing double, up to batch_size: a rank
                # stuck below the target costs few decisions, not one per 8
                # candidates (which candidates are kept does not change)
                fruitless = 0 if basis_vectors.rank > before else min(fruitless + 1, 20)
                since_gain = 0 if basis_vectors.rank > before else since_gain
                step(label, basis_vectors.rank, limit, "rank", estimate=False)
            if can_look and not looked and kept_here and since_gain >= LOOKAHEAD_STALL:
                looked = True
                if batch_values:
                    next_id = _record(nodes, basis_vectors, basis, kept_here, ev, depth,
                                      batch_pairs, batch_values, limit, next_id, parts_cap,
                                      tight)
                found = _lookahead(ev, basis, kept_here, ngens, limit, prime, seed, depth)
                if found is not None:  # the next depth reaches the target: take it
                    depths.append(DepthStats(depth, basis_vectors.rank, len(kept_here),
                                             evaluated, total, False))
                    depth += 1
                    kept_next: list[int] = []
                    next_id = _record(nodes, basis_vectors, basis, kept_next, ev, depth,
                                      found[0], found[1], limit, next_id, parts_cap, tight)
                    depths.append(DepthStats(depth, basis_vectors.rank, len(kept_next),
                                             len(found[0]), len(kept_here) * ngens, False))
                    step(f"growth depth {depth}", basis_vectors.rank, limit, "rank",
                         estimate=False)
                    return Growth(nodes, tuple(basis), basis_vectors.rank, tuple(depths),
                                  tuple(point), prime, target, "target", generators)
        if batch_values:
            next_id = _record(nodes, basis_vectors, basis, kept_here, ev, depth,
                              batch_pairs, batch_values, limit, next_id, parts_cap, tight)
        step(label, basis_vectors.rank, limit, "rank", estimate=False)
        exhaustive = evaluated < budget or basis_vectors.rank >= limit
        depths.append(DepthStats(depth, basis_vectors.rank, len(kept_here), evaluated,
                                 total, exhaustive))
        if not kept_here:
            stop = "stalled"
            break
        frontier = kept_here
    return Growth(nodes, tuple(basis), basis_vectors.rank, tuple(depths), tuple(point), prime,
                  target, stop, generators)
