"""Flows beyond the Euclidean gradient flow, as transformations of the
generator fields (Marcotte, Gribonval, Peyre, "Keep the Momentum:
Conservation Laws beyond Euclidean Gradient Flows", ICML 2024).

A model gives the generators X_i = grad phi_i on the parameters theta
(D of them). A flow maps them to the fields whose Lie algebra decides the
laws; every law is a function annihilated by all of them:

* ``gradient``: theta' = -grad E; the fields X_i.
* ``metric``: theta' = -M(theta) grad E for a polynomial matrix M; the
  fields M X_i. ``metric:diag`` is M = diag(theta) (the mirror geometry of
  NMF: multiplicative updates), ``metric:diag:U,W2`` the same on those
  tensors only (the identity elsewhere); in Python any D x D SymPy matrix.
* ``momentum:TAU``: heavy ball theta'' + tau theta' = -grad E, tau >= 0
  rational, lifted to the phase space (s, theta, v = theta') of dimension
  2 D + 1 with s = exp(tau t) (s = t when tau = 0), so that the flow is
  polynomial: z' = drift(z) + sum_i c_i Z_i(z), the drift
  (tau s, v, -tau v) ((1, v, 0) when tau = 0) and the data fields
  Z_i = (0, 0, M X_i). Since the coefficients c_i range over every value
  (every data set and loss), a law is annihilated by the drift and by
  every Z_i: the generators are those 1 + d fields. Laws may depend on s,
  that is on time: exactcl prints s as exp(tau*t), or t.
* ``nesterov``: theta'' + (3/t) theta' = -grad E, lifted likewise to
  (t, theta, v) with the drift multiplied by t, (t, t v, -3 v): a
  nonvanishing factor changes neither the functions a field annihilates
  nor the distribution its Lie algebra spans (for t > 0).
* A metric combines with momentum or Nesterov (``momentum:1/2+metric:diag``):
  theta'' + tau theta' = -M(theta) grad E, the data fields (0, 0, M X_i).
* ``mirror-momentum:TAU``: the NMF flow of the paper,
  theta'' + tau theta' = -diag(tau theta + theta') grad E (tau >= 0
  rational), whose force depends on the velocity: on (s, theta, v) the same
  drift as ``momentum:TAU`` and the data fields
  Z_i = (0, 0, diag(tau theta + v) X_i), polynomial in (theta, v).
  ``mirror-momentum:TAU+metric:diag:W2`` takes the multiplier on W2 only
  (1 elsewhere); a model with a geometry of its own (``icnn:``) takes it on
  its tensors. It is not ``momentum:TAU+metric:diag``, whose force
  diag(theta) grad E ignores the velocity: on ``nmf:n,m,r`` that flow keeps
  2 r laws, this one none.

A model under a flow is a model given by its fields (:func:`apply_flow`),
counted, certified and verified as such; the certificate also records the
flow and the model it came from, and the verifier rebuilds the fields
from them (:func:`flow_fields`).

>>> from exactcl.models.builtin import linear
>>> m = apply_flow(linear([1, 1, 1]), parse_flow("momentum:1"))
>>> m.parameters
('s', 'W1_0_0', 'W2_0_0', 'W1_0_0_dot', 'W2_0_0_dot')
>>> m.generators[0]
VectorField(s: s, W1_0_0: W1_0_0_dot, W2_0_0: W2_0_0_dot, W1_0_0_dot: -W1_0_0_dot, W2_0_0_dot: -W2_0_0_dot)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from ..kernel.errors import InputError, ResourceError

# the pure map from generators to the fields of a flow is in the verifier's trusted base
from ..kernel.flowfields import (
    LIFTED_KINDS,
    MIRROR_MOMENTUM,
    TIME,  # noqa: F401 (re-exported)
    VELOCITY,  # noqa: F401 (re-exported)
    flow_fields,
)
from ..kernel.flowfields import diagonal_indices as _diagonal_indices
from ..kernel.rings import Ring, poly_terms

__all__ = ["FLOW_FIELDS", "FLOW_KINDS", "FLOW_TERMS", "Flow", "apply_flow", "check_flow_size",
           "flow_fields", "flow_size", "parse_flow"]

FLOW_KINDS = ("gradient", "metric", "momentum", "nesterov", "mirror-momentum")


@dataclass(frozen=True)
class Flow:
    """A flow: ``kind`` (``"gradient"``, ``"momentum"``, ``"nesterov"``,
    ``"mirror-momentum"``; a metric alone is ``"gradient"`` with a metric),
    the damping ``tau`` of momentum, and the metric (for the mirror momentum,
    the tensors of its diagonal; None until a model gives it): None (the identity), ``("diag", prefixes)``
    (diag(theta) on the tensors named, every parameter when empty) or
    ``("matrix", rows)`` (rows of polynomial terms, as certificates store
    laws).

    >>> parse_flow("momentum:1/2+metric:diag").text
    'momentum tau=1/2, metric diag(theta)'
    """

    kind: str = "gradient"
    tau: Fraction | None = None
    metric: tuple | None = None

    @property
    def lifted(self) -> bool:
        """Whether the flow lives on the phase space (s, theta, v)."""
        return self.kind in LIFTED_KINDS

    @property
    def text(self) -> str:
        """The flow in words, as reports and model names write it."""
        from ..kernel.flowcheck import flow_text
        return flow_text(self)

    @property
    def spec(self) -> str:
        """The ``--flow`` text that gives this flow back (a matrix metric has none)."""
        parts = []
        if self.kind in ("momentum", MIRROR_MOMENTUM):
            parts.append(f"{self.kind}:{self.tau}")
        elif self.kind == "nesterov":
            parts.append("nesterov")
        if self.metric is not None and self.metric[0] == "diag":
            parts.append("metric:diag" + (":" + ",".join(self.metric[1]) if self.metric[1] else ""))
        elif self.metric is not None:
            parts.append("metric:matrix")
        return "+".join(parts) or "gradient"

    def time(self) -> str | None:
        """What s stands for in printed laws: ``exp(tau*t)``, ``t``, or None."""
        if not self.lifted:
            return None
        if self.kind == "nesterov" or self.tau == 0:
            return "t"
        return "exp(t)" if self.tau == 1 else f"exp({self.tau}*t)"

    def as_dict(self) -> dict:
        """The flow as certificates store it."""
        out: dict = {"kind": self.kind}
        if self.tau is not None:
            out["tau"] = f"{self.tau.numerator}/{self.tau.denominator}"
        if self.metric is not None:
            if self.metric[0] == "diag":
                out["metric"] = {"kind": "diag", "tensors": list(self.metric[1])}
            else:
                rows = [[_terms_json(entry) for entry in row] for row in self.metric[1]]
                out["metric"] = {"kind": "matrix", "rows": rows}
        return out


def _terms_json(terms) -> list:
    """A polynomial's terms as certificates store laws: [[[var, exp], ...], "p/q"]."""
    return [[[list(x) for x in mono], f"{Fraction(c).numerator}/{Fraction(c).denominator}"]
            for mono, c in terms]


#: Digits of a damping's numerator or denominator, checked before int() reads it.
MAX_TAU_DIGITS = 100


def _tau(text: str, where: str, kind: str = "momentum") -> Fraction:
    if len(text) > 2 * MAX_TAU_DIGITS + 8:
        raise InputError(f"Argument {where!r} gives {kind} a damping of {len(text)} "
                         f"characters; at most {MAX_TAU_DIGITS} digits above and below the "
                         f"fraction bar are read.")
    if not re.fullmatch(r"\s*[+-]?[0-9]+(\s*/\s*[0-9]+)?\s*", text):
        raise InputError(f"Argument {where!r} must give {kind} a rational damping tau >= 0 "
                         f"such as {kind}:0, {kind}:1 or {kind}:1/2, not {text!r}"
                         + (" (a decimal is not exact: write it as a fraction)"
                            if re.fullmatch(r"\s*[+-]?[0-9]*\.[0-9]+\s*", text) else "") + ".")
    num, _, den = text.replace(" ", "").partition("/")
    if max(len(num.lstrip("+-")), len(den)) > MAX_TAU_DIGITS:
        raise InputError(f"Argument {where!r} gives {kind} a damping with more than "
                         f"{MAX_TAU_DIGITS} digits above or below the fraction bar.")
    if den and int(den) == 0:
        raise InputError(f"Argument {where!r} has a damping with denominator 0: {text!r}.")
    tau = Fraction(int(num), int(den or 1))
    if tau < 0:
        raise InputError(f"Argument {where!r} must give {kind} a damping tau >= 0, not {tau}.")
    return tau


def parse_flow(text: object, where: str = "flow") -> Flow:
    """The flow of a ``--flow`` text: ``gradient``, ``metric:diag[:T1,T2]``,
    ``momentum:TAU``, ``nesterov``, ``mirror-momentum:TAU``, or one of the
    last three and a diagonal metric joined by ``+``.

    >>> parse_flow("momentum:0").time(), parse_flow("nesterov").time()
    ('t', 't')
    >>> parse_flow("momentum:-1")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'flow' must give momentum a damping tau >= 0, not -1.
    >>> parse_flow("momentum:0.5")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'flow' must give momentum a rational damping tau >= 0 such as momentum:0, momentum:1 or momentum:1/2, not '0.5' (a decimal is not exact: write it as a fraction).
    >>> parse_flow("mirror-momentum:1/2").spec
    'mirror-momentum:1/2'
    >>> parse_flow("mirror-momentum:-1")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'flow' must give mirror-momentum a damping tau >= 0, not -1.
    """
    if isinstance(text, Flow):
        return text
    expected = ("gradient, metric:diag, metric:diag:TENSORS, momentum:TAU, nesterov, "
                "momentum:TAU+metric:diag, or mirror-momentum:TAU")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"Argument {where!r} must be a flow ({expected}), not {text!r}.")
    kind, tau, metric = "gradient", None, None
    signed = re.search(r"((?:mirror-)?momentum):\s*\+", text, re.IGNORECASE)
    if signed:
        name = signed.group(1).lower()
        raise InputError(f"Argument {where!r} must give {name} its damping as {name}:TAU "
                         f"with TAU >= 0 unsigned ('+' joins two flows, as in "
                         f"{name}:1+metric:diag), not {text!r}.")
    for part in text.strip().split("+"):
        name, _, rest = part.strip().partition(":")
        name = name.lower()
        if name == "gradient" and not rest:
            continue
        if name in ("momentum", MIRROR_MOMENTUM) and kind == "gradient":
            kind, tau = name, _tau(rest, where, name)
        elif name == "nesterov" and not rest and kind == "gradient":
            kind = "nesterov"
        elif name == "metric" and metric is None:
            how, _, tensors = rest.partition(":")
            if how.lower() != "diag":
                raise InputError(f"Argument {where!r} must give the metric as metric:diag or "
                                 f"metric:diag:TENSORS (a matrix metric is given in Python), "
                                 f"not {part.strip()!r}.")
            names = tuple(t.strip() for t in tensors.split(",") if t.strip()) if tensors else ()
            metric = ("diag", names)
        else:
            raise InputError(f"Argument {where!r} must be a flow ({expected}), not {text!r}.")
    return Flow(kind, tau, metric)


def metric_from_sympy(matrix, model) -> tuple:
    """A D x D SymPy matrix of polynomials in the model's parameters, as a flow's metric."""
    import sympy

    from .symbolic import poly_from_sympy
    D = model.D
    symbols = sympy.symbols(model.parameters)
    shape = getattr(matrix, "shape", None)
    if shape != (D, D):
        raise InputError(f"Argument 'metric' must be a {D} x {D} matrix (one row and column "
                         f"per parameter of {model.name}), not {shape or type(matrix).__name__}.")
    rows = []
    for i in range(D):
        row = []
        for j in range(D):
            try:
                poly = poly_from_sympy(matrix[i, j], symbols, model.ring, f"metric[{i}, {j}]")
            except InputError as err:
                raise InputError(f"Argument 'metric' must hold polynomials in the parameters: "
                                 f"{err}") from None
            row.append(tuple(poly_terms(poly)))
        rows.append(tuple(row))
    return ("matrix", tuple(rows))


def apply_flow(model, flow: Flow | str | None, metric=None, where: str = "flow"):
    """The model of ``model``'s generators under ``flow`` (a :class:`Flow` or
    a ``--flow`` text; ``metric``: a D x D SymPy matrix for a metric flow,
    instead of ``metric:diag``), a model given by its fields named
    ``"{model} under {flow}"``, with the candidate laws the flow keeps
    (:func:`flow_candidates`).

    >>> from exactcl.models.builtin import linear
    >>> m = apply_flow(linear([2, 2, 2]), "metric:diag")
    >>> m.name, len(m.generators)
    ('linear:2,2,2 under metric diag(theta)', 4)
    """
    from .builtin import Model
    if getattr(model, "flow", None) is not None and (flow is not None or metric is not None):
        raise InputError(f"Argument 'flow' is given for {model.name!r}, a model already under "
                         f"a flow: give the flow of the model it came from "
                         f"({model.base.name!r}) instead.")
    given = flow
    flow = parse_flow("gradient" if flow is None else flow, where)
    default = getattr(model, "default_flow", None)
    if default is not None and metric is None and flow.metric is None and (
            given is None or flow.lifted):  # the model's own geometry, under momentum too
        flow = Flow(flow.kind, flow.tau, default.metric)
    if metric is not None:
        if flow.metric is not None:
            raise InputError("Argument 'metric' is given twice: in the flow text and as a "
                             "matrix; give one.")
        if flow.kind == MIRROR_MOMENTUM:
            raise InputError("Argument 'metric' is a matrix, but the mirror momentum's force "
                             "is diag(tau theta + theta') grad E: give its tensors as "
                             "mirror-momentum:TAU+metric:diag:TENSORS, or the matrix with "
                             "momentum:TAU.")
        flow = Flow(flow.kind, flow.tau, metric_from_sympy(metric, model))
        _check_regular(flow.metric[1], model)
    if flow.kind == MIRROR_MOMENTUM and flow.metric is None:  # on every parameter
        flow = Flow(flow.kind, flow.tau, ("diag", ()))
    if flow.kind == "gradient" and flow.metric is None:
        if getattr(model, "default_flow", None) is None:
            return model
        import copy  # the Euclidean flow of a model with its own geometry (NMF, ICNN)
        plain = copy.copy(model)
        plain.default_flow, plain.name = None, f"{model.name} under gradient"
        return plain
    check_flow_size(model, flow, where)
    ring, fields, labels = flow_fields(model.generators, model.parameters, flow, where)
    if flow.metric is not None and all(f.is_zero for f in fields[1 if flow.lifted else 0:]):
        raise InputError(f"Argument 'metric' makes every generator of {model.name} vanish: "
                         f"the metric is singular at every point.")
    candidates, cand_labels = flow_candidates(model, flow, ring)
    out = Model(f"{model.name} under {flow.text}", ring, tuple(fields), None,
                tuple(candidates), tuple(cand_labels), tuple(labels))
    out.flow = flow
    out.base = model
    return out


#: Largest model under a flow other than the Euclidean gradient flow: a flow
#: maps the expanded generators to fields that are counted expanded (brackets
#: by jets, laws checked exactly), whose cost grows with their terms and, under
#: momentum, with the square of their number (bracket pairs). Chosen on
#: `exactcl count SPEC --flow momentum:1`: relu:16,16,16 (4,097 fields, 9,217
#: terms) and linear:8,8,8,8 (65 fields, 12,673 terms) take about 12 and 7 s,
#: relu:20,20,20 (8,001 fields) 54 s, linear:10,10,10,10 (30,601 terms) 21 s,
#: linear:6,6,6,6,6,6 (233,641 terms) 100 s and 1.5 GB: the limits keep every
#: count that finishes in about two minutes, and refuse linear:7,7,7,7,7,7
#: (588,736 terms) and linear:8,8,8,8,8,8 (1,311,361), which ran for hours.
FLOW_TERMS = 250_000
FLOW_FIELDS = 10_000


def flow_size(model, flow: Flow) -> tuple[int, int]:
    """(fields, terms) of ``model``'s generators under ``flow``, from the
    model's sizes alone (a network is not expanded): terms is an upper
    bound, the generators' terms (:func:`exactcl.limits.field_terms`) times
    the most terms a column of a matrix metric holds, plus the drift's
    2 D + 1 on a phase space.

    >>> from exactcl.models.builtin import linear, relu
    >>> flow_size(linear([8] * 6), parse_flow("momentum:1"))
    (65, 1311361)
    >>> flow_size(relu([16, 16, 16]), parse_flow("momentum:1/2"))
    (4097, 9217)
    """
    from ..limits import field_terms
    if model.expanded or model.program is None:
        fields, terms = len(model.generators), sum(X.size for X in model.generators)
    else:
        fields, terms = model.n_generators, field_terms(model.program.layout)
    if flow.metric is not None and flow.metric[0] == "matrix":
        rows = flow.metric[1]
        terms *= max(1, max(sum(len(row[j]) for row in rows) for j in range(len(rows))))
    if flow.kind == MIRROR_MOMENTUM:  # each term times tau theta_v + v_v
        terms *= 2
    if flow.lifted:
        fields, terms = fields + 1, terms + 2 * model.D + 1
    return fields, terms


def check_flow_size(model, flow: Flow, where: str = "flow") -> None:
    """Refuse (:class:`~exactcl.errors.ResourceError`), before anything is
    expanded, a model whose fields under ``flow`` exceed :data:`FLOW_FIELDS`
    fields or :data:`FLOW_TERMS` terms (:func:`flow_size`).

    >>> from exactcl.models.builtin import linear
    >>> check_flow_size(linear([8] * 6), parse_flow("momentum:1"), "--flow")
    Traceback (most recent call last):
    ...
    exactcl.errors.ResourceError: Argument '--flow' puts linear:8,8,8,8,8,8 under momentum tau=1: its 65 fields on 641 variables would have an estimated 1,311,361 terms, counted expanded (limit 250,000 terms and 10,000 fields); count a smaller model under the flow, or this one under the gradient flow.
    """
    fields, terms = flow_size(model, flow)
    if terms > FLOW_TERMS or fields > FLOW_FIELDS:
        variables = 2 * model.D + 1 if flow.lifted else model.D
        raise ResourceError(
            f"Argument {where!r} puts {model.name} under {flow.text}: its {fields:,} fields on "
            f"{variables:,} variables would have an estimated {terms:,} terms, counted expanded "
            f"(limit {FLOW_TERMS:,} terms and {FLOW_FIELDS:,} fields); count a smaller model "
            f"under the flow, or this one under the gradient flow.")


#: Points at which a matrix metric is tried before it counts as singular everywhere.
REGULAR_ATTEMPTS = 3


def _check_regular(rows: tuple, model) -> None:
    """Refuse a matrix metric singular at every point. Its determinant is
    evaluated at seeded random points modulo primes near 2^62: a nonzero
    value proves M(theta) invertible on a dense open set (the value is the
    reduction of the exact one); REGULAR_ATTEMPTS zero values refuse it, and a
    nonzero determinant of degree d passes that wrongly with probability at
    most (d / 2^61)^REGULAR_ATTEMPTS (Schwartz-Zippel).

    >>> import sympy
    >>> from exactcl.models.builtin import linear
    >>> apply_flow(linear([1, 1, 1]), None, metric=sympy.ones(2, 2))
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'metric' is singular at every point (its determinant vanished at 3 random points modulo large primes): give an invertible metric M(theta).
    """
    import random

    from flint import nmod_mat

    from ..kernel.rings import next_prime
    rng = random.Random(len(rows))
    D = len(rows)
    for _ in range(REGULAR_ATTEMPTS):
        p = next_prime(2**62 - rng.randrange(2**60))
        point = [rng.randrange(p) for _ in range(D)]
        try:
            values = [sum(c.numerator * pow(c.denominator, -1, p)
                          * _monomial_mod(mono, point, p) for mono, c in entry) % p
                      for row in rows for entry in row]
        except ValueError:  # p divides a denominator: another prime
            continue
        if nmod_mat(D, D, values, p).rank() == D:
            return
    raise InputError(f"Argument 'metric' is singular at every point (its determinant "
                     f"vanished at {REGULAR_ATTEMPTS} random points modulo large primes): give "
                     f"an invertible metric M(theta).")


def _monomial_mod(mono, point: list[int], p: int) -> int:
    out = 1
    for v, e in mono:
        out = out * pow(point[v], e, p) % p
    return out


def time_strings(polys, ring: Ring, flow: Flow | None) -> list[str]:
    """Laws in SymPy syntax, the time variable (the first of a phase space)
    written as what it stands for, exp(tau*t) or t, its powers factored out.

    >>> from exactcl.models.builtin import linear
    >>> m = apply_flow(linear([1, 1, 1]), "momentum:1/2")
    >>> s, w1, w2, v1, v2 = m.ring.gens
    >>> time_strings([s * (w1 * v1 - w2 * v2)], m.ring, m.flow)
    ['(W1_0_0*W1_0_0_dot - W2_0_0*W2_0_0_dot)*exp(t/2)']
    """
    from .symbolic import poly_to_string, poly_to_sympy
    time = None if flow is None else flow.time()
    if time is None:
        return [poly_to_string(h, ring) for h in polys]
    import sympy
    s = sympy.Symbol(ring.names[0])
    value = sympy.sympify(time, locals={"t": sympy.Symbol("t")})
    return [str(sympy.factor_terms(poly_to_sympy(h, ring).subs(s, value))) for h in polys]


def flow_candidates(model, flow: Flow, ring: Ring) -> tuple[list, list[str]]:
    """Candidate laws under a flow, from the base model's: under a metric
    none (they are found by the law search); under momentum, for a chain of
    dense layers without ReLUs, s ((W_l v_l^T - v_l W_l^T) + (W_{l+1}^T
    v_{l+1} - v_{l+1}^T W_{l+1}))[a, b], a < b, per hidden layer: e^(tau t)
    times the antisymmetric part of the balancedness momentum. For the
    generator A of GL(n_l) (W_l -> A W_l, W_{l+1} -> -W_{l+1} A, which
    leaves phi unchanged), d/dt <v, xi_A(theta)> = -tau <v, xi_A> + v . A v,
    and the quadratic form vanishes when A is antisymmetric: then
    e^(tau t) <v, xi_A(theta)> is conserved."""
    if not flow.lifted and flow.metric is not None and flow.metric[0] == "diag":
        return _mirror_candidates(model, flow, ring)
    if not flow.lifted or flow.metric is not None:
        return [], []
    program = getattr(model, "program", None)
    if program is None or program.blocks:
        return [], []
    layers = program.layout.layers
    if any(kind == "relu" for kind, *_ in layers) or any(layer[3] for layer in layers):
        return [], []
    D = model.D
    idx = {name: k for k, name in enumerate(model.parameters)}
    g = ring.gens
    # the factor that makes <v, xi_A> conserved: e^(tau t) = s, 1 without damping,
    # t^3 for Nesterov's 3/t (d/dt <v, xi_A> = -(3/t) <v, xi_A>)
    s = g[0] if flow.kind == "momentum" and flow.tau else ring.constant(1)
    if flow.kind == "nesterov":
        s = g[0] ** 3
    # the label in the paper's matrix form, ' the time derivative, the factor as time
    prefix = (f"{flow.time()} " if flow.kind == "momentum" and flow.tau else
              "t^3 " if flow.kind == "nesterov" else "")

    def w(name):
        return g[1 + idx[name]]

    def v(name):
        return g[1 + D + idx[name]]

    linears = [layer for layer in layers if layer[0] == "linear"]
    out, labels = [], []
    for li in range(1, len(linears)):
        n_in, n, _ = linears[li - 1][1:]
        n_next = linears[li][2]
        for a in range(n):
            for b in range(a + 1, n):
                h = ring.zero()
                for j in range(n_in):  # (W_l v_l^T - v_l W_l^T)[a, b]
                    h += w(f"W{li}_{a}_{j}") * v(f"W{li}_{b}_{j}") - v(f"W{li}_{a}_{j}") * w(f"W{li}_{b}_{j}")
                for k in range(n_next):  # + (W_{l+1}^T v_{l+1} - v_{l+1}^T W_{l+1})[a, b]
                    h += (w(f"W{li + 1}_{k}_{a}") * v(f"W{li + 1}_{k}_{b}")
                          - v(f"W{li + 1}_{k}_{a}") * w(f"W{li + 1}_{k}_{b}"))
                out.append(s * h)
                labels.append(f"{prefix}(W{li} W{li}'^T - W{li}' W{li}^T + W{li + 1}^T W{li + 1}' - "
                              f"W{li + 1}'^T W{li + 1})[{a},{b}]")
    return out, labels


def _mirror_candidates(model, flow: Flow, ring: Ring) -> tuple[list, list[str]]:
    """Under M = diag(theta) on some tensors: each candidate law of the model
    of the form sum_in theta_v^2 - sum_out theta_v^2 (a unit's rescaling,
    which leaves phi unchanged: sum_in theta_v d_v E = sum_out theta_v d_v E)
    becomes sum_in c_v - sum_out c_v, c_v = 2 theta_v where the metric is
    diagonal and theta_v^2 elsewhere: d/dt c_v = -2 theta_v d_v E in both
    geometries. NMF's becomes sum_i U_ik - sum_j V_jk."""
    diag = set(_diagonal_indices(model.parameters, flow.metric[1], "flow"))
    labels = model.candidate_labels or tuple(str(h) for h in model.candidates)
    out, names = [], []
    g = ring.gens
    for h, label in zip(model.candidates, labels):
        terms = poly_terms(h)
        if not terms or any(len(mono) != 1 or mono[0][1] != 2 or abs(c) != 1
                            for mono, c in terms):
            continue
        new = ring.zero()
        linear = all(mono[0][0] in diag for mono, _ in terms)  # then sum_in theta - sum_out theta
        for ((v, _),), c in terms:
            new += int(c) * ((1 if linear else 2) * g[v] if v in diag else g[v] ** 2)
        out.append(new)
        names.append(f"{label}, under the metric")
    return out, names


# -- the models of the paper -------------------------------------------------------------

def nmf(n: int, m: int, r: int, *, max_memory: int | None = None):
    """Non-negative matrix factorisation U V^T, U of shape n x r (``U{i}_{k}``)
    and V of shape m x r (``V{j}_{k}``), trained with the mirror geometry
    M = diag(theta) (multiplicative updates keep the factors positive): its
    default flow is ``metric:diag`` (``momentum:TAU`` adds momentum to it,
    theta'' + tau theta' = -diag(theta) grad E; ``mirror-momentum:TAU`` is
    the paper's momentum, theta'' + tau theta' = -diag(tau theta + theta')
    grad E; ``gradient`` gives the Euclidean flow).

    >>> m = nmf(2, 2, 1)
    >>> m.name, m.parameters, m.default_flow.text
    ('nmf:2,2,1', ('U0_0', 'U1_0', 'V0_0', 'V1_0'), 'metric diag(theta)')
    """
    from ..kernel.fields import gradient
    from .base import Model, _check_size, _gradient_labels
    from .builtin import _check_widths
    n, m, r = _check_widths([n, m, r], 2)
    D = (n + m) * r
    _check_size(f"nmf:{n},{m},{r}", D, n * m, n * m * r * 3, max_memory)
    ring = Ring(tuple(f"U{i}_{k}" for i in range(n) for k in range(r))
                + tuple(f"V{j}_{k}" for j in range(m) for k in range(r)))
    g = ring.gens
    phi = []
    for i in range(n):
        for j in range(m):
            p = ring.zero()
            for k in range(r):
                p += g[i * r + k] * g[n * r + j * r + k]
            phi.append(p)
    # the rescaling of each rank-one component: |U[:, k]|^2 - |V[:, k]|^2
    candidates = [sum((g[i * r + k] ** 2 for i in range(n)), ring.zero())
                  - sum((g[n * r + j * r + k] ** 2 for j in range(m)), ring.zero())
                  for k in range(r)]
    model = Model(f"nmf:{n},{m},{r}", ring, tuple(gradient(ring, p) for p in phi), tuple(phi),
                  tuple(candidates), tuple(f"component {k}" for k in range(r)),
                  _gradient_labels([f"(U V^T)[{i},{j}]" for i in range(n) for j in range(m)]))
    model.default_flow = Flow(metric=("diag", ()))
    return model


def icnn(widths, *, bias: bool = False, max_memory: int | None = None):
    """The two-layer input convex network x -> W2 relu(W1 x (+ b1)), whose
    output weights W2 stay non-negative by the mirror geometry on them:
    the ReLU network of :func:`exactcl.models.builtin.relu` with the default flow
    ``metric:diag:W2`` (momentum adds to it). Our reading of the paper's
    ICNN: the constraint is carried by the metric, not by the model.

    >>> m = icnn([2, 3, 1])
    >>> m.name, m.default_flow.text
    ('icnn:2,3,1', 'metric diag(theta) on W2')
    """
    from .builtin import _check_widths, relu
    widths = _check_widths(widths, 2)
    if len(widths) != 3:
        raise InputError(f"Argument 'widths' must give a two-layer network (input, hidden, "
                         f"output), not {len(widths)} widths {list(widths)}.")
    model = relu(list(widths), bias=bias, max_memory=max_memory)
    model.name = f"icnn{'-bias' if bias else ''}:" + ",".join(map(str, widths))
    model.default_flow = Flow(metric=("diag", ("W2",)))
    return model
