"""Model specifications as short strings: ``linear:2,3,2``, ``relu:3,4,5``,
``relu-bias:2,3,3,2``, ``product:4``.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import InputError, ResourceError
from .models import Model, linear, product, relu

__all__ = ["FAMILIES", "parse_spec", "spec_parameters"]

#: family name -> (builder from a list of ints, minimum count, description)
FAMILIES: dict[str, tuple[Callable[..., Model], int, str]] = {
    "linear": (lambda w, **kw: linear(w, **kw), 2,
               "widths from input to output, e.g. linear:2,3,2"),
    "relu": (lambda w, **kw: relu(w, bias=False, **kw), 2,
             "widths from input to output, e.g. relu:3,4,5"),
    "relu-bias": (lambda w, **kw: relu(w, bias=True, **kw), 2, "widths, e.g. relu-bias:2,3,3,2"),
    "product": (lambda w, **kw: product(w[0], **kw), 1, "the number of factors, e.g. product:3"),
}


def parse_spec(spec: object, max_memory: int | None = None) -> Model:
    """Build the model a SPEC string names (refused before it is built when
    its memory estimate exceeds ``max_memory`` bytes or the memory available).

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
    family, values = _parse(spec)
    try:
        return FAMILIES[family][0](values, max_memory=max_memory)
    except ResourceError as err:
        raise ResourceError(f"Argument 'SPEC' names a model too large: {err}") from None


def spec_parameters(spec: object) -> int:
    """The number of parameters D of the model a SPEC names, without building it.

    >>> spec_parameters("linear:32,32,32"), spec_parameters("relu-bias:2,3,3,2")
    (2048, 27)
    """
    family, values = _parse(spec)
    if family == "product":
        return values[0]
    weights = sum(a * b for a, b in zip(values, values[1:]))
    return weights + (sum(values[1:-1]) if family == "relu-bias" else 0)


def _parse(spec: object) -> tuple[str, list[int]]:
    forms = ", ".join(("product:D" if f == "product" else f"{f}:W0,W1,...") for f in FAMILIES)
    if not isinstance(spec, str) or ":" not in spec:
        raise InputError(f"Argument 'SPEC' must be one of {forms}, not {spec!r}.")
    family, _, body = spec.strip().partition(":")
    if family not in FAMILIES:
        raise InputError(f"Argument 'SPEC' must be one of {forms}, not {spec!r}.")
    _, minimum, what = FAMILIES[family]
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
    return family, values
