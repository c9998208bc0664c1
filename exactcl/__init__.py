"""exactcl: exact, certified conservation laws of gradient flows.

A model whose gradient flow factors through a polynomial map phi has
exactly D - dim Lie(W_phi)(theta) independent conservation laws near
generic parameters (Marcotte, Gribonval, Peyre, NeurIPS 2023). exactcl
computes that number over Q, proves it (modular rank lower bounds, exact
law identities, Frobenius closure) and returns the laws.

Names are loaded on first use, so that ``import exactcl.kernel.verifier`` pulls in
only the layers the verifier needs.

>>> import exactcl
>>> r = exactcl.count(exactcl.linear([2, 2, 2]))
>>> r.laws, r.proof
(3, 'sandwich')
>>> exactcl.laws(exactcl.product(2), 2).strings()
['t1**2 - t2**2']
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .kernel.errors import (
    CertificateFormatError,
    ExactclError,
    InputError,
    ResourceError,
    UnsupportedError,
    VerificationError,
)
from .version import __version__ as __version__

#: public name -> module that defines it
_LAZY = {
    "bracket": "kernel.brackets", "closure_check": "kernel.brackets", "ClosureResult": "kernel.brackets",
    "count": "engine.counting", "CountResult": "engine.counting",
    "VectorField": "kernel.fields", "gradient": "kernel.fields",
    "grow": "engine.growth", "Growth": "engine.growth",
    "Model": "models.builtin", "from_program": "models.builtin", "linear": "models.builtin", "product": "models.builtin",
    "relu": "models.builtin",
    "Ring": "kernel.rings",
    "net": "layers.program", "Linear": "layers.dense", "ReLU": "layers.activations", "Program": "layers.program",
    "Residual": "layers.residual", "Conv1d": "layers.conv", "Conv2d": "layers.conv", "Attention": "layers.attention",
    "LinearAttention": "layers.attention", "from_torch": "torch.bridge",
    "find_laws": "engine.search", "LawSearch": "engine.search",
    "certify": "certificates.build", "Certificate": "certificates.view",
    "verify": "kernel.verifier", "Report": "kernel.verifier",
    "Case": "workflows.grid", "grid_cases": "workflows.grid", "load_config": "workflows.grid",
    "SweepResult": "workflows.sweep",
    "subset_laws": "engine.subsets", "SubsetResult": "engine.subsets", "parse_subset": "engine.subsets",
}

__all__ = [
    "Attention", "Case", "Conv1d", "Conv2d", "LinearAttention", "Residual", "SweepResult",
    "grid_cases", "load_config",
    "Certificate", "CertificateFormatError", "ClosureResult", "CountResult", "ExactclError",
    "Growth", "InputError", "LawSearch", "Linear", "Model", "Program", "ReLU", "Report", "ResourceError", "Ring",
    "UnsupportedError", "VectorField", "VerificationError", "bracket", "certify",
    "closure_check", "count", "find_laws", "from_fields", "from_phi", "from_program",
    "from_torch", "gradient",
    "grow",
    "laws", "linear", "net", "product", "relu", "verify",
    "SubsetResult", "parse_subset", "subset_laws",
]

if TYPE_CHECKING:  # pragma: no cover
    from .certificates.build import certify
    from .certificates.view import Certificate
    from .engine.counting import CountResult, count
    from .engine.growth import Growth, grow
    from .engine.search import LawSearch, find_laws
    from .engine.subsets import SubsetResult, parse_subset, subset_laws
    from .kernel.brackets import ClosureResult, bracket, closure_check
    from .kernel.fields import VectorField, gradient
    from .kernel.rings import Ring
    from .kernel.verifier import Report, verify
    from .layers.program import Linear, Program, ReLU, net
    from .models.builtin import Model, from_program, linear, product, relu
    from .workflows.grid import Case, grid_cases, load_config
    from .workflows.sweep import SweepResult


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    elif name[:1].isupper() and not name.startswith("__"):  # a layer type, from its registry line
        value = _layer_types().get(name)
        if value is None:
            raise AttributeError(f"module 'exactcl' has no attribute {name!r}")
    else:
        raise AttributeError(f"module 'exactcl' has no attribute {name!r}")
    globals()[name] = value
    return value


def _layer_types() -> dict:
    """Every registered layer type by its name (:mod:`exactcl.layers.registry`)."""
    from .layers.registry import LAYER_TYPES
    return {t.__name__: t for t in LAYER_TYPES}


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_layer_types()))


def laws(model, degree: int, homogeneous: bool = False, *, engine: str = "auto",
         subset=None, **kwargs):
    """All polynomial conservation laws of ``model`` of degree <= ``degree``
    (see :func:`exactcl.engine.search.find_laws`); a degree above
    :data:`exactcl.engine.counting.MAX_DEGREE`, or a search of more candidate
    monomials than :data:`exactcl.engine.search.MAX_MONOMIALS`, is refused before
    any work.

    ``engine`` is chosen as for :func:`exactcl.count`
    (:func:`exactcl.engine.counting.choose_engine`): ``"program"`` searches by
    evaluation of the model's program
    (:func:`exactcl.engine.evalsearch.find_laws_by_evaluation`, which takes
    ``seed``, ``rounds`` and ``max_memory``), ``"expanded"`` on the expanded
    generators (:func:`exactcl.engine.search.find_laws`). Both give the same laws.

    With ``subset`` (parameter names and tensor prefixes, ``"W1,W2"``), the
    laws that depend only on those parameters, with their certified number
    (:func:`exactcl.engine.subsets.subset_laws`, which takes the other keywords).

    >>> from exactcl.models.builtin import linear
    >>> m = linear([2, 2, 2])
    >>> laws(m, 2, engine="program").strings() == laws(m, 2, engine="expanded").strings()
    True
    >>> r = laws(linear([2, 2, 2, 2]), 2, subset="W1,W2")
    >>> r.laws, r.proof, len(r.exhibited)
    (3, 'sandwich', 3)
    """
    if subset is not None:
        if homogeneous:
            raise InputError("Argument 'homogeneous' does not apply with 'subset': the laws "
                             "of a subset come from every degree up to 'degree'.")
        from .engine.subsets import subset_laws
        return subset_laws(model, subset, degree=degree, engine=engine, **kwargs)
    from .engine.counting import polynomial_laws
    return polynomial_laws(model, degree, homogeneous, engine=engine, **kwargs)


def from_phi(phi, symbols=None, name: str = "custom"):
    """A model from the components of phi as SymPy expressions or strings
    (see :func:`exactcl.models.symbolic.model_from_phi`).

    >>> import sympy
    >>> u, v = sympy.symbols("u v")
    >>> count(from_phi([u * v**2], [u, v])).laws
    1
    """
    from .models.symbolic import model_from_phi
    return model_from_phi(phi, symbols, name)


def from_fields(fields, symbols, name: str = "custom"):
    """A model from polynomial vector fields given as lists of D SymPy
    expressions (see :func:`exactcl.models.symbolic.model_from_fields`)."""
    from .models.symbolic import model_from_fields
    return model_from_fields(fields, symbols, name)
