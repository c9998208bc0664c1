"""LeakyReLU on a fixed activation pattern: a layer type added as one user
module, one kernel rule and a registry line on each side.

Checked against independent computations: the network's phi written by hand
in SymPy (each hidden unit multiplied by q + (1 - q) s), the ReLU network
with the same layers (docs/design.md: the same W for q != 1), the exact
forward against the engine's, and torch modules against their own forward."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
import sympy

import exactcl
from exactcl import Conv1d, LeakyReLU, Linear, ReLU, Residual, net
from exactcl.certificates.build import certify
from exactcl.errors import InputError
from exactcl.kernel import blocks, certformat
from exactcl.kernel.blocks import BlockLayout, Words
from exactcl.kernel.evaluator import Probe
from exactcl.kernel.verifier import verify_text
from exactcl.layers.program import parse_net


def _relu_twin(layers):
    """The same layers with every LeakyReLU a ReLU."""
    out = []
    for layer in layers:
        if isinstance(layer, LeakyReLU):
            out.append(ReLU())
        elif isinstance(layer, Residual):
            out.append(Residual(*_relu_twin(layer.layers)))
        else:
            out.append(layer)
    return out


NETWORKS = {
    "chain": [Linear(3, 4), LeakyReLU(), Linear(4, 2)],
    "bias-two-slopes": [Linear(3, 4, bias=True), LeakyReLU("1/5"), Linear(4, 4, bias=True),
                        LeakyReLU(-1), Linear(4, 2)],
    "conv": [Conv1d(1, 3, 2, length=5), LeakyReLU("3/7"), Linear(12, 2)],
    "residual": [Linear(3, 3), LeakyReLU(), Residual(Linear(3, 3), LeakyReLU("1/2"),
                                                     Linear(3, 3)), Linear(3, 1)],
}


@pytest.mark.parametrize("engine", ["expanded", "program"])
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_a_leaky_relu_network_has_the_certified_laws_of_its_relu_twin(name, engine):
    leaky = exactcl.count(net(*NETWORKS[name]), engine=engine)
    relu = exactcl.count(net(*_relu_twin(NETWORKS[name])), engine=engine)
    assert leaky.proof == relu.proof == "sandwich", leaky.explanation
    assert leaky.laws == relu.laws > 0


def _hand_phi(q: Fraction):
    """phi of Linear(2,3), LeakyReLU(q), Linear(3,2) written by hand: the
    coefficients of u . W2 diag(q + (1 - q) s) W1 x in x, s and u."""
    W1 = sympy.Matrix(3, 2, lambda i, j: sympy.Symbol(f"W1_{i}_{j}"))
    W2 = sympy.Matrix(2, 3, lambda i, j: sympy.Symbol(f"W2_{i}_{j}"))
    x, s, u = sympy.symbols("x0:2"), sympy.symbols("s0:3"), sympy.symbols("u0:2")
    q = sympy.Rational(q.numerator, q.denominator)
    mask = sympy.diag(*[q + (1 - q) * si for si in s])
    F = (sympy.Matrix([u]) * W2 * mask * W1 * sympy.Matrix(x))[0]
    poly = sympy.Poly(sympy.expand(F), *x, *s, *u)
    return list(W1) + list(W2), [c for c in poly.coeffs()]


@pytest.mark.parametrize("slope", [Fraction(1, 100), Fraction(-2, 3), Fraction(1)])
def test_the_count_and_laws_are_those_of_phi_written_by_hand(slope):
    program = net(Linear(2, 3), LeakyReLU(slope), Linear(3, 2))
    symbols, phi = _hand_phi(slope)
    by_hand = exactcl.from_phi(phi, symbols)
    assert exactcl.count(program).laws == exactcl.count(by_hand).laws
    assert sorted(exactcl.laws(program, 2).strings()) == sorted(exactcl.laws(by_hand, 2).strings())


def test_a_certificate_names_the_slope_and_verifies(tmp_path):
    model = net(Linear(3, 4, bias=True), LeakyReLU("1/5"), Linear(4, 2))
    cert, result = certify(model, reproducible=True, engine="program")
    assert cert["model"]["name"] == "net:Linear(3,4,bias),LeakyReLU(1/5),Linear(4,2)"
    assert ["leaky_relu", "1/5"] in cert["model"]["program"]
    report = verify_text(certformat.dumps(cert), rng=random.Random(3))
    assert report.ok, str(report)
    (name,) = [c for c in report.checks if c.claim == "model name"]
    assert "the layers parsed from the name are the program in the file" in name.detail


def _refit(cert: dict) -> dict:
    cert["model"]["fingerprint"] = certformat.fingerprint(cert["model"])
    return cert


def test_the_verifier_refuses_a_slope_changed_in_the_file():
    cert, _ = certify(net(Linear(3, 4), LeakyReLU("1/5"), Linear(4, 2)), reproducible=True)
    program = cert["model"]["program"]
    program[1] = ["leaky_relu", "1/3"]  # the name still says 1/5
    report = verify_text(certformat.dumps(_refit(cert)), rng=random.Random(3))
    assert not report.ok and "model name" in [c.claim for c in report.checks if not c.passed]
    # slope 1 makes the network linear: fewer words are independent than the file claims
    cert, _ = certify(net(Linear(3, 4), LeakyReLU("1/5"), Linear(4, 2)), reproducible=True)
    cert["model"]["program"][1] = ["leaky_relu", "1/1"]
    cert["model"]["name"] = "net:Linear(3,4),LeakyReLU(1/1),Linear(4,2)"
    report = verify_text(certformat.dumps(_refit(cert)), rng=random.Random(3))
    assert not report.ok, str(report)


@pytest.mark.parametrize("layer,fragment", [
    (["leaky_relu", "2/4"], "lowest terms"),
    (["leaky_relu", 0.01], "lowest terms"),
    (["leaky_relu", "1/0"], "lowest terms"),
    (["leaky_relu"], "must be ['leaky_relu', slope]"),
    (["leaky_relu", "1/" + "3" * 41], "at most 40 digits"),
])
def test_the_kernel_refuses_a_slope_not_in_canonical_form(layer, fragment):
    with pytest.raises(ValueError, match=None) as info:
        blocks.check_blocks([["linear", 2, 2, False], layer, ["linear", 2, 1, False]])
    assert fragment in str(info.value)


def test_the_kernel_refuses_a_prime_dividing_the_slope_denominator():
    lay = BlockLayout([["linear", 1, 2, False], ["leaky_relu", "1/7"], ["linear", 2, 1, False]])
    probe = Probe((1,), (), [(1, 0)], (1,))
    assert Words(lay, [probe], {}, [1, 2, 3, 4], 11).value(0)  # 7 is invertible mod 11
    with pytest.raises(ValueError, match="the prime 7 divides the denominator of the slope"):
        Words(lay, [probe], {}, [1, 2, 3, 4], 7).value(0)


def test_a_float_slope_is_refused_with_the_exact_way_to_write_it():
    with pytest.raises(InputError, match=r"not the float 0\.01: write '0\.01'"):
        LeakyReLU(0.01)
    assert LeakyReLU("0.01") == LeakyReLU() == LeakyReLU(Fraction(1, 100))
    assert LeakyReLU(sympy.Rational(1, 3)).negative_slope == Fraction(1, 3)


@pytest.mark.parametrize("text,slope", [("LeakyReLU", "1/100"), ("LeakyReLU(0.2)", "1/5"),
                                        ("LeakyReLU(-3/7)", "-3/7"), ("leakyrelu(2)", "2/1")])
def test_the_spec_reads_a_slope_exactly(text, slope):
    prog = parse_net(f"Linear(2,3),{text},Linear(3,1)", "net:...")
    assert prog.canonical()[1] == ["leaky_relu", slope]
    assert parse_net(prog.spec[len("net:"):], prog.spec) == prog


@pytest.mark.parametrize("text,fragment", [("LeakyReLU(x)", "rational slope"),
                                           ("LeakyReLU(1,2)", "one rational slope"),
                                           ("LeakyReLU(0.1/3)", "rational slope")])
def test_the_spec_refuses_a_slope_that_is_not_a_rational(text, fragment):
    with pytest.raises(InputError, match=fragment):
        parse_net(f"Linear(2,3),{text},Linear(3,1)", f"net:Linear(2,3),{text},Linear(3,1)")


# -- torch ---------------------------------------------------------------------------------

def test_torch_leaky_relu_is_read_with_its_slope_and_checked_against_the_module():
    torch = pytest.importorskip("torch")
    from .helpers import translated
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LeakyReLU(0.2),
                                 torch.nn.Linear(4, 2))
    tm = translated(module, (3,))
    assert tm.program == net(Linear(3, 4, bias=True), LeakyReLU("1/5"), Linear(4, 2, bias=True))
    assert any("negative_slope 0.2 read as 1/5" in what for *_, what in tm.nodes)
    assert tm.count().laws == exactcl.count(net(Linear(3, 4, bias=True), ReLU(),
                                                Linear(4, 2, bias=True))).laws


def test_torch_functional_leaky_relu_takes_its_default_and_keyword_slopes():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from .helpers import translated

    class Net(torch.nn.Module):
        def __init__(self, **kwargs):
            super().__init__()
            self.a, self.b, self.kwargs = torch.nn.Linear(2, 3), torch.nn.Linear(3, 1), kwargs

        def forward(self, x):
            return self.b(F.leaky_relu(self.a(x), **self.kwargs))

    torch.manual_seed(1)
    assert translated(Net(), (2,)).program.layers[1] == LeakyReLU()
    assert translated(Net(negative_slope=0.1), (2,)).program.layers[1] == LeakyReLU("1/10")


def test_torch_prelu_is_refused_naming_its_learnable_slope_and_what_is_supported():
    torch = pytest.importorskip("torch")
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.PReLU(4), torch.nn.Linear(4, 2))
    with pytest.raises(InputError) as info:
        exactcl.from_torch(module, (3,))
    text = str(info.value)
    assert "\n" not in text
    assert "is a PReLU, whose negative slope is a learnable parameter (num_parameters=4)" in text
    assert "exactcl expected a fixed negative slope, nn.LeakyReLU(negative_slope)" in text


def test_a_slope_with_a_zero_denominator_is_refused_by_name():
    from exactcl.errors import InputError
    from exactcl.layers.activations import LeakyReLU
    with pytest.raises(InputError, match="negative_slope' of LeakyReLU must be an exact rational"
                                         ".*'1/0': its denominator is 0"):
        LeakyReLU("1/0")
