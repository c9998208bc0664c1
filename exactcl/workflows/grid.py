"""Grids of models for a sweep: families, depths, width ranges, custom phi.

A grid expands into :class:`Case` objects, one model (and law-search
degree) each, in a fixed order: the order of the table a sweep writes.
Grids come from the command line (:func:`grid_cases`) or from a small TOML
file (:func:`load_config`)::

    specs = ["product:7"]    # SPEC strings (top-level keys come before tables)

    [sweep]                  # options of every case (all optional)
    degree = 2               # polynomial law search of degree <= 2
    seed = 0
    timeout = 600            # seconds per case (local pool)
    # flow = "momentum:1/2"  # the flow of every case (as --flow)

    [[grid]]
    family = ["relu", "relu-bias"]
    depth = "2..4"           # number of weight layers
    width = "1..6"           # every width tuple in this range
    output = 1               # optional: override the last width (or input)

    [[grid]]
    family = "linear"
    widths = [[2, 3, 2], [4, 4, 4]]

    [[grid]]
    family = "product"
    factors = "2..6"

    [[phi]]
    name = "uv"
    phi = ["u*v1", "u*v2"]
    vars = ["u", "v1", "v2"]

Ranges are an int, a list of ints, or a string ``"a..b"`` (both ends
included) or ``"a,b,c"``.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..kernel.errors import InputError
from ..limits import MAX_INT_DIGITS, MAX_PARAMETERS

__all__ = ["MAX_CASES", "Case", "degrees", "grid_cases", "load_config", "parse_range",
           "spec_cases", "spec_string", "unique"]

#: Largest number of cases a grid may expand to (a sweep of more is almost
#: surely a typo in a range).
MAX_CASES = 100_000
#: Longest case id: a longer one keeps this many characters, the last 17 of
#: them a dash and a hash of the whole, so that ``<id>.json`` and the
#: temporary files beside it stay far within the 255 bytes of a file name.
MAX_ID_CHARS = 120
#: Families a grid can name, with the number of weight layers read from depth.
LAYERED = ("linear", "relu", "relu-bias")
#: How a sweep's closure checks may be made (see :func:`exactcl.count`).
CLOSURE_MODES = ("auto", "deterministic", "monte-carlo")
FAMILY_NAMES = LAYERED + ("product",)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")


@dataclass(frozen=True)
class Case:
    """One model of a sweep and the degree of its law search.

    Exactly one of ``spec`` (a SPEC string such as ``"relu:2,3,2"``) and
    ``phi`` (components as strings, with ``name`` and optional
    ``variables``) is set.

    Examples
    --------
    >>> c = Case(spec="relu-bias:2,3,3,2", degree=2)
    >>> c.id, c.label
    ('relu-bias_2-3-3-2_deg2', 'relu-bias:2,3,3,2')
    >>> Case.from_dict(c.as_dict()) == c
    True
    >>> Case(name="uv", phi=("u*v1", "u*v2")).id
    'phi_uv'
    >>> Case(spec="net:Linear(2,3,bias),Linear(3,1)").id
    'net_linear2-3-bias_linear3-1'
    >>> long = Case(spec="linear:" + ",".join(["2"] * 100)).id  # it names a file
    >>> len(long), long[:14], long[-17:]
    (119, 'linear_2-2-2-2', '-a119b4a42064bbe3')
    """

    spec: str | None = None
    phi: tuple[str, ...] | None = None
    variables: tuple[str, ...] | None = None
    name: str | None = None
    degree: int | None = None
    flow: str | None = None

    def __post_init__(self) -> None:
        if (self.spec is None) == (self.phi is None):
            raise InputError(f"A Case needs exactly one of 'spec' and 'phi', not spec="
                             f"{self.spec!r} and phi={self.phi!r}.")
        if self.spec is not None and spec_string(self.spec, "spec") != self.spec:
            raise InputError(f"Argument 'spec' must be a SPEC in canonical form such as "
                             f"{spec_string(self.spec, 'spec')!r}, not {self.spec!r}.")
        if self.phi is not None:
            if not isinstance(self.name, str) or not _NAME.match(self.name):
                raise InputError(f"Argument 'name' must be a short name of letters, digits "
                                 f"and _.+- (it names the certificate file), not "
                                 f"{self.name!r}.")
            if not isinstance(self.phi, tuple) or not all(isinstance(p, str) for p in self.phi):
                raise InputError(f"Argument 'phi' must be a tuple of polynomials as strings, "
                                 f"not {self.phi!r}.")
        if self.flow is not None:
            from ..models.flows import parse_flow
            canonical = parse_flow(self.flow, "flow").spec
            if canonical != self.flow:
                raise InputError(f"Argument 'flow' must be a flow in canonical form such as "
                                 f"{canonical!r}, not {self.flow!r}.")
        if self.degree is not None and (isinstance(self.degree, bool)
                                        or not isinstance(self.degree, int) or self.degree < 0):
            raise InputError(f"Argument 'degree' must be None or a non-negative int, not "
                             f"{self.degree!r}.")

    @property
    def label(self) -> str:
        """The model's name in tables."""
        label = self.spec if self.spec is not None else str(self.name)
        return label if self.flow is None else f"{label} --flow {self.flow}"

    @property
    def id(self) -> str:
        """A file-name-safe identifier, unique within a sweep."""
        if self.spec is not None:
            family, _, body = self.spec.partition(":")
            if family == "net":  # net_linear2-3-bias_relu_linear3-1: no parentheses
                base = "net_" + "_".join(map(_layer_id, _program(body, self.spec).layers))
            else:
                base = f"{family}_{body.replace(',', '-')}"
        else:
            base = f"phi_{self.name}"
        if self.flow is not None:
            base += "_" + re.sub(r"[^0-9a-z]+", "-", self.flow.lower()).strip("-")
        full = base if self.degree is None else f"{base}_deg{self.degree}"
        if len(full) <= MAX_ID_CHARS:
            return full
        digest = hashlib.sha256(full.encode()).hexdigest()[:16]
        return f"{full[:MAX_ID_CHARS - 17].rstrip('-_')}-{digest}"

    def as_dict(self) -> dict:
        """Plain JSON data (the inverse of :meth:`from_dict`)."""
        out = {"spec": self.spec, "phi": None if self.phi is None else list(self.phi),
               "variables": None if self.variables is None else list(self.variables),
               "name": self.name, "degree": self.degree}
        if self.flow is not None:
            out["flow"] = self.flow
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Case:
        def tup(v):
            return None if v is None else tuple(v)
        return cls(spec=data.get("spec"), phi=tup(data.get("phi")),
                   variables=tup(data.get("variables")), name=data.get("name"),
                   degree=data.get("degree"), flow=data.get("flow"))

    def model(self):
        """Build the model (raises :class:`~exactcl.errors.InputError` or
        :class:`~exactcl.errors.ResourceError` for a bad or oversized case)."""
        if self.spec is not None:
            from ..models.specs import parse_spec
            model = parse_spec(self.spec)
        else:
            from ..models.symbolic import model_from_phi, parse, to_symbols
            exprs = [parse(e, f"phi of {self.name}", self.variables or (), "vars")
                     for e in self.phi or ()]
            symbols = None if self.variables is None else to_symbols(list(self.variables),
                                                                     f"vars of {self.name}")
            model = model_from_phi(exprs, symbols, name=str(self.name))
        if self.flow is None and model.default_flow is None:
            return model
        from ..models.flows import apply_flow
        return apply_flow(model, self.flow)

    def cost(self) -> int:
        """A rough estimate of the work, used only to start big cases first."""
        if self.spec is None:
            return sum(len(p) for p in self.phi or ())
        family, _, body = self.spec.partition(":")
        if family == "net":
            prog = _program(body, self.spec)
            return prog.D * prog.components * len(prog.layout.linears) * (self.degree or 1)
        w = [int(x) for x in body.split(",")]
        if family == "product":
            return w[0] ** 2
        D = sum(a * b for a, b in zip(w, w[1:]))
        paths = w[0] * w[-1] if family == "linear" else math.prod(w)
        terms = math.prod(w[1:-1]) if family == "linear" else len(w) - 1
        return D * paths * terms * (self.degree or 1)


# -- ranges ----------------------------------------------------------------------

def parse_range(value: object, name: str, minimum: int = 1,
                maximum: int = MAX_PARAMETERS) -> tuple[int, ...]:
    """Ints from ``3``, ``[1, 2]``, ``"2..4"`` or ``"1,3"`` (sorted, unique),
    each from ``minimum`` to ``maximum`` (by default the parameters a model
    may have: a larger width or number of factors is refused anyway).

    Examples
    --------
    >>> parse_range("2..4", "depth"), parse_range("1,3", "width"), parse_range(2, "depth")
    ((2, 3, 4), (1, 3), (2,))
    >>> parse_range("3..1", "width")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'width' must be an int >= 1, a list of them or a range 'a..b' with a <= b, not '3..1'.
    >>> parse_range("1..99999999999999999999", "width")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'width' has an integer of 20 digits; the limit is 18, in '1..99999999999999999999'.
    """
    from ..kernel.errors import show_value
    from ..limits import check_spec_text
    wrong = InputError(f"Argument {name!r} must be an int >= {minimum}, a list of them or a "
                       f"range 'a..b' with a <= b, not {show_value(value)}.")
    if isinstance(value, bool):
        raise wrong
    if isinstance(value, int):
        values = [value]
    elif isinstance(value, str):
        text = value.strip()
        check_spec_text(text, name)
        try:
            if ".." in text:
                lo, hi = (int(x) for x in text.split(".."))
                if lo > hi:
                    raise wrong
                if hi - lo >= MAX_CASES:
                    raise InputError(f"Argument {name!r} spans {hi - lo + 1:,} values (limit "
                                     f"{MAX_CASES:,}); narrow the range {value!r}.")
                values = list(range(lo, hi + 1))
            else:
                values = [int(x) for x in text.split(",")]
        except ValueError:
            raise wrong from None
    elif isinstance(value, (list, tuple)) and value:
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise wrong
        values = list(value)
    else:
        raise wrong
    if not values or min(values) < minimum:
        raise wrong
    if max(values) > maximum:
        raise InputError(f"Argument {name!r} has {show_value(max(values))}; the limit is "
                         f"{maximum:,}.")
    return tuple(sorted(set(values)))


def degrees(value: object, name: str) -> tuple[int | None, ...]:
    if value is None:
        return (None,)
    return parse_range(value, name, minimum=0)


def _families(value: object, name: str) -> tuple[str, ...]:
    items = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for item in items:
        parts = item.split(",") if isinstance(item, str) else [item]
        for part in parts:
            fam = part.strip() if isinstance(part, str) else part
            if fam not in FAMILY_NAMES:
                raise InputError(f"Argument {name!r} must name families among "
                                 f"{', '.join(FAMILY_NAMES)}, not {part!r}.")
            if fam not in out:
                out.append(fam)
    if not out:
        raise InputError(f"Argument {name!r} must name at least one family, not {value!r}.")
    return tuple(out)


# -- expansion -------------------------------------------------------------------

def grid_cases(families: object, *, depth: object = None, width: object = None,
               input: object = None, output: object = None, widths: object = None,
               factors: object = None, degree: object = None,
               where: str = "") -> list[Case]:
    """The cases of one grid block.

    ``depth`` is the number of weight layers; every tuple of ``depth + 1``
    widths in the ``width`` range is a case (``input`` / ``output``
    replace the range of the first / last width). ``widths`` lists width
    tuples explicitly instead. ``factors`` is the range of D for the
    ``product`` family. ``degree`` (an int or a range) adds a law search.

    Examples
    --------
    >>> [c.label for c in grid_cases("linear", depth="2", width="1..2", output=1)]
    ['linear:1,1,1', 'linear:1,2,1', 'linear:2,1,1', 'linear:2,2,1']
    >>> len(grid_cases("relu,relu-bias", depth="2..3", width="1..3"))
    216
    """
    arg = (lambda n: f"{where}{n}") if where else (lambda n: f"--{n}")
    fams = _families(families, arg("family"))
    ks = degrees(degree, arg("degree"))
    specs: list[str] = []
    for fam in fams:
        if fam == "product":
            if factors is None:
                raise InputError(f"Argument {arg('factors')!r} is required for the product "
                                 f"family (the range of D), e.g. '2..6'.")
            specs += [f"product:{n}" for n in parse_range(factors, arg("factors"))]
            continue
        for tup in _width_tuples(depth, width, input, output, widths, arg):
            specs.append(f"{fam}:" + ",".join(map(str, tup)))
    cases = [Case(spec=s, degree=k) for s in specs for k in ks]
    _check_count(len(cases), where or "the command line")
    return cases


def _width_tuples(depth, width, input, output, widths, arg) -> Iterable[tuple[int, ...]]:
    if widths is not None:
        if depth is not None or width is not None or input is not None or output is not None:
            raise InputError(f"Give either {arg('widths')!r} or depth/width ranges, not both.")
        if not isinstance(widths, (list, tuple)) or not widths:
            raise InputError(f"Argument {arg('widths')!r} must be a list of width lists such "
                             f"as [[2, 3, 2]], not {widths!r}.")
        from ..kernel.blocks import MAX_LAYERS
        from ..kernel.errors import show_value
        for tup in widths:
            ok = (isinstance(tup, (list, tuple)) and 2 <= len(tup) <= MAX_LAYERS + 1
                  and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                          for v in tup))
            if not ok:
                raise InputError(f"Argument {arg('widths')!r} must list from two to "
                                 f"{MAX_LAYERS + 1:,} positive ints per model, not "
                                 f"{show_value(tup)}.")
            if max(tup) > MAX_PARAMETERS:
                raise InputError(f"Argument {arg('widths')!r} has a width of "
                                 f"{show_value(max(tup))}; the limit is {MAX_PARAMETERS:,}.")
            yield tuple(tup)
        return
    if depth is None or width is None:
        missing = arg("depth") if depth is None else arg("width")
        raise InputError(f"Argument {missing!r} is required for a layered family (or give "
                         f"explicit {arg('widths')!r}).")
    from ..kernel.blocks import MAX_LAYERS
    depths = parse_range(depth, arg("depth"), maximum=MAX_LAYERS)
    inner = parse_range(width, arg("width"))
    first = inner if input is None else parse_range(input, arg("input"))
    last = inner if output is None else parse_range(output, arg("output"))
    total = sum(len(first) * len(inner) ** (L - 1) * len(last) for L in depths)
    _check_count(total, "the width ranges")
    for L in depths:
        yield from itertools.product(first, *([inner] * (L - 1)), last)


def _check_count(n: int, where: str) -> None:
    if n > MAX_CASES:
        raise InputError(f"The grid of {where} has {n:,} cases (limit {MAX_CASES:,}); "
                         f"narrow the ranges.")


def unique(cases: Sequence[Case]) -> list[Case]:
    """Drop repeated cases (the first stays); refuse two cases with one id."""
    seen: dict[str, Case] = {}
    out = []
    for c in cases:
        if c.id in seen:
            if seen[c.id] != c:
                raise InputError(f"Two different cases have the id {c.id!r}; give custom "
                                 f"models distinct names.")
            continue
        seen[c.id] = c
        out.append(c)
    return out


# -- TOML ------------------------------------------------------------------------

_SWEEP_KEYS = {"degree", "seed", "timeout", "closure", "closure_rounds", "flow"}
_GRID_KEYS = {"family", "depth", "width", "input", "output", "widths", "factors", "degree"}
_PHI_KEYS = {"name", "phi", "vars", "degree"}


def load_config(path: str | os.PathLike) -> tuple[list[Case], dict]:
    """Cases and sweep options of a TOML grid file (see the module docs).

    Returns
    -------
    cases : list of Case
    options : dict
        The ``[sweep]`` table (keys among degree, seed, timeout, closure,
        closure_rounds); ``degree`` there is the default of every block.

    Raises
    ------
    InputError
        When the file is missing, not TOML, or has an unknown key or a
        value of the wrong form (the message names the file and the key).
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    where = os.fspath(path)
    try:
        with open(where, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as err:
        raise InputError(f"Argument '--config' must be a readable TOML file, not {where!r} "
                         f"({err.strerror}).") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"Argument '--config' must be a TOML file; {where}: {err}.") from None
    except ValueError:  # an integer of more digits than Python converts (4300)
        raise InputError(f"Argument '--config' has an integer of more digits than are read "
                         f"(sizes have at most {MAX_INT_DIGITS}); {where}.") from None
    top = set(data) - {"sweep", "grid", "phi", "specs"}
    if top:
        raise InputError(f"{where}: unknown key {sorted(top)[0]!r} at the top level (expected "
                         f"sweep, grid, phi or specs).")
    options = _table(data.get("sweep", {}), "[sweep]", _SWEEP_KEYS, where)
    _check_sweep_options(options, where)
    default_degree = options.get("degree")
    degrees(default_degree, f"{where}: [sweep].degree")
    cases: list[Case] = []
    for i, block in enumerate(_tables(data.get("grid", []), "grid", where)):
        block = _table(block, f"grid[{i}]", _GRID_KEYS, where)
        if "family" not in block:
            raise InputError(f"{where}: grid[{i}] needs a 'family'.")
        kw = {k: v for k, v in block.items() if k != "family"}
        kw.setdefault("degree", default_degree)
        cases += grid_cases(block["family"], where=f"{where}: grid[{i}].", **kw)
    specs = data.get("specs", [])
    if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
        raise InputError(f"{where}: 'specs' must be a list of SPEC strings, not {specs!r}.")
    cases += spec_cases(specs, default_degree, f"{where}: specs", f"{where}: [sweep].degree")
    for i, block in enumerate(_tables(data.get("phi", []), "phi", where)):
        cases += _phi_cases(_table(block, f"phi[{i}]", _PHI_KEYS, where), i, where,
                            default_degree)
    _check_count(len(cases), where)
    if "flow" in options:  # the flow of every case, as --flow
        import dataclasses

        from ..models.flows import parse_flow
        flow = parse_flow(options["flow"], f"{where}: [sweep].flow").spec
        cases = [dataclasses.replace(c, flow=flow) for c in cases]
    return unique(cases), {k: v for k, v in options.items() if k not in ("degree", "flow")}


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


#: What each option of a sweep must be: a test and its description in errors.
SWEEP_OPTIONS = {
    "seed": (lambda v: _is_int(v) and v >= 0, "a non-negative int"),
    "timeout": (lambda v: (_is_int(v) or isinstance(v, float)) and v > 0,
                "a positive number of seconds"),
    "closure": (lambda v: v in CLOSURE_MODES, "one of " + ", ".join(CLOSURE_MODES)),
    "closure_rounds": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
    "jobs": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
}


def option_problem(key: str, value: object) -> str | None:
    """What the sweep option ``key`` must be, when ``value`` is not that.

    >>> option_problem("seed", -1), option_problem("seed", 3)
    ('a non-negative int', None)
    """
    test, expected = SWEEP_OPTIONS[key]
    return None if test(value) else expected


def _check_sweep_options(options: dict, where: str) -> None:
    for key in SWEEP_OPTIONS:
        if key in options and (problem := option_problem(key, options[key])) is not None:
            raise InputError(f"{where}: [sweep].{key} must be {problem}, not "
                             f"{options[key]!r}.")


def _tables(value: object, key: str, where: str) -> list:
    if not isinstance(value, list):
        raise InputError(f"{where}: {key!r} must be an array of tables ([[{key}]]), "
                         f"not {value!r}.")
    return value


def _table(value: object, name: str, keys: set[str], where: str) -> dict:
    if not isinstance(value, dict):
        raise InputError(f"{where}: {name} must be a table, not {value!r}.")
    extra = set(value) - keys
    if extra:
        raise InputError(f"{where}: unknown key {sorted(extra)[0]!r} in {name} (expected one "
                         f"of {', '.join(sorted(keys))}).")
    return value


def _phi_cases(block: dict, i: int, where: str, default_degree) -> list[Case]:
    name, phi, names = block.get("name"), block.get("phi"), block.get("vars")
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(f"{where}: phi[{i}].name must be a short name of letters, digits and "
                         f"_.+- such as 'uv', not {name!r}.")
    if (not isinstance(phi, list) or not phi
            or not all(isinstance(p, str) and p.strip() for p in phi)):
        raise InputError(f"{where}: phi[{i}].phi must be a non-empty list of polynomials as "
                         f"strings, not {phi!r}.")
    if names is not None and (not isinstance(names, list)
                              or not all(isinstance(n, str) and n for n in names)):
        raise InputError(f"{where}: phi[{i}].vars must be a list of names, not {names!r}.")
    degree = block.get("degree", default_degree)
    return [Case(phi=tuple(phi), variables=None if names is None else tuple(names), name=name,
                 degree=k) for k in degrees(degree, f"{where}: phi[{i}].degree")]


def spec_cases(specs: Sequence[object], degree: object, where: str = "--spec",
               degree_where: str = "--degree") -> list[Case]:
    """One case per SPEC string and law-search degree (``where`` and
    ``degree_where`` name the arguments in error messages).

    >>> [c.id for c in spec_cases(["product:3"], "1..2")]
    ['product_3_deg1', 'product_3_deg2']
    """
    ks = degrees(degree, degree_where)
    return [Case(spec=spec_string(s, where), degree=k) for s in specs for k in ks]


def spec_string(spec: object, where: str) -> str:
    """Check the form of a SPEC string without building the model.

    >>> spec_string(" relu:2, 3,2", "--spec")
    'relu:2,3,2'
    >>> spec_string("net:Linear(2,3),ReLU,Linear(3,1)", "--spec")
    'relu:2,3,1'
    >>> spec_string("net:Linear(2, 3, bias), Linear(3, 1)", "--spec")
    'net:Linear(2,3,bias),Linear(3,1)'
    """
    from ..kernel.errors import clip_text, show_value
    from ..limits import check_spec_text
    ok = isinstance(spec, str) and ":" in spec
    if ok:
        check_spec_text(spec, where)
        family, _, body = spec.strip().partition(":")
        if family == "net":  # the short name when there is one, as the model is named
            return _program(body, spec, where).name
        parts = [p.strip() for p in body.split(",")]
        from ..kernel.blocks import MAX_LAYERS
        from ..models.specs import FAMILIES
        ok = ((family in FAMILY_NAMES or family in FAMILIES)
              and all(p.isascii() and p.isdigit() and int(p) >= 1 for p in parts)
              and (len(parts) == 1 if family == "product" else 2 <= len(parts) <= MAX_LAYERS + 1))
    if not ok:
        shown = repr(clip_text(spec)) if isinstance(spec, str) else show_value(spec)
        raise InputError(f"Argument {where!r} must be a SPEC such as linear:2,3,2, relu:3,4,5, "
                         f"relu-bias:2,3,3,2, product:4 or net:Linear(3,4),ReLU,Linear(4,2) "
                         f"(of at most {MAX_LAYERS:,} layers), not {shown}.")
    return f"{family}:" + ",".join(str(int(p)) for p in parts)


def _layer_id(layer) -> str:
    """A layer in a file name: ``relu``, ``linear2-3-bias``, or its spec with
    every run of other characters a dash (``residual-linear2-3-relu-linear3-2``).

    >>> from exactcl.layers.program import Conv1d
    >>> _layer_id(Conv1d(1, 2, 3, length=8))
    'conv1d-1-2-3-length-8'
    """
    from ..layers.program import Linear
    if layer.spec() == "ReLU":
        return "relu"
    if isinstance(layer, Linear):
        return f"linear{layer.in_features}-{layer.out_features}{'-bias' * layer.bias}"
    return re.sub(r"[^0-9a-z]+", "-", layer.spec().lower()).strip("-")


def _program(body: str, spec: str, where: str = "spec"):
    """The program of a ``net:`` spec (no model is built)."""
    from ..layers.program import parse_net
    return parse_net(body, spec, where)
