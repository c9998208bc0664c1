"""Work budgets: what a certificate may cost the verifier, decided before the work.

A certificate from an unknown source must not buy more than a bounded
amount of work. The verifier therefore estimates each phase of its work
from what it has parsed (the word tree, the degrees and term counts of the
fields and laws, the sizes of the matrices whose ranks it takes) and
refuses a file whose estimate exceeds what is left of its budget, before
computing anything for that phase. Phases whose cost cannot be bounded
tightly in advance (the jets of deep bracket words, the exact expansion of
words, fraction-free determinants) are also *counted* while they run, and
stopped when the budget is spent. Every figure is a deterministic count,
never a clock: the same file gets the same verdict on a fast or a busy
machine.

The unit of work is one product of two jet terms (:mod:`exactcl.kernel.jets`),
about half a microsecond of CPU on the machines the benchmarks run on
(``benchmarks/bench_budget.py`` measures it). Other operations are
converted with the weights below, measured on the same machines.

>>> budget = WorkBudget(1000)
>>> budget.require(400, "the law identities")
>>> budget.spend(400, "the law identities")
>>> budget.spent, budget.left
(400, 600)
>>> budget.require(10**6, "the Lie rank")
Traceback (most recent call last):
...
exactcl.kernel.budget.BudgetExceeded: the Lie rank needs an estimated 1,000,000 units of work and 600 of the 1,000 allowed are left
"""

from __future__ import annotations

import math

from .errors import ResourceError

__all__ = [
    "BudgetExceeded",
    "COMPONENT",
    "DENSE",
    "DERIVATIVE",
    "EXPAND_TERM",
    "VERIFY_WORK",
    "JET_SLACK",
    "verify_budget",
    "WorkBudget",
    "flint_products",
    "rank_work",
    "evaluation_work",
    "program_gradient_work",
    "program_words_work",
]

#: Units of work one certificate may cost the verifier at ``work_limit=1``:
#: 0.6 to 1.0 s of CPU on the machines of the benchmarks (0.57 to 0.99 us a
#: unit, measured under load), so that any file is decided within a second.
#: The largest certificate of data/ (linear:2,2,5,5,2) needs 0.93 million
#: (``benchmarks/bench_budget.py``).
VERIFY_WORK = 1_000_000
#: Files larger than this may cost WORK_PER_BYTE more units per byte beyond
#: it: the work a file buys is bounded by its own size (a certificate of
#: linear:5,5,5,5,5 has 163 kB and needs 1.65 million units).
FREE_BYTES = 100_000
WORK_PER_BYTE = 16
#: The a-priori bound on the work of the jets may exceed what is left by
#: this factor before the file is refused unseen: the bound is rigorous but
#: pessimistic on deep words of sparse fields (at most about 50 times the
#: counted work on data/), and the counted budget stops the rest exactly.
JET_SLACK = 100
#: Units per product of two terms of flint polynomials (about 0.1 us).
FLINT_PRODUCT = 0.25
#: Units per multiply-add of a modular matrix rank (about 0.2 ns).
RANK_OP = 1 / 2500
#: Units per term of a derivative of a flint polynomial (about 15 ns).
DERIVATIVE = 1 / 20
#: Units per variable and term of a polynomial built from exponent vectors
#: (flint takes dense ones: about 0.15 us per variable), or per variable of
#: a scan of its degrees.
DENSE = 1 / 3
#: Units per component of a field built (a Python object, about 2 us).
COMPONENT = 4
#: Units per term and degree of a polynomial evaluated at a point (about
#: 0.9 us with 61-bit values).
EVALUATION = 2
#: Units per term built when a program's phi is expanded, times 1 + D / 16
#: (0.2 to 5.6 us a term from D = 49 to D = 300).
EXPAND_TERM = 1


def verify_budget(nbytes: int, work_limit: float = 1.0) -> int:
    """Units of work the verifier may spend on a certificate of ``nbytes``
    bytes: VERIFY_WORK up to FREE_BYTES, and WORK_PER_BYTE more per byte
    beyond, times ``work_limit``.

    >>> verify_budget(5_000), verify_budget(163_352), verify_budget(10**6, 2)
    (1000000, 2013632, 30800000)
    """
    return int((VERIFY_WORK + WORK_PER_BYTE * max(0, nbytes - FREE_BYTES)) * work_limit)


class BudgetExceeded(ResourceError):
    """Work beyond a :class:`WorkBudget`; ``needed`` is the units the whole
    work would take when known (an estimate), else None."""

    def __init__(self, message: str, needed: int | None = None) -> None:
        super().__init__(message)
        self.needed = needed


class WorkBudget:
    """A deterministic count of work against a limit.

    Parameters
    ----------
    limit : int or None
        Units of work allowed in all; None for no limit (the count is
        still kept).
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.spent = 0

    @property
    def left(self) -> int | None:
        return None if self.limit is None else self.limit - self.spent

    def require(self, estimate: float, what: str, slack: float = 1) -> None:
        """Raise :class:`ResourceError` unless ``estimate`` (divided by
        ``slack``) fits in what is left; spends nothing."""
        if self.limit is not None and estimate > slack * self.left:
            raise BudgetExceeded(
                f"{what} needs an estimated {math.ceil(estimate):,} units of work and "
                f"{max(self.left, 0):,} of the {self.limit:,} allowed are left",
                self.spent + math.ceil(estimate))

    def spend(self, units: float, what: str = "the work") -> None:
        """Count ``units``; raise :class:`ResourceError` once past the limit."""
        self.spent += math.ceil(units)
        if self.limit is not None and self.spent > self.limit:
            raise BudgetExceeded(f"{what} needs more than the {self.limit:,} units of work "
                                 f"allowed")


# -- estimates ------------------------------------------------------------------

def flint_products(size_a: int, size_b: int) -> float:
    """Units of work of a product of polynomials with these term counts."""
    return FLINT_PRODUCT * size_a * size_b


def rank_work(rows: int, cols: int) -> float:
    """Units of work of a modular rank (or echelon form) of a rows x cols matrix."""
    return RANK_OP * rows * cols * min(rows, cols) + rows + cols


def evaluation_work(terms: int, degree: int) -> float:
    """Units of work of evaluating a polynomial at a point."""
    return EVALUATION * terms * max(degree, 1)


# -- the evaluator of programs (exactcl.kernel.evaluator) ----------------------------------

#: Units per matrix product (nmod_mat) of the evaluator of programs, a flint
#: call and the bookkeeping of its jets (about 2 us); per multiply-add inside
#: one; per pair of jet terms visited; per entry of a ReLU's diagonal built
#: for a probe (``benchmarks/bench_budget.py`` compares them with the time).
MAT_PRODUCT = 4
MAT_OP = 1 / 500
JET_PAIR = 1 / 4
DIAG_ENTRY = 1 / 2
#: Units per entry of an indicator layer applied entry by entry (the block
#: interpreter's ``hadamard``: the entries read, multiplied, a matrix built;
#: about 1.1 us per entry and jet term).
HADAMARD_ENTRY = 3


def _matrix(ops: int) -> float:
    return MAT_PRODUCT + MAT_OP * ops


def program_gradient_work(layout, bits: int) -> float:
    """Units of work of grad F of one probe at a point over ``bits``
    nilpotents (:meth:`exactcl.kernel.evaluator.Words.gradient`): a product of two
    jets over b nilpotents visits 4^b pairs of terms and multiplies at most
    3^b of them; per linear layer three such products (forward, outer
    product, transpose), per ReLU two products by its diagonal. ``layout``
    is an :class:`exactcl.kernel.evaluator.Layout` (its ``linears`` and
    ``relu_widths``).

    >>> from exactcl.kernel.evaluator import Layout
    >>> lay = Layout([["linear", 2, 3, False], ["relu"], ["linear", 3, 1, False]])
    >>> program_gradient_work(lay, 0) < program_gradient_work(lay, 1) < program_gradient_work(lay, 2)
    True
    """
    terms, products, pairs = 2 ** bits, 3 ** bits, 4 ** bits
    work = 0.0
    for n_in, n_out, _ in layout.linears:
        work += 3 * (products * _matrix(n_in * n_out) + pairs * JET_PAIR)
        work += 3 * terms * _matrix(n_in * n_out)  # transposes, the bias, sums
    for width in layout.relu_widths:
        work += 2 * terms * _indicator(layout, width)
    return work


def _indicator(layout, width: int) -> float:
    """Units of one product by an indicator layer of ``width`` units: a
    width x width diagonal matrix (:class:`exactcl.kernel.evaluator.Layout`)
    or entry by entry (a block program's ``indicator_diagonals`` is False)."""
    if getattr(layout, "indicator_diagonals", True):
        return _matrix(width * width)
    return HADAMARD_ENTRY * width


def program_words_work(layout, brackets, nodes, probes: int) -> float:
    """Units of work of the values at a point of the words ``nodes``
    (:class:`exactcl.kernel.evaluator.Words`, ``brackets``: node -> (left, right),
    the other nodes being probe fields) with ``probes`` probe fields built:
    a bracket over b nilpotents evaluates both operands over b and over
    b + 1 nilpotents (words are not memoised below the top) and moves the
    point twice; every probe builds its ReLUs' diagonals (a block program:
    its indicator vectors) once.

    >>> from exactcl.kernel.evaluator import Layout
    >>> lay = Layout([["linear", 2, 2, False], ["linear", 2, 1, False]])
    >>> one = program_words_work(lay, {}, [0], 1)
    >>> program_words_work(lay, {2: (0, 1)}, [2], 2) > 4 * one
    True
    """
    memo: dict[tuple[int, int], float] = {}
    move = sum(_matrix(n_in * n_out + n_out) for n_in, n_out, _ in layout.linears)

    def cost(node: int, bits: int) -> float:
        key = (node, bits)
        if key not in memo:
            if node not in brackets:
                memo[key] = program_gradient_work(layout, bits)
            else:
                left, right = brackets[node]
                memo[key] = (cost(left, bits) + cost(right, bits) + cost(left, bits + 1)
                             + cost(right, bits + 1) + 8 * 2 ** bits * move)
        return memo[key]

    square = getattr(layout, "indicator_diagonals", True)
    diagonals = sum(width * width if square else width
                    for width in layout.relu_widths) * DIAG_ENTRY
    return (sum(cost(node, 0) for node in nodes) + probes * (diagonals + layout.D * JET_PAIR)
            + len(nodes) * layout.D * JET_PAIR)
