"""Polynomial conservation laws of bounded degree, exactly.

A polynomial h = sum_m c_m m is a law iff X_i(h) = grad h . X_i = 0 as a
polynomial for every generator X_i: a linear system in the coefficients
c_m. Its kernel over Q is computed exactly and returned in canonical form.

Notes
-----
The system splits into independent blocks. exactcl finds the lattice of
weights w in Z^D for which every generator is homogeneous (all terms of
X_i, read as shifts m - e_v of component v, have one weight); the map
h -> X_i(h) then sends monomials of weight lambda to weight
lambda + w(X_i), so the kernel is the direct sum of the kernels of the
blocks of monomials of equal weight. For neural networks the weights
include one per hidden neuron (the rescaling symmetries), and the blocks
are small. Each block is first checked modulo a prime (a full modular
rank proves the block has no law) and solved exactly over Q
(``fmpz_mat.nullspace``) only otherwise. Since the blocks partition the
monomials, the union of the blocks' reduced echelon bases is the reduced
echelon basis of the whole kernel, for one global monomial order.

Every returned law is then verified as an exact polynomial identity
against every generator.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from flint import fmpq_mpoly

from ..kernel.errors import ResourceError, VerificationError, bad_argument
from ..kernel.fields import (
    VectorField,
    check_prime_for,
    directions_index,
    first_violation,
    gradient_values_mod,
)
from ..kernel.linalg import rank_mod
from ..kernel.rings import (
    DEFAULT_PRIME,
    Ring,
    check_prime,
    poly_from_terms,
    poly_terms,
)
from ..limits import check_memory, parse_size
from .exactlinalg import kernel_Q, kernel_Q_modular
from .progress import step

__all__ = ["MAX_MONOMIALS", "LawSearch", "check_search_size", "find_laws", "gradient_rank",
           "search_bytes", "verify_law"]

#: Largest number of candidate monomials a search may use, and largest weight
#: block (solved as a dense matrix of about its size squared, 8 bytes an
#: entry, several times over in Python lists); beyond them the search refuses
#: early with the estimate instead of exhausting memory.
MAX_MONOMIALS = 2_000_000
MAX_BLOCK = 4_000

Mono = tuple[tuple[int, int], ...]


@dataclass(frozen=True, eq=False)
class LawSearch:
    """Polynomial laws of degree <= ``degree`` (or exactly ``degree``).

    Attributes
    ----------
    ring : Ring
    laws : tuple of fmpq_mpoly
        A canonical basis of the space of laws (no constants): reduced
        echelon form over Q for a graded monomial order, each law scaled
        to primitive integer coefficients with positive leading term.
    degree, homogeneous
    independent : int
        Rank of the gradients of the laws at a random point mod a prime: a
        rigorous lower bound on the number of functionally independent
        laws, equal to it unless the point is a root of a nonzero minor
        (probability <= ``independence_error``).
    independence_error : Fraction
    blocks : int
        Number of weight blocks the search split into.
    identities : IdentityCheck or None
        How each law was checked as an identity grad h . X_i = 0 (the
        evaluation search, :mod:`exactcl.engine.evalsearch`: exactly, or by Monte
        Carlo with its error bound); None when it is an exact identity over Q
        checked on the expanded generators.
    engine : str
        ``"expanded"`` (this module) or ``"program"`` (by evaluation).
    """

    ring: Ring
    laws: tuple[fmpq_mpoly, ...]
    degree: int
    homogeneous: bool
    independent: int
    independence_error: Fraction
    blocks: int
    identities: Any = None
    engine: str = "expanded"

    @property
    def exact(self) -> bool:
        """Whether every law was checked as an exact identity over Q."""
        return self.identities is None or self.identities.mode == "exact"

    def identity_text(self) -> str:
        """How the laws were checked, for sentences: "each verified exactly"
        or the Monte Carlo check with its error bound."""
        if self.exact:
            return "each verified exactly"
        return self.identities.describe()

    def strings(self) -> list[str]:
        """The laws in SymPy syntax."""
        from ..models.symbolic import poly_to_string
        return [poly_to_string(h, self.ring) for h in self.laws]

    def sympy(self) -> list:
        """The laws as SymPy expressions."""
        from ..models.symbolic import poly_to_sympy
        return [poly_to_sympy(h, self.ring) for h in self.laws]

    def latex(self) -> list[str]:
        """The laws in LaTeX (``sympy.latex``)."""
        import sympy
        return [sympy.latex(e) for e in self.sympy()]

    def _repr_markdown_(self) -> str:
        """Markdown for Jupyter: how many laws of which degree, how many are
        functionally independent, and the laws as LaTeX, as :meth:`latex`
        writes them (at most :data:`~exactcl.engine.display.MAX_LAWS_SHOWN`, and
        long laws cut after :data:`~exactcl.engine.display.MAX_LAW_CHARS`).

        >>> from exactcl.models.builtin import product
        >>> print(find_laws(product(3).generators, 2)._repr_markdown_())
        **2 polynomial conservation laws** of degree <= 2; 2 functionally independent (the rank of their gradients at a point)
        <BLANKLINE>
        1. $t_{1}^{2} - t_{3}^{2}$
        2. $t_{2}^{2} - t_{3}^{2}$
        """
        from .display import law_items, probability_math
        kind = (f"homogeneous of degree {self.degree}" if self.homogeneous
                else f"of degree <= {self.degree}")
        n = len(self.laws)
        if n == 0:
            return f"**No polynomial conservation law** {kind}."
        how = "the rank of their gradients at a point"
        if self.independence_error:
            bound = probability_math(self.independence_error, "\\leq ")
            how += f": a lower bound, exact unless the point is unlucky, probability {bound}"
        lines = [f"**{n} polynomial conservation law{'' if n == 1 else 's'}** {kind}; "
                 f"{self.independent} functionally independent ({how})", ""]
        return "\n".join(lines + law_items(self.laws, self.ring))

    def __repr__(self) -> str:
        kind = "homogeneous of degree" if self.homogeneous else "of degree <="
        shown = ", ".join(self.strings()[:3]) + (", ..." if len(self.laws) > 3 else "")
        return (f"LawSearch({len(self.laws)} laws {kind} {self.degree}, "
                f"{self.independent} independent: {shown})")


def verify_law(h: fmpq_mpoly, generators: Sequence[VectorField],
               index: dict[int, list[int]] | None = None) -> int | None:
    """Index of the first generator X with X(h) != 0, checked exactly; None if h is a law.

    ``index`` (from :func:`exactcl.kernel.fields.directions_index`) speeds up
    checking many laws against the same generators.

    >>> from exactcl.models.builtin import product
    >>> m = product(2)
    >>> t1, t2 = m.ring.gens
    >>> verify_law(t1**2 - t2**2, m.generators), verify_law(t1 * t2, m.generators)
    (None, 0)
    """
    return first_violation(h, generators, index)


def gradient_rank(ring: Ring, laws: Sequence[fmpq_mpoly], point: Sequence[int], prime: int
                  ) -> int:
    """Rank mod p of the gradients of ``laws`` at an integer point (a lower bound)."""
    check_prime(prime)
    rows = [gradient_values_mod(h, point, prime) for h in laws]
    return rank_mod(rows, ring.nvars, prime)


def _sparse_terms(fld: VectorField) -> list[tuple[int, list[tuple[dict[int, int], int]]]]:
    """Components as (v, [(exponent dict, integer coefficient)]), denominators cleared."""
    comps = [(v, poly_terms(p)) for v, p in fld.components]
    den = 1
    for _, terms in comps:
        for _, c in terms:
            den = den * c.denominator // math.gcd(den, c.denominator)
    return [(v, [(dict(m), int(c * den)) for m, c in terms]) for v, terms in comps]


def _grading(gens: list[list[tuple[int, list[tuple[dict[int, int], int]]]]], D: int
             ) -> list[list[int]]:
    """Integer weight vectors for which every generator is homogeneous."""
    rows = []
    for comps in gens:
        shifts = set()
        for v, terms in comps:
            for mono, _ in terms:
                s = dict(mono)
                s[v] = s.get(v, 0) - 1
                shifts.add(tuple(sorted((k, e) for k, e in s.items() if e)))
        shifts = sorted(shifts)
        for s in shifts[1:]:
            row = [0] * D
            for k, e in s:
                row[k] += e
            for k, e in shifts[0]:
                row[k] -= e
            rows.append(row)
    return kernel_Q(rows, D) if rows else [[int(i == j) for j in range(D)] for i in range(D)]


def _degrees(degree: int, homogeneous: bool) -> Sequence[int]:
    return [degree] if homogeneous else range(1, degree + 1)


def check_search_size(D: int, degree: int, homogeneous: bool = False,
                      name: str = "degree") -> int:
    """The number of candidate monomials (the unknown coefficients) of a law
    search, or :class:`ResourceError` when it exceeds MAX_MONOMIALS: checked
    before any work (the count is a sum of binomials, never a listing).

    >>> check_search_size(12, 2)
    90
    >>> check_search_size(2048, 2, name="--degree")
    Traceback (most recent call last):
    ...
    exactcl.errors.ResourceError: A degree-2 law search in D = 2048 variables has 2,100,224 candidate monomials (unknown coefficients); at most 2,000,000 are searched. Lower '--degree' or use a smaller model.
    """
    count = 0
    for k in _degrees(degree, homogeneous):
        count += math.comb(D + k - 1, k)
        if count > MAX_MONOMIALS:  # stop early: huge degrees never build huge binomials
            total = sum(math.comb(D + j - 1, j) for j in _degrees(degree, homogeneous)) \
                if degree <= 64 else None
            has = f"{total:,}" if total is not None else f"more than {MAX_MONOMIALS:,}"
            raise ResourceError(
                f"A degree-{degree} law search in D = {D} variables has {has} candidate "
                f"monomials (unknown coefficients); at most {MAX_MONOMIALS:,} are searched. "
                f"Lower {name!r} or use a smaller model.")
    return count


def search_bytes(unknowns: int) -> int:
    """Memory estimate of a law search with this many unknown coefficients:
    the monomials, and the dense modular sketch of the largest block (at most
    MAX_BLOCK monomials; 40 bytes an entry, as the block refusal says)."""
    block = min(unknowns, MAX_BLOCK)
    return 40 * block * block + 300 * unknowns


def _monomials(D: int, degree: int, homogeneous: bool) -> list[Mono]:
    """Every candidate monomial (find_laws checks their number first)."""
    out = []
    for k in _degrees(degree, homogeneous):
        for combo in itertools.combinations_with_replacement(range(D), k):
            mono: dict[int, int] = {}
            for v in combo:
                mono[v] = mono.get(v, 0) + 1
            out.append(tuple(sorted(mono.items())))
    return out


def _order_key(mono: Mono, D: int) -> tuple:
    # graded order, larger first: total degree, then lexicographic exponents
    dense = [0] * D
    for v, e in mono:
        dense[v] = e
    return (-sum(e for _, e in mono), [-x for x in dense])


def find_laws(
    generators: Sequence[VectorField],
    degree: int,
    homogeneous: bool = False,
    *,
    prime: int = DEFAULT_PRIME,
    seed: int = 0,
    graded: bool = True,
    max_memory: int | None = None,
) -> LawSearch:
    """All polynomial laws of degree <= ``degree`` (exactly ``degree`` if homogeneous).

    Parameters
    ----------
    generators : sequence of VectorField
        The fields the laws must be first integrals of.
    degree : int
        Non-negative.
    homogeneous : bool
        Only homogeneous laws of degree exactly ``degree``.
    prime : int
        Prime for the modular pre-check of blocks and the independence rank
        (checked as in :func:`exactcl.count`).
    seed : int
        Seed of the random point of the independence rank.
    graded : bool
        Split the unknowns into weight blocks (default). False solves one
        block of all monomials: the reference the split is tested and
        benchmarked against.
    max_memory : int, optional
        Bytes the search may take; default: the memory available, at most
        half of the physical memory (:mod:`exactcl.limits`).

    Raises
    ------
    InputError
        If ``degree`` is not a non-negative int, or ``prime`` not a usable prime.
    ResourceError
        Before any work, if the number of unknowns exceeds MAX_MONOMIALS or
        the memory estimate exceeds the limit.

    Examples
    --------
    >>> from exactcl.models.builtin import linear
    >>> res = find_laws(linear([1, 1, 1]).generators, 2)
    >>> res.strings(), res.independent
    (['W1_0_0**2 - W2_0_0**2'], 1)
    """
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 0:
        raise bad_argument("degree", "a non-negative int", degree)
    if not generators:
        raise bad_argument("generators", "a non-empty sequence of vector fields", generators)
    check_prime_for(generators, prime)
    ring = generators[0].ring
    D = ring.nvars
    if degree == 0:
        return LawSearch(ring, (), degree, homogeneous, 0, Fraction(0), 0)
    # before the grading, the costly part
    unknowns = check_search_size(D, degree, homogeneous)
    check_memory(f"degree-{degree} law search", {"law search": search_bytes(unknowns)},
                 None if max_memory is None else parse_size(max_memory, "max_memory"))
    gens = [_sparse_terms(X) for X in generators]
    weights = _grading(gens, D) if graded else []

    blocks: dict[tuple[int, ...], list[Mono]] = defaultdict(list)
    for mono in _monomials(D, degree, homogeneous):
        w = tuple(sum(row[v] * e for v, e in mono) for row in weights)
        blocks[w].append(mono)

    largest = max((len(b) for b in blocks.values()), default=0)
    if largest > MAX_BLOCK:
        gb = 40 * largest**2 / 1e9
        raise ResourceError(
            f"A degree-{degree} search here has a block of {largest:,} monomials of equal "
            f"weight (the generators admit few gradings); solving it needs about {gb:.0f} GB "
            f"(limit {MAX_BLOCK:,} monomials a block). Lower 'degree' or use a smaller model.")
    solutions: list[tuple[tuple, dict[Mono, int]]] = []
    by_direction = _by_direction(gens)
    for done, block in enumerate(blocks.values()):
        step("law search", done, len(blocks), "blocks")
        block.sort(key=lambda m: _order_key(m, D))
        for vec in _block_kernel(block, by_direction, prime):
            law = {block[c]: x for c, x in enumerate(vec) if x}
            lead = block[next(c for c, x in enumerate(vec) if x)]
            solutions.append((_order_key(lead, D), law))
    solutions.sort(key=lambda s: s[0])
    laws = tuple(poly_from_terms(ring, sorted(law.items())) for _, law in solutions)

    index = directions_index(generators)
    for done, h in enumerate(laws):
        step("law check", done, len(laws), "laws")
        bad = verify_law(h, generators, index)
        if bad is not None:  # pragma: no cover - would be a bug in the kernel
            raise VerificationError(f"Computed law {h.str()} is not conserved by generator {bad}.")

    rng = random.Random(seed)
    point = [rng.randrange(prime) for _ in range(D)]
    independent = gradient_rank(ring, laws, point, prime) if laws else 0
    # a nonzero minor of size independent+1 has degree <= (independent+1)(degree-1)
    error = Fraction((independent + 1) * max(degree - 1, 0), prime) if independent < len(laws) \
        else Fraction(0)
    return LawSearch(ring, laws, degree, homogeneous, independent, error, len(blocks))


def _by_direction(gens) -> dict[int, list[tuple[int, list[tuple[dict[int, int], int]]]]]:
    """For each variable v, the (generator index, terms of its component
    along v) pairs: a monomial only meets the generators along its variables."""
    index: dict[int, list[tuple[int, list[tuple[dict[int, int], int]]]]] = defaultdict(list)
    for i, comps in enumerate(gens):
        for v, terms in comps:
            index[v].append((i, terms))
    return index


def _block_rows(block: list[Mono], by_direction) -> list[dict[int, int]]:
    """The sparse linear system of one weight block.

    Row (i, m) holds the coefficient of the monomial m in X_i(h), column c
    the unknown coefficient of ``block[c]`` in h.
    """
    rows: dict[tuple, dict[int, int]] = defaultdict(dict)
    for c, mono in enumerate(block):
        for v, e in mono:
            for i, terms in by_direction.get(v, ()):
                for tmono, coeff in terms:
                    res = dict(mono)
                    res[v] -= 1
                    for k, x in tmono.items():
                        res[k] = res.get(k, 0) + x
                    key = (i, tuple(sorted((k, x) for k, x in res.items() if x)))
                    row = rows[key]
                    row[c] = row.get(c, 0) + e * coeff
    return list(rows.values())


def _block_kernel(block: list[Mono], by_direction, prime: int) -> list[list[int]]:
    """Exact kernel of one weight block, canonical; empty when the modular
    rank is full."""
    return kernel_Q_modular(_block_rows(block, by_direction), len(block), prime)
