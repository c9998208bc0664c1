"""The block evaluator (exactcl.kernel.blocks) against an independent SymPy model
of each layer: convolutions by explicit loops, residual sums, attention by
its matrix formulas; values, brackets and the expansion."""

import random

import pytest
import sympy

from exactcl.kernel.blocks import (
    BlockLayout,
    Words,
    check_blocks,
    expand,
    random_probe,
    random_probe_mod,
)
from exactcl.kernel.evaluator import Layout, Probe
from exactcl.kernel.evaluator import Words as ChainWords

P = 1_000_003


def _symbols(lay):
    return sympy.symbols(lay.parameters)


def _tensor(lay, syms, t):
    _, rows, cols, o = lay.tensors[t]
    return sympy.Matrix(rows, cols, syms[o:o + rows * cols])


def _reference_output(layers, lay, syms, x, sigma):
    """The program's output as a SymPy column, written from the layer
    definitions (not from the evaluator's ops)."""
    counter = {"w": 0, "b": 0, "relu": 0}
    weights = [t for t, (prefix, *_rest) in enumerate(lay.tensors) if not prefix.startswith("b")]
    biases = [t for t, (prefix, *_rest) in enumerate(lay.tensors) if prefix.startswith("b")]

    def run(seq, a, shape):
        for layer in seq:
            if layer[0] == "linear":
                _, n_in, n_out, bias = layer
                W = _tensor(lay, syms, weights[counter["w"]])
                counter["w"] += 1
                a = W * sympy.Matrix(a).reshape(n_in, 1)
                if bias:
                    a = a + _tensor(lay, syms, biases[counter["b"]])
                    counter["b"] += 1
                shape = None
            elif layer[0] == "relu":
                s = sigma[counter["relu"]]
                counter["relu"] += 1
                a = sympy.Matrix(len(a), 1, [v * s[i] for i, v in enumerate(a)])
            elif layer[0] == "conv":
                _, c_in, c_out, kernel, stride, bias, size = layer
                Kt = _tensor(lay, syms, weights[counter["w"]])
                counter["w"] += 1
                b = None
                if bias:
                    b = _tensor(lay, syms, biases[counter["b"]])
                    counter["b"] += 1
                dims = len(size)
                out_size = [(s - k) // t + 1 for s, k, t in zip(size, kernel, stride)]
                offsets = ([(t,) for t in range(kernel[0])] if dims == 1 else
                           [(r, c) for r in range(kernel[0]) for c in range(kernel[1])])
                positions = ([(q,) for q in range(out_size[0])] if dims == 1 else
                             [(q, r) for q in range(out_size[0]) for r in range(out_size[1])])
                P_in = 1
                for s in size:
                    P_in *= s
                out = []
                for o in range(c_out):
                    for pos in positions:
                        acc = b[o] if b is not None else 0
                        for i in range(c_in):
                            for ti, t in enumerate(offsets):
                                flat = 0
                                for ax in range(dims):
                                    flat = flat * size[ax] + pos[ax] * stride[ax] + t[ax]
                                acc += Kt[o, i * len(offsets) + ti] * a[i * P_in + flat]
                        out.append(acc)
                a = sympy.Matrix(len(out), 1, out)
            else:
                a = sympy.Matrix(a) + run(layer[1], a, shape)
        return sympy.Matrix(a)

    return run(layers, sympy.Matrix(len(x), 1, list(x)), None)


def _reference_F(layers, lay, syms, probe):
    if lay.attention is not None:
        _, kind, d, heads, k, N = lay.attention
        F = 0
        for h in range(heads):
            Q, K, V, O = (_tensor(lay, syms, 4 * h + t) for t in range(4))  # noqa: E741
            A, B = Q.T * K, V.T * O
            if kind == "factors":
                Ph = sympy.Matrix(d, d, probe.x[h * d * d:(h + 1) * d * d])
                Rh = sympy.Matrix(d, d, probe.u[h * d * d:(h + 1) * d * d])
                F += sum(Ph.multiply_elementwise(A)) + sum(Rh.multiply_elementwise(B))
                continue
            X = sympy.Matrix(N, d, probe.x)
            if kind == "linear":
                U = sympy.Matrix(N, d, probe.u)
                F += sum(U.multiply_elementwise(X * A * X.T * X * B))
            else:
                U1 = sympy.Matrix(N, d, probe.u[:N * d])
                U3 = sympy.Matrix(N, d, probe.u[N * d:])
                J = sympy.ones(N, N)
                # N * (order 1) and N^2 * (order 3) of softmax(X A X^T) X B in X
                # (test_softmax_taylor_coefficients checks these formulas)
                S = X * A * X.T
                C = N * sympy.eye(N) - J
                F += sum(U1.multiply_elementwise(J * X * B))
                F += sum(U3.multiply_elementwise(S * C * X * B))
        return F
    out = _reference_output(layers, lay, syms, probe.x, probe.sigma)
    return sum(u * v for u, v in zip(probe.u, out))


PROGRAMS = {
    "chain": [["linear", 2, 3, True], ["relu"], ["linear", 3, 2, False]],
    "residual-relu": [["linear", 2, 3, False],
                      ["residual", [["linear", 3, 2, True], ["relu"], ["linear", 2, 3, True]]]],
    "residual-chain": [["linear", 2, 2, False], ["residual", [["linear", 2, 2, False]]],
                       ["relu"], ["residual", [["linear", 2, 3, False], ["relu"],
                                               ["linear", 3, 2, False]]]],
    "conv1d": [["conv", 2, 2, [2], [1], True, [4]], ["relu"],
               ["conv", 2, 1, [2], [1], False, [3]]],
    "conv1d-stride-dense": [["conv", 1, 2, [2], [2], False, [5]], ["relu"],
                            ["linear", 4, 2, False]],
    "conv2d": [["conv", 1, 2, [2, 2], [1, 1], True, [3, 3]], ["relu"], ["linear", 8, 1, False]],
    "residual-conv": [["conv", 1, 2, [2], [1], False, [4]],
                      ["residual", [["conv", 2, 2, [1], [1], False, [3]], ["relu"],
                                    ["conv", 2, 2, [1], [1], False, [3]]]]],
    "attention-factors": [["attention", "factors", 2, 2, 1, 3]],
    "attention-linear": [["attention", "linear", 2, 2, 1, 3]],
    "attention-softmax": [["attention", "softmax", 2, 1, 2, 3]],
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_probe_gradient_matches_an_independent_model(name):
    layers = PROGRAMS[name]
    lay = BlockLayout(layers)
    syms = _symbols(lay)
    rng = random.Random(name)
    point = [rng.randrange(1, 50) for _ in range(lay.D)]
    for k in range(3):
        probe = random_probe_mod(lay, 97, rng) if k else random_probe(lay, "test", k)
        F = _reference_F(layers, lay, syms, probe)
        subs = dict(zip(syms, point))
        want = {i: int(sympy.diff(F, s).subs(subs)) % P for i, s in enumerate(syms)}
        want = {i: v for i, v in want.items() if v}
        assert Words(lay, [probe], {}, point, P).value(0) == want


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_bracket_matches_the_jacobian_formula(name):
    """[X, Y] = DY X - DX Y from SymPy gradients of two probes' F."""
    layers = PROGRAMS[name]
    lay = BlockLayout(layers)
    syms = _symbols(lay)
    rng = random.Random(name + "b")
    point = [rng.randrange(1, 50) for _ in range(lay.D)]
    probes = [random_probe_mod(lay, 89, rng) for _ in range(2)]
    X, Y = (sympy.Matrix([sympy.diff(_reference_F(layers, lay, syms, pr), s) for s in syms])
            for pr in probes)
    v = sympy.Matrix(syms)
    br = Y.jacobian(v) * X - X.jacobian(v) * Y
    subs = dict(zip(syms, point))
    want = {i: int(e.subs(subs)) % P for i, e in enumerate(br)}
    want = {i: x for i, x in want.items() if x}
    assert Words(lay, probes, {2: (0, 1)}, point, P).value(2) == want


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_expansion_spans_the_probe_fields(name):
    """grad F of a probe is a combination of the expanded components' gradients."""
    from flint import fmpq_mpoly_ctx
    layers = PROGRAMS[name]
    lay = BlockLayout(layers)
    ctx = fmpq_mpoly_ctx.get(lay.parameters, "lex")
    phi = expand(lay, ctx.gens(), ctx.from_dict({}) + 1)
    syms = _symbols(lay)
    rng = random.Random(name + "e")
    point = [rng.randrange(1, 50) for _ in range(lay.D)]
    grads = sympy.Matrix([[sympy.sympify(str(c.derivative(i))).subs(dict(zip(syms, point)))
                           for i in range(lay.D)] for c in phi])
    probe = random_probe_mod(lay, 101, rng)
    F = _reference_F(layers, lay, syms, probe)
    g = sympy.Matrix([[sympy.diff(F, s).subs(dict(zip(syms, point))) for s in syms]])
    assert grads.rank() == grads.col_join(g).rank()
    # and F itself is a combination of phi's components with constant coefficients
    assert len(phi) <= lay.phi_terms()


def test_chain_programs_agree_with_the_chain_evaluator():
    layers = [["linear", 2, 3, True], ["relu"], ["linear", 3, 3, True], ["relu"],
              ["linear", 3, 2, False]]
    bl, cl = BlockLayout(layers), Layout(layers)
    assert bl.parameters == cl.parameters and bl.phi_terms() == cl.phi_terms()
    rng = random.Random(3)
    point = [rng.randrange(P) for _ in range(bl.D)]
    probes = [random_probe(bl, "agree", k) for k in range(4)]
    chain = [Probe(q.x, [1] * len(cl.sources), q.sigma, q.u) for q in probes]
    brackets = {4: (0, 1), 5: (4, 2), 6: (5, 3)}
    a = Words(bl, probes, dict(brackets), point, P)
    b = ChainWords(cl, chain, dict(brackets), point, P)
    assert all(a.value(n) == b.value(n) for n in range(7))


@pytest.mark.parametrize("layers, message", [
    ([["conv", 1, 2, [5], [1], False, [4]]], "kernel 5 larger than its input"),
    ([["conv", 1, 2, [2], [0], False, [4]]], "positive stride"),
    ([["linear", 2, 2, False], ["residual", [["linear", 2, 3, False]]]], "same shape"),
    ([["attention", "factors", 2, 1, 1, 3], ["linear", 2, 2, False]],
     "only softmax attention may sit"),
    ([["attention", "softmax", 2, 1, 1, 3], ["attention", "softmax", 2, 1, 1, 3]],
     "at most one layer that mixes tokens"),
    ([["attention", "cosine", 2, 1, 1, 3]], "kind one of"),
    ([["linear", 4, 2, False], ["conv", 2, 2, [1], [1], False, [2]]], "gives a vector"),
])
def test_bad_programs_are_refused_naming_the_layer(layers, message):
    with pytest.raises(ValueError, match=message):
        check_blocks(layers)


def test_softmax_taylor_coefficients():
    """The orders 1 and 3 in eps of softmax(eps^2 X A X^T) eps X B are
    (1/N) J X B and (1/N^2) S (N I - J) X B, S = X A X^T (the formulas the
    softmax attention probes use), from SymPy's series of the exponentials."""
    N, d = 3, 2
    eps = sympy.Symbol("eps")
    X = sympy.Matrix(N, d, sympy.symbols(f"x0:{N * d}"))
    A = sympy.Matrix(d, d, sympy.symbols(f"a0:{d * d}"))
    B = sympy.Matrix(d, d, sympy.symbols(f"b0:{d * d}"))
    S = X * A * X.T
    E = (eps ** 2 * S).applyfunc(lambda z: sympy.series(sympy.exp(z), eps, 0, 4).removeO())
    soft = sympy.Matrix(N, N, lambda i, j: E[i, j] / sum(E[i, k] for k in range(N)))
    g = soft * (eps * X) * B
    J = sympy.ones(N, N)
    want1 = J * X * B / N
    want3 = S * (N * sympy.eye(N) - J) * X * B / N ** 2
    for (i, j) in [(0, 0), (1, 1), (2, 0)]:
        series = sympy.series(g[i, j], eps, 0, 4).removeO()
        assert sympy.expand(series.coeff(eps, 1) - want1[i, j]) == 0
        assert sympy.expand(series.coeff(eps, 3) - want3[i, j]) == 0


# -- models, gradings and counts of block programs -----------------------------------------

def _program(layers):
    from exactcl.layers.program import net
    return net(*layers)


def test_unit_gradings_are_gradings_of_the_expanded_generators():
    """Every expanded generator is homogeneous for unit_grading: for each
    weight row one shift weight per generator, and one sign character (the
    shift of a term of grad phi_c . d/d theta_v is its monomial minus e_v)."""
    import exactcl
    from exactcl.engine.search import _sparse_terms
    from exactcl.layers.program import Attention, Conv1d, Linear, LinearAttention, ReLU, Residual
    from exactcl.models.blocks import unit_grading
    programs = [
        (Linear(2, 2), Residual(Linear(2, 3, bias=True), ReLU(), Linear(3, 2)), ReLU(),
         Linear(2, 1)),
        (Linear(2, 2), Residual(Linear(2, 2)), Residual(Linear(2, 2))),
        (Conv1d(1, 2, 2, length=4, bias=True), ReLU(), Conv1d(2, 2, 2), Linear(4, 1)),
        (Attention(2, 2, 1, kind="factors"),), (Attention(2, 2, 1),), (LinearAttention(2, 2, 1),),
    ]
    for layers in programs:
        prog = _program(layers)
        weights, masks = unit_grading(prog.layout)
        assert any(masks) or not weights
        for g in exactcl.from_program(prog).generators:
            shifts = set()
            for v, terms in _sparse_terms(g):
                for mono, _ in terms:
                    s = dict(mono)
                    s[v] = s.get(v, 0) - 1
                    chi = 0
                    for k, e in s.items():
                        if e % 2:
                            chi ^= masks[k]
                    shifts.add((tuple(sum(row[k] * e for k, e in s.items()) for row in weights),
                                chi))
            assert len(shifts) == 1, prog.name


def _count(layers, **options):
    import exactcl
    return exactcl.count(_program(layers), **options)


def _relu_block(n, h, bias=False):
    from exactcl.layers.program import Linear, ReLU, Residual
    return Residual(Linear(n, h, bias=bias), ReLU(), Linear(h, n, bias=bias))


# (layers, laws): residual blocks have the laws of their branch, one per hidden
# neuron (Marcotte, Peyre, Gribonval 2025); convolutional ReLU blocks one per
# hidden channel; attention k(k+1) per head for k <= 2 d (two two-layer linear
# factors, Corollary 4.4 of the NeurIPS paper); softmax-free attention one more
# per head (A_h -> c A_h, B_h -> B_h / c).
def _table():
    from exactcl.layers.program import Attention, Conv1d, Conv2d, Linear, LinearAttention, ReLU
    return {
        "residual relu 3-4-3": ([_relu_block(3, 4)], 4),
        "residual relu 3-4-3 with bias": ([_relu_block(3, 4, True)], 4),
        "two residual relu blocks": ([Linear(2, 3), _relu_block(3, 2), _relu_block(3, 2)], 4),
        "conv relu 2 channels": ([Conv1d(1, 2, 2, length=5), ReLU(), Conv1d(2, 1, 2)], 2),
        "conv relu 3 channels, dense head": ([Conv1d(2, 3, 2, length=4, bias=True), ReLU(),
                                              Linear(9, 2)], 3),
        "conv2d relu 2 channels": ([Conv2d(1, 2, 2, size=(3, 3)), ReLU(), Linear(8, 1)], 2),
        "attention factors d=2 k=1": ([Attention(2, 1, 1, kind="factors")], 2),
        "attention factors d=2 k=2, 2 heads": ([Attention(2, 2, 2, kind="factors")], 12),
        "softmax attention d=2 k=1, 2 heads": ([Attention(2, 2, 1)], 4),
        "linear attention d=2 k=1": ([LinearAttention(2, 1, 1)], 3),
    }


@pytest.mark.parametrize("name", sorted(_table()))
def test_block_counts_from_the_papers(name):
    layers, want = _table()[name]
    for engine in ("expanded", "program"):
        r = _count(layers, engine=engine)
        assert (r.laws, r.proof) == (want, "sandwich"), (engine, r.explanation)


@pytest.mark.parametrize("stream_relu", [True, False])
def test_a_residual_stream_between_a_stem_and_a_head_rescales(stream_relu):
    """A stem writes the stream, each block's last layer adds to it, each
    block's first layer and the head read it: G on the stream's units is a
    symmetry (diagonal across a ReLU on the stream), one law per unit (per
    pair a <= b without the ReLU) beyond the blocks' own; found as well by
    the degree-2 search, and the count certified by sandwich."""
    import exactcl
    from exactcl.layers.program import Linear, ReLU, net
    act = [ReLU()] if stream_relu else []
    prog = net(Linear(2, 2, bias=True), *act, _relu_block(2, 2, True), *act,
               _relu_block(2, 2, True), *act, Linear(2, 1))
    r = exactcl.count(prog)
    stream = [lab for lab in r.exhibited_labels if lab.startswith("residual stream")]
    assert len(stream) == (2 if stream_relu else 3)
    assert r.laws == 4 + len(stream) and r.proof == "sandwich", r.explanation
    assert exactcl.laws(prog, 2).independent == r.laws
    if stream_relu:
        assert stream[0] == "residual stream unit 0 from layer 1 to 6"


def test_linear_residual_blocks_couple_across_the_skip():
    """x -> (I + W3)(I + W2) W1 x is a deep linear net in the shifted
    matrices, so its balancedness laws couple the blocks: 6 quadratic laws,
    W1 W1^T - (I + W2)^T (I + W2) among them."""
    import exactcl
    from exactcl.layers.program import Linear, Residual, net
    prog = net(Linear(2, 2), Residual(Linear(2, 2)), Residual(Linear(2, 2)))
    found = exactcl.laws(prog, 2)
    assert found.independent == 6
    assert ("W1_1_0**2 + W1_1_1**2 - W2_0_1**2 - W2_1_1**2 - 2*W2_1_1"
            in found.strings())


def test_one_channel_linear_convolutions_have_an_antisymmetric_law():
    """1 -> 2 -> 1 channels, kernels 2 and 2: besides the three balancedness
    entries, <K1_0, K2_1> - <K1_1, K2_0> (the composition is a sum of products
    of polynomials, symmetric in each pair)."""
    import exactcl
    from exactcl.layers.program import Conv1d, net
    prog = net(Conv1d(1, 2, 2, length=4), Conv1d(2, 1, 2))
    r = exactcl.count(prog, search_degree=2)
    assert (r.laws, r.proof) == (4, "sandwich")
    assert ("K1_0_0_0*K2_0_1_0 + K1_0_0_1*K2_0_1_1 - K1_1_0_0*K2_0_0_0 - K1_1_0_1*K2_0_0_1"
            in exactcl.laws(prog, 2).strings())


@pytest.mark.parametrize("layers", [
    "Linear(2,2),Residual(Linear(2,2)),Residual(Linear(2,2))",
    "Conv1d(1,2,2,length=4),Conv1d(2,1,2)",
    "LinearAttention(2,2,1)", "Attention(2,2,1)", "Attention(2,1,2,factors)",
    "Conv1d(2,2,3,length=5),ReLU,Conv1d(2,2,3,bias)",
])
def test_law_search_by_evaluation_agrees_with_the_expanded_search(layers):
    import exactcl
    from exactcl.layers.program import parse_net
    prog = parse_net(layers, "net:" + layers)
    a = exactcl.laws(prog, 2, engine="expanded")
    b = exactcl.laws(prog, 2, engine="program")
    assert a.strings() == b.strings() and a.independent == b.independent


@pytest.mark.parametrize("name", ["blocks.py", "layers/__init__.py", "layers/base.py",
                                  "layers/dense.py", "layers/activations.py", "layers/conv.py",
                                  "layers/residual.py", "layers/attention.py",
                                  "layers/embedding.py", "layers/norm.py",
                                  "layers/attention_net.py", "layers/pooling.py",
                                  "layers/heads.py", "layers/batchnorm.py", "tokens.py",
                                  "probes.py"])
def test_the_block_interpreter_and_its_layer_rules_import_only_flint_numpy_and_the_kernel(name):
    """Part of the verifier's trusted base: readable alone."""
    import ast
    import pathlib
    source = pathlib.Path(__file__).parents[1] / "exactcl" / "kernel" / name
    tree = ast.parse(source.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or "") if node.level
                         else node.module.split(".")[0])
    outside = {m for m in imported if not m.startswith(".")}
    assert outside <= {"__future__", "hashlib", "collections", "fractions", "math", "re",
                       "flint", "numpy"}, outside


# -- certificates of block programs: the verifier rejects what was changed ----------------

def _block_bases():
    from exactcl.layers.program import Attention, Conv1d, Linear, ReLU, Residual, net
    return {
        "residual": (net(Linear(2, 2, bias=True), Residual(Linear(2, 2), ReLU(), Linear(2, 2))),
                     {}),
        "conv-probes": (net(Conv1d(1, 2, 2, length=4), ReLU(), Conv1d(2, 1, 2)),
                        {"engine": "program", "identities": "monte-carlo"}),
        "softmax-attention": (net(Attention(2, 2, 1)),
                              {"engine": "program", "identities": "monte-carlo"}),
    }


@pytest.fixture(scope="module")
def block_certs():
    import exactcl
    out = {}
    for name, (prog, options) in _block_bases().items():
        cert, _ = exactcl.certify(prog, reproducible=True, **options)
        out[name] = cert
    return out


def _refit(c):
    from exactcl.kernel import certformat
    c["model"]["fingerprint"] = certformat.fingerprint(c["model"])


def _mutations():
    def attention_kind(c):
        c["model"]["program"][0][1] = "linear"

    def tokens_huge(c):
        c["model"]["program"][0][5] = 10 ** 6

    def heads(c):
        c["model"]["program"][0][3] += 1

    def kernel(c):
        c["model"]["program"][0][3] = [3]

    def kernel_past_input(c):
        c["model"]["program"][0][3] = [5]
        c["model"]["program"][0][6] = [4]

    def positions(c):  # refused on its sizes, before the chain is checked further
        c["model"]["program"] = [["conv", 1, 1, [2], [1], False, [10 ** 6]]]

    def channels(c):
        c["model"]["program"][0][2] += 1

    def residual_width(c):
        c["model"]["program"][1][1][0][2] += 1

    def law(c):
        mono, coeff = c["laws"]["polynomials"][0][0]
        p, _, q = coeff.partition("/")
        c["laws"]["polynomials"][0][0] = [mono, f"{int(p) + 1}/{q}"]

    def rank(c):
        c["lie"]["rank"] += 1

    def laws_claimed(c):
        c["claim"]["laws"] += 1

    def generators_components(c):
        c["lie"]["generators"] = {"kind": "components", "count": c["lie"]["generators"].get(
            "count", 1)}

    return {
        ("softmax-attention", "kind softmax -> linear"): attention_kind,
        ("softmax-attention", "tokens 10^6"): tokens_huge,
        ("softmax-attention", "one more head"): heads,
        ("softmax-attention", "a law's coefficient"): law,
        ("softmax-attention", "the Lie rank"): rank,
        ("conv-probes", "kernel 2 -> 3"): kernel,
        ("conv-probes", "kernel past the input"): kernel_past_input,
        ("conv-probes", "10^6 positions"): positions,
        ("conv-probes", "one more channel"): channels,
        ("conv-probes", "the claimed count"): laws_claimed,
        ("conv-probes", "probe fields said to be components"): generators_components,
        ("residual", "the block's width"): residual_width,
        ("residual", "a law's coefficient"): law,
        ("residual", "the Lie rank"): rank,
    }


@pytest.mark.parametrize("base, what", sorted(_mutations()))
def test_a_changed_block_certificate_is_not_verified(block_certs, base, what):
    import copy

    from exactcl.kernel import certformat
    from exactcl.kernel.verifier import verify_text
    cert = copy.deepcopy(block_certs[base])
    assert verify_text(certformat.dumps(cert)).ok
    _mutations()[(base, what)](cert)
    _refit(cert)
    report = verify_text(certformat.dumps(cert))
    assert not report.ok, report


@pytest.mark.parametrize("spec, message", [
    ("net:Conv1d(1,2,5,length=4)", "kernel 5 larger than its input (size 4)"),
    ("net:Conv2d(1,2,4x1,size=3x3),ReLU,Linear(2,1)", "kernel 4x1 larger than its input"),
    ("net:Conv1d(1,2,2,stride=0,length=4)", "positive int stride"),
    ("net:Attention(8,3)", "'heads' of Attention(8, 3) must divide the model dimension d = 8"),
    ("net:LinearAttention(6,4)", "must divide the model dimension d = 6"),
    ("net:Conv1d(1,2,2)", "the first convolution of a program must name its input's length"),
    ("net:Residual(Linear(2,3))", "must map its input to the same shape"),
    ("net:Attention(2,1,factors),Linear(2,2)", "only softmax attention may sit"),
    ("net:Residual()", "must list the layers of its block"),
])
def test_cli_refuses_bad_blocks_in_one_line(spec, message, capsys):
    from exactcl.interfaces.cli import main
    assert main(["count", spec]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "'SPEC'" in err and len(err.splitlines()) == 1, err


def test_cli_counts_and_certifies_a_block_program(tmp_path, capsys):
    from exactcl.interfaces.cli import main
    spec = "net:Linear(2,2),Residual(Linear(2,3),ReLU,Linear(3,2))"
    assert main(["count", spec]) == 0
    assert "laws        3   (certified: sandwich)" in capsys.readouterr().out
    out = tmp_path / "c.json"
    assert main(["certify", spec, "-o", str(out)]) == 0
    assert main(["verify", str(out)]) == 0
    assert "VERIFIED: exactly 3 independent" in capsys.readouterr().out
