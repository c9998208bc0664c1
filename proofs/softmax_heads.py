"""Softmax and cross-entropy heads: a network whose output goes through
LogSoftmax (trained with cross-entropy) or Softmax sees its logits only up
to a common constant, so the last dense layer gains a translation symmetry
W_L -> W_L + 1 v^T, b_L -> b_L + c 1. Its laws are linear: each column sum
of W_L and the sum of b_L, on top of the network's own laws (one per hidden
neuron for ReLU networks, balancedness for linear ones). Folklore (Kunin et
al., Neural Mechanics, ICLR 2021, derive the translation laws by hand);
here every count is certified, so the list is proven complete per case.

Run: python proofs/softmax_heads.py [--check] [--quick]
"""

from exactcl import Linear, LogSoftmax, ReLU, Softmax, net
from exactcl.workflows.reproduce import Case, script_main

CLAIM_ID = "softmax_heads"
TITLE = ("Softmax and cross-entropy heads: the column sums of the last weight and the sum of "
         "the last bias are laws, and nothing else is added")
SOURCE = ("Kunin et al., Neural Mechanics (ICLR 2021), translation symmetry of softmax; "
          "Marcotte, Gribonval, Peyre (NeurIPS 2023), Section 4, the network's own laws")

#: MLP widths, input first (the issue's 4-5-3 among them).
WIDTHS = [(2, 3, 2), (3, 4, 3), (4, 5, 3), (2, 3, 3, 2), (3, 4, 4, 3)]


def mlp(widths, bias, relu, head):
    layers = []
    for k in range(len(widths) - 1):
        last = k == len(widths) - 2
        layers.append(Linear(widths[k], widths[k + 1], bias=bias))
        if relu and not last:
            layers.append(ReLU())
    return net(*layers, head())


def expected(widths, bias, relu) -> int:
    """The network's own laws plus the head's translation laws."""
    hidden = widths[1:-1]
    if relu:
        own = sum(hidden)
    else:  # a deep linear network: balancedness of each hidden layer (widths here are small)
        own = sum(n * (n + 1) // 2 for n in hidden)
    return own + widths[-2] + (1 if bias else 0)


def cases():
    out = []
    for head in (LogSoftmax, Softmax):
        for relu in (True, False):
            for bias in (False, True) if relu else (False,):
                for widths in WIDTHS:
                    if not relu and len(widths) > 3:
                        continue
                    n = expected(widths, bias, relu)
                    shape = "_".join(map(str, widths))
                    kind = "relu" if relu else "linear"
                    name = f"{head.__name__.lower()}_{kind}_{'bias_' if bias else ''}{shape}"
                    what = "one per hidden neuron" if relu else "balancedness"
                    out.append(Case(name, lambda widths=widths, bias=bias, relu=relu, head=head:
                                    mlp(widths, bias, relu, head),
                                    f"{n} ({what}, plus {widths[-2]} column sums"
                                    f"{' and the bias sum' if bias else ''})", n,
                                    quick=name == "logsoftmax_relu_bias_4_5_3"))
    return out


def finding(outcomes):
    agree = sum(o.agrees is True for o in outcomes)
    sandwich = sum(o.proof == "sandwich" for o in outcomes)
    return (f"{agree} of {len(outcomes)} networks with a LogSoftmax or Softmax head have exactly "
            f"their own laws plus the translation laws of the last dense layer (its column "
            f"sums, and the sum of its bias when it has one); {sandwich} of the counts are "
            f"proven by sandwich.")


if __name__ == "__main__":
    raise SystemExit(script_main(__file__))
