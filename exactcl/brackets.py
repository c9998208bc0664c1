"""The Lie bracket of polynomial vector fields.

Convention, used everywhere in exactcl: ``[X, Y] = (DY) X - (DX) Y`` with
``DX`` the Jacobian matrix of X. As derivations,
``[X, Y] f = X(Y f) - Y(X f)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import InputError
from .fields import VectorField

__all__ = ["bracket", "bracket_value_mod", "could_bracket"]


def could_bracket(X: VectorField, Y: VectorField) -> bool:
    """False when [X, Y] is zero for the plain reason that X and Y do not interact.

    [X, Y] can be nonzero only if X moves a variable that Y involves or
    Y moves a variable that X involves.

    >>> from exactcl.rings import Ring
    >>> R = Ring(("a", "b", "c", "d"))
    >>> a, b, c, d = R.gens
    >>> X = VectorField.from_components(R, {0: b})
    >>> Y = VectorField.from_components(R, {2: d})
    >>> could_bracket(X, Y)
    False
    """
    return bool(X.directions & Y.variables) or bool(Y.directions & X.variables)


def bracket(X: VectorField, Y: VectorField) -> VectorField:
    """The Lie bracket [X, Y] = (DY) X - (DX) Y, computed sparsely.

    Examples
    --------
    >>> from exactcl.rings import Ring
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
    X_value: Sequence[int],
    X_jac: dict[int, dict[int, int]],
    Y_value: Sequence[int],
    Y_jac: dict[int, dict[int, int]],
    prime: int,
) -> list[int]:
    """The value of [X, Y] at a point mod p from values and Jacobians there.

    ``[X, Y](t) = DY(t) X(t) - DX(t) Y(t)``; Jacobians are sparse
    ``{row: {column: value}}`` as returned by
    :meth:`VectorField.jacobian_mod`.
    """
    out = [0] * len(X_value)
    for row, entries in Y_jac.items():
        s = 0
        for col, a in entries.items():
            x = X_value[col]
            if x:
                s += a * x
        out[row] = s
    for row, entries in X_jac.items():
        s = 0
        for col, a in entries.items():
            y = Y_value[col]
            if y:
                s += a * y
        out[row] -= s
    return [v % prime for v in out]
