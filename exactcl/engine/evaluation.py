"""The count of a program from evaluations: generator fields, bracket words
and law identities at points mod primes, never expanded.

* **Generators.** When phi has at most :data:`COMPONENTS_PER_PARAMETER`
  times D components, the generators are the fields grad phi_c themselves
  (``"components"``, the same fields and order as the expanded path). A
  wider phi (a deep ReLU network has a component per path) is replaced by
  the fields of random probes (``"probes"``, :func:`exactcl.kernel.evaluator.random_probe`):
  each a combination of generators with constant integer coefficients, so
  it lies in W and every word in them lies in Lie(W): ranks of their values
  stay rigorous lower bounds; randomness affects only how tight they are.
* **Ranks.** Values are sparse vectors mod p, kept by
  :class:`~exactcl.engine.bases.BlockBasis` (one elimination per block of
  parameters the fields connect).
* **Law identities.** grad h . X_c = 0 for every c is checked at random
  points and random probes modulo random primes (Schwartz-Zippel), with the
  error bound stated, or exactly by expansion when the model is small.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from flint import fmpq_mpoly

from ..kernel import evaluator
from ..kernel.brackets import round_error_bound
from ..kernel.evaluator import (
    Layout,
    Probe,
    component_probes,
    identity_residual,
    probe_family,
)
from ..kernel.fields import terms_gradient_mod
from ..kernel.layers import postnorm
from ..kernel.rings import canonical_terms, poly_terms, random_prime, terms_degree, terms_norm
from .bases import BlockBasis
from .device import new_dense_basis
from .growth import DEFAULT_BUDGET, Growth, grow_with

__all__ = ["COMPONENTS_PER_PARAMETER", "EXPANDED_PATHS", "IdentityCheck", "ProgramFields",
           "check_laws", "identity_bounds", "program_growth", "program_paths"]

#: Networks with at most this many paths (terms of phi) are counted on
#: expanded fields by default: there every law identity is proven exactly
#: over Q and the exact closure check is available, in at most about a
#: second; larger ones by evaluation (``benchmarks/bench_programs.py``
#: times both engines).
EXPANDED_PATHS = 5_000



def anchored_point(layout, point: list[int]) -> list[int]:
    """``point`` with the rows of each dense layer that must map a smooth
    activation's constant output to 0 summing to 0 (their last entry set),
    so that the next smooth unit is at its anchor (docs/design.md, section 8).

    >>> from exactcl.kernel.blocks import BlockLayout
    >>> lay = BlockLayout([["linear", 2, 2, True], ["sigmoid"], ["linear", 2, 2, False],
    ...                    ["sigmoid"], ["linear", 2, 1, False]])
    >>> anchored_point(lay, list(range(1, 13)))[4:8]
    [5, -5, 7, -7]
    """
    plan = getattr(layout, "smooth_plan", None)
    if not plan or not plan["row_sums"]:
        return point
    point = list(point)
    for t in plan["row_sums"]:
        _, rows, cols, o = layout.tensors[t]
        for i in range(rows):
            row = o + i * cols
            point[row + cols - 1] = -sum(point[row:row + cols - 1])
    return point

def program_paths(model) -> int:
    """The number of terms of phi of a network (its paths), without expanding it."""
    return model.program.layout.phi_terms()


#: Components of phi used as generators up to this many per parameter.
COMPONENTS_PER_PARAMETER = 2
#: Values decided per rank step (a flint elimination of BATCH x D).
BATCH = 4096
#: The same for dense rows on BLAS: smaller batches cost about the same products
#: in all, smaller eliminations and less memory, and a stalled depth 0 stops
#: sooner (384 counts the residual MLP of benchmarks/bench_wide.py in 11 s
#: against 13 s with 1024, and linear:64,64,64 in the same 27 s).
ROWS_BATCH = 384
#: Batches of rows in a row that keep nothing after which a growth on BLAS
#: stops evaluating probe fields at depth 0.
ROWS_STALL = 2
#: Probes beyond 2 D drawn when phi is replaced by probes (twice D so that
#: the randomly drawn neurons of deep layers cover every weight).
EXTRA_PROBES = 64


@dataclass(frozen=True)
class ProgramFields:
    """The generator fields of a program's growth.

    ``kind`` is ``"components"`` (field c is grad phi_c) or ``"probes"``
    (field k is grad F of probe k of the family ``family``); ``count`` fields.
    """

    layout: Layout
    kind: str
    count: int
    family: str = ""

    @classmethod
    def choose(cls, layout, seed: int = 0) -> ProgramFields:
        if (isinstance(layout, Layout)
                and layout.components <= COMPONENTS_PER_PARAMETER * layout.D):
            return cls(layout, "components", layout.components)
        if getattr(layout, "tokens", None) is not None:  # a network with attention
            from ..kernel.tokens import TOKENS
            family = f"{TOKENS}{seed}"
        elif getattr(layout, "dense_probes", False):  # a block program with pooling
            from ..kernel.blocks import DENSE
            family = f"{DENSE}{seed}"
        else:
            family = probe_family(layout.relu_widths, seed)
        return cls(layout, "probes", min(layout.components, 2 * layout.D + EXTRA_PROBES), family)

    def probes(self) -> list[Probe]:
        if self.kind == "components":
            return component_probes(self.layout)
        ev = evaluator_of(self.layout)
        return [ev.random_probe(self.layout, self.family, k) for k in range(self.count)]

    @property
    def letter(self) -> str:
        """X for the generators themselves, Y for probe fields."""
        return "X" if self.kind == "components" else "Y"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "count": self.count}
        if self.kind == "probes":
            out["family"] = self.family
            if getattr(self.layout, "tokens", None) is not None:
                from ..kernel.rankcheck import token_expansion
                out["expansion"] = token_expansion(self.layout)
        return out

    def describe(self) -> str:
        if self.kind == "components":
            return f"the {self.count:,} generator fields grad phi_c"
        many = (f"of the {self.layout.components:,} generators"
                if isinstance(self.layout, Layout) else "of phi's generators")
        if getattr(self.layout, "tokens", None) is not None:
            from ..kernel.rankcheck import token_fields
            fields = token_fields(self.layout)
            return f"{self.count:,} random probe fields ({fields}, family {self.family!r})"
        return (f"{self.count:,} random probe fields (constant combinations {many}, "
                f"family {self.family!r})")


def evaluator_of(layout):
    """The evaluator module of a layout: :mod:`exactcl.kernel.evaluator` for
    chains (a :class:`~exactcl.kernel.evaluator.Layout`), else
    :mod:`exactcl.kernel.blocks` (the same functions; loaded when a block
    program is counted)."""
    if isinstance(layout, Layout):
        return evaluator
    from ..kernel import blocks
    return blocks


class _ProgramEvaluator:
    """The growth's evaluator protocol on :class:`~exactcl.kernel.evaluator.Words`."""

    def __init__(self, words, nodes: dict[int, dict[str, Any]], rows: bool = False) -> None:
        self.words, self.nodes = words, nodes
        self.rows = rows  # values as rows of residues (words on BLAS), else sparse
        # a stalled depth looks one further (its kept words' values are cached) where the
        # probe fields leave directions to depth 2, normalisations after an attention, whose
        # full depth 1 costs half an hour, and smooth activations (a dense pair before one
        # leaves its last direction to depth 2); elsewhere growth keeps its order of words
        self.looks_ahead = bool(getattr(words.layout, "token_norms", None)
                                or getattr(words.layout, "smooth", None))

    def value(self, node: int) -> dict[int, int] | np.ndarray:
        """The value of word ``node``: {parameter: value}, or a row of
        balanced residues when the words are on BLAS."""
        if self.rows:
            # dense rows (a quarter of the parameters or more, program_growth): any two
            # supports meet, so they are left unknown and every pair is a candidate
            return self.words.row(node)
        value = self.words.value(node)
        data = self.nodes[node]
        if data.get("generator") is not None and data["moves"] is None:
            # grad F moves a parameter exactly when F involves it: the support
            # of the value at the point (a support lost to a vanishing value,
            # with probability about D / p, only skips a bracket: tightness,
            # not soundness)
            data["moves"] = data["involves"] = frozenset(value)
        return value

    def values(self, nodes: Sequence[int]) -> list[dict[int, int]] | np.ndarray:
        """:meth:`value` of each node; on BLAS the rows of one array (probe
        fields evaluated together)."""
        if self.rows:
            return self.words.rows(nodes)
        return [self.value(node) for node in nodes]

    def bracket(self, i: int, j: int) -> dict[int, int] | np.ndarray:
        if self.rows:
            return self.words.bracket_row(i, j)
        return self.words.bracket_value(i, j)

    def keep(self, node: int, i: int, j: int) -> None:
        self.words.brackets[node] = (i, j)


def _sparse_fields(words, count: int) -> bool:
    """Whether the first generator fields fill less than a quarter of the parameters."""
    return not evaluator.dense_values(words, range(count))


def program_growth(fields: ProgramFields, point: Sequence[int], prime: int, *,
                   target: int | None = None, max_depth: int | None = None,
                   budget: int = DEFAULT_BUDGET, seed: int = 0) -> Growth:
    """:func:`~exactcl.engine.growth.grow` on a program's fields, by evaluation.

    >>> from exactcl.layers.program import from_family
    >>> from exactcl.kernel.rings import DEFAULT_PRIME
    >>> lay = from_family("linear", [2, 2, 2]).layout
    >>> g = program_growth(ProgramFields.choose(lay), [3, 1, 4, 1, 5, 9, 2, 6], DEFAULT_PRIME)
    >>> g.profile, g.words()
    ((4, 5, 5), ['X1', 'X2', 'X3', 'X4', '[X2,X4]'])
    """
    brackets: dict[int, tuple[int, int]] = {}
    prime = postnorm.serving_prime(fields.layout, prime)  # the roots its probes need exist
    probes = fields.probes()
    words = evaluator_of(fields.layout).Words(fields.layout, probes, brackets, point, prime)
    # dense rows for one dense basis, unless the probe fields live on few parameters
    # (one neuron per ReLU): their sparse values, ranked block by block, cost less
    rows = words.blas and not _sparse_fields(words, len(probes))
    nodes = {i: {"word": f"{fields.letter}{i + 1}", "depth": 0, "raised": False,
                 "generator": i, "moves": None, "involves": None} for i in range(fields.count)}
    D = fields.layout.D
    # on BLAS the values are dense rows: one basis of all the columns, without its rows
    basis = new_dense_basis(D, prime, keep_rows=False) if rows else \
        BlockBasis(D, prime, dense=new_dense_basis)
    # on rows, depth 0 stops after ROWS_STALL batches that keep nothing: the probes are
    # dense random combinations, and a sandwich that does not close is redone modulo the
    # large prime, on sparse values, with every probe (exactcl.engine.counting)
    return grow_with(_ProgramEvaluator(words, nodes, rows), nodes, fields.count, D, point, prime,
                     target=target, max_depth=max_depth, budget=budget, seed=seed,
                     basis_vectors=basis, batch_size=ROWS_BATCH if rows else BATCH,
                     stall=ROWS_STALL if rows else None)


# -- law identities by evaluation ---------------------------------------------------

@dataclass(frozen=True)
class IdentityCheck:
    """How the law identities grad h . X_c = 0 were checked.

    ``mode`` is ``"exact"`` (expanded over Q) or ``"monte-carlo"``: ``rounds``
    evaluations per law at random points and probes modulo random primes,
    each failing to see a false identity with probability at most
    ``round_error_bound(degree_bound, height_bits)``; ``error_bound`` bounds
    the probability that any false law passed (a union over the laws).
    """

    mode: str
    rounds: int = 0
    degree_bound: int = 0
    height_bits: int = 0
    error_bound: Fraction = Fraction(0)
    laws: int = 0

    def as_dict(self) -> dict[str, Any]:
        if self.mode == "exact":
            return {"mode": "exact"}
        return {"mode": self.mode, "rounds": self.rounds, "degree_bound": self.degree_bound,
                "height_bits": self.height_bits}

    def describe(self) -> str:
        if self.mode == "exact":
            return "each an exact identity over Q"
        from ..kernel.brackets import format_probability
        return (f"each checked at {self.rounds} random points modulo random primes "
                f"(Schwartz-Zippel: error probability <= {format_probability(self.error_bound)})")


def identity_bounds(layout: Layout, laws: Sequence[fmpq_mpoly],
                    terms: Sequence[list] | None = None) -> tuple[int, int]:
    """(degree bound, height bits) of the polynomials grad F . grad h of
    :func:`~exactcl.kernel.evaluator.identity_residual` over every law ``h`` (each
    scaled to integer coefficients); from the laws' sparse ``terms`` when given
    (the same numbers, without reading the polynomials)."""
    if not laws:
        return 0, 0
    terms = [poly_terms(h) for h in laws] if terms is None else \
        [canonical_terms(t) for t in terms]
    degree = max(terms_degree(t) for t in terms)
    norms = [terms_norm(t) for t in terms]
    delta = layout.probe_degree() + layout.phi_degree() - 1 + max(degree - 1, 0)
    if isinstance(layout, Layout):
        paths = math.prod(n_out for _, n_out, _ in layout.linears) * layout.linears[0][0] + 1
    else:
        paths = layout.phi_terms()  # a bound on F's absolute coefficients
    norm = max(norms)
    height = norm * max(degree, 1) * layout.phi_degree() * paths
    return delta, height.bit_length()


def check_laws(layout: Layout, laws: Sequence[fmpq_mpoly], rounds: int,
               rng: random.Random, terms: Sequence[list] | None = None
               ) -> tuple[list[int | None], IdentityCheck]:
    """Check every law by ``rounds`` evaluations at random points and probes
    modulo random primes (``terms``: the laws as sparse terms, when known,
    see :meth:`~exactcl.models.builtin.Model.candidate_terms`); returns, per law, None when it passed every round
    (else the round that failed), and the check with its error bound.

    >>> from exactcl.layers.program import from_family
    >>> from exactcl.models.builtin import linear
    >>> m = linear([2, 2, 2])
    >>> bad, check = check_laws(m.program.layout, list(m.candidates) + [m.ring.gens[0]], 2,
    ...                         random.Random(0))
    >>> bad, check.mode, check.error_bound < Fraction(1, 2**60)
    ([None, None, None, 0], 'monte-carlo', True)
    """
    if terms is None:
        terms = [poly_terms(h) for h in laws]
    delta, hbits = identity_bounds(layout, laws, terms)
    failed: list[int | None] = [None] * len(laws)
    ev = evaluator_of(layout)
    for r in range(rounds):
        value = None
        while value is None:
            prime = random_prime(rng)
            point = [rng.randrange(prime) for _ in range(layout.D)]
            probe = ev.random_probe_mod(layout, prime, rng)
            try:
                value = ev.Words(layout, [probe], {}, point, prime).value(0)
            except ZeroDivisionError:  # a normalisation's level is 0 mod p: another point
                continue
        for k in range(len(laws)):
            if failed[k] is not None:
                continue
            if identity_residual(value, terms_gradient_mod(terms[k], point, prime), prime):
                failed[k] = r
    per_round = round_error_bound(delta, hbits)
    error = min(Fraction(1), len(laws) * per_round ** rounds)
    return failed, IdentityCheck("monte-carlo", rounds, delta, hbits, error, len(laws))

