"""A certificate's flow, read strictly and checked: are the model's fields
the flow of the model they came from?

A model under a flow (:mod:`exactcl.models.flows`) is certified as the model of
its fields (``model.fields``), and its section also holds:

``flow``
    ``kind`` (``gradient``, ``momentum``, ``nesterov`` or
    ``mirror-momentum``); ``tau``, the damping as a ``"p/q"`` string >= 0
    (momentum and mirror-momentum only, and required there); ``metric``
    (optional, required for ``gradient`` and, diagonal, for
    ``mirror-momentum``, where it says on which tensors the force is
    diag(tau theta + theta') grad E):
    ``{"kind": "diag", "tensors": [...]}``, M = diag(theta) on the
    parameters of the tensors named (a parameter ``T`` or ``T_...`` of the
    base; every parameter when the list is empty), or
    ``{"kind": "matrix", "rows": [[polynomial, ...], ...]}``, a D x D
    matrix of polynomials in the base's variables (D of them).
``base``
    The model the flow came from, as a model section without a fingerprint
    (the model's fingerprint covers it) and without a flow of its own:
    ``name``, ``variables`` and one of ``program``, ``phi`` or ``fields``.

:func:`flow_structure` checks the types and sizes when the file is read;
:func:`flow_check` rebuilds the base's generators, applies the flow
(:func:`exactcl.kernel.flowfields.flow_fields`) and requires the result to be the
file's fields exactly: the same variables in the same order and the same
fields, component by component, over Q. The base's name is then checked
like any model's (:mod:`exactcl.kernel.namecheck`).

This module belongs to the verifier's trusted base: it imports the file
format, ring, field and flow-field layers only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from .budget import COMPONENT, DENSE, FLINT_PRODUCT, WorkBudget
from .certformat import FILE_FLOW_KINDS, decode_poly, flow_structure
from .errors import CertificateFormatError, InputError
from .fields import VectorField
from .flowfields import LIFTED_KINDS, MIRROR_MOMENTUM, flow_fields
from .reading import _rational
from .rebuild import decode_work
from .rings import Ring, poly_terms

__all__ = ["FILE_FLOW_KINDS", "FileFlow", "flow_check", "flow_structure", "flow_text",
           "read_flow"]

@dataclass(frozen=True)
class FileFlow:
    """A flow as a certificate states it: ``kind``, ``tau`` (a Fraction for
    momentum, else None) and ``metric`` (None, ``("diag", tensors)`` or
    ``("matrix", rows)``, each entry its sorted terms), the attributes
    :func:`~exactcl.kernel.flowfields.flow_fields` reads."""

    kind: str
    tau: Fraction | None
    metric: tuple | None


def flow_text(flow: FileFlow) -> str:
    """The flow in words, for reports.

    >>> flow_text(FileFlow("momentum", Fraction(1, 2), ("diag", ("W2",))))
    'momentum tau=1/2, metric diag(theta) on W2'
    >>> flow_text(FileFlow("nesterov", None, None))
    'nesterov (damping 3/t)'
    >>> flow_text(FileFlow("mirror-momentum", Fraction(1), ("diag", ())))
    "mirror momentum tau=1, diag(tau theta + theta')"
    """
    if flow.kind == MIRROR_MOMENTUM:  # theta'' + tau theta' = -diag(tau theta + theta') grad E
        text = f"mirror momentum tau={flow.tau}"
        if flow.metric is not None and flow.metric[0] == "diag":
            where = f" on {', '.join(flow.metric[1])}" if flow.metric[1] else ""
            text += f", diag(tau theta + theta'){where}"
        return text
    parts = []
    if flow.kind == "momentum":
        parts.append(f"momentum tau={flow.tau}")
    elif flow.kind == "nesterov":
        parts.append("nesterov (damping 3/t)")
    if flow.metric is not None and flow.metric[0] == "diag":
        where = f" on {', '.join(flow.metric[1])}" if flow.metric[1] else ""
        parts.append(f"metric diag(theta){where}")
    elif flow.metric is not None:
        parts.append("metric M(theta)")
    return ", ".join(parts) or "gradient"


def read_flow(obj: dict, base_ring: Ring, budget: WorkBudget | None = None,
              where: str = "model.flow") -> FileFlow:
    """The flow of a checked flow section (:func:`flow_structure`); a matrix
    metric's entries are decoded in the base's ring, their work spent first.

    >>> read_flow({"kind": "momentum", "tau": "2/4"}, Ring(("u",)))
    FileFlow(kind='momentum', tau=Fraction(1, 2), metric=None)
    """
    tau = _rational(obj["tau"], f"{where}.tau") if "tau" in obj else None
    metric = obj.get("metric")
    if metric is None:
        return FileFlow(obj["kind"], tau, None)
    if metric["kind"] == "diag":
        return FileFlow(obj["kind"], tau, ("diag", tuple(metric["tensors"])))
    D = base_ring.nvars
    if budget is not None:
        work = sum(decode_work(e, D) for row in metric["rows"] for e in row)
        budget.require(work, f"decoding the {D} x {D} entries of {where}.metric")
        budget.spend(work)
    rows = tuple(tuple(tuple(poly_terms(decode_poly(e, base_ring,
                                                     f"{where}.metric.rows[{i}][{j}]")))
                       for j, e in enumerate(row))
                 for i, row in enumerate(metric["rows"]))
    return FileFlow(obj["kind"], tau, ("matrix", rows))


def flow_work(generators: Sequence[VectorField], flow: FileFlow) -> float:
    """Units of work (:mod:`exactcl.kernel.budget`) of :func:`~exactcl.kernel.flowfields.flow_fields`
    and of comparing its fields with the file's: each component multiplied
    by the metric's entries, lifted to the phase space (built term by term
    in its 2 D + 1 variables) and compared."""
    D = generators[0].ring.nvars if generators else 0
    lifted = flow.kind in LIFTED_KINDS
    nvars = 2 * D + 1 if lifted else D
    # the mirror momentum lifts each component, then multiplies it by tau theta_v + v_v
    grow = 2 if flow.kind == MIRROR_MOMENTUM else 1
    work = float(COMPONENT * 3 * D)  # the drift
    for X in generators:
        for v, p in X.components:
            t = len(p)
            if flow.metric is not None and flow.metric[0] == "matrix":
                for i in range(D):
                    e = flow.metric[1][i][v]
                    if e:
                        work += DENSE * D * (len(e) + 1) + FLINT_PRODUCT * len(e) * t
                        t_out = len(e) * t
                        work += DENSE * nvars * (t_out + 1) + COMPONENT
            else:
                work += FLINT_PRODUCT * t * grow + DENSE * nvars * (grow * t + 1) + COMPONENT
    return work


@dataclass(frozen=True)
class FlowOutcome:
    """What :func:`flow_check` found: passed, the detail, and the note for the
    summary of a verified file."""

    passed: bool
    detail: str
    note: str
    #: the name the model has under this flow: its base's name, " under ", the flow's text
    name: str = ""


def flow_check(model: dict, fields: Sequence[VectorField], ring: Ring,
               base_generators: Callable[[dict, Ring], list[VectorField]],
               budget: WorkBudget) -> FlowOutcome:
    """Rebuild the fields of a model under a flow from its base and compare
    them with the file's ``fields`` (in the ring of ``model.variables``).
    ``base_generators(base, base_ring)`` builds the base's generators,
    spending their work (the verifier's rules for a program, phi or fields).
    """
    base = model["base"]
    try:
        base_ring = Ring(tuple(base["variables"]))
    except ValueError as err:
        raise CertificateFormatError(f"model.base.variables: {err}") from err
    flow = read_flow(model["flow"], base_ring, budget)
    text = flow_text(flow)
    outcome = _rebuilt(model, fields, ring, base, base_ring, flow, text, base_generators,
                       budget)
    return dataclasses.replace(outcome, name=f"{base['name']} under {text}")


def _rebuilt(model, fields, ring, base, base_ring, flow, text, base_generators, budget
             ) -> FlowOutcome:
    generators = base_generators(base, base_ring)
    budget.require(flow_work(generators, flow), f"applying the flow {text} to the "
                                                f"{len(generators)} generators of the base")
    budget.spend(flow_work(generators, flow))
    try:
        rebuilt_ring, rebuilt, _ = flow_fields(generators, base_ring.names, flow,
                                               "model.flow")
    except InputError as err:
        return FlowOutcome(False, f"the flow {text} cannot be applied to "
                                  f"{base['name']!r}: {err}", "")
    of = f"the flow {text} of {base['name']}"
    if rebuilt_ring.names != ring.names:
        ours, theirs = rebuilt_ring.names, ring.names
        k = next((k for k, (a, b) in enumerate(zip(ours, theirs)) if a != b),
                 min(len(ours), len(theirs)))
        if k == min(len(ours), len(theirs)):
            why = f"{len(ours)} variables rebuilt, {len(theirs)} in the file"
        else:
            why = f"variable {k} is {ours[k]} rebuilt, {theirs[k]!r} in the file"
        return FlowOutcome(False, f"the variables of {of} are not the model's: {why}", "")
    if len(rebuilt) != len(fields):
        return FlowOutcome(False, f"{of} has {len(rebuilt)} fields; the file's model has "
                                  f"{len(fields)}", "")
    for k, (ours, theirs) in enumerate(zip(rebuilt, fields)):
        if ours.components != theirs.components:
            comps, file_comps = ours.as_dict, theirs.as_dict
            v = next(v for v in sorted(set(comps) | set(file_comps))
                     if v not in comps or v not in file_comps or comps[v] != file_comps[v])
            return FlowOutcome(False, f"model.fields[{k}] is not field {k} of {of}: they "
                                      f"differ in the component {ring.names[v]}", "")
    s = "" if len(rebuilt) == 1 else "s"
    return FlowOutcome(True, f"the fields are {of} ({len(rebuilt)} field{s} on "
                             f"{ring.nvars} variables rebuilt from the base's "
                             f"{len(generators)} generators, equal over Q)",
                       f"the fields are {of}")
