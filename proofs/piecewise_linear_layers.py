"""Piecewise-linear layers researchers train with: a LeakyReLU network of any
negative slope q != 1 has exactly the laws of its ReLU twin, one per hidden
neuron (||W_l[j,:]||^2 + b_l[j]^2 - ||W_(l+1)[:,j]||^2), since positive
rescalings of a unit commute with it; with q = 1 it is the identity and the
network is linear, with the balancedness laws of Corollary 4.4 (NeurIPS
2023). Convolutions with zero padding, dilation or groups keep one law per
hidden channel across a ReLU, and the balancedness of their hidden channels
without one; a max pooling keeps one law per channel (as a ReLU does), an
average pooling the balancedness of the channels (it is linear).
Folklore (Kunin et al., Neural Mechanics, ICLR 2021, derive the rescaling
laws by hand for homogeneous activations); here each count is certified, so
the list is proven complete for each case.

Run: python proofs/piecewise_linear_layers.py [--check] [--quick]
"""

from fractions import Fraction

from exactcl import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    Conv1d,
    Conv2d,
    LeakyReLU,
    Linear,
    MaxPool1d,
    MaxPool2d,
    ReLU,
    net,
)
from exactcl.workflows.reproduce import Case, script_main

CLAIM_ID = "piecewise_linear_layers"
TITLE = ("Piecewise-linear layers: a LeakyReLU network has one law per hidden neuron (its "
         "ReLU twin's); slope 1 is the linear network")
SOURCE = ("Marcotte, Gribonval, Peyre, Abide by the Law and Follow the Flow (NeurIPS 2023), "
          "Section 4, for ReLU; Kunin et al., Neural Mechanics (ICLR 2021), rescaling "
          "symmetry of homogeneous activations")

#: MLP widths, input first: the issue's 4-5-3 and deeper and wider shapes.
WIDTHS = [(2, 3, 1), (3, 4, 2), (4, 5, 3), (2, 3, 3, 2), (3, 4, 4, 2), (4, 5, 5, 3)]
#: Negative slopes: torch's default 0.01, a large one, a negative one (|x| is q = -1).
SLOPES = [Fraction(1, 100), Fraction(1, 5), Fraction(-1, 2), Fraction(-1)]


def _slope_tag(q: Fraction) -> str:
    return f"{'m' if q < 0 else ''}{abs(q.numerator)}_{q.denominator}"


def leaky_mlp(widths, q, bias):
    layers = []
    for k in range(len(widths) - 1):
        hidden = k < len(widths) - 2
        layers.append(Linear(widths[k], widths[k + 1], bias=bias and hidden))
        if hidden:
            layers.append(LeakyReLU(q))
    return net(*layers)


def mlp_cases():
    out = []
    for bias in (False, True):
        for widths in WIDTHS:
            for q in SLOPES:
                hidden = sum(widths[1:-1])
                shape = "_".join(map(str, widths))
                out.append(Case(f"{'bias_' if bias else ''}leaky_mlp_{shape}_q{_slope_tag(q)}",
                                lambda widths=widths, q=q, bias=bias: leaky_mlp(widths, q, bias),
                                f"{hidden} (one per hidden neuron, as for ReLU)", hidden,
                                quick=(widths, q, bias) == ((4, 5, 3), Fraction(1, 100), True)))
    return out


def conv_cases():
    """Conv1d(ci, c, k) -> LeakyReLU -> Linear: one law per hidden channel."""
    out = []
    for ci, c, k, m in [(1, 2, 2, 1), (2, 3, 2, 2), (1, 3, 3, 2)]:
        for q in (Fraction(1, 100), Fraction(-1, 2)):
            out.append(Case(f"conv1d_leaky_linear_{ci}_{c}_k{k}_m{m}_q{_slope_tag(q)}",
                            lambda ci=ci, c=c, k=k, m=m, q=q:
                            net(Conv1d(ci, c, k, bias=True, length=k + 1), LeakyReLU(q),
                                Linear(2 * c, m)),
                            f"{c} (one per hidden channel)", c))
    return out


def identity_cases():
    """Slope 1: the two-layer linear network n0 -> n1 -> n2, n1 (n1 + 1) / 2 laws."""
    return [Case(f"slope_one_{a}_{b}_{c}",
                 lambda a=a, b=b, c=c: net(Linear(a, b), LeakyReLU(1), Linear(b, c)),
                 f"{b * (b + 1) // 2} (balancedness of the linear network)", b * (b + 1) // 2)
            for a, b, c in [(2, 2, 2), (3, 4, 2), (2, 3, 3)]]


#: (name, layers, hidden channels, ReLU between): padded, 'same', dilated, grouped.
PADDED = [
    ("conv1d_pad1", lambda: [Conv1d(1, 2, 3, padding=1, length=4), ReLU(), Linear(8, 1)], 2, True),
    ("conv1d_same_bias", lambda: [Conv1d(2, 3, 3, padding="same", bias=True, length=4), ReLU(),
                                  Linear(12, 2)], 3, True),
    ("conv1d_same_even", lambda: [Conv1d(1, 2, 2, padding="same", length=4), ReLU(),
                                  Linear(8, 1)], 2, True),
    ("conv1d_dilation2", lambda: [Conv1d(1, 2, 2, dilation=2, length=5), ReLU(), Linear(6, 1)],
     2, True),
    ("conv1d_groups2", lambda: [Conv1d(2, 4, 2, groups=2, length=4), ReLU(), Linear(12, 2)], 4,
     True),
    ("conv2d_pad1", lambda: [Conv2d(1, 2, 3, padding=1, size=(3, 3)), ReLU(), Linear(18, 1)], 2,
     True),
    ("conv1d_pad1_leaky", lambda: [Conv1d(1, 3, 3, padding=1, bias=True, length=3),
                                   LeakyReLU(), Linear(9, 2)], 3, True),
    ("linear_conv1d_pad1", lambda: [Conv1d(1, 2, 3, padding=1, length=4),
                                    Conv1d(2, 1, 3, padding=1)], 2, False),
]


def padded_cases():
    out = []
    for name, layers, c, relu in PADDED:
        n = c if relu else c * (c + 1) // 2
        what = "one per hidden channel" if relu else "balancedness of the hidden channels"
        out.append(Case(name, lambda layers=layers: net(*layers()), f"{n} ({what})", n))
    return out


#: (name, layers, laws, why): a max pooling passes positive rescalings of the
#: channels (one law per channel, as across a ReLU); an average pooling passes
#: every invertible map of them (the balancedness of the channels).
POOLED = [
    ("conv1d_relu_maxpool", lambda: [Conv1d(1, 2, 2, length=5), ReLU(), MaxPool1d(2),
                                     Linear(4, 1)], 2, "one per hidden channel"),
    ("conv1d_maxpool_overlapping", lambda: [Conv1d(1, 3, 2, bias=True, length=6),
                                            MaxPool1d(3, stride=1), ReLU(), Linear(9, 2)], 3,
     "one per hidden channel"),
    ("conv2d_maxpool_leaky", lambda: [Conv2d(1, 2, 2, bias=True, size=(5, 5)), MaxPool2d(2),
                                      LeakyReLU(), Linear(8, 2, bias=True)], 2,
     "one per hidden channel"),
    ("conv1d_avgpool", lambda: [Conv1d(1, 2, 2, length=5), AvgPool1d(2), Linear(4, 1)], 3,
     "balancedness of the 2 channels across the linear pooling"),
    ("conv2d_avgpool_bias", lambda: [Conv2d(1, 3, 2, bias=True, size=(3, 3)), AvgPool2d(2),
                                     Linear(3, 2, bias=True)], 6,
     "balancedness of the 3 channels across the linear pooling"),
    ("conv1d_relu_adaptive_head", lambda: [Conv1d(1, 3, 2, bias=True, length=5), ReLU(),
                                           AdaptiveAvgPool1d(1), Linear(3, 2)], 3,
     "one per hidden channel"),
    ("lenet_like_small", lambda: [Conv2d(1, 2, 3, size=(8, 8)), ReLU(), MaxPool2d(2),
                                  Conv2d(2, 3, 2), ReLU(), AdaptiveAvgPool2d(1), Linear(3, 2)],
     5, "one per hidden channel of each convolution"),
]


def pooled_cases():
    return [Case(name, lambda layers=layers: net(*layers()), f"{n} ({why})", n)
            for name, layers, n, why in POOLED]


def cases():
    return (mlp_cases() + conv_cases() + identity_cases() + padded_cases()
            + pooled_cases())


def finding(outcomes):
    def group(prefix):
        return [o for o in outcomes if prefix(o.case.name)]

    mlps = group(lambda n: "leaky_mlp" in n)
    convs = group(lambda n: n.startswith("conv1d_leaky"))
    ones = group(lambda n: n.startswith("slope_one"))
    padded = group(lambda n: n in {name for name, *_ in PADDED})
    pooled = group(lambda n: n in {name for name, *_ in POOLED})
    parts = []
    if mlps:
        sandwich = sum(o.proof == "sandwich" for o in mlps)
        parts.append(f"{sum(o.agrees is True for o in mlps)} of {len(mlps)} LeakyReLU MLPs "
                     f"(slopes 1/100, 1/5, -1/2, -1; with and without biases) have exactly one "
                     f"law per hidden neuron, the ReLU network's; {sandwich} of the counts are "
                     f"proven by sandwich.")
    if convs:
        parts.append(f"{sum(o.agrees is True for o in convs)} of {len(convs)} convolutional "
                     f"LeakyReLU blocks have one law per hidden channel.")
    if ones:
        agree = sum(o.agrees is True for o in ones)
        parts.append(f"With slope 1 the layer is the identity: {agree} of {len(ones)} "
                     f"networks have the two-layer linear network's "
                     f"n1(n1+1)/2 balancedness laws (proof: "
                     f"{', '.join(sorted({o.proof for o in ones}))}).")
    if padded:
        parts.append(f"{sum(o.agrees is True for o in padded)} of {len(padded)} convolutions with "
                     f"zero padding ('same' included), dilation or groups have one law per "
                     f"hidden channel across a ReLU or LeakyReLU, and the balancedness of the "
                     f"hidden channels without one.")
    if pooled:
        proofs = ", ".join(sorted({o.proof for o in pooled}))
        parts.append(f"{sum(o.agrees is True for o in pooled)} of {len(pooled)} networks with "
                     f"pooling keep one law per hidden channel across a max pooling (it passes "
                     f"positive rescalings, as a ReLU does) and the balancedness of the "
                     f"channels across an average pooling (it passes every invertible map of "
                     f"them); proof: {proofs}.")
    return " ".join(parts)


if __name__ == "__main__":
    raise SystemExit(script_main(__file__))
