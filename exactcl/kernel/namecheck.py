"""Built-in model names, checked: is the model in a file the one its name says?

A certificate names its model (``model.name``), and a reader takes the
name for the model. For the names of the built-in specs (``linear:W0,...``,
``relu:W0,...``, ``relu-bias:W0,...``, ``product:D``, as
:mod:`exactcl.models.specs` writes them) :func:`check_name` rebuilds phi from the
name and requires the model section to be that model: the same variables
in the same order, and the same components of phi as exact polynomials
over Q. Any other name is custom and nothing can check it; the verifier
says so. That includes ``net:`` names (a program of layers that no short
name gives, :mod:`exactcl.layers.program`): they are not rebuilt here, so they
are reported unchecked like a ``--phi`` model's name.

A network in a version-2 file is stored as its program of layers; then the
check builds the layer list the name stands for (``linear:`` no
activation, ``relu:`` a ReLU after every hidden layer, ``relu-bias:`` and
a bias on every hidden layer, as :func:`exactcl.layers.program.from_family`
writes them, rebuilt here from that definition) and requires the file's
program to be that list; the variables are the program's parameters
(the file format checks it).

The order of phi's components is not compared: the components define the
set of generators grad phi_i, on which the Lie algebra, the laws and the
count depend, so the components are compared as a multiset (a component
repeated must be repeated in the file too).

This module belongs to the verifier's trusted base. It imports only the
file format layer and rebuilds phi from the definitions (background.md),
independently of :mod:`exactcl.models.builtin`, which built the certificate:

* deep linear ``[n_0, ..., n_L]``: parameters ``W{l}_{i}_{j}`` (layer l,
  row i < n_l, column j < n_{l-1}), layer by layer, row by row; phi is the
  matrix product W_L ... W_1, entry (i, j) at index i n_0 + j, the sum over
  the paths j -> k_1 -> ... -> k_{L-1} -> i of the products of weights;
* ReLU through its path-lifting: the same parameters, then with biases
  ``b{l}_{i}`` for each hidden layer l and neuron i; one component per
  path input -> one neuron per hidden layer -> output (the product of its
  weights) and, with biases, one per path from a hidden neuron's bias to
  the output (the bias times the weights after it);
* ``product:D``: parameters ``t1 ... tD`` and phi = t1 t2 ... tD.

Before building, the size of the model named (parameters, components and
terms of phi) is computed from the widths and compared with the limits of
the file format (a name too large for any readable file is refused,
unreadable) and then with the file's (a model of another size fails the
check without being built), so the work is bounded by the size of the file.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from fractions import Fraction

from .errors import CertificateFormatError
from .layers import NAME_HEADS, RULES
from .reading import MAX_ITEMS, MAX_PROGRAM_VARIABLES, MAX_TERMS, checked

__all__ = ["FAMILIES", "check_name", "check_net_name", "family_layers", "is_builtin_name",
           "named_model", "parse_name"]

#: The built-in families, as ``model.name`` writes them before the colon.
FAMILIES = ("linear", "relu", "relu-bias", "product", "nmf", "icnn", "icnn-bias")
_FAMILY = re.compile(r"(linear|relu-bias|relu|product|nmf|icnn-bias|icnn):(.*)", re.S)
#: Families with three sizes, and the network an ICNN is (its metric is its flow's).
_THREE = ("nmf", "icnn", "icnn-bias")
_NETWORK = {"icnn": "relu", "icnn-bias": "relu-bias"}
#: The families whose models have a flow of their own: ``NAME under gradient``
#: names such a model under the Euclidean flow, with no flow section.
_OWN_FLOW = ("nmf", "icnn", "icnn-bias")
_WIDTHS = re.compile(r"[1-9][0-9]*(,[1-9][0-9]*)*")
#: Widths with more digits give a model beyond MAX_PROGRAM_VARIABLES whatever the others.
_MAX_WIDTH_DIGITS = 9

Term = tuple[tuple[tuple[int, int], ...], Fraction]
Poly = tuple[Term, ...]


def is_builtin_name(name: str) -> bool:
    """Whether ``name`` claims a built-in model: it starts with a family and a
    colon (``linear:``, ``relu:``, ``relu-bias:``, ``product:``, ``nmf:``,
    ``icnn:``, ``icnn-bias:``) or is a program of layers (``net:``).

    >>> is_builtin_name("linear:2,2,2"), is_builtin_name("linear: 2,2"), is_builtin_name("uv")
    (True, True, False)
    """
    # "linear:2,2,2 under momentum tau=1" names the fields of a flow, not the built-in
    return isinstance(name, str) and " under " not in name and (
        _FAMILY.fullmatch(name) is not None or name.startswith("net:"))


def parse_name(name: str) -> tuple[str, tuple[int, ...]] | None:
    """(family, widths) of a built-in name in the form :mod:`exactcl.models.specs`
    writes (``linear:2,3,2``; ``product:4`` gives ``("product", (4,))``), or
    None when the name claims a built-in family but is not a spec of it.

    Raises CertificateFormatError when the widths name a model larger than
    any readable file holds.

    >>> parse_name("relu-bias:2,3,2"), parse_name("linear:02,2"), parse_name("product:2,2")
    (('relu-bias', (2, 3, 2)), None, None)
    """
    match = _FAMILY.fullmatch(name)
    if match is None or not _WIDTHS.fullmatch(match.group(2)):
        return None
    family, parts = match.group(1), match.group(2).split(",")
    if (family == "product") != (len(parts) == 1) or (family in _THREE and len(parts) != 3):
        return None
    if len(parts) > MAX_PROGRAM_VARIABLES + 1 or any(len(p) > _MAX_WIDTH_DIGITS for p in parts):
        raise _too_large(name, "parameters", f"more than {MAX_PROGRAM_VARIABLES:,}",
                         MAX_PROGRAM_VARIABLES)
    return family, tuple(int(p) for p in parts)


def _too_large(name: str, what: str, value: str, limit: int) -> CertificateFormatError:
    shown = name if len(name) <= 60 else name[:57] + "..."
    return CertificateFormatError(
        f"model.name {shown!r} names a model of {value} {what}; a certificate holds at most "
        f"{limit:,}, so this name cannot be checked against the file.")


def _sizes(family: str, widths: tuple[int, ...]) -> tuple[int, int, int]:
    """(parameters, components of phi, terms of phi) of the model named."""
    if family == "product":
        return widths[0], 1, 1
    if family == "nmf":
        n, m, r = widths
        return (n + m) * r, n * m, n * m * r
    family = _NETWORK.get(family, family)
    L = len(widths) - 1
    weights = sum(widths[k] * widths[k - 1] for k in range(1, L + 1))
    paths = math.prod(widths)
    if family == "linear":
        return weights, widths[0] * widths[-1], paths
    if family == "relu":
        return weights, paths, paths
    from_biases = sum(math.prod(widths[layer:]) for layer in range(1, L))
    return weights + sum(widths[1:-1]), paths + from_biases, paths + from_biases


def _check_limits(name: str, D: int, components: int, terms: int) -> None:
    for what, value, limit in (("parameters", D, MAX_PROGRAM_VARIABLES),
                               ("components of phi", components, MAX_ITEMS),
                               ("terms of phi", terms, MAX_TERMS)):
        if value > limit:
            raise _too_large(name, what, f"{value:,}", limit)


def family_layers(family: str, widths: tuple[int, ...]) -> list[list]:
    """The canonical layer list a network name stands for: a linear layer
    per pair of consecutive widths, a ReLU after every hidden one (not for
    ``linear``) and a bias on every hidden one (``relu-bias``).

    >>> family_layers("relu-bias", (2, 3, 1))
    [['linear', 2, 3, True], ['relu'], ['linear', 3, 1, False]]
    """
    layers: list[list] = []
    L = len(widths) - 1
    for k in range(L):
        hidden = k < L - 1
        layers.append(["linear", widths[k], widths[k + 1], family == "relu-bias" and hidden])
        if family != "linear" and hidden:
            layers.append(["relu"])
    return layers


def _check_program(name: str, family: str, widths: tuple[int, ...], program: list
                   ) -> tuple[bool, str]:
    """A file's program against the layers its name stands for."""
    if family in ("product", "nmf"):
        return False, f"{name} is given by phi; the file's model is a program of layers"
    expected = family_layers(_NETWORK.get(family, family), widths)
    for k, (ours, theirs) in enumerate(zip(expected, program)):
        if ours != theirs:
            return False, (f"layer {k} of {name} is {ours}; the file's model.program[{k}] is "
                           f"{theirs}")
    if len(expected) != len(program):
        return False, (f"{name} has {len(expected)} layers; the file's program has "
                       f"{len(program)}")
    return True, (f"{name}: the layers rebuilt from the name are the program in the file "
                  f"({len(expected)} layers, {len(widths) - 1} linear)")


def named_model(family: str, widths: tuple[int, ...]) -> tuple[list[str], list[Poly]]:
    """The variables and the components of phi of a built-in model, each
    component as its sorted terms ``(((var, exp), ...), coefficient)``.

    >>> names, phi = named_model("linear", (1, 2, 1))
    >>> names
    ['W1_0_0', 'W1_1_0', 'W2_0_0', 'W2_0_1']
    >>> phi   # W2_0_0 W1_0_0 + W2_0_1 W1_1_0
    [((((0, 1), (2, 1)), Fraction(1, 1)), (((1, 1), (3, 1)), Fraction(1, 1)))]
    >>> named_model("relu-bias", (1, 1, 1))[0]
    ['W1_0_0', 'W2_0_0', 'b1_0']
    """
    one = Fraction(1)
    if family == "product":
        D = widths[0]
        everything = tuple((v, 1) for v in range(D))
        return [f"t{i}" for i in range(1, D + 1)], [((everything, one),)]
    if family == "nmf":  # U (n x r) V^T (m x r): U{i}_{k}, then V{j}_{k}
        n, m, r = widths
        names = [f"U{i}_{k}" for i in range(n) for k in range(r)]
        names += [f"V{j}_{k}" for j in range(m) for k in range(r)]
        return names, [tuple(sorted((((i * r + k, 1), (n * r + j * r + k, 1)), one)
                                    for k in range(r)))
                       for i in range(n) for j in range(m)]
    family = _NETWORK.get(family, family)
    L = len(widths) - 1
    names: list[str] = []
    first: dict[int, int] = {}  # layer -> index of its first weight
    for layer in range(1, L + 1):
        first[layer] = len(names)
        names += [f"W{layer}_{i}_{j}" for i in range(widths[layer])
                  for j in range(widths[layer - 1])]

    def w(layer: int, i: int, j: int) -> int:  # the index of W{layer}_{i}_{j}
        return first[layer] + i * widths[layer - 1] + j

    def monomial(variables: list[int]) -> tuple[tuple[int, int], ...]:
        return tuple((v, 1) for v in sorted(variables))

    def path(neurons: tuple[int, ...], start: int) -> list[int]:
        """Weights along neurons[0] (in layer start-1) -> neurons[1] -> ... ."""
        return [w(start + s, neurons[s + 1], neurons[s]) for s in range(len(neurons) - 1)]

    hidden = [range(n) for n in widths[1:-1]]
    phi: list[Poly] = []
    if family == "linear":
        for i in range(widths[-1]):
            for j in range(widths[0]):
                terms = [(monomial(path((j, *ks, i), 1)), one)
                         for ks in itertools.product(*hidden)]
                phi.append(tuple(sorted(terms)))
        return names, phi
    for neurons in itertools.product(*(range(n) for n in widths)):
        phi.append(((monomial(path(neurons, 1)), one),))
    if family == "relu-bias":
        bias: dict[tuple[int, int], int] = {}
        for layer in range(1, L):
            for i in range(widths[layer]):
                bias[layer, i] = len(names)
                names.append(f"b{layer}_{i}")
        for layer in range(1, L):
            for i in range(widths[layer]):
                for rest in itertools.product(*(range(n) for n in widths[layer + 1:])):
                    variables = [bias[layer, i]] + path((i, *rest), layer + 1)
                    phi.append(((monomial(variables), one),))
    return names, phi


# -- net: names ------------------------------------------------------------------------

#: The longest ``net:`` name read, and the deepest nesting of residual blocks.
MAX_NET_NAME = 10_000
MAX_NET_NESTING = 8
def _pieces(body: str) -> list[str] | None:
    """The layers of a spec body split at the commas outside parentheses."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return None
        elif ch == "," and depth == 0:
            out.append(body[start:i])
            start = i + 1
    return out + [body[start:]] if depth == 0 else None


def _net_layers(body: str, depth: int) -> list | None:
    """The layers a ``net:`` body names, as the file format writes them but
    with each convolution's size as named (None when not), or None when the
    body is not in the form exactcl writes names in. Each piece is read by
    the rule of its head (:attr:`~exactcl.kernel.layers.base.LayerRule.heads`)."""
    if depth > MAX_NET_NESTING:
        return None
    pieces = _pieces(body)
    if not pieces:
        return None
    layers: list = []
    for piece in pieces:
        head, paren, rest = piece.partition("(")
        if paren and not rest.endswith(")"):
            return None
        rule = NAME_HEADS.get(head)
        layer = None if rule is None else rule.read_name(
            head, rest[:-1] if paren else None, lambda inner: _net_layers(inner, depth + 1))
        if layer is None:
            return None
        layers.append(layer)
    return layers


def _fill_sizes(layers: list, shape) -> tuple[list, object]:
    """Each convolution's input size from the layers before it (as a program
    fills it in), and the shape after the layers: (channels, size) after a
    convolution, None after a dense layer or at the input."""
    out = []
    for layer in layers:
        layer, shape = RULES[layer[0]].fill_size(layer, shape, _fill_sizes)
        out.append(layer)
    return out, shape


def check_net_name(name: str, model: dict) -> tuple[bool, str]:
    """A ``net:`` name against the program in the file: the name is parsed
    here, independently of the spec parser that made it, into the layers it
    names (each convolution's size filled in from the layers before it) and
    compared layer by layer with ``model.program``.

    >>> check_net_name("net:Linear(2,3,bias),ReLU,Linear(3,1)", {"program": [
    ...     ["linear", 2, 3, True], ["relu"], ["linear", 3, 1, False]]})[0]
    True
    >>> check_net_name("net:Linear(2,3),ReLU,Linear(3,1)", {"program": [
    ...     ["linear", 2, 3, True], ["relu"], ["linear", 3, 1, False]]})[1]
    "layer 0 of net:Linear(2,3),ReLU,Linear(3,1) is ['linear', 2, 3, False]; the file's model.program[0] is ['linear', 2, 3, True]"
    """
    if len(name) > MAX_NET_NAME:
        return False, f"the net: name has {len(name)} characters, more than {MAX_NET_NAME} read"
    layers = _net_layers(name[len("net:"):], 0)
    if layers is None:
        return False, (f"{shown_name(name)} starts like a program of layers but is not one in the "
                       f"form exactcl writes (net:Linear(n_in,n_out[,bias]),ReLU,...)")
    if "program" not in model:
        return False, f"{shown_name(name)} is a program of layers; the file's model is not"
    expected, _ = _fill_sizes(layers, None)
    ok, detail = _same_layers(expected, model["program"], "model.program", shown_name(name))
    if not ok:
        return False, detail
    return True, (f"{shown_name(name)}: the layers parsed from the name are the program in the "
                  f"file ({len(expected)} layers)")


def _same_layers(ours: list, theirs: object, where: str, name: str) -> tuple[bool, str]:
    if not isinstance(theirs, list) or len(ours) != len(theirs):
        count = len(theirs) if isinstance(theirs, list) else "no"
        return False, f"{name} has {len(ours)} layers at {where}; the file has {count}"
    for k, (a, b) in enumerate(zip(ours, theirs)):
        nested = RULES[a[0]].nested
        if (nested is not None and isinstance(b, list) and b and b[0] == a[0]
                and len(b) == nested + 1):
            ok, detail = _same_layers(a[nested], b[nested], f"{where}[{k}][{nested}]", name)
            if not ok:
                return ok, detail
        elif a != b:
            return False, f"layer {k} of {name} is {a}; the file's {where}[{k}] is {b}"
    return True, ""


def shown_name(name: object, limit: int = 80) -> str:
    """A model's name as messages show it: cut to ``limit`` characters."""
    text = str(name)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _file_poly(obj: list, where: str) -> Poly:
    """A polynomial of the file as its sorted terms, like terms summed and zero
    terms dropped (the polynomial :func:`exactcl.kernel.certformat.decode_poly` builds)."""
    terms: dict[tuple[tuple[int, int], ...], Fraction] = {}
    for k, term in enumerate(checked(obj, where, "list")):
        if not isinstance(term, list) or len(term) != 2:
            raise CertificateFormatError(f"{where}, term {k} must be [monomial, coefficient].")
        mono = []
        for ve in checked(term[0], f"{where}, term {k}", "list"):
            if not isinstance(ve, list) or len(ve) != 2:
                raise CertificateFormatError(f"{where}, term {k} must hold [variable, exponent] "
                                             f"pairs.")
            mono.append((checked(ve[0], f"{where}, term {k}, variable", "int"),
                         checked(ve[1], f"{where}, term {k}, exponent", "int")))
        key = tuple(sorted(mono))
        terms[key] = terms.get(key, Fraction(0)) + checked(term[1], f"{where}, term {k}, "
                                                                    f"coefficient", "rational")
    return tuple(sorted((m, c) for m, c in terms.items() if c != 0))


def check_name(model: dict) -> tuple[bool, str]:
    """Whether the model section is the model its name says: (passed, detail).

    A custom name passes, with a detail that says it was not checked.
    Raises CertificateFormatError when the name names a built-in model
    larger than any readable file holds (nothing is built then). A model
    given by its program is compared layer by layer with the program the
    name stands for (:func:`family_layers`).

    Examples
    --------
    >>> section = {"name": "product:2", "variables": ["t1", "t2"],
    ...            "phi": [[[[[0, 1], [1, 1]], "1/1"]]]}
    >>> check_name(section)
    (True, 'product:2: phi rebuilt from the name is the model in the file (2 variables in order, 1 component of phi equal over Q)')
    >>> check_name(dict(section, phi=[[[[[0, 1], [1, 1]], "2/1"]]]))[1]
    "phi[0] of the file is not a component of product:2's phi (rebuilt from the name)"
    >>> net = {"name": "relu:2,3,1", "variables": [f"v{k}" for k in range(9)],
    ...        "program": [["linear", 2, 3, False], ["relu"], ["linear", 3, 1, False]]}
    >>> check_name(net)
    (True, 'relu:2,3,1: the layers rebuilt from the name are the program in the file (3 layers, 2 linear)')
    >>> check_name(dict(net, name="linear:2,3,1"))[1]
    "layer 1 of linear:2,3,1 is ['linear', 3, 1, False]; the file's model.program[1] is ['relu']"
    >>> check_name(dict(section, name="uv"))[1]
    "'uv' is not a built-in spec: unchecked (the claims are about the model in the file, whatever its name says)"
    >>> check_name(dict(section, name="linear:128,128,128,128"))
    Traceback (most recent call last):
    ...
    exactcl.errors.CertificateFormatError: model.name 'linear:128,128,128,128' names a model of 49,152 parameters; a certificate holds at most 40,000, so this name cannot be checked against the file.
    """
    name = model["name"]
    if isinstance(name, str) and name.endswith(" under gradient") and "flow" not in model:
        base = name[:-len(" under gradient")]
        match = _FAMILY.fullmatch(base)
        if match is None or match.group(1) not in _OWN_FLOW:
            return False, (f"{name!r} names a model under the Euclidean flow, which only the "
                           f"models with a flow of their own ({', '.join(_OWN_FLOW)}) are "
                           f"named so")
        ok, detail = check_name(dict(model, name=base))
        return ok, f"{detail}, under the Euclidean flow" if ok else detail
    if isinstance(name, str) and " under " in name and "flow" not in model:
        return False, (f"{name!r} names a model under a flow, but the file holds no flow "
                       f"section")
    if isinstance(name, str) and name.startswith("net:"):
        return check_net_name(name, model)
    if not is_builtin_name(name):
        return True, (f"{name!r} is not a built-in spec: unchecked (the claims are about the "
                      f"model in the file, whatever its name says)")
    spec = parse_name(name)
    if spec is None:
        family = _FAMILY.fullmatch(name).group(1)
        form = "product:D" if family == "product" else f"{family}:W0,W1,..."
        return False, (f"{name!r} starts like a built-in spec but is not one in the form "
                       f"{form} (positive ints, no spaces)")
    family, widths = spec
    D, components, terms = _sizes(family, widths)
    if "program" in model:  # a program's phi is never built: only D must fit a file
        _check_limits(name, D, 0, 0)
    else:
        _check_limits(name, D, components, terms)
    variables = model["variables"]
    if len(variables) != D:
        return False, f"{name} has {D} parameters; the file's model has {len(variables)}"
    if "program" in model:
        return _check_program(name, family, widths, model["program"])
    if "phi" not in model:
        return False, f"{name} is given by phi; the file's model is given by fields"
    phi = model["phi"]
    if len(phi) != components:
        return False, (f"{name} has {components} components of phi; the file's model has "
                       f"{len(phi)}")
    written = sum(len(p) for p in phi if isinstance(p, list))
    if written < terms:  # like terms only merge: fewer terms written, fewer in the file
        return False, f"{name}'s phi has {terms} terms; the file's has {written}"
    names, expected = named_model(family, widths)
    for k, (ours, theirs) in enumerate(zip(names, variables)):
        if ours != theirs:
            return False, (f"variable {k} of {name} is {ours}; the file's model.variables[{k}] "
                           f"is {theirs!r}")
    left = Counter(expected)
    for k, obj in enumerate(phi):
        poly = _file_poly(obj, f"model.phi[{k}]")
        if left[poly] == 0:
            return False, (f"phi[{k}] of the file is not a component of {name}'s phi (rebuilt "
                           f"from the name)")
        left[poly] -= 1
    s = "" if components == 1 else "s"
    return True, (f"{name}: phi rebuilt from the name is the model in the file ({D} variables "
                  f"in order, {components} component{s} of phi equal over Q)")
