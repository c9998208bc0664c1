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

__version__ = "0.1.0"

#: public name -> module that defines it
_LAZY = {
    "bracket": "kernel.brackets", "closure_check": "kernel.brackets", "ClosureResult": "kernel.brackets",
    "count": "counting", "CountResult": "counting",
    "VectorField": "kernel.fields", "gradient": "kernel.fields",
    "grow": "growth", "Growth": "growth",
    "Model": "models", "from_program": "models", "linear": "models", "product": "models",
    "relu": "models",
    "Ring": "kernel.rings",
    "net": "program", "Linear": "program", "ReLU": "program", "Program": "program",
    "Residual": "program", "Conv1d": "program", "Conv2d": "program", "Attention": "program",
    "LinearAttention": "program", "from_torch": "torchbridge",
    "find_laws": "search", "LawSearch": "search",
    "certify": "certificate", "Certificate": "certview",
    "verify": "kernel.verifier", "Report": "kernel.verifier",
    "Case": "grid", "grid_cases": "grid", "load_config": "grid",
    "SweepResult": "sweep",
    "subset_laws": "subsets", "SubsetResult": "subsets", "parse_subset": "subsets",
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
    from .certificate import certify
    from .certview import Certificate
    from .counting import CountResult, count
    from .grid import Case, grid_cases, load_config
    from .growth import Growth, grow
    from .kernel.brackets import ClosureResult, bracket, closure_check
    from .kernel.fields import VectorField, gradient
    from .kernel.rings import Ring
    from .kernel.verifier import Report, verify
    from .models import Model, from_program, linear, product, relu
    from .program import Linear, Program, ReLU, net
    from .search import LawSearch, find_laws
    from .subsets import SubsetResult, parse_subset, subset_laws
    from .sweep import SweepResult


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'exactcl' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def laws(model, degree: int, homogeneous: bool = False, *, engine: str = "auto",
         subset=None, **kwargs):
    """All polynomial conservation laws of ``model`` of degree <= ``degree``
    (see :func:`exactcl.search.find_laws`); a degree above
    :data:`exactcl.counting.MAX_DEGREE`, or a search of more candidate
    monomials than :data:`exactcl.search.MAX_MONOMIALS`, is refused before
    any work.

    ``engine`` is chosen as for :func:`exactcl.count`
    (:func:`exactcl.counting.choose_engine`): ``"program"`` searches by
    evaluation of the model's program
    (:func:`exactcl.evalsearch.find_laws_by_evaluation`, which takes
    ``seed``, ``rounds`` and ``max_memory``), ``"expanded"`` on the expanded
    generators (:func:`exactcl.search.find_laws`). Both give the same laws.

    With ``subset`` (parameter names and tensor prefixes, ``"W1,W2"``), the
    laws that depend only on those parameters, with their certified number
    (:func:`exactcl.subsets.subset_laws`, which takes the other keywords).

    >>> from exactcl.models import linear
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
        from .subsets import subset_laws
        return subset_laws(model, subset, degree=degree, engine=engine, **kwargs)
    from .counting import check_search_degree, choose_engine
    from .models import as_model
    model = as_model(model)
    check_search_degree(model.D, degree, bool(homogeneous))  # before any work
    if choose_engine(model, engine) == "program":
        from .evalsearch import find_laws_by_evaluation
        for name in kwargs:
            if name not in ("seed", "rounds", "max_memory"):
                raise InputError(f"Argument {name!r} applies to the expanded search "
                                 f"(engine='expanded'); the search of {model.name} by "
                                 f"evaluation takes seed, rounds and max_memory.")
        return find_laws_by_evaluation(model, degree, bool(homogeneous), **kwargs)
    from .search import find_laws
    return find_laws(model.generators, degree, homogeneous, **kwargs)


def from_phi(phi, symbols=None, name: str = "custom"):
    """A model from the components of phi as SymPy expressions or strings
    (see :func:`exactcl.symbolic.model_from_phi`).

    >>> import sympy
    >>> u, v = sympy.symbols("u v")
    >>> count(from_phi([u * v**2], [u, v])).laws
    1
    """
    from .symbolic import model_from_phi
    return model_from_phi(phi, symbols, name)


def from_fields(fields, symbols, name: str = "custom"):
    """A model from polynomial vector fields given as lists of D SymPy
    expressions (see :func:`exactcl.symbolic.model_from_fields`)."""
    from .symbolic import model_from_fields
    return model_from_fields(fields, symbols, name)
