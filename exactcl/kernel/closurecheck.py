"""The closure check a certificate claims, re-run with the verifier's own
randomness (Monte Carlo, with the Schwartz-Zippel bound it states, never
accepting an understated bound), or deterministically when cheap."""

from __future__ import annotations

from fractions import Fraction

from .brackets import (
    POINT_ATTEMPTS,
    closure_check,
    closure_deterministic,
    deterministic_is_cheap,
    format_probability,
    round_error_bound,
)
from .budget import (
    WorkBudget,
    rank_work,
)
from .lawchecks import (
    PRIME_ATTEMPTS,
    _evaluation_work,
)
from .reading import checked
from .rings import random_prime

__all__ = ["closure_claim", "understated"]

def monte_carlo_work(generators, words, rounds: int) -> float:
    """Units of work of :func:`closure_check`: per round, the words' values
    at up to POINT_ATTEMPTS points, every field's value and Jacobian, and
    the ranks."""
    D, K = generators[0].ring.nvars, len(words)
    values = sum(_evaluation_work(w) for w in words)
    per_round = (POINT_ATTEMPTS * (values + rank_work(K, D)) + values
                 + sum(_evaluation_work(X) for X in generators) + rank_work(K + 2, D))
    return rounds * per_round


def monte_carlo(generators, words, rounds, rng, budget: WorkBudget):
    work = monte_carlo_work(generators, words, rounds)
    budget.require(work, f"{rounds} rounds of the closure check")
    budget.spend(work)
    return closure_check(generators, words, rounds, rng)


def understated(closure: dict, res, rounds: int) -> str | None:
    """What the file's closure section understates of the Monte Carlo check
    (its degree and height bounds, or its error probability for its rounds,
    against the verifier's own), or None."""
    stated_degree = checked(closure["degree_bound"], "closure.degree_bound", "int", lo=0)
    stated_bits = checked(closure["height_bits"], "closure.height_bits", "int", lo=0)
    stated_error = checked(closure["error_bound"], "closure.error_bound", "rational")
    if res is None or not res.passed:
        return None
    if stated_degree < res.degree_bound or stated_bits < res.height_bits:
        return (f"the file states minors of degree <= {stated_degree} and height <= "
                f"{stated_bits} bits, but they reach degree {res.degree_bound} and "
                f"{res.height_bits} bits: its error probability is understated")
    true = min(Fraction(1), round_error_bound(res.degree_bound, res.height_bits) ** rounds)
    if stated_error < true:
        return (f"the file states an error probability <= {format_probability(stated_error)} "
                f"for {rounds} rounds, but {rounds} rounds give only <= "
                f"{format_probability(true)}")
    return None


def closure_claim(generators, words, point, mode, rounds, rng, budget: WorkBudget
             ) -> tuple[bool, str, object]:
    """(passed, detail, the Monte Carlo result or None)."""
    if mode == "deterministic" and not deterministic_is_cheap(generators, words):
        res = monte_carlo(generators, words, rounds, rng, budget)
        return res.passed, ("the deterministic check is too large to repeat here; "
                            + res.describe()), None
    if mode == "deterministic":
        for _ in range(PRIME_ATTEMPTS):
            res = closure_deterministic(generators, words, point, random_prime(rng),
                                        spend=budget.spend)
            if res is not None:
                return res.passed, res.describe(), None
        return False, "deterministic closure: the words are not independent at the point", None
    if mode == "monte-carlo":
        res = monte_carlo(generators, words, rounds, rng, budget)
        bound = format_probability(res.error_bound)
        return res.passed, res.describe() + ("" if res.passed else f" (bound {bound})"), res
    return False, f"unknown closure mode {mode!r}", None
