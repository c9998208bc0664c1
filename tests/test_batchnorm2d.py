"""BatchNorm2d in training mode (docs/design.md, BatchNorm2d): the kernel's
probe fields against SymPy's derivatives of the real model (square roots,
convolutions and poolings from their definitions) at a batch of zero
images, counts against the laws derived by hand, certificates, the torch
translation against the module's own forward, and bad input."""

import json
import os
import random

os.environ.setdefault("SYMPY_GROUND_TYPES", "python")

import pytest  # noqa: E402
import sympy  # noqa: E402

import exactcl  # noqa: E402
from exactcl import Conv2d, InputError, Linear, ReLU, net  # noqa: E402
from exactcl.kernel.blocks import BlockLayout, Words, check_blocks, random_probe  # noqa: E402
from exactcl.kernel.rankcheck import TOKEN_EXPANSION, ZERO_EXPANSION  # noqa: E402
from exactcl.layers.batchnorm import BatchNorm2d  # noqa: E402
from exactcl.models.specs import parse_spec  # noqa: E402

from .sympy_token_networks import kernel_and_real, residue  # noqa: E402

P = 2**61 - 1

CONV = ["conv", 1, 2, [2, 2], [1, 1], True, [3, 3]]
PADDED = ["conv", 1, 2, [3, 3], [1, 1], True, [3, 3], [[1, 1], [1, 1]], [1, 1], 1]

NETWORKS = {
    # the brief's size: Conv2d(1,2,2) on 3x3 images, BatchNorm2d(2, batch=2), ReLU, Linear(8,2)
    "conv-bn-relu-linear": [CONV, ["batch_norm_2d", 2, "1/10", True, 2], ["relu"],
                            ["linear", 8, 2, True]],
    "padded-first-conv": [PADDED, ["batch_norm_2d", 2, "1/3", True, 2], ["relu"],
                          ["linear", 18, 2, True]],
    "no-affine-batch-3": [CONV, ["batch_norm_2d", 2, "2/3", False, 3], ["linear", 8, 1, False]],
    "two-convs-maxpool": [["conv", 1, 2, [2, 2], [1, 1], True, [4, 4]],
                          ["conv", 2, 2, [2, 2], [1, 1], True, [3, 3]],
                          ["batch_norm_2d", 2, "1/5", True, 2], ["relu"],
                          ["maxpool", 2, [2, 2], [1, 1], [2, 2]], ["linear", 2, 1, True]],
    "residual-convs-avgpool-after": [
        ["conv", 1, 2, [2, 2], [1, 1], True, [4, 4]], ["batch_norm_2d", 2, "1/2", True, 2],
        ["residual", [["conv", 2, 2, [1, 1], [1, 1], True, [3, 3]], ["relu"],
                      ["conv", 2, 2, [1, 1], [1, 1], False, [3, 3]]]],
        ["avgpool", 2, [2, 2], [1, 1], [3, 3]], ["linear", 8, 1, True]],
}


#: About a minute each in SymPy: run with --runslow.
SLOW = ("two-convs-maxpool", "residual-convs-avgpool-after")


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in sorted(NETWORKS)])
def test_probe_fields_are_gradients_of_the_real_models_taylor_coefficients(name):
    """grad F . v from the kernel (jets mod p, eps^(-1/2) replaced by 1, the
    input's order 0 the zero image) against d/ds of SymPy's real F(theta +
    s v) with its square roots: order 0 is free of sqrt(eps), every other
    order is sqrt(eps)^-1 times a rational, so sqrt(eps) times it is the
    kernel's."""
    layers = NETWORKS[name]
    eps = next(sympy.Rational(layer[2]) for layer in layers if layer[0] == "batch_norm_2d")
    got, orders = kernel_and_real(layers, random.Random(7), P)
    assert orders[0].is_rational
    scaled = [sympy.simplify(sympy.expand(o * sympy.sqrt(eps))) for o in orders[1:]]
    assert all(o.is_rational for o in scaled), scaled
    assert any(o != 0 for o in scaled)  # the normalisation is seen, not only beta
    assert got == residue(orders[0] + sum(scaled), P)


def test_a_batch_of_images_not_constant_per_channel_is_refused_by_the_kernel():
    """The kernel's rule holds at a batch of zero images only: identical
    examples with a nonzero image x0 give a convolution output that is not
    constant per channel, and the evaluation is refused."""
    from exactcl.kernel import tokens
    lay = BlockLayout(NETWORKS["conv-bn-relu-linear"])
    probe = random_probe(lay, "test", 0)
    toks, sigma, seeds = tokens.constants(lay, probe, P)
    assert all(not any(int(v) for v in t[0].entries()) for t in toks)  # x0 = 0
    x0 = toks[0][tokens.T_BITS[0]]  # any image, the same for every example
    toks = [{**t, 0: x0} for t in toks]
    words = Words(lay, [probe], {}, [1] * lay.D, P)
    with pytest.raises(ValueError, match="not identical images constant per channel"):
        tokens.gradient(words, (toks, sigma, seeds), words.point)


def test_existing_token_programs_keep_their_probe_sizes():
    """Token probes take the input's shape: a vector's is d_in x 1 as before."""
    lay = BlockLayout([["linear", 2, 3, True], ["batch_norm", 3, "1/3", True, 3],
                       ["linear", 3, 2, True]])
    assert lay.probe_sizes() == (2 * 4, [], 4 * 3 * 2)
    lay = BlockLayout(NETWORKS["conv-bn-relu-linear"])
    assert lay.probe_sizes() == (9 * 3, [8], 4 * 2 * 2)


# -- counts against the laws derived by hand ---------------------------------------------------

@pytest.mark.parametrize("spec, laws, kinds", [
    # the conv's 2 bias entries (the centring removes them) + 2 affine units (gamma_c, beta_c)
    # against the Linear's columns of channel c, across the ReLU
    ("Conv2d(1,2,2,bias,size=3x3),BatchNorm2d(2,batch=2),ReLU,Linear(8,2,bias)", 4,
     {"removes it": 2, "unit": 2}),
    ("Conv2d(1,2,3,padding=1,bias,size=3x3),BatchNorm2d(2,batch=2),ReLU,Linear(18,2,bias)", 4,
     {"removes it": 2, "unit": 2}),
    # without affine parameters only the bias before it
    ("Conv2d(1,3,2,bias,size=3x3),BatchNorm2d(3,batch=4,affine=False),ReLU,Linear(12,2,bias)",
     3, {"removes it": 3}),
    # no bias: the affine units only
    ("Conv2d(2,3,2,size=3x3),BatchNorm2d(3,batch=2,eps=1/10),ReLU,Linear(12,2)", 3,
     {"unit": 3}),
    # two convolutions (the first padded): both biases, the balancedness of the two convs
    # (3 entries of a symmetric 2 x 2), the affine units across ReLU and max pooling
    ("Conv2d(1,2,3,padding=1,bias,size=4x4),Conv2d(2,2,2,bias),BatchNorm2d(2,batch=2),ReLU,"
     "MaxPool2d(2),Linear(2,2,bias)", 9, {"removes it": 4, "unit": 2, "balancedness": 3}),
])
def test_counts_are_sandwiches_of_the_laws_derived_by_hand(spec, laws, kinds):
    r = exactcl.count(parse_spec("net:" + spec))
    assert (r.laws, r.proof) == (laws, "sandwich")
    labels = list(r.exhibited_labels)
    assert {key: sum(key in x for x in labels) for key in kinds} == kinds
    assert len(labels) == laws
    # the channel scales of eps = 0 are candidates, each rejected by its check
    assert all("broken at order eps" in str(x) for x in r.rejected)


def test_the_spec_and_the_api_agree():
    prog = net(Conv2d(1, 2, 2, bias=True, size=(3, 3)), BatchNorm2d(2, batch=3, eps="1/1000"),
               ReLU(), Linear(8, 2, bias=True))
    assert prog.spec == ("net:Conv2d(1,2,2x2,bias,size=3x3),BatchNorm2d(2,batch=3,eps=1/1000),"
                         "ReLU,Linear(8,2,bias)")
    assert prog.layout.tokens == 3
    assert exactcl.count(prog).laws == exactcl.count(parse_spec(prog.spec)).laws == 4


def test_a_certificate_verifies_and_a_changed_one_is_refused(tmp_path):
    from exactcl.kernel.verifier import verify
    prog = net(Conv2d(1, 2, 2, bias=True, size=(3, 3)), BatchNorm2d(2, batch=2), ReLU(),
               Linear(8, 2, bias=True))
    cert, result = exactcl.certify(prog, tmp_path / "c.json", reproducible=True)
    assert (result.laws, result.proof) == (4, "sandwich")
    assert cert["lie"]["generators"]["family"].startswith("exactcl-tokens-")
    assert cert["lie"]["generators"]["expansion"] == ZERO_EXPANSION
    report = verify(tmp_path / "c.json", rng=random.Random(1))
    assert report.ok, str(report)
    for change in ("rank", "eps", "expansion", "identical tokens"):
        bad = json.loads(json.dumps(cert))
        if change == "expansion":
            del bad["lie"]["generators"]["expansion"]
        elif change == "identical tokens":  # the argument of BatchNorm1d is not this one
            bad["lie"]["generators"]["expansion"] = TOKEN_EXPANSION
        elif change == "rank":
            bad["lie"]["rank"] += 1
            bad["claim"]["lie_dimension"] += 1
            bad["claim"]["laws"] -= 1
        else:  # another model: its fields are not those of the certificate
            text = json.dumps(bad).replace('"1/100000"', '"1/1000"')
            assert text != json.dumps(bad)
            bad = json.loads(text)
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        assert not verify(tmp_path / "bad.json", rng=random.Random(1)).ok, change


# -- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("layers, message", [
    ([CONV, ["relu"], ["batch_norm_2d", 2, "1/10", True, 2], ["linear", 8, 1, False]],
     r"layer 3 \(batch_norm_2d\) may follow only convolutions .* not layer 2 \(relu\)"),
    ([PADDED, ["conv", 2, 2, [3, 3], [1, 1], True, [3, 3], [[1, 1], [1, 1]], [1, 1], 1],
      ["batch_norm_2d", 2, "1/10", True, 2], ["linear", 18, 1, False]],
     r"may follow a padded convolution only as the first layer .* not layer 2 \(conv with "
     r"padding \[\[1, 1\], \[1, 1\]\]\)"),
    ([CONV, ["batch_norm_2d", 2, "0/1", True, 2], ["linear", 8, 1, False]],
     r"must have eps > 0 \(the expansion at zero images needs it"),
    ([CONV, ["batch_norm_2d", 3, "1/10", True, 2], ["linear", 8, 1, False]],
     "normalises 3 channels, not 2"),
    ([["linear", 2, 4, True], ["batch_norm_2d", 4, "1/10", True, 2], ["linear", 4, 1, False]],
     r"must follow a Conv2d .* not a vector of 4 entries"),
    ([CONV, ["batch_norm_2d", 2, "1/10", True, 2], ["layer_norm", 8, "1/10", False]],
     r"layer 3 \(layer_norm\) cannot act on each token"),
])
def test_bad_programs_are_refused_in_one_line_by_the_kernel(layers, message):
    with pytest.raises(ValueError, match=message) as err:
        check_blocks(layers)
    assert "\n" not in str(err.value)


def test_a_convolution_still_cannot_act_on_the_tokens_of_attention():
    with pytest.raises(ValueError, match=r"layer 2 \(conv\) cannot act on each token"):
        check_blocks([["attention", "softmax", 2, 1, 1, 3], ["conv", 1, 1, [1], [1], False, [2]]])


@pytest.mark.parametrize("layers, message", [
    ((Conv2d(1, 2, 2, size=3), ReLU(), BatchNorm2d(2, batch=2), Linear(8, 1)),
     "may follow only convolutions"),
    ((Conv2d(1, 2, 3, padding=1, size=4), Conv2d(2, 2, 3, padding=1),
      BatchNorm2d(2, batch=2), Linear(32, 1)), "padded convolution only as the first layer"),
])
def test_bad_networks_are_refused_in_one_line(layers, message):
    with pytest.raises(InputError, match=message) as err:
        net(*layers)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("kwargs, message", [
    (dict(eps=0), "must be > 0"),
    (dict(batch=1), "must be 2 to 64 examples, not 1"),
    (dict(eps=0.1), "exact rational"),
])
def test_bad_layers_are_refused_naming_the_argument(kwargs, message):
    args = dict(num_features=3, batch=4) | kwargs
    with pytest.raises(InputError, match=f"Argument '.*' of BatchNorm2d {message}"
                       if "exact" not in message else message) as err:
        BatchNorm2d(**args)
    assert "\n" not in str(err.value)


def test_a_spec_without_a_batch_is_refused():
    with pytest.raises(InputError, match=r"BatchNorm2d\(C,batch=N\)"):
        parse_spec("net:Conv2d(1,2,2,size=3x3),BatchNorm2d(2),Linear(8,3)")


# -- from_torch: nn.BatchNorm2d in training mode, read with batch_size -------------------------

torch = pytest.importorskip("torch")
nn = torch.nn


def _module(eps=1e-5, affine=True):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2, eps=eps, affine=affine),
                         nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))


def test_from_torch_reads_batchnorm2d_in_training_mode_and_certifies_it(tmp_path):
    """The translation's output equals the module's training-mode forward
    on batches of 4 images (from_torch checks it on copies of the buffers:
    the running statistics stay as they were), and the count, 2 conv bias
    entries + 2 affine channels, is a certified sandwich."""
    from exactcl.kernel.verifier import verify
    module = _module()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    tm = exactcl.from_torch(module, (1, 4, 4), batch_size=4)
    assert "output equals the module's forward" in tm.checked
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    assert tm.program.spec == ("net:Conv2d(1,2,3x3,padding=1x1,bias,size=4x4),"
                               "BatchNorm2d(2,batch=4),ReLU,Linear(32,3,bias)")
    names = {ex: (t, idx) for ex, t, idx in tm.parameter_map}
    assert names["G2_1"] == ("1.weight", (1,)) and names["b2_0"] == ("1.bias", (0,))
    cert, r = exactcl.certify(tm, tmp_path / "torch.json", reproducible=True)
    assert (r.laws, r.proof) == (4, "sandwich")
    assert verify(tmp_path / "torch.json", rng=random.Random(2)).ok


def test_the_forward_check_catches_a_wrong_batch_statistic(monkeypatch):
    """A translation normalising over the examples only (per position, as
    if the positions were features) would be refused by the check."""
    import math
    from fractions import Fraction

    from exactcl.layers import batchnorm

    def per_position(layer, run, tokens):
        _, C, eps, affine, N = layer
        number = run.layer = run.layer + 1
        out = [[0.0] * len(tokens[0]) for _ in range(N)]
        for e in range(len(tokens[0])):
            col = [Fraction(t[e]) for t in tokens]
            mean = sum(col) / N
            s = 1 / math.sqrt(sum((v - mean) ** 2 for v in col) / N + Fraction(eps))
            c = e * C // len(tokens[0])
            for i in range(N):
                out[i][e] = (float(run.value(f"G{number}_{c}")) * float(col[i] - mean) * s
                             + float(run.value(f"b{number}_{c}")))
        return out
    monkeypatch.setattr(batchnorm.BatchNorm2d, "forward_tokens", staticmethod(per_position))
    with pytest.raises(InputError, match="is not what exactcl read"):
        exactcl.from_torch(_module(), (1, 4, 4), batch_size=4)


@pytest.mark.parametrize("make, kwargs, message", [
    (lambda: _module().eval(), dict(batch_size=4), "is a BatchNorm2d in eval mode"),
    (_module, dict(), r"is a BatchNorm2d read without a batch size; exactcl expected "
                      r"from_torch\(..., batch_size=N\)"),
    (lambda: _module(eps=0.0), dict(batch_size=4), "eps > 0"),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.BatchNorm2d(2), nn.Flatten(),
                           nn.Linear(8, 1)), dict(batch_size=2), "may follow only convolutions"),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 1)),
     dict(batch_size=2), "Argument 'batch_size' is for a module with a BatchNorm1d or "
                         "BatchNorm2d"),
])
def test_from_torch_refuses_what_it_cannot_read_in_one_line(make, kwargs, message):
    with pytest.raises(InputError, match=message) as err:
        exactcl.from_torch(make(), (1, 4, 4), **kwargs)
    assert "\n" not in str(err.value)
