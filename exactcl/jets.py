"""Jets: values of bracket words at a point mod p, without expanding the words.

A bracket word such as [X1, [X2, X3]] is a polynomial vector field whose
expansion can have millions of terms (deep linear networks), yet a rank
decision needs only its value at one point theta, modulo a prime. The
value of a word of depth d at theta depends only on the Taylor expansions
of the generators at theta up to order d, and

    [X, Z] = DZ . X - DX . Z

is computed on truncated expansions ("jets"): the jet of order m of
[X, Z] needs the jets of order m + 1 of X and Z. Reduction modulo p is a
ring homomorphism that commutes with derivatives, so the value obtained is
exactly the word's value at theta, reduced modulo p; a rank of such values
is a rigorous lower bound, as for symbolic words.

Representation: a series is a list indexed by degree of dicts
{monomial: coefficient mod p}, a monomial being the sorted tuple of the
variable indices of the shift y = x - theta, with repetition ((1, 1, 3) is
y1^2 y3); a jet maps a component index to its series.

>>> from exactcl.models import linear
>>> from exactcl.brackets import bracket
>>> m = linear([2, 2, 2])
>>> X, Y = m.generators[0], m.generators[3]
>>> point, p = [3, 1, 4, 1, 5, 9, 2, 6], 101
>>> words = WordJets(m.generators, {8: (0, 3)}, point, p)
>>> dense = [0] * 8
>>> for v, x in words.value(8).items():
...     dense[v] = x
>>> dense == bracket(X, Y).evaluate_mod(point, p)
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import comb

from .errors import ResourceError
from .fields import VectorField
from .rings import evaluate, poly_terms, rational_mod

__all__ = ["WordJets", "bracket_jet", "field_jet"]

#: Components with at most this many terms get their jets of order <= 1 by
#: substitution, larger ones by expanding their terms around the point.
FEW_TERMS = 8

Mono = tuple[int, ...]
Series = list[dict[Mono, int]]
Jet = dict[int, Series]


def _shift_term(mono: Sequence[tuple[int, int]], coeff: int, point: Sequence[int], order: int,
                prime: int, out: Series) -> None:
    """Add c * prod (theta_v + y_v)^e_v, truncated at ``order``, to ``out``."""
    partial: list[tuple[Mono, int]] = [((), coeff)]
    for v, e in mono:
        theta = point[v] % prime
        grown = []
        for m, c in partial:
            room = order - len(m)
            for a in range(min(e, room) + 1):
                factor = comb(e, a) * pow(theta, e - a, prime) % prime
                if factor:
                    grown.append((m + (v,) * a, c * factor % prime))
        partial = grown
    for m, c in partial:
        series = out[len(m)]
        key = tuple(sorted(m))
        x = (series.get(key, 0) + c) % prime
        if x:
            series[key] = x
        else:
            series.pop(key, None)


def field_jet(X: VectorField, point: Sequence[int], order: int, prime: int) -> Jet:
    """The Taylor expansion of ``X`` at ``point`` to ``order``, mod ``prime``.

    >>> from exactcl.rings import Ring
    >>> R = Ring(("u", "v"))
    >>> u, v = R.gens
    >>> X = VectorField.from_components(R, {0: u * v, 1: 3 * v})
    >>> field_jet(X, [2, 5], 1, 101)
    {0: [{(): 10}, {(0,): 5, (1,): 2}], 1: [{(): 15}, {(1,): 3}]}
    """
    jet: Jet = {}
    for (v, poly), s in zip(X.components, X.supports):
        series: Series = [{} for _ in range(order + 1)]
        if order <= 1 and len(poly) <= FEW_TERMS:
            # value and gradient by flint substitution: cheaper than listing
            # terms (an O(D) exponent vector each) for small components
            x = rational_mod(evaluate(poly, point, s), prime)
            if x:
                series[0][()] = x
            if order:
                for w in sorted(s):
                    x = rational_mod(evaluate(poly.derivative(w), point, s), prime)
                    if x:
                        series[1][(w,)] = x
        else:
            for mono, c in poly_terms(poly):
                _shift_term(mono, rational_mod(c, prime), point, order, prime, series)
        if any(series):
            jet[v] = series
    return jet


def _truncate(series: Series, order: int) -> Series:
    return series[: order + 1]


def _derivative(series: Series, w: int) -> Series:
    """d/dy_w of a series (one order less)."""
    out: Series = [{} for _ in range(max(len(series) - 1, 0))]
    for k in range(1, len(series)):
        target = out[k - 1]
        for m, c in series[k].items():
            n = m.count(w)
            if n:
                i = m.index(w)
                target[m[:i] + m[i + 1:]] = c * n
    return out


def _variables(series: Series) -> set[int]:
    return {w for part in series[1:] for m in part for w in m}


class _Budget:
    def __init__(self, limit: int | None) -> None:
        self.left = limit

    def spend(self, work: int) -> None:
        if self.left is not None:
            self.left -= work
            if self.left < 0:
                raise ResourceError("evaluating the bracket words at the point needs more "
                                    "term products than the work limit allows")


def _add_product(a: Series, b: Series, order: int, sign: int, prime: int, out: Series,
                 budget: _Budget) -> None:
    """out += sign * a * b, truncated at ``order``."""
    for i in range(min(len(a), order + 1)):
        if not a[i]:
            continue
        for j in range(min(len(b), order + 1 - i)):
            if not b[j]:
                continue
            budget.spend(len(a[i]) * len(b[j]))
            target = out[i + j]
            for ma, ca in a[i].items():
                for mb, cb in b[j].items():
                    key = tuple(sorted(ma + mb)) if ma and mb else ma or mb
                    target[key] = (target.get(key, 0) + sign * ca * cb) % prime


def bracket_jet(X: Jet, Z: Jet, order: int, prime: int, budget: _Budget | None = None) -> Jet:
    """The jet of order ``order`` of [X, Z] = DZ . X - DX . Z from jets of
    order ``order + 1`` of X and Z."""
    budget = budget or _Budget(None)
    out: dict[int, Series] = {}

    def target(v: int) -> Series:
        s = out.get(v)
        if s is None:
            s = out[v] = [{} for _ in range(order + 1)]
        return s

    for left, right, sign in ((X, Z, 1), (Z, X, -1)):
        # sign * sum_w left_w * d_w right_v
        for v, series in right.items():
            for w in _variables(series) & left.keys():
                _add_product(left[w], _derivative(series, w), order, sign, prime, target(v),
                             budget)
    for v in list(out):
        series = [{m: c for m, c in part.items() if c} for part in out[v]]
        if any(series):
            out[v] = series
        else:
            del out[v]
    return out


class WordJets:
    """Values of bracket words at one point mod p, by jets; memoised.

    Parameters
    ----------
    generators : sequence of VectorField
        Node ids ``0 .. len(generators) - 1`` are the generators.
    brackets : mapping
        For every other node id, ``(left, right)``: the word is
        ``[generators[left], word right]``.
    point, prime
    work_limit : int, optional
        Largest number of term products spent in all; beyond it
        :class:`~exactcl.errors.ResourceError` is raised.
    """

    def __init__(self, generators: Sequence[VectorField], brackets: Mapping[int, tuple[int, int]],
                 point: Sequence[int], prime: int, work_limit: int | None = None) -> None:
        self.generators = generators
        self.brackets = brackets
        self.point = [x % prime for x in point]
        self.prime = prime
        self._budget = _Budget(work_limit)
        self._best: dict[int, tuple[int, Jet]] = {}  # node -> highest order known, its jet

    def jet(self, node: int, order: int) -> Jet:
        """The jet of the word ``node`` to ``order``."""
        known = self._best.get(node)
        if known is not None and known[0] >= order:
            if known[0] == order:
                return known[1]
            # a jet of higher order truncates to this one
            jet = {v: _truncate(s, order) for v, s in known[1].items()}
            return {v: s for v, s in jet.items() if any(s)}
        if node < len(self.generators):
            jet = field_jet(self.generators[node], self.point, order, self.prime)
        else:
            left, right = self.brackets[node]
            jet = bracket_jet(self.jet(left, order + 1), self.jet(right, order + 1), order,
                              self.prime, self._budget)
        self._best[node] = (order, jet)
        return jet

    def value(self, node: int) -> dict[int, int]:
        """The word's value at the point mod p, sparse {v: nonzero value}."""
        return {v: s[0][()] for v, s in self.jet(node, 0).items() if s[0].get(())}

    def value_and_jacobian(self, node: int) -> tuple[dict[int, int], dict[int, dict[int, int]]]:
        """Value (sparse) and Jacobian {row: {column: value}} at the point mod p."""
        jet = self.jet(node, 1)
        value = {v: s[0][()] for v, s in jet.items() if s[0].get(())}
        jac = {}
        for v, s in jet.items():
            row = {m[0]: c for m, c in s[1].items()} if len(s) > 1 else {}
            if row:
                jac[v] = row
        return value, jac
