"""The Lie rank a certificate claims, recomputed by the verifier: its basis
words expanded exactly over Q when small, else evaluated by jets at the
stored point modulo fresh primes (each rank a rigorous lower bound), and,
for a program of layers, its probe fields and words evaluated from the
program, ranked block by block."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from flint import fmpq, fmpq_mat

from . import densemod
from .blocks import BlockLayout
from .brackets import (
    bracket,
)
from .budget import (
    JET_SLACK,
    WorkBudget,
    flint_products,
    program_words_work,
    rank_work,
)
from .errors import CertificateFormatError
from .evaluator import Layout, Probe, dense_values
from .fields import (
    VectorField,
    gradient,
)
from .jets import WordJets, work_bound
from .lawchecks import (
    PRIME_ATTEMPTS,
    _evaluation_work,
    _evaluator,
    _used_fields,
)
from .layers import postnorm, smooth
from .linalg import block_rank_mod, column_blocks, rank_mod
from .rebuild import (
    expansion_terms,
    expansion_work,
    gradient_work,
    program_phi,
)
from .rings import random_blas_prime, random_prime, support
from .tokens import base, zero_origin

__all__ = ["RankResult", "ProbeFields", "exact_factor", "expanded_program", "program_rank", "program_text", "symbolic_words", "values_rank", "words_rank"]


#: The terms of all basis words expanded exactly over Q, in all (memory).
MAX_WORD_TERMS = 20_000_000


# -- the checks ------------------------------------------------------------------

#: Units of work of an exact rank over Q, per unit of a modular one (the
#: entries grow; measured on the words of data/ with --exact).
EXACT_RANK_FACTOR = 100


def values_rank(rows_mod, rows_exact, n_rows: int, D: int, exact: bool, rng: random.Random,
                 budget: WorkBudget, what: str) -> tuple[int, str]:
    """Rank of vectors at the point: exactly over Q (``rows_exact()``), or the
    best over a few fresh primes p of ``rows_mod(p)`` (each a lower bound).
    ``n_rows`` vectors; the rank work is estimated before it is done."""
    if exact:
        rows = rows_exact()
        if not rows:
            return 0, "over Q"
        work = EXACT_RANK_FACTOR * rank_work(n_rows, D)
        budget.require(work, f"the exact rank of {what}")
        budget.spend(work)
        m = fmpq_mat(len(rows), D, [fmpq(x.numerator, x.denominator) for r in rows for x in r])
        return int(m.rank()), "exactly over Q"
    best, primes = -1, []
    wide = D > densemod.WIDE  # ranked on BLAS modulo a prime below 2^20 (section 1)
    draw, rank_of = (random_blas_prime, _blas_rank) if wide else (random_prime, rank_mod)
    for _ in range(PRIME_ATTEMPTS):
        p = draw(rng)
        try:
            rows = rows_mod(p)
        except ZeroDivisionError:
            continue
        budget.require(rank_work(n_rows, D), f"the rank of {what}")
        budget.spend(rank_work(n_rows, D))
        r = rank_of(rows, D, p) if rows else 0
        primes.append(p)
        best = max(best, r)
        if best == len(rows):
            break
    return max(best, 0), f"mod fresh prime{'s' if len(primes) > 1 else ''} " + \
        ", ".join(map(str, primes))


def _blas_rank(rows, D: int, p: int) -> int:
    """The rank mod p of dense or sparse rows of D columns by densemod."""
    if isinstance(rows[0], dict):
        return densemod.sparse_rank(rows, range(D), p)
    return densemod.rank(rows, p)


def exact_factor(point: list[int]) -> int:
    """Exact values over Q grow with the point's digits: a term of degree d at
    b-bit values builds numbers of d * b bits (the modular weights assume 61)."""
    return 1 + max((abs(x).bit_length() for x in point), default=0) // 61


@dataclass
class RankResult:
    rank: int
    fields: object  # () -> the basis words as exact fields (for the closure check)


def words_rank(generators, triples, brackets, basis, point, D, exact, rng, work_limit,
                budget) -> tuple[RankResult, str]:
    """The rank of the basis words of expanded generators: by jets mod fresh
    primes, or exactly over Q (``exact``)."""
    symbolic: list[VectorField] = []

    def basis_fields() -> list[VectorField]:
        """The basis words as exact fields over Q (for --exact and the closure check)."""
        if not symbolic:
            fields = symbolic_words(generators, triples, work_limit, budget)
            symbolic.extend(fields[b] for b in basis)
        return symbolic

    jets_what = "evaluating the bracket words at the point"
    if not exact:
        # a rigorous but pessimistic bound: the jets are counted as well
        budget.require(work_bound(generators, brackets, basis), jets_what, slack=JET_SLACK)

    def values_mod(p: int) -> list[dict[int, int]]:
        # words evaluated by jets mod p: their exact values reduced mod p
        return WordJets(generators, brackets, point, p, budget=budget).values(basis)

    factor = exact_factor(point)

    def values_exact() -> list[list]:
        fields = basis_fields()
        work = factor * sum(_evaluation_work(f) for f in fields)
        budget.require(work, "the exact values of the bracket words")
        budget.spend(work)
        return [f.evaluate(point) for f in fields]

    rank, how = values_rank(values_mod, values_exact, len(basis), D, exact, rng, budget,
                             "the bracket words")
    return RankResult(rank, basis_fields), how


#: A program whose file states exact identities (the expanded engine's, or
#: the program engine's on a small network) is expanded (its generators
#: rebuilt over Q, its law identities checked exactly, as for a model given
#: by phi) when the expansion builds at most this many terms and its
#: estimated work, with the gradients, takes at most EXACT_SHARE of the
#: budget left; otherwise, and for a file whose identities were checked by
#: Monte Carlo, it is evaluated (:mod:`exactcl.kernel.evaluator`). Every network of
#: data/ is expanded.
SMALL_TERMS = 50_000
EXACT_SHARE = 1 / 2


def expanded_program(layout: Layout, ring, budget: WorkBudget, need: bool
                      ) -> list[VectorField] | None:
    """The generators grad phi_c of a small program, expanded over Q, or None
    when it is too large to expand here (unless ``need``: the closure check
    or exact ranks need them, and the budget decides). A network with
    attention has no expanded phi (docs/design.md, attention inside a
    network): what would need it is refused."""
    if getattr(layout, "tokens", None) is not None:
        if need:
            raise CertificateFormatError("model.program is a network on tokens (attention or a "
                                         "batch normalisation inside a network), "
                                         "whose phi is not expanded: its ranks and closure are "
                                         "checked from probe fields only.")
        return None
    terms = expansion_terms(layout)
    work = expansion_work(layout)
    share = None if budget.left is None else EXACT_SHARE * budget.left
    if not need and (terms > SMALL_TERMS or (share is not None and work > share)):
        return None
    if terms > MAX_WORD_TERMS:
        raise CertificateFormatError(f"model.program expands to {terms:,} terms; at most "
                                     f"{MAX_WORD_TERMS:,} are built.")
    phi = program_phi(layout, ring, budget)
    supports = [support(p) for p in phi]
    more = sum(gradient_work(p, s) for p, s in zip(phi, supports))
    if not need and share is not None and work + more > share:
        return None
    budget.require(more, f"the gradients of the program's {len(phi):,} components of phi")
    budget.spend(more)
    return [gradient(ring, p, s) for p, s in zip(phi, supports)]


def program_text(layout: Layout, kinds: dict, generators) -> str:
    """What the model check says of a program's generator fields."""
    L = len(layout.layers)
    expanded = (f"expanded over Q ({expansion_terms(layout):,} terms built)"
                if generators is not None else "never expanded")
    if kinds["kind"] == "components":
        how = (f"gradients of the program's phi ({L} layers), {expanded}"
               if generators is not None else f"evaluated from the program ({L} layers), "
                                              f"{expanded}")
        return f"{layout.components:,} generator fields: {how}, D = {layout.D}"
    many = ("of phi's generators" if isinstance(layout, BlockLayout) else
            f"of the {layout.components:,} generators")
    what = f"constant combinations {many}"
    if getattr(layout, "tokens", None) is not None:
        what = token_fields(layout)
    return (f"{kinds['count']:,} probe fields of the family {kinds['family']!r} ({what}) "
            f"evaluated from the "
            f"program ({L} layers); the generators {expanded}, D = {layout.D}")


#: What the probe fields of a network with attention are (docs/design.md, attention
#: inside a network).
TOKEN_FIELDS = ("gradients of Taylor coefficients in t, orders 0 to 3, of <U, net(1 x0^T + "
                "t X')> at identical tokens, each indicator 0 or 1: in the model's functional "
                "space")


#: The expansion a network with attention's probe fields come from, as its
#: certificates state it (``lie.generators.expansion``).
TOKEN_EXPANSION = ("Taylor coefficients in t of the network at identical tokens "
                   "1 x0^T + t X', orders 0 to 3")
#: The expansion of a network with a BatchNorm2d: at a batch of zero images
#: (docs/design.md, BatchNorm2d).
ZERO_EXPANSION = ("Taylor coefficients in t of the network at a batch of zero images t X', "
                  "orders 0 to 3")


#: The probe fields of a network with a BatchNorm2d (docs/design.md, BatchNorm2d).
ZERO_FIELDS = ("gradients of Taylor coefficients in t, orders 0 to 3, of <U, net(t X')> at a "
               "batch of zero images, each indicator 0 or 1: in the model's functional space")


def _postnorm_text(layout) -> str | None:
    """How the roots of normalisations after the attention are taken
    (docs/design.md, normalisation after the attention), or None."""
    norms = getattr(layout, "token_norms", None)
    if not norms:
        return None
    k, rational = postnorm.attention_scale(layout)
    roots = ([f"sqrt({k})"] if rational is None else []) + (
        ["the second level's root"] if len(norms) > 1 else [])
    taken = (f"; {' and '.join(roots)} taken mod p, certified independent modulo rational "
             f"squares by Legendre symbols" if roots else "")
    return (f"the attention's logits scaled by 1/sqrt({k}), x0 chosen so that the level of the "
            f"first of {len(norms)} normalisation{'s' if len(norms) > 1 else ''} after it is a "
            f"rational square{taken}")


def _smooth_scale_text(layout) -> str:
    """The attention's scale, kept in a network on tokens with smooth
    activations, or the normalisations' roots (docs/design.md, section 8)."""
    roots = _postnorm_text(layout)
    if roots is not None:
        return f"{roots}; "
    k, rational = postnorm.attention_scale(layout)
    taken = "" if rational is not None else f", sqrt({k}) taken mod p"
    return f"the attention's logits scaled by 1/sqrt({k}){taken}; "


def _base_text(layout) -> str | None:
    v = base(layout)
    return None if v is None else f"v x0^T + t X' with v = ({', '.join(map(str, v))})"


def token_fields(layout) -> str:
    """What a network on tokens' probe fields are: :data:`TOKEN_FIELDS`, at a
    batch of zero images for a BatchNorm2d, or at the batch v x0^T of a
    batch normalisation with eps = 0; a program with smooth activations
    states their anchors (docs/design.md, section 8)."""
    if getattr(layout, "smooth", None):
        if smooth.one_token(layout):
            return (f"gradients of Taylor coefficients in t, orders 0 to 3, of "
                    f"<U, net(x0 + t x')>, {smooth.describe(layout)}: in the model's "
                    f"functional space")
        return f"{TOKEN_FIELDS} ({_smooth_scale_text(layout)}{smooth.describe(layout)})"
    if zero_origin(layout.layers):
        return ZERO_FIELDS
    roots = _postnorm_text(layout)
    if roots is not None:
        return f"{TOKEN_FIELDS} ({roots})"
    at = _base_text(layout)
    if at is None:
        return TOKEN_FIELDS
    return (f"gradients of Taylor coefficients in t, orders 0 to 3, of <U, net({at})> (a batch "
            f"normalisation with eps = 0), each indicator 0 or 1: in the model's functional "
            f"space")


def token_expansion(layout) -> str:
    """The expansion a network on tokens' certificate states:
    :data:`TOKEN_EXPANSION`, :data:`ZERO_EXPANSION` (a BatchNorm2d), or the
    batch v x0^T + t X' of a batch normalisation with eps = 0
    (docs/design.md); a program with smooth activations states their
    anchors (docs/design.md, section 8)."""
    if getattr(layout, "smooth", None):
        if smooth.one_token(layout):
            return (f"Taylor coefficients in t of the network at x0 + t x', orders 0 to 3, "
                    f"{smooth.describe(layout)}")
        return f"{TOKEN_EXPANSION}, {_smooth_scale_text(layout)}{smooth.describe(layout)}"
    if zero_origin(layout.layers):
        return ZERO_EXPANSION
    roots = _postnorm_text(layout)
    if roots is not None:
        return f"{TOKEN_EXPANSION}, {roots}"
    at = _base_text(layout)
    if at is None:
        return TOKEN_EXPANSION
    return f"Taylor coefficients in t of the network at the batch {at}, orders 0 to 3"


class ProbeFields(Sequence):
    """The probes of a certificate's generator fields, built when first used
    (:class:`~exactcl.kernel.evaluator.Words` reads ``len`` and items)."""

    def __init__(self, layout: Layout, kinds: dict) -> None:
        tokens = getattr(layout, "tokens", None) is not None and kinds["kind"] == "probes"
        expansion = token_expansion(layout) if tokens else None
        if kinds.get("expansion") != expansion:
            want = (repr(expansion) if tokens else "no expansion (only a network with "
                    "attention or a batch normalisation states one)")
            raise CertificateFormatError(f"lie.generators.expansion must be {want}, not "
                                         f"{kinds.get('expansion')!r}.")
        self.layout, self.kinds = layout, kinds
        self.count = kinds["count"] if kinds["kind"] == "probes" else layout.components
        self.built: dict[int, Probe] = {}

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, k):
        if k not in self.built:
            if self.kinds["kind"] == "probes":
                self.built[k] = _evaluator(self.layout).random_probe(self.layout,
                                                                     self.kinds["family"], k)
            else:
                self.built[k] = self.layout.component_probe(k)
        return self.built[k]


def program_rank(layout: Layout, kinds: dict, brackets, basis, point, rng, budget,
                  exact: bool) -> tuple[int, str]:
    """The rank of the basis words evaluated from the program at the point,
    modulo fresh primes (each a rigorous lower bound), sparse values ranked
    block by block (:func:`~exactcl.kernel.linalg.block_rank_mod`)."""
    D = layout.D
    fields = ProbeFields(layout, kinds)
    work = program_words_work(layout, brackets, basis, len(_used_fields(brackets, basis)))
    what = f"evaluating the {len(basis)} bracket words from the program at the point"
    best, primes = -1, []
    for _ in range(PRIME_ATTEMPTS):
        budget.require(work, what)
        budget.spend(work)
        draw = random_blas_prime if layout.D > densemod.WIDE else random_prime  # section 1
        p = draw(rng)
        while not postnorm.serves(layout, p):  # a root the probes need is missing mod p
            p = draw(rng)
        words = _evaluator(layout).Words(layout, fields, dict(brackets), point, p)
        try:
            rows = words.blas and dense_values(words, basis)
            values = _rows(words, basis, D) if rows else [words.value(b) for b in basis]
        except ZeroDivisionError:  # a root or level the probes need fails mod p: another prime
            continue
        except ValueError as err:  # the point is not the expansion the program needs
            return 0, f"not evaluated: {err}"
        if rows:
            r = _rows_rank(values, D, p, budget)
        else:
            rank_cost = blocks_work(values, D)
            budget.require(rank_cost, "the rank of the bracket words")
            budget.spend(rank_cost)
            r = block_rank_mod(values, p)
        primes.append(p)
        best = max(best, r)
        if best == len(basis):
            break
    how = f"mod fresh prime{'s' if len(primes) > 1 else ''} " + ", ".join(map(str, primes))
    if exact:
        how += (" (words of probe fields, or of a program too large to expand, are evaluated "
                "mod primes only)")
    return max(best, 0), how


def _rows(words, basis, D: int) -> np.ndarray:
    """The basis words' values on BLAS, one row each, written in place (probe
    fields together, :meth:`~exactcl.kernel.evaluator.Words.rows`)."""
    return words.rows(basis, np.empty((len(basis), D)))


def _rows_rank(A: np.ndarray, D: int, p: int, budget) -> int:
    """The rank mod p of words' values on BLAS (rows of balanced residues), by
    one dense elimination (densemod, in place)."""
    cost = rank_work(A.shape[0], D) + A.size
    budget.require(cost, "the rank of the bracket words")
    budget.spend(cost)
    return densemod.rank_in_place(A, p)


def blocks_work(values: list[dict[int, int]], D: int) -> float:
    """Units of work of ranking sparse vectors block by block: one elimination
    per connected block of columns (:func:`~exactcl.kernel.linalg.column_blocks`)."""
    work = sum(rank_work(len(block), len({c for r in block for c in values[r]}))
               for block in column_blocks(values))
    return work + sum(map(len, values))


def symbolic_words(generators, triples, work_limit: float, budget: WorkBudget
                    ) -> dict[int, VectorField]:
    """Every word as an exact field over Q, within the work budget and the
    bound on the terms of all words (memory)."""
    fields: dict[int, VectorField] = dict(enumerate(generators))
    size = {i: X.size for i, X in fields.items()}
    max_terms = MAX_WORD_TERMS * work_limit
    terms_left = max_terms
    for k, (node, left, right) in enumerate(triples):
        # [X, Z] = DZ.X - DX.Z: at most two products of every pair of terms
        work = flint_products(2 * size[left], size[right])
        budget.require(work, f"the exact expansion of lie.words[{k}] (fields of "
                             f"{size[left]} and {size[right]} terms)")
        budget.spend(work)
        fields[node] = bracket(generators[left], fields[right])
        size[node] = fields[node].size
        terms_left -= size[node]
        if terms_left < 0:
            raise CertificateFormatError(
                f"the bracket words grow beyond {max_terms:.0f} terms in all (at "
                f"lie.words[{k}]); such a certificate is not read without a larger work "
                f"limit.")
    return fields
