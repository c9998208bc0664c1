"""The checks of laws a verifier runs, shared by the certificate verifier
(:mod:`exactcl.kernel.verifier`) and the subset check (:mod:`exactcl.kernel.subsetcheck`):
one claim and its verdict (:class:`Check`), the law identities
grad h . X_i = 0 proven exactly over Q on expanded generators or checked by
Monte Carlo on a program with the Schwartz-Zippel bound the verifier
computes itself (a bound the file states must not be smaller), and the work
each costs. Part of the verifier's trusted base.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from fractions import Fraction

from . import blocks, evaluator
from .blocks import BlockLayout
from .brackets import (
    format_probability,
    round_error_bound,
)
from .budget import (
    DERIVATIVE,
    WorkBudget,
    evaluation_work,
    flint_products,
    program_words_work,
)
from .errors import plural
from .evaluator import Layout, identity_residual
from .fields import (
    VectorField,
    directions_index,
    first_violation,
    terms_gradient_mod,
)
from .reading import checked
from .rings import LazyLaws, poly_terms, random_prime, support, terms_degree, terms_norm

__all__ = ["PRIME_ATTEMPTS", "Check"]

#: Fresh primes tried before a rank counts as not reached.
PRIME_ATTEMPTS = 3


@dataclass(frozen=True)
class Check:
    """One claim and whether it was re-derived."""

    claim: str
    passed: bool
    detail: str
    #: What the summary of a verified file adds (how the law identities were proved,
    #: when not exactly).
    note: str = field(default="", compare=False)

    def line(self) -> str:
        return f"  {'passed' if self.passed else 'FAILED'}  {self.claim}: {self.detail}"


def _identities_exact(laws, labels, generators, budget) -> Check:
    """grad h . X_i = 0 for every law and generator, exactly over Q."""
    index = directions_index(generators)
    work = _identity_work(laws, generators, index)
    budget.require(work, f"checking the identities of {len(laws)} laws")
    budget.spend(work)
    bad = _first_broken_law(laws, generators, index)
    if bad is None:
        return Check("law identities", True,
                     f"{plural(len(laws), 'law')}: grad h . X_i = 0 exactly over Q for all "
                     f"{len(generators)} generators")
    k, i = bad
    return Check("law identities", False,
                 f"law {k} ({labels[k]}) is not conserved by generator X{i + 1}")


# -- programs: expanded when small, else evaluated -------------------------------


def _evaluator(layout):
    """:mod:`exactcl.kernel.blocks` for a block program, :mod:`exactcl.kernel.evaluator` for a chain."""
    return blocks if isinstance(layout, BlockLayout) else evaluator


def _used_fields(brackets, basis) -> set[int]:
    """The generator fields the basis words are made of."""
    used, stack = set(), list(basis)
    while stack:
        node = stack.pop()
        if node in brackets:
            stack.extend(brackets[node])
        else:
            used.add(node)
    return used


def _identities_monte_carlo(layout: Layout, terms, laws, labels, rounds: int,
                            law_work: float, rng: random.Random, budget: WorkBudget,
                            stated: dict | None = None) -> Check:
    """grad h . X_c = 0 for every law and every generator c, checked at
    ``rounds`` random points and probes modulo fresh random primes, as
    :func:`exactcl.kernel.evaluator.identity_residual` (grad F . grad h, every
    input, source, ReLU neuron and output of the probe random mod p; grad F
    is evaluated once per round for all the laws), with the Schwartz-Zippel
    bound of :func:`_identity_bounds`."""
    M = len(laws)
    if not M:
        return Check("law identities", True, "no law to check")
    per_round = program_words_work(layout, {}, [0], 1) + law_work
    budget.require(rounds * per_round, f"{rounds} rounds of the law identities")
    degree, hbits = _identity_bounds(layout, laws)
    stated = stated or {}
    if stated.get("mode") == "monte-carlo" and (stated["degree_bound"] < degree
                                                or stated["height_bits"] < hbits):
        # the file's error probability rests on these: stated too small, it is false
        return Check("law identities", False,
                     f"the file states the identities' degree <= {stated['degree_bound']} and "
                     f"height <= {stated['height_bits']} bits, but they reach degree {degree} "
                     f"and {hbits} bits: its error probability is understated")
    done = attempts = 0
    while done < rounds and attempts < rounds + PRIME_ATTEMPTS:
        attempts += 1
        budget.spend(per_round)
        p = random_prime(rng)
        point = [rng.randrange(p) for _ in range(layout.D)]
        probe = _evaluator(layout).random_probe_mod(layout, p, rng)
        try:
            grads = [terms_gradient_mod(t, point, p) for t in terms]
            value = _evaluator(layout).Words(layout, [probe], {}, point, p).value(0)  # grad F
        except ZeroDivisionError:  # p divides a denominator (or a level: 0 mod p): another prime
            continue
        for k, g in enumerate(grads):
            if identity_residual(value, g, p):
                return Check("law identities", False,
                             f"law {k} ({labels[k]}) is not conserved: grad F . grad h != 0 "
                             f"at a random point and probe mod the fresh prime {p}")
        done += 1
    error = min(Fraction(1), M * round_error_bound(degree, hbits) ** done)
    bound = format_probability(error)
    return Check("law identities", done == rounds,
                 f"{plural(M, 'law')}: grad h . X_c = 0 for all the generators, "
                 f"checked by Monte Carlo at {done} random points and probes modulo fresh "
                 f"random primes (Schwartz-Zippel, degree <= {degree}: error probability "
                 f"<= {bound})",
                 f"law identities by Monte Carlo ({done} rounds, error probability <= {bound})")


def _file_terms(obj: list) -> list:
    """A law's terms as the file writes them, ``[(((var, exp), ...), Fraction), ...]``
    (already checked by :func:`~exactcl.kernel.certformat.decode_poly`)."""
    return [(tuple((v, e) for v, e in mono), checked(c, "a law's coefficient", "rational"))
            for mono, c in obj]


def _terms_work(terms: list) -> float:
    """Units of work of :func:`~exactcl.kernel.fields.terms_gradient_mod`: per term, a
    modular inverse and k^2 products for k variables."""
    return sum(2 + len(mono) * (len(mono) + 1) for mono, _ in terms) + 1


def _identity_bounds(layout: Layout, laws) -> tuple[int, int]:
    """(degree, coefficient bits) bounds of the polynomials grad F . grad h in
    theta and the probe's entries, h scaled to integer coefficients: F has
    degree phi_degree in theta and probe_degree in the probe; a component of
    phi has at most T terms (all of phi's), each of degree <= L with
    coefficient 1, so grad phi_c . grad h has coefficients of size at most
    L T deg(h) |h|_1."""
    terms = [laws.terms(k) for k in range(len(laws))] if isinstance(laws, LazyLaws) else \
        [poly_terms(h) for h in laws]
    degree = max(terms_degree(t) for t in terms)
    delta = layout.probe_degree() + layout.phi_degree() - 1 + max(degree - 1, 0)
    T = layout.phi_terms()
    norm = max(terms_norm(t) for t in terms)
    return delta, (norm * max(degree, 1) * layout.phi_degree() * T).bit_length()


def _evaluation_work(X: VectorField) -> float:
    """Units of work of a field's value and Jacobian at a point."""
    return sum((evaluation_work(len(p), int(p.total_degree())) + DERIVATIVE * len(p))
               * (1 + len(s)) for (_, p), s in zip(X.components, X.supports))


def _identity_work(laws, generators, index) -> float:
    """Units of work of checking grad h . X_i = 0 for every law and generator."""
    work = 0.0
    for h in laws:
        hs = support(h)
        for i in sorted(set().union(*(index.get(v, ()) for v in hs))):
            comps = generators[i].as_dict
            for v in generators[i].directions & hs:
                work += flint_products(len(comps[v]), len(h)) + DERIVATIVE * len(h)
    return work


def _first_broken_law(laws, generators, index) -> tuple[int, int] | None:
    """(law index, generator index) of the first X_i(h) != 0, checked exactly."""
    for k, h in enumerate(laws):
        i = first_violation(h, generators, index)
        if i is not None:
            return k, i
    return None
