"""Embeddings: token i -> row i of E, a dense layer W = E^T on one-hot
inputs, counted on one-hot data (docs/design.md, embeddings).

Checked against phi written by hand in SymPy on one-hot inputs
(net(e_i) for every token i), against the dense program (the same count
and laws when no bias follows the embedding, fewer laws for it when one
does), the kernel's reverse pass against its exact expansion, certificates
against the verifier, and torch modules against their own forward."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
import sympy

import exactcl
from exactcl import Embedding, Linear, LogSoftmax, ReLU, Residual, net
from exactcl.certificates.build import certify
from exactcl.errors import InputError
from exactcl.kernel import blocks, certformat
from exactcl.kernel.evaluator import Probe
from exactcl.kernel.verifier import verify_text
from exactcl.layers.forward import output
from exactcl.layers.program import parse_net

from .helpers import reverse_pass_and_expansion


def _hand_phi(V, d, hidden, m, bias):
    """phi of Embedding(V, d), Linear(d, hidden, bias), ReLU, Linear(hidden,
    m, bias) (no hidden layer when ``hidden`` is None) on one-hot data, by
    hand: the coefficients of u . net(e_i; s) in s and u, for every token i;
    parameters named as exactcl names them (W1_j_i = E[i, j])."""
    E = sympy.Matrix(V, d, lambda i, j: sympy.Symbol(f"W1_{j}_{i}"))
    symbols = [E[i, j] for j in range(d) for i in range(V)]
    if hidden is None:
        W = sympy.Matrix(m, d, lambda i, j: sympy.Symbol(f"W2_{i}_{j}"))
        b = sympy.Matrix(m, 1, lambda i, _: sympy.Symbol(f"b2_{i}")) if bias else sympy.zeros(m, 1)
        symbols += list(W) + (list(b) if bias else [])
        outputs = [W * E[i, :].T + b for i in range(V)]
        s = ()
    else:
        W1 = sympy.Matrix(hidden, d, lambda i, j: sympy.Symbol(f"W2_{i}_{j}"))
        W2 = sympy.Matrix(m, hidden, lambda i, j: sympy.Symbol(f"W3_{i}_{j}"))
        b1 = (sympy.Matrix(hidden, 1, lambda i, _: sympy.Symbol(f"b2_{i}")) if bias
              else sympy.zeros(hidden, 1))
        b2 = (sympy.Matrix(m, 1, lambda i, _: sympy.Symbol(f"b3_{i}")) if bias
              else sympy.zeros(m, 1))
        symbols += list(W1) + list(W2) + (list(b1) + list(b2) if bias else [])
        s = sympy.symbols(f"s0:{hidden}")
        outputs = [W2 * sympy.diag(*s) * (W1 * E[i, :].T + b1) + b2 for i in range(V)]
    u = sympy.symbols(f"u0:{m}")
    phi = []
    for out in outputs:
        F = sympy.expand((sympy.Matrix([u]) * out)[0])
        phi += [c for c in sympy.Poly(F, *s, *u).coeffs() if c != 0]
    return symbols, phi


def _program(V, d, hidden, m, bias):
    if hidden is None:
        return net(Embedding(V, d), Linear(d, m, bias=bias))
    return net(Embedding(V, d), Linear(d, hidden, bias=bias), ReLU(),
               Linear(hidden, m, bias=bias))


#: (V, d, hidden, m, bias) -> laws, each a count by sandwich or closure
CASES = {
    "6-3-2 bias (the target)": ((6, 3, None, 2, True), 6),
    "6-3-2": ((6, 3, None, 2, False), 6),
    "1-2-1 bias (one token)": ((1, 2, None, 1, True), 4),
    "3-2-3-2 bias, ReLU": ((3, 2, 3, 2, True), 6),
    "1-2-2-1 bias, ReLU": ((1, 2, 2, 1, True), 5),
    "4-2-3-2, ReLU": ((4, 2, 3, 2, False), 3 + 3),
}


@pytest.mark.parametrize("engine", ["expanded", "program"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_count_is_that_of_phi_on_one_hot_data_written_by_hand(name, engine):
    shape, laws = CASES[name]
    got = exactcl.count(_program(*shape), engine=engine)
    symbols, phi = _hand_phi(*shape)
    by_hand = exactcl.count(exactcl.from_phi(phi, symbols))
    assert by_hand.laws == laws
    if got.laws is None:  # more laws than polynomial candidates: a closure, which the
        # program engine leaves to the expanded one (the auto engine picks it)
        assert engine == "program" and got.bounds[0] < laws == got.bounds[1]
        assert exactcl.count(_program(*shape)).laws == laws
    else:
        assert got.laws == laws and got.proof in ("sandwich", "closure"), got.explanation


def test_the_laws_are_those_of_phi_written_by_hand():
    shape = (3, 2, None, 2, True)
    symbols, phi = _hand_phi(*shape)
    a = exactcl.laws(_program(*shape), 2).strings()
    b = exactcl.laws(exactcl.from_phi(phi, symbols), 2).strings()
    assert sorted(a) == sorted(b) and a


@pytest.mark.parametrize("V,d,m", [(4, 3, 2), (2, 3, 3), (5, 2, 1)])
def test_without_a_bias_it_is_the_dense_layer_with_the_same_names(V, d, m):
    """No bias after it: the one-hot data span what all inputs span, and
    W1_j_i names the same entry; count and laws are the dense program's."""
    for tail in ([Linear(d, m)], [ReLU(), Linear(d, m)], [Linear(d, 3), ReLU(), Linear(3, m)]):
        emb, dense = net(Embedding(V, d), *tail), net(Linear(V, d), *tail)
        assert emb.parameters == dense.parameters
        a, b = exactcl.count(emb), exactcl.count(dense)
        assert a.laws == b.laws and a.proof == b.proof == "sandwich"
        assert sorted(exactcl.laws(emb, 2).strings()) == sorted(exactcl.laws(dense, 2).strings())


def test_with_a_bias_after_it_it_can_have_more_laws_than_the_dense_layer():
    """The example of the design notes: phi = w . e + b (one component, 4
    laws) against the dense (w . e, b) (3 laws)."""
    emb = exactcl.count(net(Embedding(1, 2), Linear(2, 1, bias=True)))
    dense = exactcl.count(net(Linear(1, 2), Linear(2, 1, bias=True)))
    assert (emb.laws, dense.laws) == (4, 3)


def test_the_candidate_laws_are_the_balancedness_with_the_next_layer():
    result = exactcl.count(net(Embedding(6, 3), Linear(3, 2, bias=True)))
    assert result.proof == "sandwich" and len(result.exhibited) == 6
    assert result.exhibited_labels[1] == "balancedness of layers 1, 2 [0,1]"
    E = sympy.Matrix(6, 3, lambda i, j: sympy.Symbol(f"W1_{j}_{i}"))
    W = sympy.Matrix(2, 3, lambda i, j: sympy.Symbol(f"W2_{i}_{j}"))
    expected = E.T * E - W.T * W
    got = [sympy.sympify(s) for s in result.laws_strings()]
    want = [expected[a, b] for a in range(3) for b in range(a, 3)]
    assert all(sympy.expand(g - w) == 0 for g, w in zip(got, want))
    relu = exactcl.count(net(Embedding(4, 3), ReLU(), Linear(3, 2)))
    assert relu.exhibited_labels == tuple(f"embedding coordinate {a} of layer 1"
                                          for a in range(3))


def test_a_softmax_head_adds_its_translation_laws():
    without = exactcl.count(net(Embedding(5, 3), Linear(3, 4, bias=True)))
    head = exactcl.count(net(Embedding(5, 3), Linear(3, 4, bias=True), LogSoftmax()))
    assert head.proof == without.proof == "sandwich"
    assert head.laws == without.laws + 3 + 1


# -- the kernel's rule -----------------------------------------------------------------------

@pytest.mark.parametrize("layers", [
    [["embedding", 4, 3], ["linear", 3, 2, True]],
    [["embedding", 3, 2], ["linear", 2, 3, True], ["relu"], ["linear", 3, 2, True]],
    [["embedding", 1, 2], ["relu"], ["linear", 2, 1, True]],
], ids=["dense", "relu", "one-token"])
def test_the_reverse_pass_is_the_gradient_of_the_exact_expansion(layers):
    """grad F of a probe, by the rule's forward and reverse passes mod p,
    against F built from its exact expansion over Q and derived."""
    got, want = reverse_pass_and_expansion(layers, 7)
    assert got == want and got


def test_a_probe_is_the_combination_of_the_one_hot_evaluations():
    """F(x) = sum_i x'_i F(e_i), x' = (x_1, ..., x_{V-1}, 1 - sum): the
    probe's field is a constant combination of the one-hot model's."""
    lay = blocks.BlockLayout([["embedding", 3, 2], ["linear", 2, 2, True]])
    p, point = 10_007, list(range(3, 3 + lay.D))
    x, u = (5, 11, 999), (2, 7)

    def field(inp):
        return blocks.Words(lay, [Probe(inp, (), [], u)], {}, point, p).value(0)

    weights = [x[0], x[1], 1 - x[0] - x[1]]
    combined: dict = {}
    for i, w in enumerate(weights):
        for k, v in field([int(t == i) for t in range(3)] if i < 2 else (0, 0, 0)).items():
            combined[k] = (combined.get(k, 0) + w * v) % p
    assert field(x) == {k: v for k, v in combined.items() if v}


def test_phi_terms_bounds_the_coefficients():
    lay = blocks.BlockLayout([["embedding", 4, 2], ["linear", 2, 1, True]])
    # x'_4 = 1 - x_1 - x_2 - x_3 counts 4: each embedding output is bounded by 3 + 4
    assert lay.phi_terms() == 2 * 7 + 1


@pytest.mark.parametrize("layers,fragment", [
    ([["linear", 2, 6, False], ["embedding", 6, 3]], "must be the program's first layer"),
    ([["embedding", 2, 2], ["residual", [["embedding", 2, 2]]]],
     "must be the program's first layer"),
    ([["embedding", 0, 3]], "positive int sizes"),
    ([["embedding", 3]], "must be ['embedding', tokens, dim]"),
    ([["embedding", 3, True]], "positive int sizes"),
])
def test_the_kernel_refuses_an_embedding_out_of_place_or_form(layers, fragment):
    with pytest.raises(ValueError) as info:
        blocks.check_blocks(layers)
    assert fragment in str(info.value)


# -- spec, classes and exact forward -------------------------------------------------------------

def test_the_spec_gives_the_canonical_embedding():
    prog = parse_net("Embedding(6,3),Linear(3,2,bias)", "net:...")
    assert prog.layers[0] == Embedding(6, 3)
    assert prog.canonical()[0] == ["embedding", 6, 3]
    assert prog.spec == prog.name == "net:Embedding(6,3),Linear(3,2,bias)"
    for text, fragment in [("Embedding(6)", "unknown layer 1"),
                           ("Embedding(6,0)", "must have positive int sizes (tokens, dim)"),
                           ("Embedding(6,3,bias)", "unknown layer 1"),
                           ("Embedding(a,3)", "must have positive int sizes")]:
        with pytest.raises(InputError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
            parse_net(text, "net:" + text)


def test_the_class_checks_its_arguments():
    with pytest.raises(InputError, match="Argument 'embedding_dim' of Embedding\\(6, -1\\) must "
                                         "be a positive int, not -1"):
        Embedding(6, -1)
    with pytest.raises(InputError, match="Argument 'num_embeddings' of Embedding\\(True, 3\\)"):
        Embedding(True, 3)
    with pytest.raises(InputError, match="is not a network: layer 2 \\(embedding\\) must be "
                                         "the program's first layer"):
        net(Linear(2, 6), Embedding(6, 3))
    with pytest.raises(InputError, match="must be the program's first layer"):
        net(Embedding(2, 2), Residual(Embedding(2, 2)))


def test_the_exact_forward_reads_the_row_of_the_token():
    layers = net(Embedding(3, 2), Linear(2, 1, bias=True)).canonical()
    E = [[1, 2], [3, Fraction(1, 2)], [-1, 0]]
    values = {f"W1_{j}_{i}": E[i][j] for i in range(3) for j in range(2)}
    values.update({"W2_0_0": 1, "W2_0_1": 10, "b2_0": Fraction(1, 3)})
    for i in range(3):
        onehot = [int(t == i) for t in range(3)]
        assert output(layers, values, onehot) == [E[i][0] + 10 * E[i][1] + Fraction(1, 3)]
    with pytest.raises(ValueError, match="takes a one-hot vector of 3 entries, not 2"):
        output(layers, values, [1, 0])


# -- certificates ------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["expanded", "program"])
def test_a_certificate_with_an_embedding_verifies_and_its_name_is_read_back(engine):
    cert, result = certify(net(Embedding(4, 3), Linear(3, 3, bias=True), ReLU(),
                               Linear(3, 2, bias=True)), reproducible=True, engine=engine)
    assert cert["model"]["program"][0] == ["embedding", 4, 3]
    assert cert["model"]["name"].startswith("net:Embedding(4,3),")
    report = verify_text(certformat.dumps(cert), rng=random.Random(2))
    assert report.ok, str(report)
    (check,) = [c for c in report.checks if c.claim == "model name"]
    assert "the layers parsed from the name are the program in the file" in check.detail


def test_the_verifier_refuses_an_embedding_read_as_a_dense_layer():
    """One token, a bias after: 4 laws (by closure); the same file claiming
    the dense layer's program is refused (that model has 3)."""
    cert, result = certify(net(Embedding(1, 2), Linear(2, 1, bias=True)), reproducible=True)
    assert (result.laws, result.proof) == (4, "closure")
    assert verify_text(certformat.dumps(cert), rng=random.Random(1)).ok
    cert["model"]["program"][0] = ["linear", 1, 2, False]
    cert["model"]["name"] = "net:Linear(1,2),Linear(2,1,bias)"
    cert["model"]["fingerprint"] = certformat.fingerprint(cert["model"])
    report = verify_text(certformat.dumps(cert), rng=random.Random(1))
    assert not report.ok


# -- torch ----------------------------------------------------------------------------------------

torch = pytest.importorskip("torch")
nn = torch.nn


def _target(**options):
    torch.manual_seed(0)
    return nn.Sequential(nn.Embedding(6, 3, **options), nn.Linear(3, 2)).double()


def test_the_target_is_read_checked_and_certified():
    module = _target()
    tm = exactcl.from_torch(module, ())
    assert tm.program.spec == "net:Embedding(6,3),Linear(3,2,bias)"
    assert tm.checked.startswith("output equals the module's forward on 3 random inputs")
    # W1_j_i is weight[i, j] of the embedding
    assert ("W1_2_5", "0.weight", (5, 2)) in tm.parameter_map
    cert, result = tm.certify(None, reproducible=True)
    assert (result.laws, result.proof) == (6, "sandwich")
    assert verify_text(certformat.dumps(cert), rng=random.Random(4)).ok
    # the laws as torch functions: E^T E - W^T W of the module's own tensors
    laws = tm.laws(result)
    E, W = module[0].weight.detach(), module[1].weight.detach()
    balance = E.T @ E - W.T @ W
    want = [float(balance[a, b]) for a in range(3) for b in range(a, 3)]
    assert [float(law(module).detach()) for law in laws] == pytest.approx(want, rel=1e-12,
                                                                       abs=1e-12)


def test_the_exact_forward_is_torch_forward_on_every_token():
    module = nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 4), nn.ReLU(),
                           nn.Linear(4, 2)).double()
    tm = exactcl.from_torch(module, ())
    values = {ex: Fraction(float(dict(module.named_parameters())[t].detach()[idx]))
              for ex, t, idx in tm.parameter_map}
    with torch.no_grad():
        got = module(torch.arange(5))
    for i in range(5):
        exact = output(tm.program.canonical(), values, [int(t == i) for t in range(5)])
        assert [float(v) for v in exact] == pytest.approx(got[i].tolist(), rel=1e-14, abs=1e-14)


def test_one_token_as_a_sequence_of_one_is_read_and_flattened():
    torch.manual_seed(1)
    module = nn.Sequential(nn.Embedding(4, 2), nn.Flatten(), nn.Linear(2, 3)).double()
    tm = exactcl.from_torch(module, (1,))
    assert tm.program.spec == "net:Embedding(4,2),Linear(2,3,bias)"
    with pytest.raises(InputError, match="flatten first"):
        exactcl.from_torch(nn.Sequential(nn.Embedding(4, 2), nn.Linear(2, 3)), (1,))


def test_the_padding_row_is_frozen():
    module = _target(padding_idx=2)
    tm = exactcl.from_torch(module, ())
    assert tm.name == "frozen 0.weight[2] of net:Embedding(6,3),Linear(3,2,bias)"
    assert [(ex, idx) for ex, _, idx, _ in tm.frozen] == [(f"W1_{j}_2", (2, j)) for j in range(3)]
    assert all(value == 0 for *_, value in tm.frozen)  # torch starts the padding row at zero
    assert len(tm.parameter_map) == 26 - 3
    assert "frozen (held at their values when read): 0.weight[2]" in tm.describe()
    # the count is that of phi on one-hot data with row 2 held at zero, by hand
    symbols, phi = _hand_phi(6, 3, None, 2, True)
    zero = {s: 0 for s in symbols if str(s).endswith("_2") and str(s).startswith("W1_")}
    phi = [p.subs(zero) for p in phi]
    trained = [s for s in symbols if s not in zero]
    assert tm.count().laws == exactcl.count(exactcl.from_phi([p for p in phi if p != 0],
                                                             trained)).laws


@pytest.mark.parametrize("options,fragment", [
    ({"max_norm": 1.0}, "has max_norm=1.0 (renormalises the rows it reads, in place)"),
    ({"sparse": True}, "has sparse=True"),
    ({"scale_grad_by_freq": True}, "has scale_grad_by_freq=True"),
])
def test_options_exactcl_cannot_read_are_refused_naming_them(options, fragment):
    with pytest.raises(InputError) as info:
        exactcl.from_torch(_target(**options), ())
    message = str(info.value)
    assert fragment in message and "an Embedding with" in message
    assert len(message.splitlines()) == 1


def test_several_tokens_and_an_embedding_after_a_layer_are_refused():
    with pytest.raises(InputError, match="'example_input_shape' must be \\(\\) \\(one token per "
                                         "example.*shared weights"):
        exactcl.from_torch(_target(), (4,))

    with pytest.raises(InputError, match="an Embedding reading the module's input"):
        exactcl.from_torch(nn.Sequential(nn.Linear(1, 1), nn.Embedding(3, 2)), (1,))


def test_the_proofs_script_reproduces_its_committed_certificates():
    """proofs/embedding_layers.py in check mode, every case: each certificate
    recomputed byte for byte (software versions aside) and verified."""
    import io
    import pathlib

    from exactcl.workflows.reproduce import load_script, run_claim
    root = pathlib.Path(__file__).resolve().parents[1]
    module = load_script(root / "proofs" / "embedding_layers.py")
    out = io.StringIO()
    report = run_claim(module.CLAIM_ID, module.TITLE, module.SOURCE, module.cases(),
                       data_dir=root / "data", check=True, quick=False,
                       progress=lambda s: print(s, file=out), finding=module.finding)
    assert report.ok, out.getvalue()
    assert len(report.outcomes) == 16 and all(o.agrees for o in report.outcomes)
    assert "(4 against 3)" in report.finding


def test_the_functional_embedding_and_a_bare_module_are_read():
    class Functional(nn.Module):
        def __init__(self, **options):
            super().__init__()
            torch.manual_seed(2)
            self.E, self.lin = nn.Parameter(torch.randn(4, 3)), nn.Linear(3, 2)
            self.options = options

        def forward(self, x):
            return self.lin(nn.functional.embedding(x, self.E, **self.options))

    module = Functional(padding_idx=-1).double()
    tm = exactcl.from_torch(module, ())
    assert tm.name == "frozen E[3] of net:Embedding(4,3),Linear(3,2,bias)"
    assert tm.checked.startswith("output equals the module's forward")
    # the row F.embedding reads as padding_idx=-1, held at its (nonzero) values
    assert [v for *_, v in tm.frozen] == [Fraction(v) for v in module.E[3].tolist()]
    with pytest.raises(InputError, match="has max_norm=2.0"):
        exactcl.from_torch(Functional(max_norm=2.0), ())
    bare = exactcl.from_torch(nn.Embedding(3, 2), ())
    assert bare.program.spec == "net:Embedding(3,2)" and bare.count().laws == 0

