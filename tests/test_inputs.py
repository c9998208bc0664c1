"""Bad input, through the command line and through the Python API.

Every bad input must be refused with exactcl's one template: a one-line
message naming the argument (or the place) and what came. On the command
line that is one line ``exactcl: error: ...`` on stderr, nothing on stdout,
exit status 2 and no traceback; in Python it is an
:class:`exactcl.InputError`, which is also a :class:`ValueError`.

Tests assert on the important parts of the messages (the argument's name,
the value that came, the suggested exact form), never on whole strings.
Behaviour found wrong is written as it should be and marked
``xfail(strict=True)`` with the reason.
"""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import pytest
import sympy

import exactcl
from exactcl.interfaces.cli import main
from exactcl.kernel.rings import Ring

# --------------------------------------------------------------------------- helpers


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        rc = main(list(argv))
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return rc, out, err


def assert_cli_refuses(capsys, argv, fragments):
    rc, out, err = run(capsys, *argv)
    assert "Traceback" not in out + err
    assert rc == 2, (rc, out, err)
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n"), err  # exactly one line
    assert err.startswith("exactcl") and "error:" in err, err
    for frag in fragments:
        assert frag in err, f"{frag!r} not in {err!r}"


def xfail(reason: str):
    return pytest.mark.xfail(strict=True, reason=reason)


# --------------------------------------------------------------------------- CLI

SPEC_NAME = "'SPEC'"

# (argv, fragments the one-line message must contain)
CLI_BAD = [
    # phi that is not a polynomial with rational coefficients
    pytest.param(["count", "--phi", "1/u"], ["phi", "not polynomial", "1/u"], id="phi=1/u"),
    pytest.param(["count", "--phi", "u**-1"], ["phi", "not polynomial", "1/u"], id="phi=u**-1"),
    pytest.param(["count", "--phi", "exp(u)"], ["phi", "not polynomial", "exp(u)"],
                 id="phi=exp(u)"),
    pytest.param(["count", "--phi", "u**(1/2)"], ["phi", "not polynomial", "sqrt(u)"],
                 id="phi=u**(1/2)"),
    pytest.param(["count", "--phi", "u**v"], ["phi", "not polynomial", "u**v"], id="phi=u**v"),
    pytest.param(["count", "--phi", "sqrt(2)*u"], ["phi", "not rational", "sqrt(2)*u"],
                 id="phi=sqrt(2)*u"),
    pytest.param(["count", "--phi", "0.1*u"], ["phi", "floating-point", "0.1*u", "1/10"],
                 id="phi=0.1*u"),
    pytest.param(["count", "--phi", "u**2.0"], ["phi", "floating-point"], id="phi=u**2.0"),
    pytest.param(["count", "--phi", "u/0"], ["phi", "not rational"], id="phi=u/0"),
    pytest.param(["laws", "--phi", "0.5*u*v", "--degree", "2"], ["phi", "floating-point"],
                 id="laws-phi=0.5*u*v"),
    # the second component is named, not the first
    pytest.param(["count", "--phi", "u*v", "--phi", "1/v"], ["Component 2 of phi", "1/v"],
                 id="phi-component-2"),
    # symbols outside --vars
    pytest.param(["count", "--phi", "u*w", "--vars", "u,v"], ["phi", "w", "(u, v)"],
                 id="undeclared-w"),
    pytest.param(["count", "--phi", "u*v", "--vars", "u"], ["phi", "v", "(u)"],
                 id="undeclared-v"),
    # constant phi
    pytest.param(["count", "--phi", "3"], ["phi"], id="phi=3"),
    # malformed SPEC
    pytest.param(["count", "linear:"], [SPEC_NAME, "'linear:'"], id="spec=linear:"),
    pytest.param(["count", "linear:0,3"], [SPEC_NAME, "'linear:0,3'", "positive"],
                 id="spec=linear:0,3"),
    pytest.param(["count", "linear:a,b"], [SPEC_NAME, "'linear:a,b'"], id="spec=linear:a,b"),
    pytest.param(["count", "linear:3"], [SPEC_NAME, "'linear:3'"], id="spec=linear:3"),
    pytest.param(["count", "linear:2,-2"], [SPEC_NAME, "'linear:2,-2'"], id="spec=linear:2,-2"),
    pytest.param(["count", "conv:3"], [SPEC_NAME, "'conv:3'", "linear:"], id="spec=conv:3"),
    pytest.param(["count", "linear"], [SPEC_NAME, "'linear'"], id="spec=linear"),
    pytest.param(["count", " "], [SPEC_NAME, "' '"], id="spec=blank"),
    pytest.param(["count", "product:0"], [SPEC_NAME, "'product:0'"], id="spec=product:0"),
    pytest.param(["count", "product:2,3"], [SPEC_NAME, "'product:2,3'"], id="spec=product:2,3"),
    pytest.param(["count", "relu:4"], [SPEC_NAME, "'relu:4'"], id="spec=relu:4"),
    pytest.param(["count", "relu-bias:2,x,2"], [SPEC_NAME, "'relu-bias:2,x,2'"],
                 id="spec=relu-bias:2,x,2"),
    pytest.param(["laws", "linear:0,3", "--degree", "2"], [SPEC_NAME, "'linear:0,3'"],
                 id="laws-spec=linear:0,3"),
    # degree
    pytest.param(["count", "linear:2,2", "--degree", "-1"], ["'--degree'", "-1"],
                 id="count-degree=-1"),
    pytest.param(["laws", "linear:2,2", "--degree", "-1"], ["'--degree'", "-1"],
                 id="laws-degree=-1"),
    pytest.param(["laws", "linear:2,2", "--degree", "1.5"], ["--degree", "'1.5'"],
                 id="laws-degree=1.5"),
    pytest.param(["count", "linear:2,2", "--degree", "abc"], ["--degree", "'abc'"],
                 id="count-degree=abc"),
    pytest.param(["laws", "linear:2,2"], ["--degree"], id="laws-degree-missing"),
    # empty or unparsable phi
    pytest.param(["count", "--phi", ""], ["'--phi'", "''"], id="phi-empty"),
    pytest.param(["count", "--phi", "u", "--phi", ""], ["'--phi'", "''"], id="phi-second-empty"),
    pytest.param(["count", "--phi", "u*(v"], ["'--phi'", "'u*(v'"], id="phi=u*(v"),
    pytest.param(["count", "--phi", "u=1"], ["'--phi'", "'u=1'"], id="phi=u=1"),
    pytest.param(["count", "--phi", "u<v"], ["'--phi'", "'u<v'"], id="phi=u<v"),
    pytest.param(["count", "--phi", "u,v"], ["'--phi'", "'u,v'"], id="phi=u,v"),
    pytest.param(["count", "--phi", "[u]"], ["'--phi'", "'[u]'"], id="phi=[u]"),
    pytest.param(["count", "--phi", '__import__("os")'], ["'--phi'", "__import__"],
                 id="phi=__import__"),
    # SPEC and --phi, --vars without --phi
    pytest.param(["count", "linear:2,2", "--phi", "u*v"], ["SPEC", "--phi", "'linear:2,2'"],
                 id="spec-and-phi"),
    pytest.param(["laws", "product:2", "--phi", "u*v", "--degree", "2"],
                 ["SPEC", "--phi", "'product:2'"], id="laws-spec-and-phi"),
    pytest.param(["count", "linear:2,2", "--vars", "u,v"], ["'--vars'", "--phi"],
                 id="vars-with-spec"),
    pytest.param(["count", "--vars", "u,v"], ["'--vars'", "--phi"], id="vars-alone"),
    pytest.param(["laws", "--degree", "2"], [SPEC_NAME, "--phi"], id="laws-no-model"),
    # malformed --vars
    pytest.param(["count", "--phi", "u*v", "--vars", "u,,v"], ["'--vars'", "'u,,v'"],
                 id="vars=u,,v"),
    pytest.param(["count", "--phi", "u*v", "--vars", "u,v,"], ["'--vars'", "'u,v,'"],
                 id="vars=u,v,"),
    pytest.param(["count", "--phi", "u", "--vars", " "], ["'--vars'", "' '"], id="vars=blank"),
    pytest.param(["count", "--phi", "u", "--vars", "u,1v"], ["'--vars'", "'1v'"],
                 id="vars=u,1v"),
    pytest.param(["count", "--phi", "u", "--vars", "u,v-w"], ["'--vars'", "'v-w'"],
                 id="vars=u,v-w"),
    pytest.param(["count", "--phi", "u*v", "--vars", "u,v,u"], ["'--vars'", "distinct"],
                 id="vars-repeated"),
    # options
    pytest.param(["count", "linear:2,2", "--bogus"], ["--bogus"], id="unknown-option"),
    pytest.param(["count", "linear:2,2", "--seed", "x"], ["--seed", "'x'"], id="seed=x"),
    pytest.param(["count", "linear:2,2", "--closure-rounds", "0"], ["--closure-rounds", "0"],
                 id="closure-rounds=0"),
    # Python syntax that parse() evaluates instead of refusing
    pytest.param(["count", "--phi", "u if v else w"], ["'--phi'", "'u if v else w'"],
                 id="phi=u-if-v-else-w"),
    pytest.param(["count", "--phi", "u and v"], ["'--phi'", "'u and v'"], id="phi=u-and-v"),
    pytest.param(["count", "--phi", "(u, v)[0]"], ["'--phi'", "'(u, v)[0]'"],
                 id="phi=tuple-index"),
]


@pytest.mark.parametrize("argv, fragments", CLI_BAD)
def test_cli_refuses(capsys, argv, fragments):
    assert_cli_refuses(capsys, argv, fragments)


def test_cli_refusal_does_not_print_the_default_note(capsys):
    # a bad --degree with no SPEC is refused before the default model is announced
    assert_cli_refuses(capsys, ["count", "--degree", "-2"], ["'--degree'", "-2"])


def _limit_memory():  # pragma: no cover - runs in the child
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    resource.setrlimit(resource.RLIMIT_CPU, (30, 30))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs RLIMIT_AS")
@pytest.mark.parametrize("argv, fragments", [
    pytest.param(["count", "product:100000000"], ["SPEC", "100000000"], id="spec=product:10^8"),
    pytest.param(["count", "--phi", "u**(2**62)*v"], ["phi", "u"], id="phi-huge-exponent"),
])
def test_cli_refuses_oversized_input_quickly(argv, fragments):
    """A request far too large is refused up front (ResourceError, exit 2),
    not attempted; the child runs with 1 GiB of address space and 30 s of
    CPU (it needs well under one: a limit, not a measurement)."""
    proc = subprocess.run([sys.executable, "-m", "exactcl", *argv], capture_output=True,
                          text=True, check=False, timeout=600, preexec_fn=_limit_memory)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1
    for frag in fragments:
        assert frag in proc.stderr


def test_cli_bad_input_through_a_real_interpreter():
    proc = subprocess.run([sys.executable, "-m", "exactcl", "count", "--phi", "exp(u)"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert "phi" in proc.stderr and "exp(u)" in proc.stderr


# --------------------------------------------------------------------------- Python API

u, v, x, y = sympy.symbols("u v x y")


def _m():
    return exactcl.product(2)


# (call, fragments the message must contain)
API_BAD = [
    # models
    pytest.param(lambda: exactcl.linear([2, 0]), ["'widths'", "[2, 0]"], id="linear([2,0])"),
    pytest.param(lambda: exactcl.linear("2,2"), ["'widths'", "'2,2'"], id="linear('2,2')"),
    pytest.param(lambda: exactcl.linear([2]), ["'widths'", "[2]"], id="linear([2])"),
    pytest.param(lambda: exactcl.linear([True, 2]), ["'widths'", "True"], id="linear([True,2])"),
    pytest.param(lambda: exactcl.linear([2.0, 2]), ["'widths'", "2.0"], id="linear([2.0,2])"),
    pytest.param(lambda: exactcl.linear(None), ["'widths'", "None"], id="linear(None)"),
    pytest.param(lambda: exactcl.relu([2, 2], bias="yes"), ["'bias'", "'yes'"],
                 id="relu(bias='yes')"),
    pytest.param(lambda: exactcl.relu([2, 0]), ["'widths'", "[2, 0]"], id="relu([2,0])"),
    pytest.param(lambda: exactcl.product(0), ["'D'", "0"], id="product(0)"),
    pytest.param(lambda: exactcl.product("3"), ["'D'", "'3'"], id="product('3')"),
    pytest.param(lambda: exactcl.product(True), ["'D'", "True"], id="product(True)"),
    pytest.param(lambda: exactcl.models.specs.parse_spec("conv:3"), ["'SPEC'", "'conv:3'"],
                 id="parse_spec('conv:3')"),
    pytest.param(lambda: exactcl.models.specs.parse_spec(3), ["'SPEC'", "3"], id="parse_spec(3)"),
    # from_phi
    pytest.param(lambda: exactcl.from_phi([]), ["'phi'", "[]"], id="from_phi([])"),
    pytest.param(lambda: exactcl.from_phi(["1/u"]), ["Component 1 of phi", "1/u"],
                 id="from_phi(['1/u'])"),
    pytest.param(lambda: exactcl.from_phi([0.5 * u]),
                 ["Component 1 of phi", "floating-point", "0.5"], id="from_phi([0.5*u])"),
    pytest.param(lambda: exactcl.from_phi([u * v, 0.5]),
                 ["Component 2 of phi", "float", "0.5", "1/10"], id="from_phi([u*v,0.5])"),
    pytest.param(lambda: exactcl.from_phi([sympy.sqrt(2) * u]),
                 ["Component 1 of phi", "not rational", "sqrt(2)"], id="from_phi([sqrt(2)*u])"),
    pytest.param(lambda: exactcl.from_phi([sympy.pi * u]),
                 ["Component 1 of phi", "not rational", "pi"], id="from_phi([pi*u])"),
    pytest.param(lambda: exactcl.from_phi([sympy.exp(u)]),
                 ["Component 1 of phi", "not polynomial", "exp(u)"], id="from_phi([exp(u)])"),
    pytest.param(lambda: exactcl.from_phi([u * v], [u]),
                 ["Component 1 of phi", "v", "(u)"], id="from_phi-undeclared"),
    pytest.param(lambda: exactcl.from_phi([u * v], [u, u]), ["'symbols'", "distinct"],
                 id="from_phi-repeated-symbol"),
    pytest.param(lambda: exactcl.from_phi([u * v], [u, 3]), ["'symbols'", "3"],
                 id="from_phi-symbol-3"),
    pytest.param(lambda: exactcl.from_phi([sympy.Integer(3)], [u]),
                 ["Component 1 of phi", "constant"], id="from_phi-constant"),
    pytest.param(lambda: exactcl.from_phi([sympy.Eq(u, 1)]), ["Component 1 of phi", "Eq"],
                 id="from_phi-Eq"),
    pytest.param(lambda: exactcl.from_phi(["u*(v"]), ["phi", "'u*(v'"], id="from_phi-unparsable"),
    pytest.param(lambda: exactcl.from_phi(None), ["'phi'", "None"], id="from_phi(None)"),
    # from_fields
    pytest.param(lambda: exactcl.from_fields([[y]], [x, y]), ["Field 1", "2 components", "1"],
                 id="from_fields-wrong-length"),
    pytest.param(lambda: exactcl.from_fields([], [x, y]), ["'fields'", "[]"],
                 id="from_fields([])"),
    pytest.param(lambda: exactcl.from_fields([[0, 0]], [x, y]), ["Field 1", "zero"],
                 id="from_fields-zero-field"),
    pytest.param(lambda: exactcl.from_fields([[1 / x, y]], [x, y]),
                 ["Component 1 of field 1", "not polynomial", "1/x"], id="from_fields-1/x"),
    # count / laws
    pytest.param(lambda: exactcl.count("linear:2,2"), ["'model'", "'linear:2,2'"],
                 id="count('linear:2,2')"),
    pytest.param(lambda: exactcl.count(_m(), closure_rounds=0), ["'closure_rounds'", "0"],
                 id="count(closure_rounds=0)"),
    pytest.param(lambda: exactcl.count(_m(), closure_rounds=1.5), ["'closure_rounds'", "1.5"],
                 id="count(closure_rounds=1.5)"),
    pytest.param(lambda: exactcl.count(_m(), search_degree=-1), ["'search_degree'", "-1"],
                 id="count(search_degree=-1)"),
    pytest.param(lambda: exactcl.laws(_m(), -1), ["'degree'", "-1"], id="laws(m,-1)"),
    pytest.param(lambda: exactcl.laws(_m(), 1.5), ["'degree'", "1.5"], id="laws(m,1.5)"),
    pytest.param(lambda: exactcl.laws(_m(), True), ["'degree'", "True"], id="laws(m,True)"),
    pytest.param(lambda: exactcl.laws("product:2", 2), ["'model'", "'product:2'"],
                 id="laws('product:2')"),
    # rationals
    pytest.param(lambda: exactcl.kernel.rings.to_rational(0.1),
                 ["'value'", "0.1", "Fraction(1, 10)", '"1/10"'], id="to_rational(0.1)"),
    pytest.param(lambda: exactcl.kernel.rings.to_rational(0.3, "coefficient"),
                 ["'coefficient'", "0.3", "Fraction(3, 10)", '"3/10"'], id="to_rational(0.3)"),
    pytest.param(lambda: exactcl.kernel.rings.to_rational(sympy.Float("0.25")),
                 ["'value'", "Fraction(1, 4)", '"1/4"'], id="to_rational(Float)"),
    pytest.param(lambda: exactcl.kernel.rings.to_rational("abc", "coefficient"),
                 ["'coefficient'", "'abc'"], id="to_rational('abc')"),
    pytest.param(lambda: exactcl.kernel.rings.to_rational(True), ["'value'", "True"],
                 id="to_rational(True)"),
    pytest.param(lambda: exactcl.kernel.rings.to_rational(1e-20),
                 ["'value'", "1e-20", '"1/100000000000000000000"'], id="to_rational(1e-20)"),
    pytest.param(lambda: exactcl.kernel.rings.to_rational(float("nan")), ["'value'", "nan"],
                 id="to_rational(nan)"),
    # rings
    pytest.param(lambda: Ring(("u", "u")), ["'names'", "('u', 'u')"],
                 id="Ring(('u','u'))"),
    pytest.param(lambda: Ring(()), ["'names'", "()"], id="Ring(())"),
    pytest.param(lambda: Ring(("1u",)), ["'names'", "'1u'"], id="Ring(('1u',))"),
    pytest.param(lambda: Ring("uv"), ["'names'", "'uv'"], id="Ring('uv')"),
]


@pytest.mark.parametrize("call, fragments", API_BAD)
def test_api_refuses(call, fragments):
    with pytest.raises(exactcl.InputError) as info:
        call()
    err = info.value
    assert isinstance(err, ValueError)
    assert isinstance(err, exactcl.ExactclError)
    msg = str(err)
    assert "\n" not in msg
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"


def test_input_error_is_a_value_error():
    assert issubclass(exactcl.InputError, ValueError)
    with pytest.raises(ValueError):
        exactcl.product(0)


def test_to_rational_accepts_the_exact_form_it_suggests():
    with pytest.raises(exactcl.InputError) as info:
        exactcl.kernel.rings.to_rational(0.1)
    assert '"1/10"' in str(info.value)
    assert exactcl.kernel.rings.to_rational("1/10") == Fraction(1, 10)
    assert exactcl.kernel.rings.to_rational(Fraction(1, 10)) == Fraction(1, 10)
    assert exactcl.kernel.rings.to_rational(sympy.Rational(1, 10)) == Fraction(1, 10)


def test_from_phi_accepts_the_exact_form_of_a_refused_float():
    m = exactcl.from_phi([sympy.Rational(1, 2) * u * v**2])
    assert exactcl.count(m).laws == 1
    m = exactcl.from_phi(["1/2*u*v**2"])
    assert exactcl.count(m).laws == 1


def test_translated_errors_keep_their_cause():
    # SymPy's parse error is translated at the edge with `raise ... from err`
    with pytest.raises(exactcl.InputError) as info:
        exactcl.models.symbolic.parse("u*(v", "--phi")
    assert info.value.__cause__ is not None


# ----------------------------------------------------- requests refused before work


def _forbid(monkeypatch, target: str, name: str) -> None:
    """Make ``target.name`` fail the test if it is ever called."""
    def called(*args, **kwargs):
        raise AssertionError(f"{target}.{name} was called: the work started before the check")
    monkeypatch.setattr(target + "." + name, called)


def test_law_search_too_large_is_refused_before_the_model_and_the_grading(monkeypatch, capsys):
    """linear:32,32,32 has D = 2048: a degree-2 search has 2,100,224 unknowns,
    over MAX_MONOMIALS; neither the model nor the grading is ever built."""
    from exactcl.interfaces.cli import main
    _forbid(monkeypatch, "exactcl.engine.search", "_grading")
    _forbid(monkeypatch, "exactcl.models.specs", "parse_spec")
    for argv in (["laws", "linear:32,32,32", "--degree", "2"],
                 ["count", "linear:32,32,32", "--degree", "2"],
                 ["certify", "linear:32,32,32", "--degree", "2", "-o", "/tmp/unused.json"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "2,100,224 candidate monomials" in err and err.count("\n") == 1, err


def test_law_search_size_is_checked_before_the_grading_in_python(monkeypatch):
    from exactcl.errors import ResourceError
    from exactcl.models.builtin import linear
    m = linear([8, 8, 8])  # D = 128: degree 4 has 11,716,640 unknowns
    _forbid(monkeypatch, "exactcl.engine.search", "_grading")
    _forbid(monkeypatch, "exactcl.engine.search", "_sparse_terms")
    with pytest.raises(ResourceError, match="unknown coefficients"):
        exactcl.find_laws(m.generators, 4)
    with pytest.raises(ResourceError, match="unknown coefficients"):
        exactcl.count(m, search_degree=4)


@pytest.mark.parametrize("spec, max_memory, estimate", [
    ("relu:64,64,64", "1G", "2.1 GB"),
    ("linear:64,64,64", "2G", "7.6 GB"),
    ("relu:16,16,16", "10M", "135.3 MB"),  # 4,096 paths: expanded, refused before it is built
])
def test_a_program_count_beyond_the_memory_limit_is_refused_before_any_evaluation(
        monkeypatch, capsys, spec, max_memory, estimate):
    """Large networks are counted on their program (never expanded); the
    estimate of that count is checked before any field is evaluated."""
    from exactcl.interfaces.cli import main
    _forbid(monkeypatch, "exactcl.engine.evaluation", "program_growth")
    _forbid(monkeypatch, "exactcl.engine.evaluation", "check_laws")
    assert main(["count", spec, "--max-memory", max_memory]) == 2
    err = capsys.readouterr().err
    assert f"needs an estimated {estimate} of memory" in err, err
    assert "(max_memory)" in err and "--max-memory" in err and err.count("\n") == 1


def test_an_expansion_beyond_the_memory_limit_is_refused_before_it_is_built(monkeypatch):
    """The expanded fields of relu:64,64,64 (17.5 GB) exceed half of a 24 GB
    machine: asking for them is refused before any is built."""
    from exactcl import limits
    from exactcl.errors import ResourceError
    monkeypatch.setattr(limits, "_meminfo", lambda: {"MemTotal": 24 * 2**30,
                                                     "MemAvailable": 22 * 2**30})
    m = exactcl.relu([64, 64, 64])  # the program and its candidate laws only
    _forbid(monkeypatch, "exactcl.models.builtin", "VectorField")
    with pytest.raises(ResourceError, match=r"17\.5 GB of memory .* the limit is 12\.0 GB"):
        _ = m.generators
    with pytest.raises(ResourceError, match=r"17\.5 GB of memory"):
        exactcl.count(m, engine="expanded")


def test_a_count_beyond_the_memory_limit_is_refused_before_the_growth(monkeypatch):
    from exactcl.errors import ResourceError
    from exactcl.models.builtin import linear
    m = linear([4, 4, 4])
    _forbid(monkeypatch, "exactcl.engine.counting", "grow")
    _forbid(monkeypatch, "exactcl.engine.counting", "verify_law")
    with pytest.raises(ResourceError, match="count of linear:4,4,4 needs an estimated"):
        exactcl.count(m, max_memory="1M")
    with pytest.raises(exactcl.InputError, match="'max_memory'"):
        exactcl.count(m, max_memory="a lot")


@pytest.mark.parametrize("value", ["lots", "", "-5G", "0", "1.5Q", True, 0, -3, 2.5])
def test_max_memory_must_be_a_size(value):
    from exactcl.limits import parse_size
    with pytest.raises(exactcl.InputError, match="Argument 'max_memory' must be a size"):
        parse_size(value, "max_memory")
