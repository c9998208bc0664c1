"""Convolutional blocks (Marcotte, Peyre, Gribonval, ICML 2025): a two-layer
convolutional ReLU network has one law per hidden channel,
||kernel into channel c||^2 (+ bias^2) - ||weights reading channel c||^2,
whether the second layer is a convolution or a dense layer, in 1-D and
2-D; and, without the ReLU, the hidden channels of two linear
convolutions keep their balancedness laws, c(c+1)/2 of them.

The linear grid includes one input and one output channel with equal
kernel sizes, where balancedness is not all: the laws searched to degree 2
and the certified count say what more there is.

Run: python proofs/convolutional_blocks.py [--check] [--quick]
"""

import exactcl
from exactcl import Conv1d, Conv2d, Linear, ReLU, net
from exactcl.workflows.reproduce import Case, script_main

CLAIM_ID = "convolutional_blocks"
TITLE = "Convolutional blocks: one law per hidden channel; balancedness of linear convolutions"
SOURCE = ("Marcotte, Peyre, Gribonval, Transformative or Conservative? Conservation laws "
          "for ResNets and Transformers (ICML 2025), convolutional networks")

#: (input channels, hidden channels, output channels)
RELU_CHANNELS = [(1, 1, 1), (1, 2, 1), (2, 2, 2), (1, 3, 2), (2, 3, 1), (3, 3, 3)]
#: (first kernel, second kernel)
RELU_KERNELS = [(1, 1), (2, 2), (3, 3), (1, 3), (3, 2)]


def _tag(bias: bool) -> str:
    return "bias_" if bias else ""


def conv_relu_conv(ci, c, co, k1, k2, bias=False):
    """Conv1d(ci, c, k1) -> ReLU -> Conv1d(c, co, k2) on length k1 + k2 (two outputs)."""
    return net(Conv1d(ci, c, k1, bias=bias, length=k1 + k2), ReLU(),
               Conv1d(c, co, k2, bias=bias))


def conv_relu_linear(ci, c, k, m, bias=False):
    """Conv1d(ci, c, k) -> ReLU -> Linear on length k + 1 (two positions per channel)."""
    return net(Conv1d(ci, c, k, bias=bias, length=k + 1), ReLU(),
               Linear(2 * c, m, bias=bias))


def conv2d_relu(ci, c, co, k1, k2, bias=False, head="conv"):
    """Conv2d(ci, c, k1) -> ReLU -> Conv2d(c, co, k2) on a (k1 + k2) x (k1 + 1) image,
    or -> Linear(., co) when ``head`` is "linear" (on (k1 + 1) x (k1 + 1))."""
    if head == "linear":
        size = (k1 + 1, k1 + 1)
        return net(Conv2d(ci, c, k1, bias=bias, size=size), ReLU(),
                   Linear(4 * c, co, bias=bias))
    size = (k1 + k2, k1 + k2)
    return net(Conv2d(ci, c, k1, bias=bias, size=size), ReLU(), Conv2d(c, co, k2, bias=bias))


def relu_cases():
    out = []
    for bias in (False, True):
        for ci, c, co in RELU_CHANNELS:
            for k1, k2 in RELU_KERNELS:
                out.append(Case(f"{_tag(bias)}conv1d_relu_conv1d_{ci}_{c}_{co}_k{k1}_{k2}",
                                lambda ci=ci, c=c, co=co, k1=k1, k2=k2, bias=bias:
                                conv_relu_conv(ci, c, co, k1, k2, bias),
                                f"{c} (one per hidden channel)", c,
                                quick=(ci, c, co, k1, k2, bias) == (1, 2, 1, 2, 2, False)))
        for ci, c, k, m in [(1, 1, 1, 1), (1, 2, 2, 1), (2, 3, 2, 2), (1, 3, 3, 1), (3, 2, 3, 2),
                            (2, 2, 1, 3)]:
            out.append(Case(f"{_tag(bias)}conv1d_relu_linear_{ci}_{c}_k{k}_m{m}",
                            lambda ci=ci, c=c, k=k, m=m, bias=bias:
                            conv_relu_linear(ci, c, k, m, bias),
                            f"{c} (one per hidden channel)", c))
        for ci, c, co, k1, k2 in [(1, 1, 1, 2, 2), (1, 2, 1, 2, 2), (2, 2, 1, 2, 1),
                                  (1, 3, 2, 2, 2), (1, 2, 2, 3, 2), (2, 3, 1, 1, 2)]:
            out.append(Case(f"{_tag(bias)}conv2d_relu_conv2d_{ci}_{c}_{co}_k{k1}_{k2}",
                            lambda ci=ci, c=c, co=co, k1=k1, k2=k2, bias=bias:
                            conv2d_relu(ci, c, co, k1, k2, bias),
                            f"{c} (one per hidden channel)", c,
                            quick=(ci, c, co, k1, k2, bias) == (1, 2, 1, 2, 2, True)))
        for ci, c, co, k in [(1, 2, 1, 2), (2, 3, 2, 2), (1, 3, 1, 1)]:
            out.append(Case(f"{_tag(bias)}conv2d_relu_linear_{ci}_{c}_{co}_k{k}",
                            lambda ci=ci, c=c, co=co, k=k, bias=bias:
                            conv2d_relu(ci, c, co, k, None, bias, head="linear"),
                            f"{c} (one per hidden channel)", c))
    return out


def conv_conv(ci, c, co, k1, k2):
    """The linear block Conv1d(ci, c, k1) -> Conv1d(c, co, k2) on length k1 + k2."""
    return net(Conv1d(ci, c, k1, length=k1 + k2), Conv1d(c, co, k2))


def conv2d_conv2d(ci, c, co, k1, k2):
    size = (k1 + k2, k1 + k2)
    return net(Conv2d(ci, c, k1, size=size), Conv2d(c, co, k2))


#: The linear grid: every channel triple with ci, co <= 2, c <= 3 and kernels <= 3, then
#: one input and one output channel with equal kernels, c and k up to 4.
LINEAR_GRID = sorted({(ci, c, co, k1, k2) for ci in (1, 2) for co in (1, 2) for c in (1, 2, 3)
                      for k1 in (1, 2, 3) for k2 in (1, 2, 3)}
                     | {(1, c, 1, k, k) for c in (1, 2, 3, 4) for k in (1, 2, 3, 4)})
LINEAR_2D = [(1, 2, 1, 2, 2), (1, 3, 1, 2, 2), (1, 2, 1, 2, 1), (2, 2, 1, 2, 2), (1, 2, 2, 2, 2)]


def _extra_laws(build):
    """A note for a count above balancedness: the degree-2 laws, and those
    that are not balancedness (they multiply kernels of the two layers)."""
    def note(result):
        found = exactcl.laws(build(), 2).strings()
        skew = [h for h in found if _mixes_layers(h)]
        if not skew:
            return ""
        return (f"the degree-2 laws form a space of dimension {len(found)} "
                f"({len(found) - len(skew)} balancedness, {len(skew)} antisymmetric in the "
                f"hidden channels, e.g. `{skew[0]}`); {result.laws} of them are independent")
    return note


def _mixes_layers(text: str) -> bool:
    """Whether some monomial of the law multiplies a first-layer and a second-layer entry."""
    return any("K1_" in term and "K2_" in term
               for term in text.replace(" - ", " + ").split(" + "))



def linear_cases():
    out = []
    for ci, c, co, k1, k2 in LINEAR_GRID:
        special = ci == co == 1 and k1 == k2
        out.append(Case(f"linear_conv1d_{ci}_{c}_{co}_k{k1}_{k2}",
                        lambda ci=ci, c=c, co=co, k1=k1, k2=k2: conv_conv(ci, c, co, k1, k2),
                        f"{c * (c + 1) // 2} (balancedness of the hidden channels)",
                        c * (c + 1) // 2, options={"search_degree": 2},
                        quick=(ci, c, co, k1, k2) == (1, 2, 1, 2, 2),
                        follow_up=_extra_laws(lambda ci=ci, c=c, co=co, k1=k1, k2=k2:
                                              conv_conv(ci, c, co, k1, k2))
                        if special else None))
    for ci, c, co, k1, k2 in LINEAR_2D:
        out.append(Case(f"linear_conv2d_{ci}_{c}_{co}_k{k1}_{k2}",
                        lambda ci=ci, c=c, co=co, k1=k1, k2=k2: conv2d_conv2d(ci, c, co, k1, k2),
                        f"{c * (c + 1) // 2} (balancedness of the hidden channels)",
                        c * (c + 1) // 2, options={"search_degree": 2},
                        follow_up=_extra_laws(lambda ci=ci, c=c, co=co, k1=k1, k2=k2:
                                              conv2d_conv2d(ci, c, co, k1, k2))
                        if ci == co == 1 and k1 == k2 else None))
    return out


def cases():
    return relu_cases() + linear_cases()


def _pattern(o) -> int:
    """c^2 - (c - k)_+^2, the count observed when ci = co = 1 and k1 = k2 = k (1-D)."""
    _, c, _, k = _shape(o.case.name)
    return c * c - max(c - k, 0) ** 2


def _shape(name: str) -> tuple[int, int, int, int]:
    ci, c, co, ks = name.split("_")[2:6]
    k1, k2 = ks[1:], name.split("_")[6]
    return int(ci), int(c), int(co), int(k1) if k1 == k2 else -1


def finding(outcomes):
    relu = [o for o in outcomes if "relu" in o.case.name]
    lin1 = [o for o in outcomes if o.case.name.startswith("linear_conv1d")]
    lin2 = [o for o in outcomes if o.case.name.startswith("linear_conv2d")]
    parts = []
    if relu:
        parts.append(f"{sum(o.agrees is True for o in relu)} of {len(relu)} convolutional ReLU "
                     f"blocks (1-D and 2-D, a convolution or a dense layer after the ReLU, with "
                     f"and without bias) have exactly one law per hidden channel.")
    if lin1:
        off = [o for o in lin1 if o.agrees is False]
        special = [o for o in lin1 if _shape(o.case.name)[0] == _shape(o.case.name)[2] == 1
                   and _shape(o.case.name)[3] > 0]
        outside = [o for o in off if o not in special]
        fits = sum(o.laws == _pattern(o) for o in special)
        listed = ", ".join(f"c={_shape(o.case.name)[1]} k={_shape(o.case.name)[3]}: {o.laws}"
                           for o in off)
        where = ("every one with one input and one output channel and equal kernel sizes"
                 if not outside else
                 f"{len(off) - len(outside)} with one input and one output channel and equal "
                 f"kernel sizes and {len(outside)} outside that family")
        parts.append(f"Linear 1-D blocks: balancedness, c(c+1)/2, is all the laws in "
                     f"{len(lin1) - len(off)} of {len(lin1)} cases; the count differs from it "
                     f"in {len(off)} cases, {where} ({listed}).")
        parts.append(f"With one input and one output channel and equal kernels k, the "
                     f"degree-2 laws form a space of dimension c^2: the c(c+1)/2 balancedness "
                     f"laws and c(c-1)/2 antisymmetric ones <K1_a, K2_b> - <K1_b, K2_a> (a "
                     f"convolution of one channel with one channel is commutative, so the "
                     f"kernels of the two layers play symmetric roles). {fits} of "
                     f"{len(special)} certified counts of that family (c, k <= 4) equal "
                     f"c^2 - (c - k)_+^2: all c^2 are independent when c <= k, fewer when "
                     f"c > k; k = 1 is the scalar deep linear network 1 -> c -> 1 with "
                     f"D - 1 = 2c - 1 laws, fewer than the c(c+1)/2 balancedness entries for "
                     f"c >= 3. This formula is what the grid shows, not a proven statement.")
    if lin2:
        off = [o for o in lin2 if o.agrees is False]
        counts = ", ".join(f"`{o.model.removeprefix('net:')}`: {o.laws}" for o in off)
        parts.append(f"Linear 2-D blocks: {len(lin2) - len(off)} of {len(lin2)} have exactly "
                     f"balancedness; the {len(off)} others have one input and one output "
                     f"channel and equal kernels, with extra antisymmetric laws as in 1-D "
                     f"(certified counts {counts}).")
    return " ".join(parts)


if __name__ == "__main__":
    raise SystemExit(script_main(__file__))
