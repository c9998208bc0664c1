"""LogSoftmax and Softmax heads: counted through the centred logits
(docs/design.md), with the translation laws of the last dense layer.

Checked against phi written by hand in SymPy (the centred output
(I - J/n) W2 diag(s) W1 x), the network without its head (its laws stay,
and the head adds exactly the translation laws), and torch modules
against their own forward."""

from __future__ import annotations

import random

import pytest
import sympy

import exactcl
from exactcl import Linear, LogSoftmax, ReLU, Softmax, net
from exactcl.certificates.build import certify
from exactcl.errors import InputError
from exactcl.kernel import blocks, certformat
from exactcl.kernel.evaluator import Probe
from exactcl.kernel.verifier import verify_text
from exactcl.layers.program import parse_net

#: (layers without the head, number of translation laws the head adds)
NETWORKS = {
    "relu-bias-4-5-3": ([Linear(4, 5, bias=True), ReLU(), Linear(5, 3, bias=True)], 5 + 1),
    "relu-3-4-2": ([Linear(3, 4), ReLU(), Linear(4, 2)], 4),
    "linear-3-3-3": ([Linear(3, 3), Linear(3, 3)], 3),
    "deep-bias": ([Linear(2, 3, bias=True), ReLU(), Linear(3, 3, bias=True), ReLU(),
                   Linear(3, 4, bias=True)], 3 + 1),
}


@pytest.mark.parametrize("head", [LogSoftmax, Softmax])
@pytest.mark.parametrize("engine", ["expanded", "program"])
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_a_head_adds_exactly_the_translation_laws_of_the_last_layer(name, engine, head):
    layers, translations = NETWORKS[name]
    without = exactcl.count(net(*layers), engine=engine)
    with_head = exactcl.count(net(*layers, head()), engine=engine)
    assert without.proof == with_head.proof == "sandwich", with_head.explanation
    assert with_head.laws == without.laws + translations


def test_the_translation_laws_are_found_by_search_too():
    found = exactcl.laws(net(Linear(2, 3, bias=True), ReLU(), Linear(3, 2, bias=True),
                             LogSoftmax()), 1).strings()
    assert sorted(found) == sorted(["W2_0_0 + W2_1_0", "W2_0_1 + W2_1_1", "W2_0_2 + W2_1_2",
                                    "b2_0 + b2_1"])


def _hand_phi():
    """phi of Linear(2,3), ReLU, Linear(3,3), LogSoftmax written by hand: the
    coefficients of u . (I - J/3) W2 diag(s) W1 x in x, s and u."""
    W1 = sympy.Matrix(3, 2, lambda i, j: sympy.Symbol(f"W1_{i}_{j}"))
    W2 = sympy.Matrix(3, 3, lambda i, j: sympy.Symbol(f"W2_{i}_{j}"))
    x, s, u = sympy.symbols("x0:2"), sympy.symbols("s0:3"), sympy.symbols("u0:3")
    C = sympy.eye(3) - sympy.ones(3, 3) / 3
    F = (sympy.Matrix([u]) * C * W2 * sympy.diag(*s) * W1 * sympy.Matrix(x))[0]
    return list(W1) + list(W2), sympy.Poly(sympy.expand(F), *x, *s, *u).coeffs()


def test_the_count_and_laws_are_those_of_centred_logits_written_by_hand():
    program = net(Linear(2, 3), ReLU(), Linear(3, 3), LogSoftmax())
    symbols, phi = _hand_phi()
    by_hand = exactcl.from_phi(phi, symbols)
    assert exactcl.count(program).laws == exactcl.count(by_hand).laws == 3 + 3
    assert sorted(exactcl.laws(program, 2).strings()) == sorted(exactcl.laws(by_hand, 2).strings())


def test_a_certificate_with_a_head_verifies_and_its_name_is_read_back():
    cert, _ = certify(net(Linear(3, 4, bias=True), ReLU(), Linear(4, 3, bias=True),
                          LogSoftmax()), reproducible=True, engine="program")
    assert cert["model"]["name"].endswith(",LogSoftmax")
    assert cert["model"]["program"][-1] == ["softmax_head", "log_softmax"]
    report = verify_text(certformat.dumps(cert), rng=random.Random(2))
    assert report.ok, str(report)
    cert["model"]["program"][-1] = ["softmax_head", "softmax"]  # the name says LogSoftmax
    cert["model"]["fingerprint"] = certformat.fingerprint(cert["model"])
    report = verify_text(certformat.dumps(cert), rng=random.Random(2))
    assert "model name" in [c.claim for c in report.checks if not c.passed]


@pytest.mark.parametrize("layers,fragment", [
    ([["linear", 2, 3, False], ["softmax_head", "log_softmax"], ["linear", 3, 1, False]],
     "must be the last layer of the program"),
    ([["residual", [["linear", 2, 2, False], ["softmax_head", "softmax"]]]],
     "must be the last layer of the program"),
    ([["linear", 2, 1, False], ["softmax_head", "softmax"]], "at least 2 outputs"),
    ([["linear", 2, 3, False], ["softmax_head", "argmax"]], "kind one of log_softmax, softmax"),
])
def test_the_kernel_refuses_a_head_that_is_not_the_last_layer_over_logits(layers, fragment):
    with pytest.raises(ValueError) as info:
        blocks.check_blocks(layers)
    assert fragment in str(info.value)


def test_the_kernel_refuses_a_prime_dividing_the_number_of_logits():
    lay = blocks.BlockLayout([["linear", 1, 3, False], ["softmax_head", "softmax"]])
    probe = Probe((1,), (), [], (1, 2, 3))
    assert blocks.Words(lay, [probe], {}, [1, 2, 3], 7).value(0)
    with pytest.raises(ValueError, match="the prime 3 divides the number of logits 3"):
        blocks.Words(lay, [probe], {}, [1, 2, 3], 3).value(0)


def test_the_spec_language_has_the_heads():
    prog = parse_net("Linear(2,3),ReLU,Linear(3,2),LogSoftmax", "net:...")
    assert prog.layers[-1] == LogSoftmax() and prog.spec.endswith(",LogSoftmax")
    with pytest.raises(InputError, match="takes no arguments"):
        parse_net("Linear(2,3),Softmax(1)", "net:Linear(2,3),Softmax(1)")


# -- torch ---------------------------------------------------------------------------------

def test_torch_heads_are_read_and_checked_against_the_module():
    torch = pytest.importorskip("torch")
    from .helpers import translated
    torch.manual_seed(0)
    for head, cls in ((torch.nn.LogSoftmax(dim=1), LogSoftmax),
                      (torch.nn.Softmax(dim=-1), Softmax)):
        module = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(),
                                     torch.nn.Linear(5, 3), head)
        tm = translated(module, (4,))
        assert tm.program.layers[-1] == cls()
        result = tm.count()
        assert (result.laws, result.proof) == (5 + 5 + 1, "sandwich")


def test_torch_functional_heads_and_their_refusals():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from .helpers import translated

    class Net(torch.nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.a, self.dim = torch.nn.Linear(3, 4), dim

        def forward(self, x):
            return F.log_softmax(self.a(x), dim=self.dim)

    torch.manual_seed(1)
    assert translated(Net(-1), (3,)).program.layers[-1] == LogSoftmax()
    with pytest.raises(InputError, match="dim=0"):
        exactcl.from_torch(Net(0), (3,))
