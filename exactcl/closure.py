"""The closure (Frobenius involutivity) check, Monte Carlo with a stated bound.

Claim: with Z_1..Z_K the kept bracket words, every generator X_j and
every bracket [X_i, Z_a] lies in span Z(theta) on a dense open set. Then
the distribution spanned by the Z's contains Lie(W), so dim Lie(W) <= K
there; with the modular lower bound K, dim Lie(W) = K and Frobenius gives
exactly D - K independent laws.

The claim is a polynomial identity: all (K+1)-minors of [Z | v] vanish for
v = X_j and v = [X_i, Z_a]. One round draws a prime p, a point theta' of
F_p^D and coefficients alpha, beta, gamma uniformly, checks that Z(theta')
has rank K, and that ``[X_alpha, Z_beta](theta')`` and
``X_gamma(theta')`` lie in span Z(theta') (X_alpha = sum alpha_i X_i, and so
on). If the claim is false, some minor M is a nonzero integer polynomial
of degree <= delta and the round passes only if

* p divides every coefficient of M (the content of M has at most
  ``hbits / 61`` prime factors >= 2**61 and no prime is drawn with
  probability above PRIME_GAP / 2**61), or
* M(theta') = 0 mod p (Schwartz-Zippel: probability <= delta / p), or
* the random combination misses the witness (a nonzero bilinear form in
  alpha, beta: probability <= 2 / p).

So one round errs with probability at most
``(delta + 2) / 2**61 + ceil(hbits / 61) * PRIME_GAP / 2**61``, and
independent rounds multiply.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from .fields import VectorField
from .linalg import rank_mod
from .rings import PRIME_GAP, RANDOM_PRIME_BITS, random_prime

__all__ = ["ClosureResult", "closure_check", "round_error_bound"]

#: Attempts per round to find a point where the words keep their rank.
POINT_ATTEMPTS = 5


@dataclass(frozen=True)
class ClosureResult:
    """Outcome of :func:`closure_check`.

    ``passed`` is True when every round passed; ``error_bound`` bounds the
    probability that the claim is false although every round passed.
    ``failed_round`` is the first round that found a vector outside the
    span (a proof that the words do not close up), if any.
    """

    passed: bool
    mode: str
    rounds: int
    degree_bound: int
    height_bits: int
    error_bound: Fraction
    primes: tuple[int, ...]
    failed_round: int | None = None
    inconclusive: bool = False

    def describe(self) -> str:
        bound = format_probability(self.error_bound)
        state = "passed" if self.passed else (
            "inconclusive" if self.inconclusive else f"failed in round {self.failed_round}")
        return (f"closure check ({self.mode}, {self.rounds} rounds, minor degree <= "
                f"{self.degree_bound}): {state}; error probability <= {bound}")


def format_probability(q: Fraction) -> str:
    """A human-readable upper bound such as ``2^-118``."""
    if q <= 0:
        return "0"
    if q >= 1:
        return "1"
    bits = q.denominator.bit_length() - q.numerator.bit_length() - 1
    return f"2^-{bits}"


def _integer_norm(fld: VectorField) -> int:
    """max over components of the l1 norm of the coefficients, after clearing
    the field's denominators."""
    den, norms = 1, []
    for _, p in fld.components:
        coeffs = [Fraction(int(c.p), int(c.q)) for c in p.coeffs()]
        for c in coeffs:
            den = den * c.denominator // math.gcd(den, c.denominator)
        norms.append(coeffs)
    return max((int(sum(abs(c) * den for c in cs)) for cs in norms), default=0)


def round_error_bound(degree_bound: int, height_bits: int) -> Fraction:
    """Probability bound of one round (see the module docstring)."""
    p_min = 2**RANDOM_PRIME_BITS
    divisors = -(-height_bits // RANDOM_PRIME_BITS)
    return Fraction(degree_bound + 2, p_min) + Fraction(divisors * PRIME_GAP, p_min)


def degree_and_height(generators: Sequence[VectorField], words: Sequence[VectorField]
                      ) -> tuple[int, int]:
    """Bounds (delta, hbits) on the degree and the coefficient bits of a
    (K+1)-minor of [Z | v]."""
    D = generators[0].ring.nvars
    K = len(words)
    wdeg = sorted((w.degree for w in words), reverse=True)
    gdeg = max(g.degree for g in generators)
    extra = max(gdeg + (wdeg[0] if wdeg else 0) - 1, gdeg)
    delta = sum(wdeg[:K]) + max(extra, 0)
    wnorm = sorted((_integer_norm(w) for w in words), reverse=True)
    gnorm = max(_integer_norm(g) for g in generators)
    maxdeg = max([gdeg] + wdeg)
    bracket_norm = 2 * D * max(maxdeg, 1) * gnorm * (wnorm[0] if wnorm else 1)
    bits = sum(k.bit_length() for k in range(2, K + 2))  # >= log2((K+1)!)
    bits += sum(max(n, 1).bit_length() for n in wnorm[:K])
    bits += max(bracket_norm, gnorm, 1).bit_length()
    return delta, bits


def _combination(fields: Sequence[VectorField], coeffs: Sequence[int], point: Sequence[int],
                 prime: int, need_jac: bool) -> tuple[list[int], dict[int, dict[int, int]]]:
    D = len(point)
    value = [0] * D
    jac: dict[int, dict[int, int]] = {}
    for c, f in zip(coeffs, fields):
        for v, x in enumerate(f.evaluate_mod(point, prime)):
            if x:
                value[v] = (value[v] + c * x) % prime
        if need_jac:
            for row, entries in f.jacobian_mod(point, prime).items():
                target = jac.setdefault(row, {})
                for col, a in entries.items():
                    target[col] = (target.get(col, 0) + c * a) % prime
    return value, jac


def closure_check(
    generators: Sequence[VectorField],
    words: Sequence[VectorField],
    rounds: int = 2,
    rng: random.Random | None = None,
) -> ClosureResult:
    """Check that span(words) contains the generators and is closed under
    bracketing with them, at fresh random points modulo fresh random primes.

    Examples
    --------
    A single field spans a closed distribution ([X, X] = 0), so one field
    in D variables has D - 1 laws:

    >>> from exactcl.rings import Ring
    >>> R = Ring(("x", "y", "z"))
    >>> x, y, z = R.gens
    >>> X = VectorField.from_components(R, {0: y * z, 1: x**2 + z, 2: x})
    >>> res = closure_check([X], [X], rng=random.Random(1))
    >>> res.passed, res.error_bound < Fraction(1, 2**100)
    (True, True)
    """
    from .brackets import bracket_value_mod

    rng = rng or random.SystemRandom()
    D = generators[0].ring.nvars
    K = len(words)
    delta, hbits = degree_and_height(generators, words)
    per_round = round_error_bound(delta, hbits)
    primes = []
    for r in range(rounds):
        for _ in range(POINT_ATTEMPTS):
            prime = random_prime(rng)
            point = [rng.randrange(prime) for _ in range(D)]
            try:
                zvals = [w.evaluate_mod(point, prime) for w in words]
                if rank_mod(zvals, D, prime) == K:
                    break
            except ZeroDivisionError:  # the prime divides a denominator
                continue
        else:
            return ClosureResult(False, "monte-carlo", rounds, delta, hbits, Fraction(1),
                                 tuple(primes), inconclusive=True)
        primes.append(prime)
        alpha = [rng.randrange(prime) for _ in generators]
        beta = [rng.randrange(prime) for _ in words]
        gamma = [rng.randrange(prime) for _ in generators]
        xa, xa_jac = _combination(generators, alpha, point, prime, True)
        zb, zb_jac = _combination(words, beta, point, prime, True)
        w1 = bracket_value_mod(xa, xa_jac, zb, zb_jac, prime)
        w2, _ = _combination(generators, gamma, point, prime, False)
        if rank_mod(zvals + [w1, w2], D, prime) > K:
            return ClosureResult(False, "monte-carlo", rounds, delta, hbits, Fraction(1),
                                 tuple(primes), failed_round=r + 1)
    return ClosureResult(True, "monte-carlo", rounds, delta, hbits, per_round**rounds,
                         tuple(primes))
