"""Word values restricted to a parameter subset, and the verifier's checks of
a certificate's ``subset`` section.

Both sides of a subset count (:mod:`exactcl.engine.subsets` produces it, the
verifier re-derives it) evaluate the same thing: bracket words Z_a of the
generator fields at points (theta_S*, theta'_j) that share the coordinates
on the subset S and differ outside it, keeping only the S-coordinates.
Every such vector is the value at theta_S* of a field of the family
F = {theta_S -> Z_S(theta_S, theta'_j)}, so the rank of the stacked vectors
modulo a prime is a lower bound on dim Lie(F)(theta_S*), hence an upper
bound |S| - rank on the laws that depend only on S (:mod:`exactcl.engine.subsets`
states the argument).

This module belongs to the verifier's trusted base: it imports only the
ring, field, jet, program evaluator, linear algebra and certificate format
layers (and, when it checks a file, the verifier's own helpers).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import replace

from . import blocks, evaluator
from .blocks import BlockLayout
from .budget import program_words_work
from .certformat import decode_poly
from .errors import CertificateFormatError, plural
from .evaluator import Layout
from .fields import VectorField, terms_gradient_mod
from .jets import WordJets, work_bound
from .linalg import rank_mod, stacked_rank_mod
from .reading import checked, int_list
from .rebuild import decode_work
from .rings import random_prime, support

__all__ = ["full_point", "restricted", "subset_checks", "word_values"]


def full_point(D: int, subset: Sequence[int], inside: Sequence[int],
               outside: Sequence[int]) -> list[int]:
    """The point of R^D with ``inside`` on the subset and ``outside`` on the
    other coordinates, both in parameter order.

    >>> full_point(4, [1, 3], [10, 30], [0, 2])
    [0, 10, 2, 30]
    """
    point = [0] * D
    rest = iter(outside)
    chosen = dict(zip(subset, inside))
    for v in range(D):
        point[v] = chosen[v] if v in chosen else next(rest)
    return point


def restricted(values: Sequence[Mapping[int, int]], position: Mapping[int, int]
               ) -> list[dict[int, int]]:
    """Sparse vectors cut to the subset: ``position`` maps a parameter of
    the subset to its column.

    >>> restricted([{0: 5, 2: 7}], {2: 0, 3: 1})
    [{0: 7}]
    """
    return [{position[v]: x for v, x in value.items() if v in position} for value in values]


def word_values(words: Sequence[int], brackets: Mapping[int, tuple[int, int]],
                point: Sequence[int], prime: int, *,
                generators: Sequence[VectorField] | None = None, layout: Layout | None = None,
                probes: Sequence | None = None, budget=None) -> list[dict[int, int]]:
    """The values at ``point`` mod ``prime`` of the words ``words`` (node ids;
    ``brackets`` maps a bracket's id to ``(left, right)``), sparse: by jets of
    the expanded ``generators``, or from the program ``layout`` and its
    generator ``probes`` (:class:`~exactcl.kernel.evaluator.Words`).

    >>> from exactcl.kernel.evaluator import Layout, component_probes
    >>> lay = Layout([["linear", 1, 1, False], ["linear", 1, 1, False]])
    >>> word_values([0], {}, [3, 5], 101, layout=lay, probes=component_probes(lay))
    [{0: 5, 1: 3}]
    """
    if layout is not None:
        module = blocks if isinstance(layout, BlockLayout) else evaluator
        values = module.Words(layout, probes, dict(brackets), point, prime)
        return [values.value(w) for w in words]
    return WordJets(generators, brackets, point, prime, budget=budget).values(list(words))


def stacked_rank(values_at, complements: Sequence[Sequence[int]], position: Mapping[int, int],
                 prime: int) -> int:
    """The rank mod ``prime`` of the restricted word values at every
    complement (``values_at(j)``: the full values at complement j)."""
    batches = (restricted(values_at(j), position) for j in range(len(complements)))
    return stacked_rank_mod(batches, len(position), prime)


# -- the verifier's checks ----------------------------------------------------------

#: Bounds on what a subset section may ask for (hostile files): complements.
MAX_COMPLEMENTS = 1000


def subset_checks(cert: dict, ring, generators, layout: Layout | None, probes,
                  brackets: Mapping[int, tuple[int, int]], n_fields: int, rounds: int,
                  rng: random.Random, budget) -> list:
    """The checks of the ``subset`` section: the subset, the rank K_S of the
    restricted words at the complements modulo fresh primes, each subset
    law supported on the subset and a law (as the file's laws are checked),
    their gradients' rank M_S at theta_S*, and the claimed count (sandwich
    M_S = |S| - K_S, or the bounds)."""
    from .lawchecks import (
        PRIME_ATTEMPTS,
        Check,
        _file_terms,
        _identities_exact,
        _identities_monte_carlo,
        _terms_work,
        _used_fields,
    )
    section = cert["subset"]
    names = list(ring.names)
    D = ring.nvars
    index = ring.index
    chosen = [index.get(n) if isinstance(n, str) else None for n in section["parameters"]]
    checks = []
    if None in chosen or sorted(set(chosen)) != chosen or not chosen:
        bad = next((n for n, v in zip(section["parameters"], chosen) if v is None), None)
        why = (f"{bad!r} is not a parameter of the model" if bad is not None else
               "the names must be distinct, non-empty and in the model's order")
        raise CertificateFormatError(f"subset.parameters: {why}.")
    S = chosen
    size = len(S)
    position = {v: c for c, v in enumerate(S)}
    outside = D - size
    inside = int_list(section["point"], "subset.point", length=size, decimal=True)
    complements = [int_list(c, f"subset.complements[{j}]", length=outside, decimal=True)
                   for j, c in enumerate(section["complements"])]
    words = int_list(section["words"], "subset.words", lo=0)
    unknown = [w for w in words if w >= n_fields and w not in brackets]
    if unknown:
        raise CertificateFormatError(f"subset.words names ids {unknown[:5]} that are neither "
                                     f"generator fields nor lie.words.")
    claimed_rank = checked(section["rank"], "subset.rank", "int", lo=0)

    # -- upper bound: K_S --------------------------------------------------------------
    if layout is not None:
        per_point = program_words_work(layout, brackets, words,
                                       len(_used_fields(brackets, words)))
    else:
        per_point = work_bound(generators, brackets, words) if words else 0
    best, primes = -1, []
    for _ in range(PRIME_ATTEMPTS):
        budget.require(per_point * len(complements), "evaluating the subset's words")
        budget.spend(per_point * len(complements))
        p = random_prime(rng)

        def values_at(j: int, p: int = p) -> list[dict[int, int]]:
            point = full_point(D, S, inside, complements[j])
            return word_values(words, brackets, point, p, generators=generators,
                               layout=layout, probes=probes)
        try:
            r = stacked_rank(values_at, complements, position, p)
        except ZeroDivisionError:  # p divides a denominator
            continue
        primes.append(p)
        best = max(best, r)
        if best >= claimed_rank:
            break
    best = max(best, 0)
    K = best
    how = f"mod fresh prime{'s' if len(primes) > 1 else ''} " + ", ".join(map(str, primes))
    checks.append(Check("subset rank", K == claimed_rank,
                        f"{len(words)} words at {plural(len(complements), 'complement')}, "
                        f"restricted to the {size} chosen parameters: rank {K} {how} "
                        f"(claimed {claimed_rank}); so at most {size} - {K} = "
                        f"{plural(size - K, 'law')} depending only on them"))

    # -- lower bound: M_S ----------------------------------------------------------------
    polys = checked(section["polynomials"], "subset.polynomials", "list")
    labels = checked(section["labels"], "subset.labels", "list")
    if len(labels) != len(polys) or not all(isinstance(s, str) for s in labels):
        raise CertificateFormatError("subset.labels must hold one string per law.")
    work = sum(decode_work(h, D) for h in polys)
    budget.require(work, f"decoding {len(polys)} subset laws")
    budget.spend(work)
    laws = [decode_poly(h, ring, f"subset.polynomials[{k}]") for k, h in enumerate(polys)]
    strays = [(k, sorted(support(h) - set(S))) for k, h in enumerate(laws)]
    strays = [(k, out) for k, out in strays if out]
    if strays:
        k, out = strays[0]
        checks.append(Check("subset laws supported", False,
                            f"subset law {k} ({labels[k]}) involves {names[out[0]]}, which is "
                            f"not in the subset"))
    else:
        checks.append(Check("subset laws supported", True,
                            f"{plural(len(laws), 'subset law')}, each involving only the "
                            f"chosen parameters"))
    terms = [_file_terms(h) for h in polys]
    if generators is not None:
        identity = _identities_exact(laws, labels, generators, budget)
    else:
        stated = cert["laws"].get("identities", {"mode": "exact"})
        identity = _identities_monte_carlo(layout, terms, laws, labels,
                                           max(rounds, stated.get("rounds", 0)),
                                           sum(_terms_work(t) for t in terms), rng, budget)
    checks.append(replace(identity, claim="subset law identities",
                          detail=identity.detail.replace(" laws:", " subset laws:", 1),
                          note=identity.note and "subset " + identity.note))
    claimed_m = checked(section["laws_rank"], "subset.laws_rank", "int", lo=0)
    centre = full_point(D, S, inside, [0] * outside)
    grank, primes = 0, []
    for _ in range(PRIME_ATTEMPTS):
        p = random_prime(rng)
        budget.require(sum(_terms_work(t) for t in terms), "the subset laws' gradients")
        budget.spend(sum(_terms_work(t) for t in terms))
        try:
            rows = restricted([terms_gradient_mod(t, centre, p) for t in terms], position)
        except ZeroDivisionError:
            continue
        primes.append(p)
        grank = max(grank, rank_mod(rows, size, p) if rows else 0)
        if grank == len(laws):
            break
    M = len(laws)
    checks.append(Check("subset laws independent", grank == M == claimed_m,
                        f"gradients of the {plural(M, 'subset law')}: rank {grank} at "
                        f"theta_S* mod fresh primes (claimed {claimed_m}); so at least "
                        f"{plural(grank, 'law')} depending only on the chosen parameters"))

    # -- the subset count follows --------------------------------------------------------
    laws_claim = checked(section["laws"], "subset.laws", "int?", lo=0)
    bounds = int_list(section["bounds"], "subset.bounds", length=2)
    proof = checked(section["proof"], "subset.proof", "str")
    if proof == "sandwich":
        ok = M == size - K == laws_claim and bounds == [M, M]
        detail = f"{M} subset laws = {size} - {K}: claimed {laws_claim}, bounds {bounds}"
    elif proof == "closure":
        # every parameter: the laws on S are the model's, counted by the closure proof
        # the checks above verified
        claim = cert["claim"]
        ok = (size == D and claim["proof"] == "closure" and laws_claim == claim["laws"]
              and bounds == [laws_claim, laws_claim] and M <= size - K)
        detail = (f"the subset is {size} of the {D} parameters; the count's closure proof "
                  f"gives {claim['laws']} laws: claimed {laws_claim}, bounds {bounds}")
    elif proof == "bounds only":
        ok = laws_claim is None and bounds == [M, size - K]
        detail = f"bounds [{M}, {size} - {K}] against the claimed {bounds}"
    else:
        ok, detail = False, f"unknown proof kind {proof!r}"
    note = (f"subset of {size} parameters: {plural(laws_claim, 'law')} depending only "
            f"on them (proof: {proof})" if laws_claim is not None else
            f"subset of {size} parameters: between {bounds[0]} and {bounds[1]} laws depend "
            f"only on them (bounds only)")
    checks.append(Check("subset count", ok, detail, note if ok else ""))
    return checks
