"""Batch normalisation in training mode: a BatchNorm1d after a dense layer
(W, b) normalises each feature over the N examples of a batch, so the model
is that of a batch to its outputs. The centring removes a constant per
feature, so each entry of b is a law (its gradient is zero), not the
column sums a LayerNorm gives; with eps = 0 the scale of each row of W
(with b_j) is a law too, broken at order eps for eps > 0 (torch's 1e-5 =
1/100000) and rejected by its check; affine units (gamma_j, beta_j)
rescale against the columns of the next dense layer. Folklore for the
symmetries (Kunin et al., Neural Mechanics, ICLR 2021, the scale symmetry
of batch normalisation); here the counts are certified at batch sizes 2
to 8, from the Taylor coefficients at a batch of identical examples where
every order carries eps^(-1/2) once or not at all, and with eps = 0 at
a batch v x0^T of opposite examples where every root is rational
(docs/design.md, batch normalisation in training mode), so the list is
proven complete per case.
A ReLU before the normalisation leaves certified bounds only (the
expansion shares the examples' ReLU pattern).

BatchNorm2d (the cases named batchnorm2d_): each channel normalised over
the examples and the positions of a convolution's output, expanded at a
batch of zero images (docs/design.md, BatchNorm2d): each entry of the bias
of every convolution before it, one law per affine channel (gamma_c,
beta_c) against the next layer's weights reading channel c, and the laws
of the layers around it (two convolutions in a row, a convolution after
it), certified at batch sizes 2 and 4.

Run: python proofs/batch_normalisation.py [--check] [--quick]
"""

from fractions import Fraction

from exactcl import BatchNorm1d, BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, net
from exactcl.workflows.reproduce import Case, script_main

CLAIM_ID = "batch_normalisation"
TITLE = ("Batch normalisation in training mode: each bias entry of the dense layer before "
         "it, one law per affine unit, and the scale of each row only at eps = 0")
SOURCE = ("Kunin et al., Neural Mechanics (ICLR 2021), scale and translation symmetries of "
          "batch normalisation; Marcotte, Gribonval, Peyre (NeurIPS 2023), Section 4, the "
          "network's own laws")

EPS = {"eps1e-5": Fraction(1, 100000), "eps1_10": Fraction(1, 10), "eps0": Fraction(0)}


def build(widths, batch, eps, affine, bias, relu, first=True):
    """Linear(n0, n1, bias), BatchNorm1d(n1, batch), [ReLU], Linear(n1, n2, bias);
    with ``first`` False a ReLU MLP stem Linear(n0, n0, bias), ReLU before it."""
    n0, n1, n2 = widths
    layers = [] if first else [Linear(n0, n0, bias=True), ReLU()]
    layers += [Linear(n0, n1, bias=bias), BatchNorm1d(n1, batch=batch, eps=eps, affine=affine)]
    if relu:
        layers.append(ReLU())
    return net(*layers, Linear(n1, n2, bias=True))


def expected(widths, affine, bias, eps=Fraction(1, 100000)) -> tuple[int, str]:
    n1 = widths[1]
    parts, n = [], 0
    if bias:
        parts.append(f"{n1} bias entries before it")
        n += n1
    if affine:
        parts.append(f"{n1} affine units")
        n += n1
    if eps == 0:
        parts.append(f"{n1} row scales")
        n += n1
    return n, " + ".join(parts) or "none"


def cases():
    out = []
    for key, eps in EPS.items():
        for widths in ((4, 5, 3), (3, 4, 2)):
            for affine in (True, False):
                for bias in (True, False):
                    for relu in (True, False):
                        n, what = expected(widths, affine, bias, eps)
                        shape = "_".join(map(str, widths))
                        kind = ("affine" if affine else "plain") + ("_bias" if bias else "")
                        name = f"batchnorm_{key}_{kind}_{'relu_' if relu else ''}{shape}_batch4"
                        out.append(Case(name, lambda w=widths, e=eps, a=affine, b=bias, r=relu:
                                        build(w, 4, e, a, b, r), f"{n} ({what})", n,
                                        quick=name == "batchnorm_eps1e-5_affine_bias_relu_4_5_3"
                                                      "_batch4"))
    for batch in (2, 3, 8):
        n, what = expected((4, 5, 3), True, True)
        out.append(Case(f"batchnorm_eps1e-5_affine_bias_relu_4_5_3_batch{batch}",
                        lambda N=batch: build((4, 5, 3), N, Fraction(1, 100000), True, True,
                                              True), f"{n} ({what}), for every batch size", n))
    for batch in (5, 7, 8):  # eps = 0 at odd batch sizes too (a base vector exists for 5, 7)
        n, what = expected((4, 5, 3), True, True, Fraction(0))
        out.append(Case(f"batchnorm_eps0_affine_bias_relu_4_5_3_batch{batch}",
                        lambda N=batch: build((4, 5, 3), N, Fraction(0), True, True, True),
                        f"{n} ({what}), for every batch size", n))
    out.append(Case("batchnorm_eps1e-5_after_relu_stem_2_2_1_batch2",
                    lambda: build((2, 2, 1), 2, Fraction(1, 100000), True, True, True, False),
                    "no count predicted: 2 stem ReLU units + 2 bias entries + 2 affine units "
                    "exhibited; at identical examples the ReLU pattern is shared, so the bias "
                    "before that ReLU looks conserved and the expansion's rank leaves room for 2 "
                    "more (certified bounds 6 to 8)", None))
    for key, eps in (("eps1e-5", Fraction(1, 100000)), ("eps0", Fraction(0))):
        # a linear stem: W2 (W1 x + b1) + b2 carries b1 as a constant per feature
        n = 10 + 4 + 4 + (4 if eps == 0 else 0)
        what = ("10 balancedness of the two dense layers + 4 entries of b2 + 4 of b1"
                + (" + 4 row scales" if eps == 0 else ""))
        out.append(Case(f"batchnorm_{key}_plain_linear_stem_3_4_4_2_batch4",
                        lambda e=eps: net(Linear(3, 4, bias=True), Linear(4, 4, bias=True),
                                          BatchNorm1d(4, batch=4, eps=e, affine=False),
                                          Linear(4, 2, bias=True)), f"{n} ({what})", n))
    return out + cases_2d()


def cases_2d():
    """BatchNorm2d after convolutions: (name, layers, laws, what the laws are)."""
    e5 = Fraction(1, 100000)
    table = [
        ("batchnorm2d_eps1e-5_affine_bias_relu_1_2_3x3_batch2",
         lambda: net(Conv2d(1, 2, 2, bias=True, size=3), BatchNorm2d(2, batch=2, eps=e5),
                     ReLU(), Linear(8, 2, bias=True)),
         4, "2 conv bias entries + 2 affine channels"),
        ("batchnorm2d_eps1e-5_affine_bias_relu_padded_1_2_4x4_batch4",
         lambda: net(Conv2d(1, 2, 3, padding=1, bias=True, size=4),
                     BatchNorm2d(2, batch=4, eps=e5), ReLU(), Linear(32, 3, bias=True)),
         4, "2 conv bias entries + 2 affine channels"),
        ("batchnorm2d_eps1e-5_plain_bias_relu_1_3_3x3_batch4",
         lambda: net(Conv2d(1, 3, 2, bias=True, size=3),
                     BatchNorm2d(3, batch=4, eps=e5, affine=False), ReLU(),
                     Linear(12, 2, bias=True)),
         3, "3 conv bias entries"),
        ("batchnorm2d_eps1_10_affine_relu_2_3_3x3_batch2",
         lambda: net(Conv2d(2, 3, 2, size=3), BatchNorm2d(3, batch=2, eps=Fraction(1, 10)),
                     ReLU(), Linear(12, 2)),
         3, "3 affine channels"),
        ("batchnorm2d_eps1e-5_two_convs_maxpool_1_2_4x4_batch2",
         lambda: net(Conv2d(1, 2, 3, padding=1, bias=True, size=4), Conv2d(2, 2, 2, bias=True),
                     BatchNorm2d(2, batch=2, eps=e5), ReLU(), MaxPool2d(2),
                     Linear(2, 2, bias=True)),
         9, "4 bias entries of both convs + 3 balancedness of the two convs + 2 affine channels"),
        ("batchnorm2d_eps1e-5_conv_after_1_2_4x4_batch2",
         lambda: net(Conv2d(1, 2, 2, bias=True, size=4), BatchNorm2d(2, batch=2, eps=e5),
                     ReLU(), Conv2d(2, 2, 2, padding=1, bias=True), ReLU(),
                     Linear(32, 2, bias=True)),
         6, "2 conv bias entries + 2 affine channels + 2 channels of the conv after it"),
    ]
    return [Case(name, build, f"{n} ({what})", n) for name, build, n, what in table]


def finding(outcomes):
    two = [o for o in outcomes if o.case.name.startswith("batchnorm2d_")]
    outcomes = [o for o in outcomes if not o.case.name.startswith("batchnorm2d_")]
    agree = sum(o.agrees is True for o in outcomes)
    predicted = sum(o.case.expected is not None for o in outcomes)
    sandwich = sum(o.proof == "sandwich" for o in outcomes)
    agree2 = sum(o.agrees is True for o in two)
    sandwich2 = sum(o.proof == "sandwich" for o in two)
    return (f"{agree} of {predicted} networks with a BatchNorm1d in training mode after dense "
            f"layers have exactly the laws its symmetries give: each entry of the bias before it "
            f"and of every bias joined to it by dense layers only (the centring over the batch "
            f"removes it), one law per affine unit "
            f"(gamma_j, beta_j) against the next dense layer, with eps = 0 also the scale law of "
            f"each row of the dense layer before it, and nothing else (batch sizes 2 to 8 at "
            f"eps = 1/100000 and 1/10, 4 to 8 at eps = 0); for eps > 0 that scale law is "
            f"rejected by its check (broken at order eps). {sandwich} of the {len(outcomes)} "
            f"counts are proven by sandwich; with a ReLU before the normalisation the certified "
            f"bounds do not meet (the expansion at identical examples shares their ReLU "
            f"pattern). BatchNorm2d: {agree2} of {len(two)} "
            f"networks with convolutions before it have exactly the laws derived by hand (each "
            f"entry of every convolution's bias before it, one law per affine channel, and the "
            f"laws of the layers around it), {sandwich2} of them proven by sandwich at a batch "
            f"of zero images.")


if __name__ == "__main__":
    raise SystemExit(script_main(__file__))
