"""The certified count of independent conservation laws.

``count(model)`` brackets the number N of independent laws near generic
parameters, N = D - dim Lie(W)(theta):

* lower bound M: exhibited laws (the model's candidates, or a polynomial
  search), each verified as an exact identity grad h . X_i = 0 against
  every generator, with gradients independent at the point (modular rank);
* upper bound D - K: K bracket words independent at the point (modular
  rank of exact values);
* when M = D - K the count is proven by this sandwich; otherwise the
  closure check (:mod:`exactcl.kernel.brackets`) proves dim Lie(W) = K and so
  N = D - K, with its stated error probability; if it fails, only the
  bounds are reported.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
from flint import fmpq_mpoly

from ..kernel import densemod
from ..kernel.brackets import (
    ClosureResult,
    closure_check,
    closure_deterministic,
    deterministic_is_cheap,
    format_probability,
)
from ..kernel.errors import ExactclError, InputError, bad_argument, plural
from ..kernel.fields import (
    check_prime_for,
    directions_index,
    gradient_values_mod,
    terms_gradient_mod,
)
from ..kernel.linalg import independent_rows_mod
from ..kernel.rings import DEFAULT_PRIME, check_prime
from ..limits import check_memory, growth_bytes, model_bytes, parse_size
from ..models.base import LazyLaws
from ..models.builtin import Model
from .bases import BLAS_ABOVE, BLAS_PRIME, BlockBasis
from .evaluation import EXPANDED_PATHS, program_paths
from .growth import Growth, grow
from .progress import step
from .search import check_search_size, find_laws, search_bytes, verify_law

__all__ = ["DEFAULT_SEARCH_DEGREE", "MAX_DEGREE", "SEARCH_MAX_D", "CountResult",
           "check_search_degree", "count"]

#: Degree of the law search run when a model brings no candidate laws.
DEFAULT_SEARCH_DEGREE = 2
#: Largest D for which that default search runs (it is cheap below it).
SEARCH_MAX_D = 64
#: Largest degree of a law search asked by a user (count, laws, certify and the
#: command line): the largest monomial degree a certificate may hold
#: (certformat.MAX_TERM_DEGREE). A search of degree 200 in 2 variables takes
#: about a second; degree 1000 took minutes before this bound.
MAX_DEGREE = 200


def _candidates_text(D: int, degree: int, homogeneous: bool) -> str:
    """The number of candidate monomials of a search (the constant is never
    one), for messages: exact when the degree is within MAX_DEGREE, else its
    order of magnitude."""
    n = D + degree - 1 if homogeneous else D + degree
    if min(degree, n - degree) <= MAX_DEGREE:  # a binomial with a small side is cheap
        return f"{math.comb(n, degree) - (0 if homogeneous else 1):,}"
    log10 = (math.lgamma(n + 1) - math.lgamma(degree + 1) - math.lgamma(n - degree + 1)) \
        / math.log(10)
    return f"{round(10 ** log10):,}" if log10 < 15 else f"about 10^{int(log10)}"


def check_search_degree(D: int, degree: object, homogeneous: bool = False,
                        name: str = "degree") -> int:
    """Refuse, before any work, a law search that cannot finish: a degree
    above :data:`MAX_DEGREE`, or more candidate monomials (C(D + K, K), or
    C(D + K - 1, K) when homogeneous, the constant aside) than
    :data:`~exactcl.engine.search.MAX_MONOMIALS` (:func:`exactcl.engine.search.check_search_size`).
    Returns the degree.

    >>> check_search_degree(2, 1000, name="--degree")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument '--degree' must be at most 200, not 1000 (a search of degree 1000 in D = 2 variables has 501,500 candidate monomials).
    """
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 0:
        raise bad_argument(name, "a non-negative int", degree)
    if degree > MAX_DEGREE:
        raise InputError(f"Argument {name!r} must be at most {MAX_DEGREE}, not {degree} (a "
                         f"search of degree {degree} in D = {D} variables has "
                         f"{_candidates_text(D, degree, homogeneous)} candidate monomials).")
    check_search_size(D, degree, homogeneous, name)
    return degree


@dataclass(frozen=True, eq=False)
class CountResult:
    """The number of independent conservation laws and what proves it.

    Attributes
    ----------
    model : str
    parameters : int
        D.
    laws : int or None
        The certified number, when the bounds meet or closure proved it.
    lower, upper : int
        Proven bounds on the number of independent laws.
    lie_dimension : int or None
        dim Lie(W)(theta) when proven.
    lie_rank : int
        The modular lower bound K on dim Lie(W)(theta).
    status : str
        ``"certified"`` or ``"bounds"``.
    proof : str
        ``"sandwich"``, ``"closure"`` or ``"bounds only"``.
    explanation : str
        One sentence saying what proved what.
    exhibited : tuple of fmpq_mpoly
        The verified laws whose gradients are independent at the point.
    exhibited_labels : tuple of str
        Where each exhibited law comes from.
    rejected : tuple of str
        Candidate laws that failed the exact check (with the generator).
    growth : Growth
    closure : ClosureResult or None
    seconds : float
        Wall-clock time, for information only.
    generator_labels : tuple of str
        What each generator is (the model's ``generator_labels``).
    engine : str
        ``"expanded"`` (fields expanded over Q, words by jets) or
        ``"program"`` (everything by evaluation of the model's program,
        :mod:`exactcl.engine.evaluation`).
    fields : ProgramFields or None
        The program engine's generator fields (the generators, or probes).
    identities : IdentityCheck or None
        How the program engine checked the law identities (Monte Carlo, with
        its error bound); None when each is an exact identity over Q.
    """

    model: str
    parameters: int
    laws: int | None
    lower: int
    upper: int
    lie_dimension: int | None
    lie_rank: int
    status: str
    proof: str
    explanation: str
    exhibited: tuple[fmpq_mpoly, ...]
    exhibited_labels: tuple[str, ...]
    rejected: tuple[str, ...]
    growth: Growth = field(repr=False)
    closure: ClosureResult | None
    ring: object = field(repr=False)
    seconds: float
    generator_labels: tuple[str, ...] = field(default=(), repr=False)
    engine: str = "expanded"
    fields: Any = field(default=None, repr=False)
    identities: Any = field(default=None, repr=False)
    flow: Any = field(default=None, repr=False)
    #: The exhibited laws as sparse terms when the count kept them (a
    #: program's candidates): the certificate is written from them, not
    #: read back from flint at O(D) per term.
    exhibited_terms: Any = field(default=None, repr=False)

    @property
    def identity_text(self) -> str:
        """How each exhibited law was checked, for sentences."""
        if self.identities is None or self.identities.mode == "exact":
            return "verified exactly"
        return (f"checked by evaluation ({self.identities.rounds} random points and primes, "
                f"error probability <= {format_probability(self.identities.error_bound)})")

    @property
    def bounds(self) -> tuple[int, int]:
        return (self.lower, self.upper)

    @property
    def explicit_laws(self) -> int:
        return len(self.exhibited)

    def laws_sympy(self) -> list:
        """The exhibited laws as SymPy expressions; under momentum or Nesterov
        the time variable s is written as what it stands for, exp(tau*t) or t
        (``exhibited`` keeps the polynomials in s)."""
        import sympy
        return [sympy.sympify(text) for text in self.laws_strings()] \
            if self.flow is not None and self.flow.time() is not None else \
            [_poly_to_sympy(h, self.ring) for h in self.exhibited]

    def laws_strings(self) -> list[str]:
        from ..models.flows import time_strings
        return time_strings(self.exhibited, self.ring, self.flow)

    def as_dict(self) -> dict:
        """The JSON summary printed by ``exactcl count --json``."""
        out = {
            "model": self.model,
            "parameters": self.parameters,
            "laws": self.laws,
            "bounds": [self.lower, self.upper],
            "lie_dimension": self.lie_dimension,
            "lie_rank_lower_bound": self.lie_rank,
            "rank_profile": list(self.growth.profile),
            "status": self.status,
            "proof": self.proof,
            "explanation": self.explanation,
            "explicit_laws": self.explicit_laws,
            "rejected_candidates": list(self.rejected),
            "prime": self.growth.prime,
            "engine": self.engine,
            "seconds": round(self.seconds, 3),
        }
        if self.identities is not None:
            out["law_identities"] = self.identities.as_dict() | {
                "error_bound": format_probability(self.identities.error_bound)}
        if self.fields is not None:
            out["generator_fields"] = self.fields.as_dict()
        if self.closure is not None:
            out["closure"] = {
                "mode": self.closure.mode,
                "passed": self.closure.passed,
                "rounds": self.closure.rounds,
                "degree_bound": self.closure.degree_bound,
                "error_bound": format_probability(self.closure.error_bound),
            }
        return out

    def __repr__(self) -> str:
        n = self.laws if self.laws is not None else f"between {self.lower} and {self.upper}"
        return f"CountResult({self.model!r}, D={self.parameters}, laws={n}, proof={self.proof!r})"

    def proof_text(self) -> str:
        """What proved the count (or the bounds), in words.

        >>> from exactcl.models.builtin import product
        >>> count(product(3)).proof_text()
        'sandwich: 2 exhibited laws, each an exact identity, and 1 bracket word independent at a point, so there are at most 3 - 1 = 2 laws'
        """
        D, K, M = self.parameters, self.lie_rank, self.explicit_laws
        words = plural(K, "bracket word")
        if self.identities is not None and self.identities.mode != "exact":
            how = (f"checked at {self.identities.rounds} random points modulo random primes "
                   f"(error probability <= {format_probability(self.identities.error_bound)})")
            laws = ("no exhibited law" if M == 0 else f"1 exhibited law, {how}," if M == 1
                    else f"{M} exhibited laws, each {how},")
        else:
            laws = ("no exhibited law" if M == 0 else "1 exhibited law, an exact identity,"
                    if M == 1 else f"{M} exhibited laws, each an exact identity,")
        if self.proof == "sandwich":
            return (f"sandwich: {laws} and {words} independent at a point, so there are at "
                    f"most {D} - {K} = {plural(D - K, 'law')}")
        closure = self.closure
        if closure is None:  # pragma: no cover - closure and bounds only always run a check
            check = "no closure check"
        elif closure.mode == "deterministic":
            n = closure.identities
            check = (f"deterministic: {n} cofactor identit{'y' if n == 1 else 'ies'} "
                     f"checked exactly over Q")
        else:
            check = (f"Monte Carlo, {plural(closure.rounds, 'round')}: error probability "
                     f"<= {format_probability(closure.error_bound)}")
        if self.proof == "closure":
            return (f"closure: {words} independent at a point {'spans' if K == 1 else 'span'} a "
                    f"distribution closed under bracketing with the generators ({check}), so "
                    f"dim Lie = {K} and there are {D} - {K} = {plural(D - K, 'law')}, {M} of "
                    f"them exhibited")
        state = ("inconclusive" if closure is not None and closure.inconclusive else "failed")
        return (f"bounds only: {laws} and {words} independent at a point; the closure "
                f"check {state} ({check})")

    def _repr_markdown_(self) -> str:
        """Markdown for Jupyter: the count, its bounds and proof, the rank per
        bracket depth and the exhibited laws as LaTeX (at most
        :data:`~exactcl.engine.display.MAX_LAWS_SHOWN`).

        >>> from exactcl.models.builtin import product
        >>> print(count(product(3))._repr_markdown_())
        **product:3**: D = 3, **2** independent conservation laws (certified)
        <BLANKLINE>
        - bounds: [2, 2]
        - $\\dim \\mathrm{Lie}(W) = 1$
        - proved by sandwich: 2 exhibited laws, each an exact identity, and 1 bracket word independent at a point, so there are at most 3 - 1 = 2 laws
        - rank per bracket depth: 1 (depth 0)
        <BLANKLINE>
        Exhibited laws (2):
        <BLANKLINE>
        1. $- t_{1}^{2} + t_{2}^{2}$: t2^2 - t1^2
        2. $- t_{1}^{2} + t_{3}^{2}$: t3^2 - t1^2
        """
        from .display import law_items, markdown_escape, probability_math
        if self.laws is not None:
            head = f"**{self.laws}** independent conservation law{'' if self.laws == 1 else 's'}"
        else:
            head = f"between {self.lower} and {self.upper} independent conservation laws"
        lie = (rf"$\dim \mathrm{{Lie}}(W) = {self.lie_dimension}$"
               if self.lie_dimension is not None else
               rf"$\dim \mathrm{{Lie}}(W) \geq {self.lie_rank}$ (the rank at a point)")
        proof = markdown_escape(self.proof_text())
        if self.closure is not None and self.closure.mode != "deterministic":
            # the error bound as math: 2^-118 -> $2^{-118}$
            plain = markdown_escape(f"<= {format_probability(self.closure.error_bound)}")
            proof = proof.replace(plain, probability_math(self.closure.error_bound, r"\leq "))
        lines = [f"**{markdown_escape(self.model)}**: D = {self.parameters}, {head} "
                 f"({self.status})", "",
                 f"- bounds: [{self.lower}, {self.upper}]",
                 f"- {lie}",
                 f"- proved by {proof}" if self.proof != "bounds only" else f"- {proof}",
                 f"- rank per bracket depth: {markdown_escape(self.growth.profile_text())}"]
        if self.rejected:
            lines.append(f"- rejected candidates: {len(self.rejected)}")
        if self.exhibited:
            # a label that only repeats the law (a model's unnamed candidate) is left out
            labels = ["" if label == h.str() else label
                      for h, label in zip(self.exhibited, self.exhibited_labels)]
            same = len(labels) > 1 and len(set(labels)) == 1
            title = f"Exhibited laws ({len(self.exhibited)})"
            if same and labels[0]:
                title += f", {markdown_escape(labels[0])}"
            lines += ["", title + ":", ""]
            lines += law_items(self.exhibited, self.ring, None if same else labels)
        else:
            lines += ["", "No law exhibited."]
        return "\n".join(lines)

    def __str__(self) -> str:
        head = (f"{self.model}: D = {self.parameters}, "
                + (plural(self.laws, "independent conservation law")
                   if self.laws is not None else
                   f"between {self.lower} and {self.upper} independent conservation laws"))
        return f"{head}\n{self.explanation}"


def _poly_to_sympy(h, ring):
    from ..models.symbolic import poly_to_sympy
    return poly_to_sympy(h, ring)


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise bad_argument(name, f"an int >= {minimum}", value)
    return value


def count(
    model: Model,
    *,
    search_degree: int | None = None,
    closure_rounds: int = 2,
    closure: str = "auto",
    max_depth: int | None = None,
    prime: int = DEFAULT_PRIME,
    seed: int = 0,
    max_memory: int | None = None,
    engine: str = "auto",
    identity_rounds: int = 2,
    identities: str = "auto",
    flow=None,
    metric=None,
) -> CountResult:
    """Count the independent conservation laws of ``model`` and prove the count.

    Parameters
    ----------
    model : Model
    search_degree : int, optional
        Also search polynomial laws of this degree for the lower bound
        (default: 2 when the model has no candidate laws and D <= 64).
    closure_rounds : int
        Rounds of the Monte Carlo closure check when it is needed; each
        round multiplies the error bound by about 2^-50 or less.
    closure : {"auto", "deterministic", "monte-carlo"}
        How the closure check, when needed, is made: "auto" proves it
        exactly by cofactor identities when that is cheap
        (:func:`~exactcl.kernel.brackets.deterministic_is_cheap`), else by Monte
        Carlo with its stated error bound.
    max_depth : int, optional
        Deepest bracket depth of the growth.
    prime : int
        Prime of the modular ranks: 2 <= prime < 2**64 (FLINT's word-size
        arithmetic), dividing no denominator of the model's coefficients.
    seed : int
        Seed of the point and of the closure check's randomness (results
        are reproducible; soundness never depends on it).
    max_memory : int, optional
        Bytes the whole count may take (model included); default: the
        memory available, at most half of the physical memory.
    engine : {"auto", "expanded", "program"}
        "expanded" expands the generator fields over Q and evaluates words
        by jets; "program" evaluates the model's program at points mod
        primes and never expands (:mod:`exactcl.engine.evaluation`); "auto" takes
        the program engine for a network whose expansion is large
        (:func:`choose_engine`).
    identity_rounds : int
        Rounds of the program engine's Monte Carlo check of each law.
    identities : {"auto", "exact", "monte-carlo"}
        How the program engine checks the candidate laws: exactly over Q on
        the expanded generators, or by evaluation with its stated bound;
        "auto" is exact when phi has at most :data:`EXPANDED_PATHS` terms.
    flow : str or Flow, optional
        The flow whose laws are counted (:mod:`exactcl.models.flows`): ``"gradient"``
        (the default), ``"metric:diag"``, ``"momentum:1/2"``, ``"nesterov"``,
        ``"momentum:1+metric:diag"``; the model under it is counted on the
        expanded engine.
    metric : SymPy Matrix, optional
        A D x D polynomial metric M(theta) for the flow, instead of
        ``metric:diag``.

    Raises
    ------
    ResourceError
        Before any work, when the law search would have too many unknowns
        or the memory estimate (:mod:`exactcl.limits`) exceeds the limit.

    Examples
    --------
    >>> from exactcl.models.builtin import linear, product
    >>> count(linear([2, 2, 2]))
    CountResult('linear:2,2,2', D=8, laws=3, proof='sandwich')
    >>> r = count(product(3))
    >>> r.laws, r.bounds, r.lie_dimension
    (2, (2, 2), 1)
    """
    from ..models.builtin import as_model
    model = as_model(model, max_memory=max_memory)
    if flow is not None or metric is not None or (model.default_flow is not None
                                                  and model.flow is None):
        from ..models.flows import apply_flow
        model = apply_flow(model, flow, metric)
    _check_int("closure_rounds", closure_rounds, 1)
    _check_int("identity_rounds", identity_rounds, 1)
    if identities not in ("auto", "exact", "monte-carlo"):
        raise bad_argument("identities", "one of 'auto', 'exact', 'monte-carlo'", identities)
    engine = choose_engine(model, engine)
    if engine == "program":
        if search_degree is not None:
            check_search_degree(model.D, search_degree, name="search_degree")
        return _count_program(model, search_degree=search_degree, max_depth=max_depth,
                              prime=check_prime(prime), seed=seed, max_memory=max_memory,
                              rounds=identity_rounds, identities=identities)
    if closure not in ("auto", "deterministic", "monte-carlo"):
        raise bad_argument("closure", "one of 'auto', 'deterministic', 'monte-carlo'", closure)
    if search_degree is not None:
        check_search_degree(model.D, search_degree, name="search_degree")
    prime = check_prime_for(model.generators, prime)
    if max_memory is not None:
        max_memory = parse_size(max_memory, "max_memory")
    D = model.D
    if search_degree is None and not model.candidates and D <= SEARCH_MAX_D:
        search_degree = DEFAULT_SEARCH_DEGREE
    _check_count_size(model, search_degree, max_memory)
    start = time.perf_counter()
    rng = random.Random(seed)
    point = [rng.randrange(prime) for _ in range(D)]

    # lower bound: exhibited laws, verified exactly
    found: list[tuple[fmpq_mpoly, str]] = []
    rejected = []
    labels = model.candidate_labels or tuple(h.str() for h in model.candidates)
    index = directions_index(model.generators)
    for done, (h, label) in enumerate(zip(model.candidates, labels)):
        step("law check", done, len(model.candidates), "laws")
        bad = verify_law(h, model.generators, index)
        if bad is None:
            found.append((h, label))
        else:
            rejected.append(f"{label}: not conserved by generator X{bad + 1}")
    if search_degree:
        found.extend((h, f"found by the degree-{search_degree} search")
                     for h in find_laws(model.generators, search_degree, seed=seed).laws)
    keep = _independent(D, [h for h, _ in found], point, prime)
    exhibited = tuple(found[i][0] for i in keep)
    exhibited_labels = tuple(found[i][1] for i in keep)
    M = len(exhibited)

    # upper bound: the Lie rank
    growth = grow(model.generators, point, prime, target=D - M, max_depth=max_depth, seed=seed)
    K = growth.rank
    if M > D - K:  # pragma: no cover - impossible unless a rank is wrong
        raise ExactclError(f"Internal inconsistency: {M} independent laws but Lie rank {K} "
                           f"in dimension {D}.")
    p_text = f"mod p = {prime}"
    closure_result = None
    if M == D - K:
        laws, lie, status, proof = M, K, "certified", "sandwich"
        explanation = (f"Proven by sandwich: {plural(M, 'exhibited law')} verified exactly and "
                       f"independent at the point; {plural(K, 'bracket word')} independent at the "
                       f"point ({p_text}), so at most {D} - {K} = {D - K}.")
    else:
        words = growth.fields()
        if closure == "deterministic" or (closure == "auto" and
                                          deterministic_is_cheap(model.generators, words)):
            closure_result = closure_deterministic(model.generators, words, point, prime,
                                                   _report("identities"))
        if closure_result is None:
            closure_result = closure_check(model.generators, words, closure_rounds,
                                           random.Random(rng.getrandbits(64)),
                                           _report("rounds"))
        if closure_result.passed:
            laws, lie, status, proof = D - K, K, "certified", "closure"
            explanation = (f"Proven by closure: {plural(K, 'bracket word')} independent at the point "
                           f"({p_text}) span a distribution closed under bracketing with the "
                           f"generators ({closure_result.describe()}), so dim Lie = {K} and "
                           f"Frobenius gives {D} - {K} = {D - K} laws; {M} of them exhibited.")
        else:
            laws, lie, status, proof = None, None, "bounds", "bounds only"
            explanation = (f"Only bounds: {plural(M, 'exhibited law')}; Lie rank >= {K} ({p_text}); "
                           f"{closure_result.describe()}.")
    return CountResult(model.name, D, laws, M if laws is None else laws,
                       D - K, lie, K, status, proof, explanation, exhibited, exhibited_labels,
                       tuple(rejected), growth, closure_result, model.ring,
                       time.perf_counter() - start, model.generator_labels, flow=model.flow)


def _check_count_size(model: Model, search_degree: int | None, max_memory: int | None) -> None:
    """Refuse, before any work, a count whose law search has too many
    unknowns or whose memory estimate exceeds the limit. The model itself
    is counted only against a ``max_memory`` given (it already takes the
    memory it takes; the memory available excludes it)."""
    D, gens = model.D, len(model.generators)
    parts = {"growth": growth_bytes(D, D, gens)}
    if search_degree:
        unknowns = check_search_size(D, search_degree)
        parts["law search"] = search_bytes(unknowns)
    if max_memory is not None:
        terms = (sum(X.size for X in model.generators) + sum(len(p) for p in model.phi)
                 + sum(len(h) for h in model.candidates))
        parts = {"model": model_bytes(D, gens, terms)} | parts
    check_memory(f"count of {model.name}", parts, max_memory)


def _report(unit: str):
    """``report(done, total)`` of the closure check: the "closure check" stage."""
    return lambda done, total: step("closure check", done, total, unit)


def _independent(D: int, laws: list[fmpq_mpoly], point: list[int], prime: int) -> list[int]:
    """Indices of a maximal subset of ``laws`` with gradients independent at
    the point mod p."""
    if not laws:
        return []
    rows = [gradient_values_mod(h, point, prime) for h in laws]
    return independent_rows_mod(rows, D, prime)



def _merge_checks(first, second):
    """The :class:`~exactcl.engine.evaluation.IdentityCheck` of two sets of laws
    checked apart (None or ``"exact"``: each an exact identity): Monte Carlo
    when either is, with the union of the error bounds.

    >>> from exactcl.engine.evaluation import IdentityCheck
    >>> a = IdentityCheck("monte-carlo", 2, 5, 9, Fraction(1, 2**90), 3)
    >>> _merge_checks(a, IdentityCheck("exact", laws=2)).error_bound == a.error_bound
    True
    >>> _merge_checks(a, a).error_bound == 2 * a.error_bound, _merge_checks(a, a).laws
    (True, 6)
    """
    from .evaluation import IdentityCheck
    checks = [c for c in (first, second) if c is not None and c.laws]
    if not checks:
        return first if first is not None else second
    laws = sum(c.laws for c in checks)
    drawn = [c for c in checks if c.mode != "exact"]
    if not drawn:
        return IdentityCheck("exact", laws=laws)
    return IdentityCheck("monte-carlo", min(c.rounds for c in drawn),
                         max(c.degree_bound for c in drawn), max(c.height_bits for c in drawn),
                         min(Fraction(1), sum(c.error_bound for c in drawn)), laws)




def choose_engine(model: Model, engine: object = "auto") -> str:
    """The engine a count of ``model`` runs on: ``"program"`` for a network
    of more than :data:`EXPANDED_PATHS` paths (or when asked), else
    ``"expanded"``; a model without a program (a SymPy phi, fields) is
    always expanded.

    The program engine is the faster one from a few dozen paths up, but
    below :data:`EXPANDED_PATHS` the expanded engine costs at most about a
    second and gives the stronger certificate: law identities proven
    exactly over Q rather than by evaluation with an error bound, and the
    closure check when the laws do not close the sandwich.

    >>> from exactcl.models.builtin import linear
    >>> choose_engine(linear([2, 2, 2])), choose_engine(linear([8] * 6))
    ('expanded', 'program')
    """
    if engine not in ("auto", "expanded", "program"):
        raise bad_argument("engine", "one of 'auto', 'expanded', 'program'", engine)
    if engine == "program" and model.program is None:
        raise InputError(f"Argument 'engine' is 'program' but model {model.name} is not a "
                         f"program of layers (it is given by its polynomials).")
    if engine != "auto":
        return engine
    if model.program is None or model.expanded:
        return "expanded"
    return "program" if program_paths(model) > EXPANDED_PATHS else "expanded"


def check_program_count(program, *, search_degree: int | None = None,
                        max_memory: int | str | None = None, seed: int = 0,
                        engine: str = "auto"):
    """Refuse (:class:`~exactcl.errors.ResourceError`), from the program
    alone and before its model is built, a count that the program engine
    would run and whose memory estimate exceeds the limit; returns the
    fields the program engine would use (None when the count is expanded).

    >>> from exactcl.layers.program import from_family
    >>> check_program_count(from_family("relu", [96, 96, 96, 96]), max_memory="1G")
    Traceback (most recent call last):
    ...
    exactcl.errors.ResourceError: The count of relu:96,96,96,96 needs an estimated 76.4 GB of memory (growth 76.3 GB, interpreter 100.0 MB); the limit is 1.0 GB (max_memory). Choose a smaller model or give a larger limit (--max-memory SIZE, or max_memory in Python).
    """
    from ..limits import program_bytes
    from .evaluation import ProgramFields
    layout = program.layout
    if engine == "expanded" or (engine == "auto" and layout.phi_terms() <= EXPANDED_PATHS):
        return None
    if max_memory is not None:
        max_memory = parse_size(max_memory, "max_memory")
    fields = ProgramFields.choose(layout, seed)
    parts = {"growth": program_bytes(layout, fields.count, fields.kind)}
    if search_degree:
        parts["law search"] = 300 * check_search_size(layout.D, search_degree)  # its monomials
    check_memory(f"count of {program.name}", parts, max_memory)
    return fields


def _exhibited(model: Model, laws: list) -> tuple | LazyLaws:
    """The exhibited laws from candidate indices and found polynomials: the
    candidates' own lazy sequence when all are candidates (their polynomials
    built when read), else a tuple."""
    if isinstance(model.candidates, LazyLaws) and all(isinstance(h, int) for h in laws):
        return model.candidates.subset(laws)
    return tuple(model.candidates[h] if isinstance(h, int) else h for h in laws)


def _independent_laws(terms: list, point: list[int], D: int, prime: int) -> list[int]:
    """The laws (by their terms) whose gradients at the point are independent of
    the ones before them, mod ``prime``. A wide program ranks them on BLAS mod
    BLAS_PRIME first: when all are independent there, they are over Q, and all
    are kept; otherwise the choice is made mod ``prime``, as for narrower ones."""
    if D > BLAS_ABOVE and prime == DEFAULT_PRIME and terms:
        rows = np.zeros((len(terms), D), dtype=np.int64)
        for r, t in enumerate(terms):
            g = terms_gradient_mod(t, point, BLAS_PRIME)
            if g:
                rows[r, list(g)] = list(g.values())
        if len(densemod.pivot_columns(rows.T, BLAS_PRIME)) == len(terms):
            return list(range(len(terms)))
    return BlockBasis(D, prime).add([terms_gradient_mod(t, point, prime) for t in terms])


def _count_program(model: Model, *, search_degree: int | None, max_depth: int | None,
                   prime: int, seed: int, max_memory: int | None, rounds: int,
                   identities: str = "auto") -> CountResult:
    """:func:`count` by evaluation of the model's program: the fields are
    never expanded, except to prove the candidate laws exactly over Q when
    phi has at most :data:`EXPANDED_PATHS` terms (else they are checked by
    evaluation, with the stated bound)."""
    from .evaluation import anchored_point, check_laws, program_growth
    start = time.perf_counter()
    layout = model.program.layout
    D = model.D
    fields = check_program_count(model.program, search_degree=search_degree,
                                 max_memory=max_memory, seed=seed, engine="program")
    rng = random.Random(seed)
    point = anchored_point(layout, [rng.randrange(prime) for _ in range(D)])
    found: list[tuple[fmpq_mpoly, str]] = []
    rejected = []
    labels = model.candidate_labels or tuple(h.str() for h in model.candidates)
    step("law check", 0, len(model.candidates), "laws")
    terms = [model.candidate_terms(k) for k in range(len(model.candidates))]
    if identities == "exact" or (identities == "auto" and
                                 program_paths(model) <= EXPANDED_PATHS):
        # small enough to expand (or asked): every identity proven exactly over Q
        from .evaluation import IdentityCheck
        index = directions_index(model.generators)
        failed = [verify_law(h, model.generators, index) for h in model.candidates]
        check = IdentityCheck("exact", laws=len(model.candidates))
        why = "not conserved by generator X{}"
    else:
        failed, check = check_laws(layout, model.candidates, rounds,
                                   random.Random(f"law identities {seed}"), terms)
        why = "not conserved (grad h . X_c != 0 at a random point, round {})"
    found_terms = []
    for k, (label, bad, t) in enumerate(zip(labels, failed, terms)):
        if bad is None:
            found.append((k, label))  # a candidate's index: its polynomial is built if read
            found_terms.append(t)
        else:
            rejected.append(f"{label}: " + why.format(bad + 1))
    if search_degree:
        from ..kernel.rings import poly_terms
        from .evalsearch import find_laws_by_evaluation
        search = find_laws_by_evaluation(model, search_degree, seed=seed, rounds=rounds,
                                         max_memory=max_memory)
        for h in search.laws:
            found.append((h, f"found by the degree-{search_degree} search"))
            found_terms.append(poly_terms(h))
        check = _merge_checks(check, search.identities)
    keep = _independent_laws(found_terms, point, D, prime)
    exhibited = _exhibited(model, [found[i][0] for i in keep])
    exhibited_labels = tuple(found[i][1] for i in keep)
    M = len(exhibited)
    growth_prime = prime
    if D > BLAS_ABOVE and prime == DEFAULT_PRIME:  # wide: rank decisions on BLAS, mod a
        growth_prime = BLAS_PRIME                  # small prime (docs/design.md, section 1)
    growth = program_growth(fields, point, growth_prime, target=D - M, max_depth=max_depth,
                            seed=seed)
    if growth_prime != prime and M < D - growth.rank:  # an unlucky prime? the large one
        growth = program_growth(fields, point, prime, target=D - M, max_depth=max_depth,
                                seed=seed)
    prime = growth.prime
    K = growth.rank
    if M > D - K:  # pragma: no cover - impossible unless a rank is wrong
        raise ExactclError(f"Internal inconsistency: {M} independent laws but Lie rank {K} "
                           f"in dimension {D}.")
    p_text = f"mod p = {prime}"
    how = check.describe() if M else ""
    if M == D - K:
        laws, lie, status, proof = M, K, "certified", "sandwich"
        explanation = (f"Proven by sandwich: {plural(M, 'exhibited law')} ({how}) independent "
                       f"at the point; {plural(K, 'bracket word')} in {fields.describe()} "
                       f"independent at the point ({p_text}), so at most {D} - {K} = {D - K}.")
    else:
        laws, lie, status, proof = None, None, "bounds", "bounds only"
        explanation = (f"Only bounds: {plural(M, 'exhibited law')}; Lie rank >= {K} ({p_text}) "
                       f"from {fields.describe()}; the closure check needs the expanded "
                       f"fields (engine='expanded').")
    if rejected:  # e.g. the scale law of a normalisation, broken at order eps when eps > 0
        explanation += f" Candidates rejected by their check: {'; '.join(rejected)}."
    return CountResult(model.name, D, laws, M if laws is None else laws, D - K, lie, K, status,
                       proof, explanation, exhibited, exhibited_labels, tuple(rejected), growth,
                       None, model.ring, time.perf_counter() - start, (), "program", fields,
                       check, flow=model.flow,
                       exhibited_terms=tuple(found_terms[i] for i in keep))


def polynomial_laws(model, degree: int, homogeneous: bool = False, *, engine: str = "auto",
                    **kwargs):
    """The laws of :func:`exactcl.laws` without ``subset``: the search by
    evaluation of the model's program or on its expanded generators, as
    :func:`choose_engine` picks (the keywords the chosen search takes are
    checked before any work)."""
    from ..models.builtin import as_model
    model = as_model(model)
    check_search_degree(model.D, degree, bool(homogeneous))  # before any work
    if choose_engine(model, engine) == "program":
        from .evalsearch import find_laws_by_evaluation
        for name in kwargs:
            if name not in ("seed", "rounds", "max_memory"):
                raise InputError(f"Argument {name!r} applies to the expanded search "
                                 f"(engine='expanded'); the search of {model.name} by "
                                 f"evaluation takes seed, rounds and max_memory.")
        return find_laws_by_evaluation(model, degree, bool(homogeneous), **kwargs)
    return find_laws(model.generators, degree, homogeneous, **kwargs)
