"""SymPy at the edge: user expressions in, laws out.

This is the only module that imports SymPy at import time. Everything a
user types (SymPy expressions, or strings parsed without evaluating
anything but SymPy arithmetic) is checked here and turned into exact
python-flint polynomials; errors name the component, what was expected
and what came.
"""

from __future__ import annotations

import ast
import unicodedata
from collections.abc import Iterable, Sequence
from fractions import Fraction

import sympy
from flint import fmpq, fmpq_mpoly
from sympy.parsing.sympy_parser import convert_xor, parse_expr, standard_transformations

from ..kernel.errors import InputError, bad_argument
from ..kernel.fields import VectorField
from ..kernel.rings import Ring, is_variable_name, poly_terms
from .builtin import Model, from_fields, from_polynomials

__all__ = [
    "model_from_fields",
    "model_from_phi",
    "parse",
    "poly_from_sympy",
    "poly_to_string",
    "poly_to_sympy",
    "to_symbols",
]


def _sympy_values() -> dict[str, str]:
    """Names that SymPy's own parser reads as something other than a plain
    symbol and that look like parameters: the ones it gives a value (pi, E,
    I, oo, nan, zoo, EulerGamma, ..., sets, true, false) and its one-letter
    names (S, N, O, Q: the classic SymPy gotchas). Name -> what it means."""
    letters = {"S": "its S (sympify and singletons)", "N": "its N (numerical evaluation)",
               "O": "its O (order terms)", "Q": "its Q (assumptions)"}
    out = {}
    for key in sympy.__all__:
        obj = getattr(sympy, key, None)
        if isinstance(obj, sympy.Expr):
            out[key] = f"the constant {key}"
        elif isinstance(obj, sympy.Basic):
            out[key] = f"its object {key}"
        elif len(key) == 1:
            out[key] = letters.get(key, f"its {key}")
    return out


#: name -> what SymPy reads it as; such a name in a string is a parameter only
#: when it is declared (--vars on the command line, ``symbols`` in Python).
SYMPY_NAMES = _sympy_values()

#: Largest exponent accepted in user input: beyond it SymPy builds dense
#: structures of that length.
MAX_EXPONENT = 1000
#: Largest constant (in decimal digits) a string may compute, e.g. by a power
#: of integers: checked before it is computed (Python itself does not print
#: integers of more than 4300 digits).
MAX_CONSTANT_DIGITS = 4000

_ARITHMETIC = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Constant, ast.Call,
               ast.Load, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.BitXor, ast.USub,
               ast.UAdd)


def _check_arithmetic(text: str, name: str) -> ast.Expression:
    """Refuse anything but arithmetic on names, numbers and function calls
    (no conditionals, comparisons, indexing, attributes, keywords); return
    the syntax tree."""
    expected = "a polynomial expression such as 'u*v**2 - 1/2'"
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        raise bad_argument(name, expected, text) from err
    for node in ast.walk(tree):
        if not isinstance(node, _ARITHMETIC):
            raise bad_argument(name, expected, text)
        if isinstance(node, ast.Call) and (not isinstance(node.func, ast.Name) or node.keywords):
            raise bad_argument(name, expected, text)
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):
            raise bad_argument(name, expected, text)
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            raise bad_argument(name, expected, text)
    return tree


def _piece(text: str, node: ast.AST) -> str:
    piece = ast.get_source_segment(text, node) or ast.unparse(node)
    return piece if len(piece) <= 60 else piece[:57] + "..."


def _check_sizes(tree: ast.Expression, text: str, name: str) -> None:
    """Refuse, before SymPy evaluates anything, a power whose exponent is
    above MAX_EXPONENT (``u**(2**62)``, ``9**9**9``) and a constant of more
    than MAX_CONSTANT_DIGITS digits; exact values of the constant parts are
    computed here within those bounds."""
    limit = 10**MAX_CONSTANT_DIGITS

    def too_big(node: ast.AST, digits: object) -> InputError:
        return InputError(f"Argument {name!r} has the constant {_piece(text, node)!r} of about "
                          f"{digits} digits; constants of more than {MAX_CONSTANT_DIGITS} digits "
                          f"are not supported.")

    def bounded(value: Fraction, node: ast.AST) -> Fraction:
        if abs(value.numerator) >= limit or value.denominator >= limit:
            bits = max(value.numerator.bit_length(), value.denominator.bit_length())
            raise too_big(node, f"{int(bits * 0.30103) + 1:,}")
        return value

    def power(node: ast.BinOp, base: Fraction | None, exp: Fraction | None) -> Fraction | None:
        if exp is None:  # u**v, a float or a call: SymPy decides (not polynomial, a float)
            return None
        if abs(exp) > MAX_EXPONENT:
            raise InputError(f"Argument {name!r} has the power {_piece(text, node)!r} with "
                             f"exponent {exp}; exponents above {MAX_EXPONENT} are not "
                             f"supported.")
        if base is None or exp.denominator != 1 or (base == 0 and exp < 0):
            return None
        bits = max(base.numerator.bit_length(), base.denominator.bit_length()) * abs(int(exp))
        if bits > 3.33 * MAX_CONSTANT_DIGITS + 4:
            raise too_big(node, f"{int(bits * 0.30103):,}")
        return bounded(base ** int(exp), node)

    def value(node: ast.AST) -> Fraction | None:
        if isinstance(node, ast.Constant):
            return bounded(Fraction(node.value), node) if type(node.value) is int else None
        if isinstance(node, ast.UnaryOp):
            v = value(node.operand)
            return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
        if isinstance(node, ast.BinOp):
            a, b = value(node.left), value(node.right)
            if isinstance(node.op, ast.Pow):
                return power(node, a, b)
            if a is None or b is None or (isinstance(node.op, ast.Div) and b == 0):
                return None
            ops = {ast.Add: a.__add__, ast.Sub: a.__sub__, ast.Mult: a.__mul__,
                   ast.Div: a.__truediv__}
            return bounded(ops[type(node.op)](b), node)
        for child in ast.iter_child_nodes(node):  # calls, names: check what is inside
            value(child)
        return None

    try:
        value(tree.body)
    except RecursionError as err:
        raise bad_argument(name, "a polynomial expression such as 'u*v**2 - 1/2'", text) \
            from err


def parse(text: str, name: str = "phi", variables: Iterable[str] = (),
          declare: str = "the variables") -> sympy.Expr:
    """Parse a string into a SymPy expression; every identifier that is not
    called as a function is a plain symbol, and may be any Unicode name such
    as ``θ`` (see :func:`exactcl.kernel.rings.is_variable_name`).

    A name SymPy reads as a constant or one of its objects (``pi``, ``E``,
    ``I``, ``oo``, ``S``, ``N``, ``O``, ``Q``, ...; see
    :data:`SYMPY_NAMES`) is refused unless it is among ``variables`` (then
    it is a plain symbol of that name): silently taking ``pi`` as a
    parameter would change D. ``declare`` says where the user lists
    variables (``--vars`` on the command line).

    >>> parse("θ*x + 1/2")
    x*θ + 1/2
    >>> parse("pi*x*y", "--phi", declare="--vars")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument '--phi' uses 'pi', which SymPy reads as the constant pi, not as a parameter; list it in --vars to make it one.
    >>> parse("pi*x*y", "--phi", variables=["pi", "x", "y"]).free_symbols == set(sympy.symbols("pi x y"))
    True
    >>> parse("u*(v", "--phi")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument '--phi' must be a polynomial expression such as 'u*v**2 - 1/2', not 'u*(v'.
    """
    if not isinstance(text, str):
        raise bad_argument(name, "a string", text)
    tree = _check_arithmetic(text, name)
    # ^ is a power for SymPy (convert_xor), with the precedence of **
    caret_free = text.strip().replace("^", "**")
    _check_sizes(ast.parse(caret_free, mode="eval") if "^" in text else tree, caret_free, name)
    local = {key: sympy.Symbol(key) for key in _symbol_names(tree, text, name, set(variables),
                                                              declare)}
    try:
        expr = parse_expr(text, local_dict=local,
                          transformations=standard_transformations + (convert_xor,),
                          evaluate=True)
    except Exception as err:  # SymPy raises many kinds on malformed input
        raise bad_argument(name, "a polynomial expression such as 'u*v**2 - 1/2'", text) from err
    if not isinstance(expr, sympy.Expr):
        raise bad_argument(name, "a polynomial expression such as 'u*v**2 - 1/2'", text)
    return expr


def _symbol_names(tree: ast.Expression, text: str, name: str, variables: set[str],
                  declare: str) -> list[str]:
    """The names used as symbols (not called), each checked: a variable
    name, and not one SymPy gives a meaning unless it is declared."""
    if unicodedata.normalize("NFKC", text) != text:  # Python would read other names
        raise InputError(f"Argument {name!r} must be written in characters Python reads as "
                         f"they are (NFKC normal form), not {text!r}.")
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    names = sorted({n.id for n in ast.walk(tree)
                    if isinstance(n, ast.Name) and id(n) not in called})
    for key in names:
        if key in variables:
            continue
        if not is_variable_name(key):
            raise InputError(f"Argument {name!r} uses {key!r}, which cannot name a variable "
                             f"(letters, ASCII digits and _, starting with a letter).")
        if key in SYMPY_NAMES:
            raise InputError(f"Argument {name!r} uses {key!r}, which SymPy reads as "
                             f"{SYMPY_NAMES[key]}, not as a parameter; list it in {declare} to "
                             f"make it one.")
    return names


def to_symbols(symbols: Iterable[object], name: str = "symbols") -> tuple[sympy.Symbol, ...]:
    """Normalise a list of symbols or names to SymPy Symbols."""
    out = []
    for s in symbols:
        if isinstance(s, str):
            if not is_variable_name(s.strip()):
                raise bad_argument(name, "variable names such as 'u', 'W1_0_2' or 'θ'", s)
            out.append(sympy.Symbol(s.strip()))
        elif isinstance(s, sympy.Symbol):
            out.append(s)
        else:
            raise bad_argument(name, "SymPy Symbols or names", s)
    if not out:
        raise bad_argument(name, "a non-empty list of variables", list(symbols))
    if len(set(out)) != len(out):
        raise bad_argument(name, "distinct variables", [str(s) for s in out])
    return tuple(out)


def _as_expr(e: object, where: str, variables: Iterable[str] = (),
             declare: str = "symbols") -> sympy.Expr:
    if isinstance(e, str):
        return parse(e, where, variables, declare)
    if isinstance(e, float):
        raise InputError(f"{where} must be exact, not the float {e!r}; write it as a Fraction "
                         f"or a string such as \"1/10\".")
    try:
        expr = sympy.sympify(e, strict=True)
    except (sympy.SympifyError, TypeError) as err:
        raise InputError(f"{where} must be a SymPy expression or a string, not {e!r}.") from err
    if not isinstance(expr, sympy.Expr):
        raise InputError(f"{where} must be a SymPy expression, not {e!r}.")
    return expr


def poly_from_sympy(expr: object, symbols: Sequence[sympy.Symbol], ring: Ring,
                    where: str = "phi") -> fmpq_mpoly:
    """Convert a SymPy expression to an exact polynomial on ``ring``.

    Raises
    ------
    InputError
        If the expression involves other symbols, is not polynomial in
        ``symbols``, or has coefficients that are not rational (floats,
        ``sqrt(2)``, ``pi``).

    Examples
    --------
    >>> u, v = sympy.symbols("u v")
    >>> R = Ring(("u", "v"))
    >>> str(poly_from_sympy(u * v**2 - sympy.Rational(1, 2), (u, v), R))
    'u*v^2 - 1/2'
    >>> poly_from_sympy(1 / u, (u, v), R, "Component 1 of phi")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Component 1 of phi is not polynomial in (u, v): 1/u.
    >>> poly_from_sympy(0.1 * u, (u, v), R, "Component 1 of phi")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Component 1 of phi has a floating-point coefficient in 0.1*u; write exact numbers such as 1/10 (a string, a Fraction or sympy.Rational(1, 10)).
    """
    e = _as_expr(expr, where, [str(s) for s in symbols])
    names = ", ".join(str(s) for s in symbols)
    unknown = sorted(str(s) for s in e.free_symbols - set(symbols))
    if unknown:
        raise InputError(f"{where} uses {', '.join(unknown)}, which is not among the "
                         f"variables ({names}).")
    if e.has(sympy.Float):
        raise InputError(f"{where} has a floating-point coefficient in {e}; write exact numbers "
                         f"such as 1/10 (a string, a Fraction or sympy.Rational(1, 10)).")
    for power in e.atoms(sympy.Pow):
        exponent = power.exp
        if exponent.is_Integer and abs(int(exponent)) > MAX_EXPONENT:
            raise InputError(f"{where} has the exponent {exponent}; exponents above "
                             f"{MAX_EXPONENT} are not supported.")
    if not e.is_polynomial(*symbols):
        raise InputError(f"{where} is not polynomial in ({names}): {e}.")
    try:
        p = sympy.Poly(e, *symbols)
    except sympy.PolynomialError as err:
        raise InputError(f"{where} is not polynomial in ({names}): {e}.") from err
    if p.domain not in (sympy.ZZ, sympy.QQ):
        raise InputError(f"{where} has a coefficient that is not rational in {e} "
                         f"(coefficients must lie in Q).")
    data = {}
    for monom, coeff in p.terms():
        c = sympy.Rational(coeff)
        data[tuple(int(x) for x in monom)] = fmpq(int(c.p), int(c.q))
    return ring.ctx.from_dict(data)


def _fmt_coeff_term(c: Fraction, mono: str, first: bool) -> str:
    sign = "-" if c < 0 else ("" if first else "+")
    a = abs(c)
    if not mono:
        body = str(a)
    elif a == 1:
        body = mono
    else:
        body = f"{a}*{mono}"
    if first:
        return f"{sign}{body}"
    return f" {sign} {body}"


def poly_to_string(h: fmpq_mpoly, ring: Ring) -> str:
    """The polynomial in SymPy syntax, terms in a graded order (largest first).

    >>> R = Ring(("u", "v"))
    >>> u, v = R.gens
    >>> poly_to_string(2 * u**2 - v**2 + u / 3, R)
    '2*u**2 - v**2 + u/3'
    """
    terms = poly_terms(h)
    if not terms:
        return "0"
    terms.sort(key=lambda t: (-sum(e for _, e in t[0]), [(v, -e) for v, e in t[0]]))
    parts = []
    for k, (mono, c) in enumerate(terms):
        mono_s = "*".join(ring.names[v] + (f"**{e}" if e > 1 else "") for v, e in mono)
        if c.denominator != 1 and mono_s and abs(c.numerator) == 1:
            sign = "-" if c < 0 else ("" if k == 0 else "+")
            s = f"{mono_s}/{c.denominator}"
            parts.append(f"{sign}{s}" if k == 0 else f" {sign} {s}")
        else:
            parts.append(_fmt_coeff_term(c, mono_s, k == 0))
    return "".join(parts)


def poly_to_sympy(h: fmpq_mpoly, ring: Ring,
                  symbols: Sequence[sympy.Symbol] | None = None) -> sympy.Expr:
    """The polynomial as a SymPy expression (in the given symbols, or in
    symbols named after the ring's variables)."""
    syms = symbols or [sympy.Symbol(n) for n in ring.names]
    expr = sympy.Integer(0)
    for mono, c in poly_terms(h):
        term = sympy.Rational(c.numerator, c.denominator)
        for v, e in mono:
            term *= syms[v] ** e
        expr += term
    return expr


def _ring_for(symbols: Sequence[sympy.Symbol]) -> Ring:
    return Ring(tuple(str(s) for s in symbols))


def _default_symbols(exprs: Sequence[sympy.Expr]) -> tuple[sympy.Symbol, ...]:
    free = set()
    for e in exprs:
        free |= e.free_symbols
    return tuple(sorted(free, key=lambda s: s.name))


def model_from_phi(phi: Sequence[object], symbols: Sequence[object] | None = None,
                   name: str = "custom") -> Model:
    """A model given by the components of phi (SymPy expressions or strings).

    ``symbols`` fixes the parameters and their order; by default, the free
    symbols sorted by name. In string components, a name SymPy gives a
    meaning (``pi``, ``E``, ``I``, ``S``, ``N``, ``Q``, ...) must be among
    ``symbols`` (see :func:`parse`); as SymPy objects, ``sympy.pi`` is the
    constant and is refused as a coefficient that is not rational.

    Examples
    --------
    >>> u, v1, v2 = sympy.symbols("u v1 v2")
    >>> m = model_from_phi([u * v1, u * v2], [u, v1, v2])
    >>> m.D, len(m.generators)
    (3, 2)
    >>> model_from_phi([], [u])
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'phi' must be a non-empty list of polynomials, not [].
    """
    if isinstance(phi, (str, sympy.Basic)):
        phi = [phi]
    if not isinstance(phi, Iterable):
        raise bad_argument("phi", "a non-empty list of polynomials", phi)
    phi = list(phi)
    if not phi:
        raise bad_argument("phi", "a non-empty list of polynomials", phi)
    given = to_symbols(symbols) if symbols is not None else None
    declared = [str(s) for s in given or ()]
    exprs = [_as_expr(e, f"Component {k + 1} of phi", declared) for k, e in enumerate(phi)]
    syms = given if given is not None else _default_symbols(exprs)
    if not syms:
        raise InputError("phi has no variables: give at least one symbol.")
    ring = _ring_for(syms)
    polys = [poly_from_sympy(e, syms, ring, f"Component {k + 1} of phi")
             for k, e in enumerate(exprs)]
    for k, p in enumerate(polys):
        if p.is_zero() or p.total_degree() < 1:
            raise InputError(f"Component {k + 1} of phi is constant ({exprs[k]}); its gradient "
                             f"is zero.")
    return from_polynomials(ring, polys, name)


def model_from_fields(fields: Sequence[Sequence[object]], symbols: Sequence[object],
                      name: str = "custom") -> Model:
    """A model given directly by polynomial vector fields, each a list of D
    components (SymPy expressions or strings) in the order of ``symbols``.

    >>> x, y = sympy.symbols("x y")
    >>> m = model_from_fields([[y, -x]], [x, y])
    >>> m.generators[0]
    VectorField(x: y, y: -x)
    """
    syms = to_symbols(symbols)
    ring = _ring_for(syms)
    fields = list(fields)
    if not fields:
        raise bad_argument("fields", "a non-empty list of vector fields", fields)
    out = []
    for k, fld in enumerate(fields):
        comps = list(fld) if not isinstance(fld, (str, sympy.Basic)) else [fld]
        if len(comps) != len(syms):
            raise InputError(f"Field {k + 1} must have {len(syms)} components (one per "
                             f"variable), not {len(comps)}.")
        polys = [poly_from_sympy(c, syms, ring, f"Component {j + 1} of field {k + 1}")
                 for j, c in enumerate(comps)]
        X = VectorField.from_components(ring, polys)
        if X.is_zero:
            raise InputError(f"Field {k + 1} is zero.")
        out.append(X)
    return from_fields(ring, out, name)
