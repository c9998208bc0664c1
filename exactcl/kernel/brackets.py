"""The Lie bracket of polynomial vector fields, and the closure check.

Convention, used everywhere in exactcl: ``[X, Y] = (DY) X - (DX) Y`` with
``DX`` the Jacobian matrix of X. As derivations,
``[X, Y] f = X(Y f) - Y(X f)``.

Closure (Frobenius involutivity)
--------------------------------
The closure check, Monte Carlo with a stated bound or deterministic.

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

Deterministic mode: with rows R where the K x K minor Delta = det Z_R is
nonzero at a point, v lies in span Z wherever Delta != 0 iff, for every
row i outside R, the (K+1)-minor on rows R + {i} of [Z | v] vanishes. By
Laplace expansion along its last column that minor is
``sum_r c_r^(i) v_r`` with cofactors c^(i) that depend on Z only, so the
claim becomes explicit polynomial identities checked exactly over Q; no
randomness, error probability 0.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from .budget import flint_products
from .errors import InputError
from .fields import VectorField, check_prime_for
from .linalg import independent_rows_mod, poly_det, rank_mod
from .rings import PRIME_GAP, RANDOM_PRIME_BITS, random_prime

__all__ = [
    "bracket",
    "bracket_value_mod",
    "could_bracket",
    "interact",
    "ClosureResult",
    "closure_check",
    "closure_deterministic",
    "deterministic_is_cheap",
    "round_error_bound",
    "format_probability",
]


def could_bracket(X: VectorField, Y: VectorField) -> bool:
    """False when [X, Y] is zero for the plain reason that X and Y do not interact.

    [X, Y] can be nonzero only if X moves a variable that Y involves or
    Y moves a variable that X involves.

    >>> from exactcl.kernel.rings import Ring
    >>> R = Ring(("a", "b", "c", "d"))
    >>> a, b, c, d = R.gens
    >>> X = VectorField.from_components(R, {0: b})
    >>> Y = VectorField.from_components(R, {2: d})
    >>> could_bracket(X, Y)
    False
    """
    return interact(X.directions, X.variables, Y.directions, Y.variables)


def interact(moves_x: frozenset[int], involves_x: frozenset[int], moves_y: frozenset[int],
             involves_y: frozenset[int]) -> bool:
    """:func:`could_bracket` on the sets of variables two fields move and
    involve (or on supersets of them, when a False is still right)."""
    return bool(moves_x & involves_y) or bool(moves_y & involves_x)


def bracket(X: VectorField, Y: VectorField) -> VectorField:
    """The Lie bracket [X, Y] = (DY) X - (DX) Y, computed sparsely.

    Examples
    --------
    >>> from exactcl.kernel.rings import Ring
    >>> R = Ring(("x", "y"))
    >>> x, y = R.gens
    >>> X = VectorField.from_components(R, {0: R.constant(1)})   # d/dx
    >>> Y = VectorField.from_components(R, {1: x})               # x d/dy
    >>> bracket(X, Y)
    VectorField(y: 1)
    >>> bracket(Y, X)
    VectorField(y: -1)
    """
    if X.ring != Y.ring:
        raise InputError("Fields must live on the same ring to be bracketed.")
    ring = X.ring
    xd, yd = X.as_dict, Y.as_dict
    xs, ys = X.support_of, Y.support_of
    comps, hints = {}, {}
    for c in sorted(X.directions | Y.directions):
        total = None
        hint: set[int] = set()
        yc = yd.get(c)
        if yc is not None:
            for v in ys[c] & X.directions:
                term = xd[v] * yc.derivative(v)
                total = term if total is None else total + term
                hint |= xs[v] | ys[c]
        xc = xd.get(c)
        if xc is not None:
            for v in xs[c] & Y.directions:
                term = yd[v] * xc.derivative(v)
                total = -term if total is None else total - term
                hint |= ys[v] | xs[c]
        if total is not None and not total.is_zero():
            comps[c] = total
            hints[c] = hint
    return VectorField.from_components(ring, comps, hints)


def bracket_value_mod(
    X_value: Sequence[int] | Mapping[int, int],
    X_jac: dict[int, dict[int, int]],
    Y_value: Sequence[int] | Mapping[int, int],
    Y_jac: dict[int, dict[int, int]],
    prime: int,
) -> list[int] | dict[int, int]:
    """The value of [X, Y] at a point mod p from values and Jacobians there.

    ``[X, Y](t) = DY(t) X(t) - DX(t) Y(t)``; Jacobians are sparse
    ``{row: {column: value}}`` as returned by
    :meth:`VectorField.jacobian_mod`. Values are dense lists
    (:meth:`VectorField.evaluate_mod`) or sparse dicts
    (:meth:`VectorField.values_mod`); the result has the kind of
    ``X_value``, and a sparse result lists only nonzero entries.
    """
    if not isinstance(X_value, Mapping):  # dense in, dense out
        sparse = bracket_value_mod(_sparse(X_value), X_jac, _sparse(Y_value), Y_jac, prime)
        dense = [0] * len(X_value)
        for row, v in sparse.items():
            dense[row] = v
        return dense
    out: dict[int, int] = {}
    for left, jac, sign in ((X_value, Y_jac, 1), (Y_value, X_jac, -1)):
        for row, entries in jac.items():
            s = 0
            for col, a in entries.items():
                x = left.get(col)
                if x:
                    s += a * x
            out[row] = out.get(row, 0) + sign * s
    return {row: v % prime for row, v in out.items() if v % prime}


def _sparse(values: Sequence[int]) -> dict[int, int]:
    return {i: x for i, x in enumerate(values) if x}


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
    identities: int = 0

    def describe(self) -> str:
        if self.mode == "deterministic":
            state = "passed" if self.passed else "failed"
            return (f"closure check (deterministic: {self.identities} cofactor identities "
                    f"checked exactly over Q): {state}")
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
    report: Callable[[int, int], None] | None = None,
) -> ClosureResult:
    """Check that span(words) contains the generators and is closed under
    bracketing with them, at fresh random points modulo fresh random primes.

    ``report(done, total)``, if given, is called before each round with
    the rounds done (for a progress bar; see :func:`exactcl.engine.progress.step`).

    Examples
    --------
    A single field spans a closed distribution ([X, X] = 0), so one field
    in D variables has D - 1 laws:

    >>> from exactcl.kernel.rings import Ring
    >>> R = Ring(("x", "y", "z"))
    >>> x, y, z = R.gens
    >>> X = VectorField.from_components(R, {0: y * z, 1: x**2 + z, 2: x})
    >>> res = closure_check([X], [X], rng=random.Random(1))
    >>> res.passed, res.error_bound < Fraction(1, 2**100)
    (True, True)
    """
    rng = rng or random.SystemRandom()
    D = generators[0].ring.nvars
    K = len(words)
    delta, hbits = degree_and_height(generators, words)
    per_round = round_error_bound(delta, hbits)
    primes = []
    for r in range(rounds):
        if report is not None:
            report(r, rounds)
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


#: The deterministic closure check runs by default when the words are at
#: most this many and the identities to check at most DETERMINISTIC_MAX_IDENTITIES
#: (each is a (K+1)-minor expanded into cofactors of size K).
DETERMINISTIC_MAX_RANK = 6
DETERMINISTIC_MAX_IDENTITIES = 4000


def deterministic_is_cheap(generators: Sequence[VectorField], words: Sequence[VectorField]) -> bool:
    """Whether :func:`closure_deterministic` is cheap enough to be the default."""
    D, K, d = generators[0].ring.nvars, len(words), len(generators)
    return K <= DETERMINISTIC_MAX_RANK and (D - K) * d * (K + 1) <= DETERMINISTIC_MAX_IDENTITIES


def closure_deterministic(
    generators: Sequence[VectorField],
    words: Sequence[VectorField],
    point: Sequence[int],
    prime: int,
    report: Callable[[int, int], None] | None = None,
    spend: Callable[[float], None] | None = None,
) -> ClosureResult | None:
    """Prove the closure claim exactly by cofactor identities over Q.

    Returns None when the words are not independent at ``point`` mod
    ``prime`` (no rows R can be chosen there). ``report(done, total)``, if
    given, is called before each identity with the identities checked (for
    a progress bar; see :func:`exactcl.engine.progress.step`). ``spend(units)``,
    if given, is called with the work of each determinant, bracket and
    identity before it is computed (:mod:`exactcl.kernel.budget`).

    Examples
    --------
    >>> from exactcl.kernel.rings import Ring, DEFAULT_PRIME
    >>> R = Ring(("x", "y", "z"))
    >>> x, y, z = R.gens
    >>> X = VectorField.from_components(R, {0: y * z, 1: x**2 + z, 2: x})
    >>> res = closure_deterministic([X], [X], [2, 3, 5], DEFAULT_PRIME)
    >>> res.passed, res.error_bound, res.identities
    (True, Fraction(0, 1), 4)
    """
    check_prime_for([*generators, *words], prime)
    ring = generators[0].ring
    D, K = ring.nvars, len(words)
    zvals = [w.evaluate_mod(point, prime) for w in words]
    columns = [[zvals[a][r] for a in range(K)] for r in range(D)]
    rows = independent_rows_mod(columns, K, prime)
    if len(rows) < K:
        return None
    zero = ring.zero()
    comps = [w.as_dict for w in words]
    entry = [[comps[a].get(r, zero) for a in range(K)] for r in range(D)]
    # cofactors of the last column of [Z | v] on rows R + {i}
    cofactors = {}
    for i in (r for r in range(D) if r not in rows):
        block = [entry[r] for r in rows] + [entry[i]]
        cof = []
        for drop in range(K + 1):
            minor = [row for k, row in enumerate(block) if k != drop]
            sign = 1 if (drop + K) % 2 == 0 else -1
            value = poly_det(minor, spend) if K else ring.constant(1)
            cof.append(value if sign > 0 else -value)
        cofactors[i] = cof
    vectors = list(generators)
    for X in generators:
        for Z in words:
            if spend is not None:
                spend(flint_products(2 * X.size, Z.size))
            vectors.append(bracket(X, Z))
    checked = 0
    identities = len(vectors) * len(cofactors)
    for v in vectors:
        vd = v.as_dict
        for i, cof in cofactors.items():
            if report is not None:
                report(checked, identities)
            total = zero
            for k, r in enumerate(list(rows) + [i]):
                if r in vd:
                    if spend is not None:
                        spend(flint_products(len(cof[k]), len(vd[r])))
                    total = total + cof[k] * vd[r]
            checked += 1
            if not total.is_zero():
                return ClosureResult(False, "deterministic", 0, 0, 0, Fraction(1), (),
                                     identities=checked)
    return ClosureResult(True, "deterministic", 0, 0, 0, Fraction(0), (), identities=checked)
