"""Polynomial conservation laws of a program of layers, by evaluation.

:func:`find_laws_by_evaluation` returns what :func:`exactcl.engine.search.find_laws`
returns for the same model (the same laws in the same canonical form and
order), without expanding phi or the generators: every condition is a value
of the program at a point modulo a prime.

Notes
-----
**Unknowns and conditions.** A polynomial h = sum_m c_m m (m a monomial of
degree 1..k, or exactly k when homogeneous; a constant is never a law) is a
law iff grad h . X_c = 0 for every generator c. For a probe with entries
(x, s, sigma, u) (:mod:`exactcl.kernel.evaluator`), grad F . grad h =
sum_c r_c (X_c . grad h) with r_c distinct monomials in the probe's
entries, so h is a law iff this polynomial in theta and the probe vanishes.
Its value at a point theta_s and a probe with every entry random mod p is
one linear condition on the c_m,

    sum_m c_m (grad F(theta_s) . grad m(theta_s)) = 0   (mod p),

the reduction of an exact condition at an integer point. Each point
brings up to ``min(components, D)`` probes (the dimension of W at a point
is at most that). Conditions are added in rounds: the first has at least as
many conditions as the block has unknowns plus :data:`MARGIN`, each later
one the points that would close the gap to full rank at the rank per point
seen so far, until :data:`STABLE_ROUNDS` consecutive rounds raised the rank
mod p no more. Blocks of at most :data:`PYTHON_BLOCK` monomials are reduced
row by row in Python, larger ones by flint echelon forms, a later batch
first reduced by the echelon form of the rows kept (kept only when it
raises the rank).

**Grading.** A law is a sum of laws of two kinds of homogeneity, so blocks
of monomials are solved separately:

* *integer weights* w in Z^D for which every generator is homogeneous (the
  grading :func:`exactcl.engine.search.find_laws` uses), derived here from the
  layout (:func:`program_grading`). The terms of phi_c are the products of
  the parameters along the paths from a source to output k through the
  component's neurons, each with coefficient 1 and no two alike; so X_c is
  homogeneous iff w(p) - 2 w_v is the same for every path p of c and every
  parameter v on p. Within a path this forces w to be constant on it:
  constant on the incoming weights, bias and outgoing weights of every
  hidden neuron, and so on the classes these sets join (a class per hidden
  neuron for two layers, one class for three or more, every last-layer bias
  a class of its own). Across the paths of one component, a path of length
  l in class a has shift weight (l - 2) a, and these must agree: paths of
  different lengths meet only in components of a bias source that several
  layers' biases feed. The weights are the rational kernel of these few
  equations in the class weights. Then X_c maps monomials of weight lambda
  to weight lambda + w(X_c), and the law space is the direct sum of the
  laws within each weight.
* *signs*: a diagonal D of signs with phi_c(D theta) = +-phi_c(theta) for
  every c has X_c(D theta) = +-D X_c(theta), so X_c(h o D) = +-X_c(h) o D
  and h o D is a law with h. Such flips (:func:`sign_flips`) are the
  incoming weights, bias and outgoing weights of a hidden neuron, the first
  layer's weights from one input, the last layer's weights and bias to one
  output, and the biases of one source: all the paths of a component cross
  such a set equally often modulo 2 (twice or never for a hidden neuron,
  once or never for the others), so the flip changes phi_c by a sign. A
  monomial m is an eigenvector, m o D = chi(m) m, and the projection
  h -> (1/|G|) sum_D chi(D) h o D keeps laws, so the laws split by the
  character chi as well, within each weight.

**Kernel and lift.** The kernel of a block's conditions mod p is computed
in reduced row echelon form for the monomial order of
:func:`exactcl.engine.search.find_laws` and lifted to Q by rational
reconstruction, entry by entry; when that fails, kernels modulo further
primes with the same pivots are combined by Chinese remaindering first.
A full rank mod p proves that the block has no law (a rank mod p is at
most the rank over Q of the exact conditions).

**Soundness and completeness.** Every returned law is checked as an
identity: by :func:`exactcl.engine.evaluation.check_laws` (Monte Carlo at random
points, probes and primes, with its stated Schwartz-Zippel bound) and,
when the model is small enough to expand (at most
:data:`EXACT_CHECK_PATHS` terms of phi), exactly over Q by
:func:`exactcl.engine.search.verify_law`. A reconstructed vector that fails the
Monte Carlo check (a kernel mod p larger than over Q, or a wrong lift) is
never returned: its block is solved again with fresh primes and more
conditions. Completeness holds whenever the returned polynomials are laws:
the exact conditions A at the integer points satisfy
laws <= ker_Q(A), and dim ker_Q(A) <= dim ker_p(A mod p), so n laws
lifted from a kernel mod p of dimension n (independent: their pivots
differ) span every law of the block
(the kernel of the evaluated conditions contains the true kernel, it can
only be larger, never smaller). No law is missed with certainty after the
exact check, and otherwise with the probability the Monte Carlo bound
states (the same event as a false law passing). Randomness only decides
how often a block is solved again.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from fractions import Fraction

from flint import fmpq_mpoly, nmod_mat

from ..kernel.blocks import BlockLayout
from ..kernel.errors import ResourceError, VerificationError, bad_argument
from ..kernel.evaluator import Layout
from ..kernel.fields import directions_index, terms_gradient_mod
from ..kernel.linalg import rank_mod
from ..kernel.rings import DEFAULT_PRIME, poly_from_terms, random_prime
from ..limits import check_memory, parse_size
from .evaluation import EXPANDED_PATHS, IdentityCheck, check_laws, evaluator_of, program_paths
from .exactlinalg import (
    canonical_rows,
    kernel_Q,
    matrix_kernel_mod,
    primitive,
    rational_reconstruction,
)
from .progress import step
from .search import MAX_BLOCK, LawSearch, _monomials, check_search_size, verify_law

__all__ = ["EXACT_CHECK_PATHS", "MARGIN", "STABLE_ROUNDS", "find_laws_by_evaluation",
           "program_grading", "sign_flips"]

#: Conditions beyond a block's number of unknowns before its rank may be
#: taken as settled (only how often a block is solved again depends on it).
MARGIN = 16
#: Consecutive rounds that must add no rank before a block's kernel is taken.
STABLE_ROUNDS = 2
#: Blocks of at most this many monomials are reduced in Python, larger ones
#: by flint (the many blocks of one or two monomials of a deep network cost a
#: few flint calls each otherwise); chosen with ``benchmarks/bench_evalsearch.py``.
PYTHON_BLOCK = 8
#: Primes combined by Chinese remaindering before a block's lift is given up.
MAX_PRIMES = 8
#: Fresh starts of a block whose lifted vectors fail the identity check.
ATTEMPTS = 4
#: Models with at most this many terms of phi (paths) are expanded to check
#: each law exactly: the threshold below which the expanded engine is the
#: faster one (:data:`exactcl.engine.evaluation.EXPANDED_PATHS`), so expansion is cheap.
EXACT_CHECK_PATHS = EXPANDED_PATHS

Mono = tuple[tuple[int, int], ...]


# -- the gradings, from the layout ---------------------------------------------------

def _weight(layout: Layout, layer: int, i: int, j: int) -> int:
    """Index of W_l[i, j], l = ``layer`` counted from 1."""
    n_in = layout.linears[layer - 1][0]
    return layout.w_offset[layer - 1] + i * n_in + j


def _bias(layout: Layout, layer: int, i: int) -> int | None:
    """Index of b_l[i], l = ``layer``, or None when that layer has no bias."""
    o = layout.b_offset[layer - 1]
    return None if o is None else o + i


def _neuron_sets(layout: Layout) -> list[list[int]]:
    """Per hidden neuron (output i of linear layer l < L): its incoming
    weights, its bias and its outgoing weights."""
    L, out = len(layout.linears), []
    for layer in range(1, L):
        n_in, n_out, _ = layout.linears[layer - 1]
        n_next = layout.linears[layer][1]
        for i in range(n_out):
            members = [_weight(layout, layer, i, j) for j in range(n_in)]
            b = _bias(layout, layer, i)
            if b is not None:
                members.append(b)
            members += [_weight(layout, layer + 1, k, i) for k in range(n_next)]
            out.append(members)
    return out


def _starts(layout: Layout) -> list[list[int]]:
    """Per source, where its paths start: 0 for an input (a path of one
    weight per layer), else every linear layer l whose bias feeds the source
    (a path from b_l of L - l + 1 parameters)."""
    return [[0] if kind == 0 else
            [layer for layer, s in enumerate(layout.source_of, 1) if s == src]
            for src, (kind, _) in enumerate(layout.sources)]


def _classes(layout: Layout) -> list[int]:
    """Class of each parameter: the parameters joined by sharing a path."""
    parent = list(range(layout.D))

    def find(v: int) -> int:
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for members in _neuron_sets(layout):
        root = find(members[0])
        for v in members[1:]:
            r = find(v)
            if r != root:
                parent[r] = root
    ids: dict[int, int] = {}
    return [ids.setdefault(find(v), len(ids)) for v in range(layout.D)]


def program_grading(layout: Layout) -> list[list[int]]:
    """Integer weight vectors for which every generator of the program is
    homogeneous, in canonical form (see the module notes); the same space as
    :func:`exactcl.engine.search._grading` of the expanded generators.

    >>> from exactcl.layers.program import from_family
    >>> program_grading(from_family("linear", [1, 2, 1]).layout)  # one weight per hidden neuron
    [[1, 0, 1, 0], [0, 1, 0, 1]]
    >>> program_grading(from_family("relu", [1, 1, 1, 1]).layout)  # total degree only
    [[1, 1, 1]]
    """
    cls = _classes(layout)
    L = len(layout.linears)
    relu_last = L >= 2 and any(kind == "relu" for kind, *_ in
                               layout.layers[_layer_position(layout, L - 1) + 1:])
    n_last_in, n_out, _ = layout.linears[-1]
    groups: set[tuple[tuple[int, int], ...]] = set()
    for starts in {tuple(s) for s in _starts(layout)}:
        for k in range(n_out):
            # the neurons before the output a path may cross: one per tag, or all
            choices = [[i] for i in range(n_last_in)] if relu_last else [range(n_last_in)]
            for choice in choices:
                pairs = set()
                for layer in starts:
                    if layer == L:
                        pairs.add((1, cls[_bias(layout, L, k)]))
                    elif L > 1:  # (for L = 1 an input's component is one weight)
                        length = L if layer == 0 else L - layer + 1
                        pairs.update((length, cls[_weight(layout, L, k, i)]) for i in choice)
                if len(pairs) > 1:
                    groups.add(tuple(sorted(pairs)))
    nclasses = max(cls) + 1
    rows = []
    for pairs in sorted(groups):
        (l0, c0), rest = pairs[0], pairs[1:]
        for l1, c1 in rest:
            row = [0] * nclasses
            row[c1] += l1 - 2
            row[c0] -= l0 - 2
            if any(row):
                rows.append(row)
    basis = kernel_Q(rows, nclasses) if rows else \
        [[int(a == b) for b in range(nclasses)] for a in range(nclasses)]
    return canonical_rows([[row[c] for c in cls] for row in basis], layout.D) if basis else []


def _layer_position(layout: Layout, layer: int) -> int:
    """Index in ``layout.layers`` of linear layer ``layer`` (from 1)."""
    seen = 0
    for pos, (kind, *_) in enumerate(layout.layers):
        if kind == "linear":
            seen += 1
            if seen == layer:
                return pos
    raise IndexError(layer)


def sign_flips(layout: Layout) -> list[int]:
    """Per parameter, the bit mask of the sign flips that negate it (see the
    module notes): hidden neurons, then inputs, outputs and sources.

    >>> from exactcl.layers.program import from_family
    >>> [bin(m) for m in sign_flips(from_family("linear", [1, 1, 1]).layout)]
    ['0b11', '0b101']
    """
    masks = [0] * layout.D
    bit = 0
    for members in _neuron_sets(layout):
        for v in members:
            masks[v] |= 1 << bit
        bit += 1
    n_in = layout.linears[0][0]
    for j in range(n_in):
        for i in range(layout.linears[0][1]):
            masks[_weight(layout, 1, i, j)] |= 1 << bit
        bit += 1
    L, (n_last_in, n_out, _) = len(layout.linears), layout.linears[-1]
    for k in range(n_out):
        for i in range(n_last_in):
            masks[_weight(layout, L, k, i)] |= 1 << bit
        b = _bias(layout, L, k)
        if b is not None:
            masks[b] |= 1 << bit
        bit += 1
    for starts in _starts(layout):
        if starts == [0]:  # an input: its flip is the one above
            continue
        for layer in starts:
            for i in range(layout.linears[layer - 1][1]):
                masks[_bias(layout, layer, i)] |= 1 << bit
        bit += 1
    return masks


def _graded_monomials(D: int, degree: int, homogeneous: bool) -> list[Mono]:
    """The candidate monomials in the order of :func:`exactcl.engine.search._order_key`
    (larger first): degree by degree from the highest; within a degree,
    :func:`itertools.combinations_with_replacement` order is already that of
    the exponent vectors, larger first (at the first place two index tuples
    differ, the smaller index gives the larger exponent there)."""
    degrees = [degree] if homogeneous else range(degree, 0, -1)
    return [m for d in degrees for m in _monomials(D, d, True)]


def _blocks(layout: Layout, monomials: Sequence[Mono]) -> list[list[Mono]]:
    """The monomials (in graded order) split by weight and sign character;
    each block keeps their order, blocks in the order of their first monomial."""
    if isinstance(layout, BlockLayout):
        from ..models.blocks import unit_grading
        weights, masks = unit_grading(layout)
    else:
        weights = program_grading(layout)
        masks = sign_flips(layout)
    blocks: dict[tuple, list[Mono]] = {}
    for mono in monomials:
        chi = 0
        for v, e in mono:
            if e & 1:
                chi ^= masks[v]
        key = (tuple(sum(row[v] * e for v, e in mono) for row in weights), chi)
        block = blocks.get(key)
        if block is None:
            blocks[key] = [mono]
        else:
            block.append(mono)
    return list(blocks.values())


def _order(D: int):
    """The sort key of :func:`exactcl.engine.search._order_key` (total degree, then
    exponent vectors, larger first) read from the sparse monomial: at the
    first variable where two monomials differ, the one with the larger
    exponent there comes first, and a monomial that ends first (a zero
    exponent where the other has a positive one) comes last."""
    end = ((D, 0),)

    def key(mono: Mono) -> tuple:
        return (-sum(e for _, e in mono), tuple((v, -e) for v, e in mono) + end)
    return key


# -- conditions mod one prime --------------------------------------------------------

class _Pool:
    """Points mod one prime, each with the gradients of its probes (every
    entry random mod p), drawn in order from one seeded stream: point s is
    the same whichever block asks for it first."""

    def __init__(self, layout: Layout, prime: int, seed: str) -> None:
        self.layout, self.prime = layout, prime
        self.probes = min(layout.components, layout.D)
        self._rng = random.Random(seed)
        self._points: list[tuple[list[int], list[list[int]]]] = []

    def point(self, s: int) -> tuple[list[int], list[list[int]]]:
        """(theta, dense gradients grad F_q(theta) mod p of the probes)."""
        lay, p, rng = self.layout, self.prime, self._rng
        while len(self._points) <= s:
            theta = [rng.randrange(p) for _ in range(lay.D)]
            ev = evaluator_of(lay)
            probes = [ev.random_probe_mod(lay, p, rng) for _ in range(self.probes)]
            words = ev.Words(lay, probes, {}, theta, p)
            grads = []
            for q in range(self.probes):
                dense = [0] * lay.D
                for v, x in words.value(q).items():
                    dense[v] = x
                grads.append(dense)
            self._points.append((theta, grads))
        return self._points[s]


class _Block:
    """One block of monomials and its conditions at a point."""

    def __init__(self, monomials: list[Mono]) -> None:
        self.monomials = monomials

    def _partials(self, theta: Sequence[int], prime: int) -> list[list[tuple[int, int]]]:
        """Per monomial m, the pairs (v, d_v m(theta) mod p)."""
        p, out = prime, []
        for mono in self.monomials:
            if len(mono) == 1:
                v, e = mono[0]
                out.append([(v, e * pow(theta[v], e - 1, p) % p)])
                continue
            powers = [theta[v] if e == 1 else pow(theta[v], e, p) for v, e in mono]
            parts = []
            for a, (v, e) in enumerate(mono):
                x = 1 if e == 1 else e * pow(theta[v], e - 1, p)
                for b, y in enumerate(powers):
                    if b != a:
                        x = x * y % p
                parts.append((v, x))
            out.append(parts)
        return out

    def conditions(self, theta: Sequence[int], grads: Sequence[Sequence[int]],
                   prime: int) -> nmod_mat:
        """Row q, column t: grad F_q(theta) . grad m_t(theta) mod p, as the
        product of the probes' gradients and the monomials' Jacobian."""
        p, M = prime, len(self.monomials)
        V = sorted({v for m in self.monomials for v, _ in m})
        index = {v: r for r, v in enumerate(V)}
        probes = nmod_mat(len(grads), len(V), [g[v] for g in grads for v in V], p)
        jac = nmod_mat(len(V), M, p)  # a few nonzeros a column: set them only
        for t, parts in enumerate(self._partials(theta, p)):
            for v, x in parts:
                jac[index[v], t] = x
        return probes * jac

    def kernel_mod(self, pool: _Pool, margin: int) -> list[list[int]]:
        """Reduced echelon basis of the kernel of the block's conditions mod
        the pool's prime; empty at full rank (no law). The first round takes
        the points of at least M + ``margin`` conditions, each later round the
        points that would close the gap to full rank, and the margin, at the
        rank per point seen so far, until STABLE_ROUNDS rounds in a row leave
        the rank as it was (module notes)."""
        p, M = pool.prime, len(self.monomials)
        used = min(pool.probes, M + margin)
        small = M <= PYTHON_BLOCK
        echelon: list[tuple[int, list[int]]] = []  # small blocks: (pivot, row with 1 there)
        points = -(-(M + margin) // used)
        stack = None if small else _Stack(M, points * used, p)
        rank, still, s = 0, 0, 0
        while still < STABLE_ROUNDS:
            for _ in range(points):
                theta, grads = pool.point(s)
                s += 1
                if small:
                    if self._reduce_python(echelon, theta, grads, used, p) == M:
                        return []
                else:
                    stack.add(self.conditions(theta, grads[:used], p))
            r = len(echelon) if small else stack.settle()
            if r == M:
                return []
            still = still + 1 if r == rank else 0
            rank = r
            # enough points to close the gap at the rate seen so far, and a margin
            points = -(-(M - rank + margin) * s // max(rank, s))
        if rank == 0:
            return [[int(a == b) for b in range(M)] for a in range(M)]
        if small:
            return matrix_kernel_mod(nmod_mat(rank, M, [x for _, row in echelon for x in row], p))
        return stack.kernel()

    def _reduce_python(self, echelon: list[tuple[int, list[int]]], theta: Sequence[int],
                       grads: Sequence[Sequence[int]], used: int, prime: int) -> int:
        """Add the conditions of the first ``used`` probes at a point to a
        small block's echelon rows (in Python: cheaper than flint's calls for
        a few columns); the new rank, stopping at full rank."""
        p, M = prime, len(self.monomials)
        partials = self._partials(theta, p)
        for q in range(used):
            g = grads[q]
            row = []
            for parts in partials:
                x = 0
                for v, y in parts:
                    x += g[v] * y
                row.append(x % p)
            for pivot, other in echelon:
                c = row[pivot]
                if c:
                    row = [(a - c * b) % p for a, b in zip(row, other)]
            lead = next((c for c, x in enumerate(row) if x), None)
            if lead is None:
                continue
            inverse = pow(row[lead], -1, p)
            echelon.append((lead, [x * inverse % p for x in row]))
            if len(echelon) == M:
                break
        return len(echelon)


class _Stack:
    """The conditions of a larger block, decided by flint: rows are copied
    into one matrix with spare zero rows (grown by a quarter when full), and
    :meth:`settle` takes its echelon form. Once it has one, a batch is first
    reduced by it (two products): a batch that raises no rank, the usual case
    once the rank has settled, is not kept."""

    def __init__(self, ncols: int, capacity: int, prime: int) -> None:
        self.ncols, self.prime = ncols, prime
        self.matrix = nmod_mat(capacity, ncols, prime)
        self.rows = 0
        self.rank = 0
        self.echelon: nmod_mat | None = None  # reduced echelon form, zero rows below
        self.pivots: list[int] = []
        self._select: nmod_mat | None = None  # ncols x nrows: pivot column -> its row

    def add(self, batch: nmod_mat) -> None:
        if self.echelon is not None:
            reduced = batch - (batch * self._select) * self.echelon
            if not reduced.rank():
                return
        n, M = batch.nrows(), self.ncols
        if self.rows + n > self.matrix.nrows():
            capacity = (self.rows + n) * 5 // 4
            extra = (capacity - self.matrix.nrows()) * M
            self.matrix = nmod_mat(capacity, M, self.matrix.entries() + [0] * extra, self.prime)
        flat, matrix, top = batch.entries(), self.matrix, self.rows
        for i in range(n):
            for j in range(M):
                x = flat[i * M + j]
                if x:
                    matrix[top + i, j] = x
        self.rows += n
        self.echelon = None

    def settle(self) -> int:
        """The rank of the rows kept (an echelon form when rows came since the last)."""
        if self.echelon is None:
            echelon, rank = self.matrix.rref()
            self.echelon, self.rank = echelon, int(rank)
            self.pivots, col = [], 0
            for r in range(self.rank):
                while not int(echelon[r, col]):
                    col += 1
                self.pivots.append(col)
                col += 1
            select = nmod_mat(self.ncols, echelon.nrows(), self.prime)
            for r, c in enumerate(self.pivots):
                select[c, r] = 1
            self._select = select
        return self.rank

    def kernel(self) -> list[list[int]]:
        """Reduced echelon basis of the kernel, from the echelon form: one
        vector per free column f (1 at f, minus column f of the echelon rows
        at their pivots), then brought to reduced echelon form."""
        self.settle()
        M, p, echelon = self.ncols, self.prime, self.echelon
        pivots = set(self.pivots)
        free = [c for c in range(M) if c not in pivots]
        basis = nmod_mat(len(free), M, p)
        for t, f in enumerate(free):
            basis[t, f] = 1
            for r, c in enumerate(self.pivots):
                x = int(echelon[r, f])
                if x:
                    basis[t, c] = p - x
        reduced, rank = basis.rref()
        return [[int(reduced[r, c]) for c in range(M)] for r in range(int(rank))]


def _lift(residues: list[list[int]], modulus: int) -> list[list[int]] | None:
    """The rational vectors with these residues (rational reconstruction of
    every entry), each made primitive; None when an entry has no lift."""
    out = []
    for row in residues:
        fracs = []
        for x in row:
            f = rational_reconstruction(x, modulus) if x else Fraction(0)
            if f is None:
                return None
            fracs.append(f)
        out.append(primitive(fracs))
    return out


def _pivots(rows: list[list[int]]) -> tuple[int, ...]:
    return tuple(next(c for c, x in enumerate(row) if x) for row in rows)


def _solve(block: _Block, pools, attempt: int) -> list[list[int]]:
    """The laws of a block as primitive integer vectors (canonical: reduced
    echelon form over Q, made primitive), lifted from kernels mod the primes
    of ``pools(attempt, t)``, t = 0, 1, ...; at least ``attempt + 1`` primes
    are combined, and more while the lift fails.

    Raises VerificationError when MAX_PRIMES primes give no lift."""
    margin = MARGIN << attempt
    acc: list[list[int]] | None = None
    modulus, pivots = 1, ()
    for t in range(MAX_PRIMES):
        pool = pools(attempt, t)
        kernel = block.kernel_mod(pool, margin)
        if not kernel:
            return []  # full rank mod p: full rank over Q
        piv = _pivots(kernel)
        if acc is None or len(kernel) < len(acc):  # a smaller kernel: the former was too large
            acc, modulus, pivots = kernel, pool.prime, piv
        elif len(kernel) == len(acc) and piv == pivots:
            p = pool.prime
            inverse = pow(modulus, -1, p)
            acc = [[a + modulus * ((b - a) * inverse % p) for a, b in zip(ra, rb)]
                   for ra, rb in zip(acc, kernel)]
            modulus *= p
        else:
            continue  # a larger kernel, or other pivots: this prime is unlucky
        if t >= attempt:
            lifted = _lift(acc, modulus)
            if lifted is not None:
                return lifted
    raise VerificationError(f"The law search by evaluation found no rational lift of a block "
                            f"of {len(block.monomials)} monomials modulo {MAX_PRIMES} primes.")


# -- the search ---------------------------------------------------------------------

def find_laws_by_evaluation(
    model,
    degree: int,
    homogeneous: bool = False,
    *,
    seed: int = 0,
    rounds: int = 2,
    max_memory: int | None = None,
) -> LawSearch:
    """All polynomial laws of degree <= ``degree`` (exactly ``degree`` if
    homogeneous) of a model given by a program, by evaluation (module notes).

    The result is the one :func:`exactcl.engine.search.find_laws` gives on the
    expanded generators: the same canonical basis in the same order, the
    same rank of the gradients; ``blocks`` counts the finer blocks of the
    weights and sign characters, ``identities`` says how the laws were
    checked and ``engine`` is ``"program"``.

    Parameters
    ----------
    model : Model
        A model with a program of layers (``model.program``).
    degree : int
        Non-negative.
    homogeneous : bool
        Only homogeneous laws of degree exactly ``degree``.
    seed : int
        Seed of the points, probes and primes (soundness never depends on it).
    rounds : int
        Rounds of the Monte Carlo check of each law
        (:func:`exactcl.engine.evaluation.check_laws`).
    max_memory : int, optional
        Bytes the search may take; default: the memory available.

    Raises
    ------
    InputError
        If the model has no program, or an argument is malformed.
    ResourceError
        Before any work, if the number of unknowns exceeds
        :data:`~exactcl.engine.search.MAX_MONOMIALS` or the memory estimate the limit;
        after the grading, if a block exceeds :data:`~exactcl.engine.search.MAX_BLOCK`.
    VerificationError
        If a returned law fails its exact check (a bug).

    Examples
    --------
    >>> from exactcl.models.builtin import linear
    >>> res = find_laws_by_evaluation(linear([1, 1, 1]), 2)
    >>> res.strings(), res.independent, res.identities.mode
    (['W1_0_0**2 - W2_0_0**2'], 1, 'exact')
    """
    from ..models.builtin import Model
    if not isinstance(model, Model) or model.program is None:
        raise bad_argument("model", "a model given by a program of layers (a network)",
                           getattr(model, "name", model))
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 0:
        raise bad_argument("degree", "a non-negative int", degree)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise bad_argument("rounds", "an int >= 1", rounds)
    if not isinstance(homogeneous, bool):
        raise bad_argument("homogeneous", "a bool", homogeneous)
    ring, layout, D = model.ring, model.program.layout, model.D
    if degree == 0:
        return LawSearch(ring, (), degree, homogeneous, 0, Fraction(0), 0, engine="program")
    unknowns = check_search_size(D, degree, homogeneous)
    limit = None if max_memory is None else parse_size(max_memory, "max_memory")
    what = f"degree-{degree} law search by evaluation"
    check_memory(what, {"monomials": 300 * unknowns}, limit)
    blocks = [_Block(b) for b in _blocks(layout, _graded_monomials(D, degree, homogeneous))]
    largest = max(len(b.monomials) for b in blocks)
    if largest > MAX_BLOCK:
        raise ResourceError(
            f"A degree-{degree} search here has a block of {largest:,} monomials of equal "
            f"weight and signs; solving it needs about {48 * largest**2 / 1e9:.0f} GB (limit "
            f"{MAX_BLOCK:,} monomials a block). Lower 'degree' or use a smaller model.")
    # a block's conditions and their echelon form (nmod_mat), and Python's copies in passing;
    # the points the largest block takes, each with its probes' gradients as Python ints
    probes = min(layout.components, D)
    points = -(-(largest + MARGIN) // min(probes, largest + MARGIN)) + 2 * STABLE_ROUNDS
    check_memory(what, {"monomials": 300 * unknowns, "largest block": 48 * largest**2,
                        "points": 40 * points * probes * D}, limit)

    pools: dict[tuple[int, int], _Pool] = {}
    primes = random.Random(f"exactcl law search by evaluation, primes {seed}")

    def pool(attempt: int, t: int) -> _Pool:
        key = (attempt, t)
        if key not in pools:
            pools[key] = _Pool(layout, random_prime(primes), f"exactcl law search {seed}/{key}")
        return pools[key]

    attempts = [0] * len(blocks)
    solved: list[list[list[int]]] = [[] for _ in blocks]
    todo = list(range(len(blocks)))
    check_rng = random.Random(f"exactcl law search by evaluation, identities {seed}")
    check: IdentityCheck | None = None  # (no law: nothing to check)
    while True:
        for done, b in enumerate(todo):
            step("law search", done, len(todo), "blocks")
            solved[b] = _solve(blocks[b], pool, attempts[b])
        laws, terms, owner = _laws(ring, blocks, solved)
        if not laws:
            break
        step("law check", 0, len(laws), "laws")
        failed, check = check_laws(layout, laws, rounds, check_rng, terms)
        todo = sorted({owner[k] for k, bad in enumerate(failed) if bad is not None})
        if not todo:
            break
        for b in todo:
            attempts[b] += 1
            if attempts[b] >= ATTEMPTS:
                raise VerificationError(
                    f"The law search by evaluation lifted a vector that is not a law in a block "
                    f"of {len(blocks[b].monomials)} monomials {ATTEMPTS} times.")
    identities = check
    if laws and (model.expanded or program_paths(model) <= EXACT_CHECK_PATHS):
        generators = model.generators
        index = directions_index(generators)
        for done, h in enumerate(laws):
            step("law check", done, len(laws), "laws")
            bad = verify_law(h, generators, index)
            if bad is not None:  # pragma: no cover - would be a bug
                raise VerificationError(f"Computed law {h.str()} is not conserved by "
                                        f"generator {bad}.")
        identities = IdentityCheck("exact", laws=len(laws))

    rng = random.Random(seed)  # the point of find_laws' independence rank
    point = [rng.randrange(DEFAULT_PRIME) for _ in range(D)]
    rows = [terms_gradient_mod(t, point, DEFAULT_PRIME) for t in terms]
    independent = rank_mod(rows, D, DEFAULT_PRIME) if laws else 0
    error = Fraction((independent + 1) * max(degree - 1, 0), DEFAULT_PRIME) \
        if independent < len(laws) else Fraction(0)
    return LawSearch(ring, tuple(laws), degree, homogeneous, independent, error, len(blocks),
                     identities=identities, engine="program")


def _laws(ring, blocks: list[_Block], solved: list[list[list[int]]]
          ) -> tuple[list[fmpq_mpoly], list[list], list[int]]:
    """The laws of every block in the order of :func:`exactcl.engine.search.find_laws`
    (by leading monomial), as polynomials and sparse terms, with the block
    each comes from."""
    key = _order(ring.nvars)
    found = []
    for b, vectors in enumerate(solved):
        monos = blocks[b].monomials
        for vec in vectors:
            lead = monos[next(c for c, x in enumerate(vec) if x)]
            found.append((key(lead), b,
                          sorted((monos[c], x) for c, x in enumerate(vec) if x)))
    found.sort(key=lambda f: f[0])
    terms = [t for _, _, t in found]
    return [poly_from_terms(ring, t) for t in terms], terms, [b for _, b, _ in found]

