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

>>> from exactcl.models.builtin import linear
>>> from exactcl.kernel.brackets import bracket
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

import math
from collections.abc import Container, Mapping, Sequence

from .budget import WorkBudget, evaluation_work
from .fields import VectorField
from .rings import evaluate, poly_terms, rational_mod

__all__ = ["WordJets", "bracket_jet", "field_jet", "jet_orders", "work_bound"]

#: Components with at most this many terms get their jets of order <= 1 by
#: substitution, larger ones by expanding their terms around the point.
FEW_TERMS = 8
#: What the work of this module is called in a refusal.
_WHAT = "evaluating the bracket words at the point"

Mono = tuple[int, ...]
Series = list[dict[Mono, int]]
Jet = dict[int, Series]


def _shift_term(mono: Sequence[tuple[int, int]], coeff: int, point: Sequence[int], order: int,
                prime: int, out: Series) -> int:
    """Add c * prod (theta_v + y_v)^e_v, truncated at ``order``, to ``out``;
    return the number of terms formed on the way."""
    partial: list[tuple[Mono, int]] = [((), coeff)]
    formed = 0
    for v, e in mono:
        theta = point[v] % prime
        grown = []
        for m, c in partial:
            room = order - len(m)
            for a in range(min(e, room) + 1):
                factor = math.comb(e, a) * pow(theta, e - a, prime) % prime
                if factor:
                    grown.append((m + (v,) * a, c * factor % prime))
        partial = grown
        formed += len(grown)
    for m, c in partial:
        series = out[len(m)]
        key = tuple(sorted(m))
        x = (series.get(key, 0) + c) % prime
        if x:
            series[key] = x
        else:
            series.pop(key, None)
    return formed


def field_jet(X: VectorField, point: Sequence[int], order: int, prime: int,
              budget: WorkBudget | None = None) -> Jet:
    """The Taylor expansion of ``X`` at ``point`` to ``order``, mod ``prime``.

    >>> from exactcl.kernel.rings import Ring
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
            if budget is not None:
                budget.spend(evaluation_work(len(poly), int(poly.total_degree())) * (1 + order * len(s)),
                             _WHAT)
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
            terms = poly_terms(poly)
            if budget is not None:
                budget.spend(len(terms), _WHAT)
            for mono, c in terms:
                formed = _shift_term(mono, rational_mod(c, prime), point, order, prime, series)
                if budget is not None:
                    budget.spend(formed, _WHAT)
        if any(series):
            jet[v] = series
    return jet


def _truncate(series: Series, order: int) -> Series:
    return series[: order + 1]


def _derivatives(series: Series, wanted: Container[int], budget: WorkBudget) -> dict[int, Series]:
    """d/dy_w of a series (one order less), for every variable w of the
    series that is in ``wanted``, in one pass over its monomials."""
    out: dict[int, Series] = {}
    size = max(len(series) - 1, 0)
    for k in range(1, len(series)):
        part = series[k]
        budget.spend(k * len(part), _WHAT)
        for m, c in part.items():
            i = 0
            while i < k:
                w = m[i]
                j = i + 1
                while j < k and m[j] == w:
                    j += 1
                if w in wanted:
                    target = out.get(w)
                    if target is None:
                        target = out[w] = [{} for _ in range(size)]
                    target[k - 1][m[:i] + m[i + 1:]] = c * (j - i)
                i = j
    return out


def _add_product(a: Series, b: Series, order: int, sign: int, prime: int, out: Series,
                 budget: WorkBudget) -> None:
    """out += sign * a * b, truncated at ``order``."""
    for i in range(min(len(a), order + 1)):
        if not a[i]:
            continue
        for j in range(min(len(b), order + 1 - i)):
            if not b[j]:
                continue
            budget.spend(len(a[i]) * len(b[j]), _WHAT)
            target = out[i + j]
            for ma, ca in a[i].items():
                for mb, cb in b[j].items():
                    key = tuple(sorted(ma + mb)) if ma and mb else ma or mb
                    target[key] = (target.get(key, 0) + sign * ca * cb) % prime


def bracket_jet(X: Jet, Z: Jet, order: int, prime: int, budget: WorkBudget | None = None) -> Jet:
    """The jet of order ``order`` of [X, Z] = DZ . X - DX . Z from jets of
    order ``order + 1`` of X and Z."""
    budget = budget or WorkBudget(None)
    out: dict[int, Series] = {}

    def target(v: int) -> Series:
        s = out.get(v)
        if s is None:
            s = out[v] = [{} for _ in range(order + 1)]
        return s

    for left, right, sign in ((X, Z, 1), (Z, X, -1)):
        # sign * sum_w left_w * d_w right_v
        for v, series in right.items():
            for w, dseries in sorted(_derivatives(series, left.keys(), budget).items()):
                _add_product(left[w], dseries, order, sign, prime, target(v), budget)
    for v in list(out):
        series = [{m: c for m, c in part.items() if c} for part in out[v]]
        if any(series):
            out[v] = series
        else:
            del out[v]
    return out


# -- a bound on the work, before doing it ---------------------------------------

def jet_orders(generators: int, brackets: Mapping[int, tuple[int, int]],
               nodes: Sequence[int]) -> dict[int, int]:
    """The order of the jet each word needs so that ``nodes`` get values
    (order 0): a bracket of order m needs its operands to order m + 1.

    >>> jet_orders(2, {2: (0, 1), 3: (1, 2)}, [3])
    {0: 2, 1: 2, 2: 1, 3: 0}
    """
    order = dict.fromkeys(nodes, 0)
    for node in sorted(brackets, reverse=True):  # operands have smaller ids
        if node in order:
            left, right = brackets[node]
            for operand in (left, right):
                order[operand] = max(order.get(operand, -1), order[node] + 1)
    return dict(sorted(order.items()))


def _sub_monomials(exponents: Sequence[int], order: int) -> tuple[list[int], int]:
    """Number of sub-monomials of each degree <= order of a monomial (the
    coefficients of prod (1 + x + ... + x^e) up to x^order), and the terms
    :func:`_shift_term` forms on the way at most (those of every prefix).

    >>> _sub_monomials([2, 1], 2)
    ([1, 2, 2], 8)
    """
    counts = [1] + [0] * order
    formed = 0
    for e in exponents:
        grown = [0] * (order + 1)
        for i, c in enumerate(counts):
            if c:
                for a in range(min(e, order - i) + 1):
                    grown[i + a] += c
        counts = grown
        formed += sum(counts)
    return counts, formed


class _Profile:
    """Bounds on a word's jet: per degree, the terms of all components (S)
    and of the largest one (big), with its components, variables and degree."""

    __slots__ = ("S", "big", "components", "variables", "degree")

    def __init__(self, S, big, components, variables, degree):
        self.S, self.big = S, big
        self.components, self.variables, self.degree = components, variables, degree

    def at(self, part: list[int], i: int) -> int:
        return part[i] if i < len(part) else 0


def _generator_profile(field: VectorField, order: int) -> tuple[_Profile, float]:
    """The profile of a generator's jet, and the work of :func:`field_jet`."""
    S, big = [0] * (order + 1), [0] * (order + 1)
    work = 0.0
    for (_, poly), s in zip(field.components, field.supports):
        sizes = [0] * (order + 1)
        terms = poly_terms(poly)
        formed = len(terms)
        for mono, _ in terms:
            counts, steps = _sub_monomials([e for _, e in mono], order)
            formed += steps
            for i, c in enumerate(counts):
                sizes[i] += c
        if order <= 1 and len(poly) <= FEW_TERMS:
            work += evaluation_work(len(poly), int(poly.total_degree())) * (1 + order * len(s))
        else:
            work += formed
        for i in range(order + 1):
            S[i] += sizes[i]
            big[i] = max(big[i], sizes[i])
    return _Profile(S, big, field.directions, field.variables, field.degree), work


def work_bound(generators: Sequence[VectorField], brackets: Mapping[int, tuple[int, int]],
                   nodes: Sequence[int]) -> int:
    """An upper bound on the units of work :class:`WordJets` spends on the
    values of ``nodes`` (evaluated in :meth:`WordJets.values` order), from the term counts and degrees of
    the generators and the shape of the word tree alone.

    Notes
    -----
    Per word and degree i, the terms of the jet of all components (S_i) and
    of the largest component (B_i) are bounded: for a generator exactly by
    counting the sub-monomials of its terms; for [X, Z] of order m by the
    products that :func:`bracket_jet` forms,
    S_i <= sum_{a+b=i} B^X_a min(b+1, c_X) S^Z_{b+1} + (X <-> Z), and by
    c times the number of monomials of degree i in the word's variables
    (zero above its degree). The work is the sum of those products and of
    the derivative passes over the operands' jets.
    """
    orders = jet_orders(len(generators), brackets, nodes)
    profiles: dict[int, _Profile] = {}
    work = 0
    for node in sorted(orders):
        m = orders[node]
        if node < len(generators):
            profiles[node], formed = _generator_profile(generators[node], m)
            work += formed
            continue
        X, Z = profiles[brackets[node][0]], profiles[brackets[node][1]]
        S, big = [0] * (m + 1), [0] * (m + 1)
        for a in range(m + 1):
            for b in range(m + 1 - a):
                s = (X.at(X.big, a) * min(b + 1, len(X.components)) * Z.at(Z.S, b + 1)
                     + Z.at(Z.big, a) * min(b + 1, len(Z.components)) * X.at(X.S, b + 1))
                work += s
                S[a + b] += s
                big[a + b] += (X.at(X.big, a) * min(b + 1, len(X.components)) * Z.at(Z.big, b + 1)
                               + Z.at(Z.big, a) * min(b + 1, len(Z.components)) * X.at(X.big, b + 1))
        for operand in (X, Z):  # derivative passes
            work += sum(k * operand.at(operand.S, k) for k in range(1, m + 2))
        variables = X.variables | Z.variables
        components = X.components | Z.components
        degree = X.degree + Z.degree - 1
        for i in range(m + 1):
            monomials = math.comb(len(variables) + i - 1, i) if i <= degree else 0
            S[i] = min(S[i], len(components) * monomials)
            big[i] = min(big[i], monomials)
        profiles[node] = _Profile(S, big, components, variables, degree)
    return math.ceil(work)


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
        Largest number of units of work (term products, see
        :mod:`exactcl.kernel.budget`) spent in all; beyond it
        :class:`~exactcl.errors.ResourceError` is raised.
    budget : WorkBudget, optional
        A budget shared with other work, instead of ``work_limit``.
    """

    def __init__(self, generators: Sequence[VectorField], brackets: Mapping[int, tuple[int, int]],
                 point: Sequence[int], prime: int, work_limit: int | None = None,
                 budget: WorkBudget | None = None) -> None:
        self.generators = generators
        self.brackets = brackets
        self.point = [x % prime for x in point]
        self.prime = prime
        self._budget = budget if budget is not None else WorkBudget(work_limit)
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
            jet = field_jet(self.generators[node], self.point, order, self.prime, self._budget)
        else:
            left, right = self.brackets[node]
            jet = bracket_jet(self.jet(left, order + 1), self.jet(right, order + 1), order,
                              self.prime, self._budget)
        self._best[node] = (order, jet)
        return jet

    @property
    def work(self) -> int:
        """Units of work spent so far (:mod:`exactcl.kernel.budget`)."""
        return self._budget.spent

    def values(self, nodes: Sequence[int]) -> list[dict[int, int]]:
        """The values of ``nodes`` (as :meth:`value`), every word's jet
        computed once, to the highest order any of them needs."""
        for node, order in jet_orders(len(self.generators), self.brackets, nodes).items():
            self.jet(node, order)
        return [self.value(node) for node in nodes]

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
