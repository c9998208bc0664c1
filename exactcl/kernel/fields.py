"""Polynomial vector fields over Q, stored sparsely.

A :class:`VectorField` on a :class:`~exactcl.kernel.rings.Ring` with D variables
keeps only its nonzero components, each an ``fmpq_mpoly`` together with the
set of variables it involves. Evaluation, Jacobians and the action on
functions then touch only what is there: the gradient of a path product of
a ReLU network has L components of L - 1 variables each, whatever D is.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from flint import fmpq_mpoly, nmod_mpoly, nmod_mpoly_ctx

from .errors import InputError
from .rings import Ring, check_prime, evaluate, poly_key, rational_mod, support

__all__ = ["VectorField", "check_prime_for", "directions_index", "first_violation", "gradient",
           "gradient_values", "gradient_values_mod", "modular_image"]

#: Components with more terms than this are evaluated through their image
#: mod p (an nmod_mpoly, machine-word arithmetic in flint) rather than by
#: exact substitution and reduction; both give the same residue. The
#: benchmark suite (benchmarks/suite.py, "values: component") puts the
#: break-even between 32 and 64 terms.
MODULAR_TERMS = 32


@dataclass(frozen=True, eq=False)
class VectorField:
    """A polynomial vector field X = sum_v X_v d/dx_v with rational coefficients.

    Build one with :meth:`from_components` or :func:`gradient`; the
    constructor expects already-normalised data.

    Parameters
    ----------
    ring : Ring
    components : tuple of (int, fmpq_mpoly)
        Nonzero components, sorted by variable index.
    supports : tuple of frozenset of int
        For each component, the variables it involves.

    Examples
    --------
    >>> R = Ring(("u", "v"))
    >>> u, v = R.gens
    >>> X = VectorField.from_components(R, {0: v, 1: u})
    >>> X
    VectorField(u: v, v: u)
    >>> X.evaluate([2, 3])
    [Fraction(3, 1), Fraction(2, 1)]
    >>> str(X.apply(u**2 - v**2))
    '0'
    """

    ring: Ring
    components: tuple[tuple[int, fmpq_mpoly], ...]
    supports: tuple[frozenset[int], ...]

    @classmethod
    def from_components(
        cls,
        ring: Ring,
        components: Mapping[int, fmpq_mpoly] | Sequence[fmpq_mpoly],
        hints: Mapping[int, Iterable[int]] | None = None,
    ) -> VectorField:
        """Build a field from a mapping ``variable index -> polynomial`` or a full list.

        ``hints`` may give, per component, a superset of the variables it
        involves (this avoids O(D) work per component).
        """
        if not isinstance(components, Mapping):
            components = dict(enumerate(components))
        comps, sups = [], []
        for v in sorted(components):
            if not 0 <= v < ring.nvars:
                raise InputError(
                    f"Component index must lie in [0, {ring.nvars}), not {v!r}."
                )
            poly = components[v]
            if poly.is_zero():
                continue
            comps.append((v, poly))
            sups.append(support(poly, None if hints is None else hints.get(v)))
        return cls(ring, tuple(comps), tuple(sups))

    # -- structure ---------------------------------------------------------

    @functools.cached_property
    def as_dict(self) -> dict[int, fmpq_mpoly]:
        return dict(self.components)

    @functools.cached_property
    def support_of(self) -> dict[int, frozenset[int]]:
        """Per component index, the variables it involves."""
        return {v: s for (v, _), s in zip(self.components, self.supports)}

    @functools.cached_property
    def variables(self) -> frozenset[int]:
        """Every variable that some component involves."""
        return frozenset().union(*self.supports) if self.supports else frozenset()

    @functools.cached_property
    def directions(self) -> frozenset[int]:
        """The indices of the nonzero components."""
        return frozenset(v for v, _ in self.components)

    @functools.cached_property
    def size(self) -> int:
        """The number of terms of all components together."""
        return sum(len(p) for _, p in self.components)

    @property
    def is_zero(self) -> bool:
        return not self.components

    @functools.cached_property
    def degree(self) -> int:
        """The largest total degree of a component (-1 for the zero field)."""
        return max((int(p.total_degree()) for _, p in self.components), default=-1)

    @functools.cached_property
    def key(self) -> tuple:
        """A canonical hashable key (component index, sorted terms as "p/q")."""
        return tuple((v, poly_key(p)) for v, p in self.components)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VectorField):
            return NotImplemented
        return self.ring == other.ring and self.components == other.components

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        names = self.ring.names
        body = ", ".join(f"{names[v]}: {p.str()}" for v, p in self.components)
        return f"VectorField({body})"

    # -- linear structure -------------------------------------------------

    def _combine(self, other: VectorField, sign: int) -> VectorField:
        if self.ring != other.ring:
            raise InputError("Fields must live on the same ring to be combined.")
        a, b = self.as_dict, other.as_dict
        comps, hints = {}, {}
        for v in sorted(set(a) | set(b)):
            pa, pb = a.get(v), b.get(v)
            if pa is None:
                comps[v] = pb if sign > 0 else -pb
            elif pb is None:
                comps[v] = pa
            else:
                comps[v] = pa + pb if sign > 0 else pa - pb
            hints[v] = self.support_of.get(v, frozenset()) | other.support_of.get(v, frozenset())
        return VectorField.from_components(self.ring, comps, hints)

    def __add__(self, other: VectorField) -> VectorField:
        return self._combine(other, 1)

    def __sub__(self, other: VectorField) -> VectorField:
        return self._combine(other, -1)

    def __neg__(self) -> VectorField:
        return VectorField(self.ring, tuple((v, -p) for v, p in self.components), self.supports)

    def scale(self, c: object) -> VectorField:
        """The field multiplied by a rational constant or a polynomial."""
        factor = c if isinstance(c, fmpq_mpoly) else self.ring.constant(c)
        hint_extra = support(factor) if isinstance(c, fmpq_mpoly) else frozenset()
        comps = {v: p * factor for v, p in self.components}
        hints = {v: s | hint_extra for (v, _), s in zip(self.components, self.supports)}
        return VectorField.from_components(self.ring, comps, hints)

    # -- calculus -----------------------------------------------------------

    def apply(self, f: fmpq_mpoly, f_support: Iterable[int] | None = None) -> fmpq_mpoly:
        """The derivative of f along the field, X(f) = sum_v X_v df/dx_v."""
        fs = support(f) if f_support is None else frozenset(f_support)
        comps = self.as_dict
        result = self.ring.zero()
        for v in sorted(fs & self.directions):
            result += comps[v] * f.derivative(v)
        return result

    # -- values -------------------------------------------------------------

    def evaluate(self, point: Sequence[int]) -> list[Fraction]:
        """The exact value at an integer point, as a dense list of D rationals."""
        out = [Fraction(0)] * self.ring.nvars
        for (v, p), s in zip(self.components, self.supports):
            q = evaluate(p, point, s)
            out[v] = Fraction(int(q.p), int(q.q))
        return out

    def evaluate_mod(self, point: Sequence[int], prime: int) -> list[int]:
        """The value at an integer point reduced modulo ``prime`` (dense list).

        Raises ZeroDivisionError when ``prime`` divides a denominator.
        """
        out = [0] * self.ring.nvars
        for v, x in self.values_mod(point, prime).items():
            out[v] = x
        return out

    def values_mod(self, point: Sequence[int], prime: int) -> dict[int, int]:
        """The value at an integer point modulo ``prime``, sparse: {v: nonzero value}.

        >>> R = Ring(("u", "v", "w"))
        >>> u, v, w = R.gens
        >>> VectorField.from_components(R, {0: v - 1, 2: u}).values_mod([5, 1, 7], 11)
        {2: 5}
        """
        out = {}
        args = None
        for (v, p), s in zip(self.components, self.supports):
            if len(p) > MODULAR_TERMS:
                args = args or [x % prime for x in point]
                x = int(self._image(v, p, prime)(*args))
            else:
                x = rational_mod(evaluate(p, point, s), prime)
            if x:
                out[v] = x
        return out

    def _image(self, v: int, p: fmpq_mpoly, prime: int) -> nmod_mpoly:
        cache = self.__dict__.setdefault("_images", {})
        image = cache.get((v, prime))
        if image is None:
            image = cache[(v, prime)] = modular_image(p, prime)
        return image

    def jacobian_mod(self, point: Sequence[int], prime: int) -> dict[int, dict[int, int]]:
        """The Jacobian at a point mod ``prime``, sparse: {row v: {column w: value}}."""
        jac: dict[int, dict[int, int]] = {}
        args = None
        for (v, p), s in zip(self.components, self.supports):
            if len(p) > MODULAR_TERMS:
                args = args or [x % prime for x in point]
                image = self._image(v, p, prime)
                row = {}
                for w in sorted(s):
                    value = int(image.derivative(w)(*args))
                    if value:
                        row[w] = value
            else:
                row = {}
                for w in sorted(s):
                    value = rational_mod(evaluate(p.derivative(w), point, s), prime)
                    if value:
                        row[w] = value
            if row:
                jac[v] = row
        return jac


def check_prime_for(fields: Iterable[VectorField], prime: object, name: str = "prime") -> int:
    """``prime`` if it is a prime FLINT's modular arithmetic takes
    (:func:`~exactcl.kernel.rings.check_prime`) and divides no denominator of the
    fields' coefficients (their images mod ``prime`` exist), else
    :class:`InputError` naming ``name``."""
    p = check_prime(prime, name)
    for X in fields:
        for _, component in X.components:
            for c in component.coeffs():
                if int(c.q) % p == 0:
                    raise InputError(f"Argument {name!r} must not divide a denominator of the "
                                     f"model's coefficients, not {p} (it divides {c.q}).")
    return p


def modular_image(p: fmpq_mpoly, prime: int) -> nmod_mpoly:
    """The reduction of ``p`` modulo ``prime``, as an ``nmod_mpoly``.

    Reduction mod p is a ring homomorphism, so derivatives and values of the
    image are the images of the exact ones. Raises ZeroDivisionError when
    ``prime`` divides a denominator.
    """
    ctx = nmod_mpoly_ctx.get(p.context().names(), modulus=prime, ordering="degrevlex")
    return ctx.from_dict({exps: rational_mod(c, prime) for exps, c in p.terms()})


def _modular_image_example() -> None:
    """
    >>> R = Ring(("x", "y"))
    >>> x, y = R.gens
    >>> q = modular_image(x**2 * y / 2 + 3 * y, 101)
    >>> int(q(2, 5)), int(q.derivative(0)(2, 5))
    (25, 10)
    """


def gradient(ring: Ring, f: fmpq_mpoly, hint: Iterable[int] | None = None) -> VectorField:
    """The gradient field of a polynomial.

    ``hint`` is an optional superset of the variables ``f`` involves.

    >>> R = Ring(("u", "v"))
    >>> u, v = R.gens
    >>> gradient(R, u * v**2)
    VectorField(u: v^2, v: 2*u*v)
    """
    s = support(f, hint)
    comps = {v: f.derivative(v) for v in sorted(s)}
    return VectorField.from_components(ring, comps, {v: s for v in comps})


def directions_index(generators: Sequence[VectorField]) -> dict[int, list[int]]:
    """For each variable, the indices of the generators with a component along it."""
    index: dict[int, list[int]] = {}
    for i, X in enumerate(generators):
        for v in X.directions:
            index.setdefault(v, []).append(i)
    return index


def first_violation(h: fmpq_mpoly, generators: Sequence[VectorField],
                    index: dict[int, list[int]] | None = None) -> int | None:
    """Index of the first generator X with X(h) != 0, checked exactly; None if h is a law.

    ``index`` is :func:`directions_index` of ``generators``; give it when
    checking many laws, so that only generators acting on the variables of
    ``h`` are visited.

    >>> R = Ring(("t1", "t2"))
    >>> t1, t2 = R.gens
    >>> X = gradient(R, t1 * t2)
    >>> first_violation(t1**2 - t2**2, [X]), first_violation(t1 * t2, [X])
    (None, 0)
    """
    hs = support(h)
    if index is None:
        candidates: Iterable[int] = range(len(generators))
    else:
        candidates = sorted(set().union(*(index.get(v, ()) for v in hs)))
    partials: dict[int, fmpq_mpoly] = {}
    for i in candidates:
        X = generators[i]
        common = X.directions & hs
        if not common:
            continue
        comps = X.as_dict
        total = None
        for v in common:
            dv = partials.get(v)
            if dv is None:
                dv = partials[v] = h.derivative(v)
            term = comps[v] * dv
            total = term if total is None else total + term
        if not total.is_zero():
            return i
    return None


def gradient_values(h: fmpq_mpoly, point: Sequence[int]) -> list[Fraction]:
    """The exact gradient of ``h`` at an integer point (dense list)."""
    hs = support(h)
    out = [Fraction(0)] * len(point)
    for v in hs:
        q = evaluate(h.derivative(v), point, hs)
        out[v] = Fraction(int(q.p), int(q.q))
    return out


def gradient_values_mod(h: fmpq_mpoly, point: Sequence[int], prime: int) -> list[int]:
    """The gradient of ``h`` at an integer point, mod ``prime`` (dense list).

    The point is reduced first: values stay below ``prime`` whatever its size.
    """
    hs = support(h)
    reduced = [x % prime for x in point]
    out = [0] * len(point)
    for v in hs:
        out[v] = rational_mod(evaluate(h.derivative(v), reduced, hs), prime)
    return out


def terms_gradient_mod(terms: Iterable[tuple[Sequence[tuple[int, int]], object]],
                       point: Sequence[int], prime: int) -> dict[int, int]:
    """The gradient at an integer point mod ``prime`` of the polynomial with
    sparse ``terms`` ``[(((var, exp), ...), coefficient), ...]``, sparse
    {variable: nonzero value}: O(terms x degree), independent of D.

    >>> terms_gradient_mod([(((0, 2),), 1), (((0, 1), (1, 1)), 3)], [5, 7], 101)
    {0: 31, 1: 15}
    """
    out: dict[int, int] = {}
    for mono, coeff in terms:
        c = rational_mod(coeff, prime)
        if not c:
            continue
        values = [pow(point[v] % prime, e, prime) for v, e in mono]
        for t, (v, e) in enumerate(mono):
            x = c * e * pow(point[v] % prime, e - 1, prime)
            for s, y in enumerate(values):
                if s != t:
                    x = x * y % prime
            out[v] = (out.get(v, 0) + x) % prime
    return {v: x for v, x in out.items() if x}
