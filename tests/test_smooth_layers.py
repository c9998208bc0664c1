"""Smooth activations on the user side (exactcl.layers.smooth): the spec
syntax and its round trip, the kernel's own reading of the names programs
write, bad input refused in one line, the float forward rule against a
50-digit evaluation, counts against laws derived by hand in SymPy, networks
the kernel refuses (ReLU beside tanh, GELU beside softplus) refused with a
clear message, and certificates that verify.

The torch side (readers, output check, drift of the laws under SGD) is in
tests/test_torch_smooth.py."""

from __future__ import annotations

import os

os.environ.setdefault("SYMPY_GROUND_TYPES", "python")  # an independent cross-check

import random  # noqa: E402
from fractions import Fraction  # noqa: E402

import pytest  # noqa: E402
import sympy  # noqa: E402

import exactcl  # noqa: E402
from exactcl import ELU, GELU, Linear, ReLU, Residual, Sigmoid, SiLU, Softplus, Tanh, net  # noqa: E402
from exactcl.certificates.build import certify  # noqa: E402
from exactcl.errors import InputError  # noqa: E402
from exactcl.kernel import certformat  # noqa: E402
from exactcl.kernel.namecheck import check_net_name  # noqa: E402
from exactcl.kernel.verifier import verify_text  # noqa: E402
from exactcl.layers.program import parse_net  # noqa: E402
from exactcl.layers.smooth import _Smooth, short_decimal  # noqa: E402

# -- spec ----------------------------------------------------------------------------------

#: spec as written -> the spec and the canonical smooth layer a program gives back
SPECS = {
    "Linear(4,5,bias),Tanh,Linear(5,3,bias)": ("Tanh", ["tanh"]),
    "Linear(4,5,bias),Sigmoid,Linear(5,3,bias)": ("Sigmoid", ["sigmoid"]),
    "Linear(4,5,bias),silu,Linear(5,3,bias)": ("SiLU", ["silu"]),
    "Linear(4,5,bias),GELU,Linear(5,3,bias)": ("GELU(erf)", ["gelu", "erf"]),
    "Linear(4,5,bias),GELU(none),Linear(5,3,bias)": ("GELU(erf)", ["gelu", "erf"]),
    "Linear(4,5,bias),GELU(erf),Linear(5,3,bias)": ("GELU(erf)", ["gelu", "erf"]),
    "Linear(4,5,bias),GELU(tanh),Linear(5,3,bias)": ("GELU(tanh)", ["gelu", "tanh"]),
    "Linear(4,5,bias),Softplus,Linear(5,3,bias)": ("Softplus(1/1)", ["softplus", "1/1"]),
    "Linear(4,5,bias),Softplus(1/2),Linear(5,3,bias)": ("Softplus(1/2)", ["softplus", "1/2"]),
    "Linear(4,5,bias),Softplus(0.5),Linear(5,3,bias)": ("Softplus(1/2)", ["softplus", "1/2"]),
    "Linear(4,5,bias),Softplus(2),Linear(5,3,bias)": ("Softplus(2/1)", ["softplus", "2/1"]),
    "Linear(4,5,bias),ELU,Linear(5,3,bias)": ("ELU(1/1)", ["elu", "1/1"]),
    "Linear(4,5,bias),ELU(1/2),Linear(5,3,bias)": ("ELU(1/2)", ["elu", "1/2"]),
}


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_a_spec_round_trips_and_the_kernel_reads_its_name_back(spec):
    written, layer = SPECS[spec]
    program = parse_net(spec, "net:" + spec)
    assert program.canonical()[1] == layer
    assert program.spec == f"net:Linear(4,5,bias),{written},Linear(5,3,bias)"
    assert parse_net(program.spec[len("net:"):], program.spec) == program
    # the verifier's own parser of names, independent of the spec parser
    ok, detail = check_net_name(program.spec, {"program": program.canonical()})
    assert ok, detail
    # and it is not fooled by another constant under the same name
    other = [list(x) for x in program.canonical()]
    other[1] = {"tanh": ["sigmoid"], "sigmoid": ["tanh"], "silu": ["tanh"],
                "gelu": ["gelu", "tanh" if layer[-1] == "erf" else "erf"],
                "softplus": ["softplus", "3/1"], "elu": ["elu", "3/1"]}[layer[0]]
    assert not check_net_name(program.spec, {"program": other})[0]


def test_the_defaults_are_torchs():
    program = parse_net("Linear(2,3,bias),GELU,Linear(3,3,bias),Tanh,Linear(3,1)", "net:...")
    assert program.layers[1] == GELU() == GELU("none")
    assert parse_net("Linear(2,3,bias),Softplus,Linear(3,1)", "net:...").layers[1] == Softplus(1)
    assert parse_net("Linear(2,3,bias),ELU,Linear(3,1)", "net:...").layers[1] == ELU(1)
    assert (repr(GELU()), repr(GELU("tanh")), repr(Softplus()), repr(ELU("1/2"))) == (
        "GELU()", "GELU('tanh')", "Softplus()", "ELU('1/2')")


@pytest.mark.parametrize("piece,fragment", [
    ("GELU(foo)", "must be GELU, GELU(erf) or GELU(tanh)"),
    ("GELU(tanh,erf)", "must be GELU, GELU(erf) or GELU(tanh)"),
    ("GELU(approximate=tanh)", "must be GELU, GELU(erf) or GELU(tanh)"),
    ("Softplus(-1)", "must have a positive rational beta such as 1 or 1/2, not '-1'"),
    ("Softplus(0)", "must have a positive rational beta such as 1 or 1/2, not '0'"),
    ("Softplus(beta=2)", "must be Softplus or Softplus(a/b) with one positive rational beta"),
    ("ELU(0.x)", "must have a positive rational alpha such as 1 or 1/2, not '0.x'"),
    ("ELU(-1/2)", "must have a positive rational alpha such as 1 or 1/2, not '-1/2'"),
    ("ELU(1/0)", "must have a positive rational alpha such as 1 or 1/2, not '1/0'"),
    ("ELU(1,2)", "must be ELU or ELU(a/b) with one positive rational alpha"),
    ("Tanh(1)", "takes no arguments: write Tanh"),
    ("SiLU(x)", "takes no arguments: write SiLU"),
])
def test_a_bad_spec_is_refused_in_one_line_naming_the_layer(piece, fragment):
    spec = f"Linear(2,3,bias),{piece},Linear(3,1)"
    with pytest.raises(InputError) as info:
        parse_net(spec, "net:" + spec)
    text = str(info.value)
    assert fragment in text and f"'{piece}'" in text and "\n" not in text, text


@pytest.mark.parametrize("build,fragment", [
    (lambda: GELU("foo"), "Argument 'approximate' of GELU must be 'none' or 'tanh', not 'foo'"),
    (lambda: Softplus(0.5), "not the float 0.5: write '0.5'"),
    (lambda: ELU(-1), "Argument 'alpha' of ELU must be positive, not -1"),
    (lambda: ELU("1/0"), "Argument 'alpha' of ELU must be an exact rational"),
    (lambda: Softplus("x"), "Argument 'beta' of Softplus must be an exact rational"),
])
def test_a_bad_constructor_argument_is_refused_in_one_line(build, fragment):
    with pytest.raises(InputError) as info:
        build()
    assert fragment in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_a_zero_denominator_is_named():
    with pytest.raises(InputError, match="not '1/0': its denominator is 0"):
        ELU("1/0")


@pytest.mark.parametrize("value,read", [(0.5, Fraction(1, 2)), (2, Fraction(2)),
                                        (0.01, Fraction(1, 100)), (1e-05, Fraction(1, 100000)),
                                        (1.5e3, Fraction(1500)),
                                        (1 / 3, "no short decimal"), (0.1 + 0.2, "no short"),
                                        (1e-13, "no short decimal"), (0.0, "not positive"),
                                        (-1, "not positive"), (float("nan"), "not finite"),
                                        (True, "not a number"), ("0.5", "not a number")])
def test_a_torch_float_is_read_as_the_decimal_it_prints_as(value, read):
    got = short_decimal(value)
    if isinstance(read, Fraction):
        assert got == read and isinstance(got, Fraction)
    else:
        assert isinstance(got, str) and read in got


# -- the float forward rule ----------------------------------------------------------------

def _reference(layer, x):
    """The activation at x to 50 digits (mpmath through SymPy), torch's
    definition (softplus linear above beta x > 20)."""
    import mpmath
    mp = mpmath.mp.clone() if hasattr(mpmath.mp, "clone") else mpmath.mp
    mp.dps = 50
    x = mp.mpf(x)
    kind = layer[0]
    if kind == "tanh":
        return mp.tanh(x)
    if kind == "sigmoid":
        return 1 / (1 + mp.exp(-x))
    if kind == "silu":
        return x / (1 + mp.exp(-x))
    if kind == "gelu" and layer[1] == "erf":
        return x * (1 + mp.erf(x / mp.sqrt(2))) / 2
    if kind == "gelu":
        return x * (1 + mp.tanh(mp.sqrt(2 / mp.pi) * (x + mp.mpf("0.044715") * x ** 3))) / 2
    q = Fraction(layer[1])
    q = mp.mpf(q.numerator) / q.denominator
    if kind == "softplus":
        return x if q * x > 20 else mp.log(1 + mp.exp(q * x)) / q
    return x if x > 0 else q * mp.expm1(x)


GRID = [-700.0, -40.0, -20.5, -10.0, -3.0, -1.0, -0.25, -1e-9, 0.0, 1e-9, 0.25, 1.0, 3.0,
        9.99, 10.0, 10.01, 19.99, 20.01, 40.0, 700.0]
LAYERS = [["tanh"], ["sigmoid"], ["silu"], ["gelu", "erf"], ["gelu", "tanh"],
          ["softplus", "1/1"], ["softplus", "2/1"], ["softplus", "1/2"], ["elu", "1/1"],
          ["elu", "1/2"]]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: "-".join(layer))
def test_the_float_forward_rule_is_the_function_to_float_precision(layer):
    f = _Smooth.function(layer)
    for x in GRID:
        want = float(_reference(layer, x))
        assert abs(f(x) - want) <= 4e-16 * max(1.0, abs(want)), (layer, x, f(x), want)


# -- counts --------------------------------------------------------------------------------

ACTIVATIONS = [Tanh(), Sigmoid(), SiLU(), GELU(), GELU("tanh"), Softplus(), Softplus("1/2"),
               ELU(), ELU("1/2")]


@pytest.mark.parametrize("act", ACTIVATIONS, ids=lambda a: a.spec())
def test_a_smooth_mlp_with_biases_has_no_law(act):
    result = exactcl.count(net(Linear(4, 5, bias=True), act, Linear(5, 3, bias=True)))
    assert (result.laws, result.proof, result.parameters) == (0, "sandwich", 43), (
        result.explanation)


def _balancedness(n_in: int, n: int):
    """The entries i <= j of W1 W1^T - W2^T W2 (W1 n x n_in, W2 n x n) as SymPy
    polynomials in exactcl's names: the laws of two dense layers in a row."""
    W1 = sympy.Matrix(n, n_in, lambda i, j: sympy.Symbol(f"W1_{i}_{j}"))
    W2 = sympy.Matrix(n, n, lambda i, j: sympy.Symbol(f"W2_{i}_{j}"))
    M = W1 * W1.T - W2.T * W2
    return [sympy.expand(M[i, j]) for i in range(n) for j in range(i, n)]


def _rank(polys) -> int:
    """The dimension of the span of ``polys`` over Q."""
    coeffs = [sympy.Poly(p, *sorted(set().union(*(q.free_symbols for q in polys)), key=str))
              .as_dict() for p in polys]
    monos = sorted({m for c in coeffs for m in c})
    return sympy.Matrix([[c.get(m, 0) for m in monos] for c in coeffs]).rank()


@pytest.mark.parametrize("act", [Tanh(), GELU("tanh"), Softplus("1/2")],
                         ids=lambda a: a.spec())
def test_two_dense_layers_before_a_smooth_one_keep_their_balancedness_laws(act):
    """Linear(4,5), Linear(5,5), act, Linear(5,3): the 15 entries of
    W1 W1^T - W2^T W2 and no other law (the rank meets them: a sandwich)."""
    result = exactcl.count(net(Linear(4, 5), Linear(5, 5), act, Linear(5, 3)))
    assert (result.laws, result.proof, result.parameters) == (15, "sandwich", 60), (
        result.explanation)
    found = [sympy.sympify(s) for s in result.laws_strings()]
    by_hand = _balancedness(4, 5)
    assert _rank(found) == _rank(by_hand) == _rank(found + by_hand) == 15


def test_a_residual_block_of_smooth_layers_is_counted():
    program = net(Linear(3, 4, bias=True), Tanh(),
                  Residual(Linear(4, 4, bias=True), Tanh(), Linear(4, 4, bias=True)),
                  Linear(4, 2, bias=True))
    result = exactcl.count(program)
    assert (result.laws, result.proof) == (0, "sandwich"), result.explanation


@pytest.mark.parametrize("layers,fragment", [
    ((Linear(4, 5, bias=True), ReLU(), Linear(5, 5, bias=True), Tanh(), Linear(5, 3)),
     "a network with smooth activations (tanh) cannot hold a relu layer"),
    ((Linear(4, 5, bias=True), GELU(), Linear(5, 5, bias=True), Softplus(), Linear(5, 3)),
     "a network cannot hold both gelu and softplus"),
    ((Linear(4, 5), ELU(), Linear(5, 3)),
     "layer 2 (elu) cannot be expanded at its anchor -log 2: it needs a bias"),
    ((Linear(4, 5, bias=True), Tanh()), "the last layer (layer 2) must be linear"),
])
def test_networks_the_kernel_refuses_are_refused_by_net_in_one_line(layers, fragment):
    with pytest.raises(InputError) as info:
        net(*layers)
    text = str(info.value)
    assert text.startswith("Argument 'layers' is not a network: ") and fragment in text, text
    assert "\n" not in text


def test_a_smooth_activation_between_normalisations_after_an_attention_is_counted():
    from exactcl import Attention, LayerNorm
    program = net(Residual(Attention(4, 2, bias=True, tokens=2)), LayerNorm(4),
                  Residual(Linear(4, 4, bias=True), GELU(), Linear(4, 4, bias=True)),
                  LayerNorm(4))
    r = exactcl.count(program)
    assert (r.laws, r.proof) == (26, "sandwich")


def test_a_smooth_activation_before_the_first_normalisation_is_refused_by_name():
    from exactcl import Attention, LayerNorm
    with pytest.raises(InputError, match="before the first normalisation after an attention"):
        net(Linear(4, 4, bias=True), Tanh(), Linear(4, 4, bias=True),
            Residual(Attention(4, 2, bias=True, tokens=2)), LayerNorm(4))


# -- certificates --------------------------------------------------------------------------

@pytest.mark.parametrize("program", [
    net(Linear(3, 4, bias=True), Tanh(), Linear(4, 2, bias=True)),
    net(Linear(3, 4), Linear(4, 4), GELU("tanh"), Linear(4, 2)),
], ids=["tanh-mlp", "gelu-balanced"])
def test_a_certificate_of_a_smooth_network_names_it_and_verifies(program):
    cert, result = certify(program, reproducible=True)
    assert cert["model"]["name"] == program.spec
    assert cert["model"]["program"] == program.canonical()
    report = verify_text(certformat.dumps(cert), rng=random.Random(5))
    assert report.ok, str(report)
    (name,) = [c for c in report.checks if c.claim == "model name"]
    assert name.passed and "the layers parsed from the name are the program" in name.detail
    assert f"exactly {result.laws} independent conservation laws" in str(report)
    # the same program certifies byte for byte again
    again, _ = certify(program, reproducible=True)
    assert certformat.dumps(again) == certformat.dumps(cert)


def _tampered(layer: list) -> dict:
    """A certificate of Linear(3,4), Linear(4,4), Tanh, Linear(4,2) whose
    smooth layer is replaced by ``layer``, the name left as it was and the
    fingerprint recomputed (only the name check, or the ranks, can catch it)."""
    cert, _ = certify(net(Linear(3, 4), Linear(4, 4), Tanh(), Linear(4, 2)), reproducible=True)
    cert["model"]["program"][2] = layer
    cert["model"]["fingerprint"] = certformat.fingerprint(cert["model"])
    return cert


def test_the_verifier_refuses_a_smooth_activation_changed_in_the_file():
    report = verify_text(certformat.dumps(_tampered(["gelu", "tanh"])), rng=random.Random(5))
    # the expansion the file states names the tanh's anchor: refused before any rank
    assert not report.ok and "lie.generators.expansion must be" in str(report)
    cert = _tampered(["gelu", "tanh"])
    stated = cert["lie"]["generators"]["expansion"]
    cert["lie"]["generators"]["expansion"] = stated.replace(
        "(tanh at 0)", "(gelu (tanh) at 0)") + "; 1/sqrt(2 pi) taken as 2^61 + 7 mod p"
    report = verify_text(certformat.dumps(cert), rng=random.Random(5))
    assert not report.ok and "model name" in [c.claim for c in report.checks if not c.passed]


def test_the_verifier_reports_a_claim_when_a_changed_activation_needs_another_point():
    """tanh -> sigmoid in a bias-free file: the sigmoid's anchor needs the rows of W2
    summing to 0, which the stored point does not have: the rank claim fails."""
    cert, _ = certify(net(Linear(3, 4), Tanh(), Linear(4, 4), Tanh(), Linear(4, 2)),
                      reproducible=True)
    cert["model"]["program"][1] = cert["model"]["program"][3] = ["sigmoid"]
    cert["model"]["fingerprint"] = certformat.fingerprint(cert["model"])
    stated = cert["lie"]["generators"]["expansion"]
    cert["lie"]["generators"]["expansion"] = stated.replace(
        "(tanh at 0)", "(sigmoid at 0)").replace(
        ", x0 = 0", ", the rows of W2 summing to 0 at the point, x0 = 0")
    report = verify_text(certformat.dumps(cert), rng=random.Random(5))
    assert not report.ok
    (rank,) = [c for c in report.checks if c.claim == "Lie rank"]
    assert not rank.passed and "does not sum to 0" in rank.detail
