"""Model specifications as short strings: ``linear:2,3,2``, ``relu:3,4,5``,
``relu-bias:2,3,3,2``, ``product:4``, and any program of layers as
``net:Linear(3,4),ReLU,Linear(4,2,bias)`` (:mod:`exactcl.layers.program`; the
first three name such programs).
"""

from __future__ import annotations

from collections.abc import Callable

from ..kernel.errors import InputError, ResourceError, clip_text, show_value
from ..kernel.reading import MAX_LAYERS
from ..limits import check_spec_text
from .builtin import Model, from_program, linear, product, relu

__all__ = ["FAMILIES", "NET_FORM", "parse_spec", "spec_parameters"]

#: family name -> (builder from a list of ints, minimum count, description)
FAMILIES: dict[str, tuple[Callable[..., Model], int, str]] = {
    "linear": (lambda w, **kw: linear(w, **kw), 2,
               "widths from input to output, e.g. linear:2,3,2"),
    "relu": (lambda w, **kw: relu(w, bias=False, **kw), 2,
             "widths from input to output, e.g. relu:3,4,5"),
    "relu-bias": (lambda w, **kw: relu(w, bias=True, **kw), 2, "widths, e.g. relu-bias:2,3,3,2"),
    "product": (lambda w, **kw: product(w[0], **kw), 1, "the number of factors, e.g. product:3"),
    "nmf": (lambda w, **kw: _nmf(w, **kw), 3,
            "n,m,r: U (n x r) V^T (m x r) under the mirror metric, e.g. nmf:2,2,1"),
    "icnn": (lambda w, **kw: _icnn(w, False, **kw), 3,
             "input, hidden, output widths of a two-layer ICNN, e.g. icnn:2,3,1"),
    "icnn-bias": (lambda w, **kw: _icnn(w, True, **kw), 3, "the same with a hidden bias"),
}


def _nmf(w, **kw):
    from .flows import nmf
    if len(w) != 3:
        raise InputError(f"Argument 'SPEC' must give nmf three sizes n,m,r (U is n x r, V is "
                         f"m x r), not {len(w)}: nmf:{','.join(map(str, w))}.")
    return nmf(*w, **kw)


def _icnn(w, bias, **kw):
    from .flows import icnn
    return icnn(list(w), bias=bias, **kw)
#: How a program of layers is written, in the messages that list the forms.
NET_FORM = "net:Linear(n_in,n_out),ReLU,..."


def parse_spec(spec: object, max_memory: int | None = None) -> Model:
    """Build the model a SPEC string names (refused before it is built when
    its memory estimate exceeds ``max_memory`` bytes or the memory available).

    Examples
    --------
    >>> parse_spec("linear:2,3,2")
    Model('linear:2,3,2', D=12, generators=4, candidate_laws=6)
    >>> parse_spec("net:Linear(2,3),ReLU,Linear(3,2)")   # the program relu:2,3,2 names
    Model('relu:2,3,2', D=12, generators=12, candidate_laws=3)
    >>> parse_spec("net:Linear(2,3,bias),Linear(3,2)")
    Model('net:Linear(2,3,bias),Linear(3,2)', D=15, generators=6, candidate_laws=6)
    >>> parse_spec("conv:3")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'SPEC' must be one of linear:W0,W1,..., relu:W0,W1,..., relu-bias:W0,W1,..., product:D, nmf:n,m,r, icnn:n,h,m, icnn-bias:n,h,m, net:Linear(n_in,n_out),ReLU,..., not 'conv:3'.
    >>> parse_spec("net:Linear(2,3),ReLU,Linear(4,2)")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'SPEC' is not a network: layer 3 (linear) takes 4 inputs but the layer before it has 3 outputs, in 'net:Linear(2,3),ReLU,Linear(4,2)'.
    >>> parse_spec("linear:0,3")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'SPEC' must list positive ints after 'linear:' (widths from input to output, e.g. linear:2,3,2), not 'linear:0,3'.
    """
    family, values = _parse(spec)
    try:
        if family == "net":
            return from_program(values, max_memory=max_memory)
        return FAMILIES[family][0](values, max_memory=max_memory)
    except ResourceError as err:
        raise ResourceError(f"Argument 'SPEC' names a model too large: {err}") from None


def spec_program(spec: object):
    """The :class:`~exactcl.layers.program.Program` a network SPEC names
    (``linear:``, ``relu:``, ``relu-bias:``, ``net:``), without building its
    model; None for any other SPEC.

    >>> spec_program("relu:2,3,1")
    net(Linear(2, 3), ReLU(), Linear(3, 1))
    >>> spec_program("product:3") is None
    True
    """
    family, values = _parse(spec)
    if family == "net":
        return values
    if family in ("linear", "relu", "relu-bias"):
        from ..layers.program import from_family
        return from_family(family, values)
    return None


def spec_parameters(spec: object) -> int:
    """The number of parameters D of the model a SPEC names, without building it.

    >>> spec_parameters("linear:32,32,32"), spec_parameters("relu-bias:2,3,3,2")
    (2048, 27)
    >>> spec_parameters("net:Linear(2,3,bias),ReLU,Linear(3,2)")
    15
    """
    family, values = _parse(spec)
    if family == "net":
        return values.D
    if family == "product":
        return values[0]
    if family == "nmf":
        return (values[0] + values[1]) * values[2] if len(values) == 3 else 0
    weights = sum(a * b for a, b in zip(values, values[1:]))
    return weights + (sum(values[1:-1]) if family in ("relu-bias", "icnn-bias") else 0)


def _parse(spec: object) -> tuple[str, list[int] | object]:
    """(family, widths) of a SPEC, or ("net", program) for a ``net:`` spec
    (the layers are loaded for a ``net:`` spec only)."""
    shapes = {"product": "product:D", "nmf": "nmf:n,m,r", "icnn": "icnn:n,h,m",
              "icnn-bias": "icnn-bias:n,h,m"}
    forms = ", ".join(shapes.get(f, f"{f}:W0,W1,...") for f in FAMILIES)
    forms += f", {NET_FORM}"
    if not isinstance(spec, str) or ":" not in spec:
        shown = repr(clip_text(spec)) if isinstance(spec, str) else show_value(spec)
        raise InputError(f"Argument 'SPEC' must be one of {forms}, not {shown}.")
    check_spec_text(spec)
    family, _, body = spec.strip().partition(":")
    if family == "net":
        from ..layers.program import parse_net
        return family, parse_net(body, spec)
    if family not in FAMILIES:
        raise InputError(f"Argument 'SPEC' must be one of {forms}, not {clip_text(spec)!r}.")
    _, minimum, what = FAMILIES[family]
    parts = [p.strip() for p in body.split(",")] if body.strip() else []
    if len(parts) > MAX_LAYERS + 1:
        raise ResourceError(f"Argument 'SPEC' gives {len(parts) - 1:,} layers; the limit is "
                            f"{MAX_LAYERS:,}, in {clip_text(spec)!r}.")
    wrong = InputError(f"Argument 'SPEC' must list positive ints after '{family}:' ({what}), "
                       f"not {clip_text(spec)!r}.")
    if len(parts) < minimum or (family == "product" and len(parts) != 1):
        raise wrong
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise wrong from None
    if any(v < 1 for v in values):
        raise wrong
    return family, values
