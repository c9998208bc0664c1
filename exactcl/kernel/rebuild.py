"""The generator fields a certificate's model section defines, rebuilt
within the work budget: the gradients of phi's components, the fields it
lists, or phi expanded from its program of layers (small programs)."""

from __future__ import annotations

from collections.abc import Sequence

from flint import fmpq_mpoly

from .blocks import BlockLayout
from .budget import COMPONENT, DENSE, DERIVATIVE, EXPAND_TERM, WorkBudget
from .certformat import decode_field, decode_poly
from .errors import CertificateFormatError
from .evaluator import Layout
from .fields import VectorField
from .programs import program_layout
from .reading import _fail, _list
from .rings import Ring, support

__all__ = ["generators_of", "program_generators", "program_phi", "ring_of"]


def ring_of(cert: dict) -> Ring:
    try:
        return Ring(tuple(cert["model"]["variables"]))
    except ValueError as err:
        raise CertificateFormatError(f"model.variables: {err}") from err


def decode_work(obj: object, nvars: int) -> float:
    """Units of work (:mod:`exactcl.kernel.budget`) of decoding the encoded
    polynomial ``obj`` in ``nvars`` variables and scanning its support."""
    return DENSE * nvars * (len(obj) + 1) if isinstance(obj, list) else 0.0


def generators_of(cert: dict, ring: Ring, budget: WorkBudget | None = None, *,
                  section: dict | None = None, where: str = "model") -> list[VectorField]:
    """The generator fields the model section defines (gradients of phi, or
    the fields themselves; for a program, the gradients of its expanded phi,
    :func:`program_generators`). With ``budget``, the work of each
    polynomial is estimated and spent before it is decoded and differentiated.
    ``section`` (named ``where`` in messages) replaces ``cert["model"]``: the
    base section of a model under a flow."""
    def spend(work: float, what: str) -> None:
        if budget is not None:
            budget.require(work, what)
            budget.spend(work)

    D = ring.nvars
    model = cert["model"] if section is None else section
    if "program" in model:
        return program_generators(program_layout(model), ring, budget)
    if "phi" in model:
        phi = _list(model["phi"], f"{where}.phi")
        if not phi:
            raise _fail(f"{where}.phi", "a non-empty list", phi)
        spend(sum(decode_work(p, D) for p in phi), f"decoding the {len(phi)} components of "
                                                     f"{where}.phi")
        polys = [decode_poly(p, ring, f"{where}.phi[{k}]") for k, p in enumerate(phi)]
        return _gradients(ring, polys, f"{where}.phi", spend)
    fields = _list(model["fields"], f"{where}.fields")
    if not fields:
        raise _fail(f"{where}.fields", "a non-empty list", fields)
    spend(sum(decode_work(c[1], D) for f in fields if isinstance(f, list)
              for c in f if isinstance(c, list) and len(c) == 2),
          f"decoding the {len(fields)} fields of {where}.fields")
    return [decode_field(f, ring, f"{where}.fields[{k}]") for k, f in enumerate(fields)]


def _gradients(ring: Ring, polys: Sequence[fmpq_mpoly], where: str, spend) -> list[VectorField]:
    """The gradient fields of ``polys``, each one's work spent before it is built."""
    from .fields import gradient
    out = []
    for k, poly in enumerate(polys):
        s = support(poly)
        spend(gradient_work(poly, s), f"the gradient of {where}[{k}]")
        out.append(gradient(ring, poly, s))
    return out


def gradient_work(poly: fmpq_mpoly, s: frozenset[int]) -> float:
    """Units of work of the gradient of ``poly`` (support ``s``): its support by
    derivatives (with the hint), then one component each."""
    return len(s) * ((len(s) + 1) * (DERIVATIVE * len(poly) + 1) + COMPONENT)


def expansion_terms(layout: Layout) -> int:
    """The terms :func:`exactcl.kernel.evaluator.expand` builds for a program: those of
    the partial products after every linear layer (phi's terms at the last),
    from the sizes alone.

    >>> expansion_terms(Layout([["linear", 2, 3, False], ["relu"], ["linear", 3, 4, False]]))
    30
    """
    if isinstance(layout, BlockLayout):
        return layout.phi_terms()
    rows = [1] * layout.linears[0][0]  # terms per row of the running product
    total = 0
    for _, n_out, bias in layout.linears:
        terms = sum(rows)
        rows = [terms + (1 if bias else 0)] * n_out
        total += sum(rows)
    return total


def expansion_work(layout: Layout) -> float:
    """Units of work of expanding a program's phi (flint terms of D variables:
    ``EXPAND_TERM`` (1 + D / 16) units each, measured up to D = 300)."""
    return EXPAND_TERM * (1 + layout.D / 16) * expansion_terms(layout)


def program_phi(layout: Layout, ring: Ring, budget: WorkBudget | None = None) -> list:
    """The program's phi expanded over Q (:func:`exactcl.kernel.evaluator.expand`),
    its estimated work spent first."""
    from .blocks import expand as expand_blocks
    from .evaluator import expand
    if isinstance(layout, BlockLayout):
        expand = expand_blocks
    if budget is not None:
        work = expansion_work(layout)
        what = f"expanding the program's phi ({expansion_terms(layout):,} terms built)"
        budget.require(work, what)
        budget.spend(work)
    return expand(layout, ring.gens, ring.constant(1))


def program_generators(layout: Layout, ring: Ring, budget: WorkBudget | None = None
                       ) -> list[VectorField]:
    """The generators grad phi_c of a program, expanded, in the order of its components."""
    def spend(work: float, what: str) -> None:
        if budget is not None:
            budget.require(work, what)
            budget.spend(work)
    return _gradients(ring, program_phi(layout, ring, budget), "the program's phi", spend)
