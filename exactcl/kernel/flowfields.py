"""The fields of a flow, built from a model's generators: the pure map that
:mod:`exactcl.models.flows` applies and the verifier re-applies to a certificate.

A flow (see :mod:`exactcl.models.flows` for the mathematics) maps the generators
X_i = grad phi_i on the parameters theta to the fields whose Lie algebra
decides the laws: M X_i under a metric M(theta); under momentum or
Nesterov, the drift on the phase space (s, theta, v) and the data fields
(0, 0, M X_i); under the mirror momentum of NMF, the same drift and the data
fields (0, 0, diag(tau theta + v) X_i). This module belongs to the verifier's trusted base: it
imports only the ring and field layers, and holds no parsing, no model and
no text for people.

>>> from exactcl.kernel.fields import gradient
>>> from exactcl.kernel.rings import Ring
>>> from fractions import Fraction
>>> from types import SimpleNamespace
>>> R = Ring(("u", "v"))
>>> u, v = R.gens
>>> ring, fields, labels = flow_fields([gradient(R, u * v)], ["u", "v"],
...                                    SimpleNamespace(kind="momentum", tau=Fraction(1, 2), metric=None))
>>> ring.names, labels
(('s', 'u', 'v', 'u_dot', 'v_dot'), ['drift', '(0, 0, X1)'])
>>> fields[0]
VectorField(s: 1/2*s, u: u_dot, v: v_dot, u_dot: -1/2*u_dot, v_dot: -1/2*v_dot)
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import InputError
from .fields import VectorField
from .rings import Ring, poly_from_terms, poly_terms

__all__ = ["LIFTED_KINDS", "MIRROR_MOMENTUM", "TIME", "VELOCITY", "diagonal_indices", "flow_fields"]

#: The name of the time variable s in the phase space, and the suffix of velocities.
TIME, VELOCITY = "s", "_dot"
#: The flow kinds that live on the phase space (s, theta, v).
LIFTED_KINDS = ("momentum", "nesterov", "mirror-momentum")
#: The flow whose data fields carry the velocity: theta'' + tau theta' =
#: -diag(tau theta + theta') grad E, its diagonal on the tensors of ``metric``.
MIRROR_MOMENTUM = "mirror-momentum"


def in_tensor(name: str, tensor: str) -> bool:
    """Whether parameter ``name`` belongs to ``tensor``: the name itself,
    ``tensor_...``, or, for a tensor named by letters, the letters followed by
    an index (``U0_1`` is in ``U``, ``W10_0`` is not in ``W1``).

    >>> in_tensor("U0_1", "U"), in_tensor("W2_0_1", "W2"), in_tensor("W10_0", "W1")
    (True, True, False)
    """
    if name == tensor or name.startswith(tensor + "_"):
        return True
    return (tensor.isalpha() and name.startswith(tensor) and len(name) > len(tensor)
            and name[len(tensor)].isdigit())


def diagonal_indices(names: Sequence[str], tensors: Sequence[str], where: str) -> list[int]:
    """The indices of the parameters of the tensors named (a parameter named
    ``T`` or ``T_...``); every parameter when ``tensors`` is empty.

    >>> diagonal_indices(["W1_0_0", "W2_0_0", "W2_0_1"], ["W2"], "flow")
    [1, 2]
    """
    if not tensors:
        return list(range(len(names)))
    out = set()
    for t in tensors:
        hit = [k for k, n in enumerate(names) if in_tensor(n, t)]
        if not hit:
            raise InputError(f"Argument {where!r} names the tensor {t!r} for the metric, but "
                             f"no parameter is named {t} or starts with {t}_.")
        out.update(hit)
    return sorted(out)


def _lift(poly, ring: Ring, offset: int):
    """A polynomial of the parameters as one of the phase space (variables shifted)."""
    return poly_from_terms(ring, [([(v + offset, e) for v, e in mono], c)
                                  for mono, c in poly_terms(poly)])


def flow_fields(generators: Sequence[VectorField], names: Sequence[str], flow,
                where: str = "flow") -> tuple[Ring, list[VectorField], list[str]]:
    """(ring, fields, labels) of the flow applied to the generators X_i on the
    parameters ``names``: M X_i, or the drift and the lifted (0, 0, M X_i), or
    for the mirror momentum the drift and (0, 0, diag(tau theta + v) X_i).
    This is what the verifier rebuilds from a certificate's flow section.

    ``flow`` is read through its attributes ``kind`` (``"gradient"``,
    ``"momentum"``, ``"nesterov"`` or ``"mirror-momentum"``), ``tau`` (a
    Fraction, for momentum and the mirror momentum) and ``metric`` (None,
    ``("diag", tensors)`` or ``("matrix", rows)``; the mirror momentum
    requires ``("diag", tensors)``: where its multiplier applies), as
    :class:`exactcl.models.flows.Flow` holds them.

    >>> from fractions import Fraction
    >>> from types import SimpleNamespace
    >>> from exactcl.kernel.fields import gradient
    >>> R = Ring(("u", "w"))
    >>> u, w = R.gens
    >>> mirror = SimpleNamespace(kind="mirror-momentum", tau=Fraction(2), metric=("diag", ()))
    >>> ring, fields, labels = flow_fields([gradient(R, u * w)], ["u", "w"], mirror)
    >>> fields[1], labels[1]
    (VectorField(u_dot: 2*u*w + w*u_dot, w_dot: 2*u*w + u*w_dot), '(0, 0, diag(tau theta + v) X1)')
    """
    D = len(names)
    base = generators[0].ring if generators else Ring(tuple(names))
    mirror = flow.kind == MIRROR_MOMENTUM
    if mirror and (flow.metric is None or flow.metric[0] != "diag"):
        raise InputError(f"Argument {where!r} is the mirror momentum, whose force is "
                         f"diag(tau theta + theta') grad E: it takes a diagonal on some or all "
                         f"tensors (metric:diag[:TENSORS]), not a matrix metric.")

    def mirror_times(X: VectorField, ring: Ring) -> dict[int, object]:
        """diag(tau theta + v) X on the diagonal's parameters, X elsewhere, lifted."""
        diag = set(diagonal_indices(names, flow.metric[1], where))
        tau = ring.constant(flow.tau)
        out = {}
        for v, p in X.as_dict.items():
            q = _lift(p, ring, 1)
            out[v] = q * (tau * ring.gens[1 + v] + ring.gens[1 + D + v]) if v in diag else q
        return out

    def metric_times(X: VectorField, ring: Ring, offset: int) -> dict[int, object]:
        comps = X.as_dict
        if flow.metric is None:
            return {v: _lift(p, ring, offset) if offset else p for v, p in comps.items()}
        if flow.metric[0] == "diag":
            diag = set(diagonal_indices(names, flow.metric[1], where))
            out = {}
            for v, p in comps.items():
                q = p * base.gens[v] if v in diag else p
                out[v] = _lift(q, ring, offset) if offset else q
            return out
        rows = flow.metric[1]
        out = {}
        for i in range(D):
            acc = base.zero()
            for j, p in comps.items():
                if rows[i][j]:
                    acc += poly_from_terms(base, rows[i][j]) * p
            if not acc.is_zero():
                out[i] = _lift(acc, ring, offset) if offset else acc
        return out

    lifted = flow.kind in LIFTED_KINDS
    if not lifted:
        if flow.metric is None:
            return base, list(generators), [f"X{i + 1}" for i in range(len(generators))]
        fields = [VectorField.from_components(base, metric_times(X, base, 0)) for X in generators]
        return base, fields, [f"M X{i + 1}" for i in range(len(generators))]
    taken = set(names)
    time = next(t for t in (TIME, TIME + "_time", TIME + "_t0", "time_s") if t not in taken)
    velocities = tuple(n + VELOCITY for n in names)
    if taken & set(velocities):
        raise InputError(f"Argument 'model' has a parameter named like a velocity "
                         f"({sorted(taken & set(velocities))[0]!r}): rename it to lift the flow "
                         f"to the phase space.")
    ring = Ring((time,) + tuple(names) + velocities)
    g = ring.gens
    s, vel = g[0], g[D + 1:]
    drift: dict[int, object] = {}
    if flow.kind == "nesterov":
        drift[0] = s
        for j in range(D):
            drift[1 + j] = s * vel[j]
            drift[1 + D + j] = -3 * vel[j]
    else:
        tau = flow.tau
        drift[0] = ring.constant(1) if tau == 0 else ring.constant(tau) * s
        for j in range(D):
            drift[1 + j] = vel[j]
            if tau:
                drift[1 + D + j] = ring.constant(-tau) * vel[j]
    fields = [VectorField.from_components(ring, drift)]
    for X in generators:
        comps = mirror_times(X, ring) if mirror else metric_times(X, ring, 1)
        fields.append(VectorField.from_components(ring, {1 + D + v: p
                                                         for v, p in comps.items()}))
    times = "diag(tau theta + v) " if mirror else "M " if flow.metric else ""
    labels = ["drift"] + [f"(0, 0, {times}X{i + 1})" for i in range(len(generators))]
    return ring, fields, labels


