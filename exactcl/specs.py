"""Model specifications as short strings: ``linear:2,3,2``, ``relu:3,4,5``,
``relu-bias:2,3,3,2``, ``product:4``.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import InputError, ResourceError
from .models import Model, linear, product, relu

__all__ = ["FAMILIES", "parse_spec"]

#: family name -> (builder from a list of ints, minimum count, description)
FAMILIES: dict[str, tuple[Callable[[list[int]], Model], int, str]] = {
    "linear": (lambda w: linear(w), 2, "widths from input to output, e.g. linear:2,3,2"),
    "relu": (lambda w: relu(w, bias=False), 2, "widths from input to output, e.g. relu:3,4,5"),
    "relu-bias": (lambda w: relu(w, bias=True), 2, "widths, e.g. relu-bias:2,3,3,2"),
    "product": (lambda w: product(w[0]), 1, "the number of factors, e.g. product:3"),
}


def parse_spec(spec: object) -> Model:
    """Build the model a SPEC string names.

    Examples
    --------
    >>> parse_spec("linear:2,3,2")
    Model('linear:2,3,2', D=12, generators=4, candidate_laws=6)
    >>> parse_spec("conv:3")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'SPEC' must be one of linear:W0,W1,..., relu:W0,W1,..., relu-bias:W0,W1,..., product:D, not 'conv:3'.
    >>> parse_spec("linear:0,3")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'SPEC' must list positive ints after 'linear:' (widths from input to output, e.g. linear:2,3,2), not 'linear:0,3'.
    """
    forms = ", ".join(("product:D" if f == "product" else f"{f}:W0,W1,...") for f in FAMILIES)
    if not isinstance(spec, str) or ":" not in spec:
        raise InputError(f"Argument 'SPEC' must be one of {forms}, not {spec!r}.")
    family, _, body = spec.strip().partition(":")
    if family not in FAMILIES:
        raise InputError(f"Argument 'SPEC' must be one of {forms}, not {spec!r}.")
    build, minimum, what = FAMILIES[family]
    parts = [p.strip() for p in body.split(",")] if body.strip() else []
    wrong = InputError(f"Argument 'SPEC' must list positive ints after '{family}:' ({what}), "
                       f"not {spec!r}.")
    if len(parts) < minimum or (family == "product" and len(parts) != 1):
        raise wrong
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise wrong from None
    if any(v < 1 for v in values):
        raise wrong
    try:
        return build(values)
    except ResourceError as err:
        raise ResourceError(f"Argument 'SPEC' names a model too large: {err}") from None
