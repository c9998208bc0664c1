"""Section 4 and Proposition 4.1, deep ReLU networks through their
path-lifting: one law per hidden neuron (||incoming weights||^2 (+ bias^2)
- ||outgoing weights||^2), and, as the paper checked numerically on random
architectures (depth 2 to 4, widths 2 to 9, bias half the time), no other.
Certified here on the paper's kind of random architectures and on a
systematic grid of every small shape (widths 1 to 3, two and three layers,
with and without bias).

Run: python proofs/section_4_deep_relu.py [--check] [--quick]
"""

import itertools
import random

import exactcl
from exactcl.workflows.reproduce import Case, script_main

CLAIM_ID = "section_4_deep_relu"
TITLE = "Section 4 / Proposition 4.1: deep ReLU networks have one law per hidden neuron"
SOURCE = ("Marcotte, Gribonval, Peyre (NeurIPS 2023), Proposition 4.1 and the numerical check "
          "of Section 4 (random deep ReLU networks, depth 2-4, widths 2-9, bias half the time)")


def random_architectures(count=12, seed=2023):
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        depth = rng.randint(2, 4)
        widths = tuple(rng.randint(2, 9) for _ in range(depth + 1))
        bias = rng.random() < 0.5
        # the path-lifting has prod(widths) components; keep each case small
        # enough for the default run (the engine itself goes much further)
        if (widths, bias) not in out and _paths(widths) <= 20_000:
            out.append((widths, bias))
    return out


def _paths(widths):
    total = 1
    for w in widths:
        total *= w
    return total


GRID = [(w, bias) for L in (2, 3) for w in itertools.product((1, 2, 3), repeat=L + 1)
        for bias in (False, True)]
QUICK = {((2, 3, 3, 2), False), ((2, 3, 3, 2), True), ((3, 4, 5), False)}


def _name(widths, bias):
    return ("relu_bias_" if bias else "relu_") + "_".join(map(str, widths))


def cases():
    out, seen = [], set()
    for tag, shapes in (("random", random_architectures()), ("grid", GRID),
                        ("background", [((3, 4, 5), False), ((2, 2, 5, 3), False),
                                        ((2, 3, 3, 2), False), ((2, 3, 3, 2), True)])):
        for widths, bias in shapes:
            if (widths, bias) in seen:
                continue
            seen.add((widths, bias))
            hidden = sum(widths[1:-1])
            out.append(Case(_name(widths, bias),
                            lambda w=widths, b=bias: exactcl.relu(list(w), bias=b),
                            f"{hidden} (one per hidden neuron; {tag})", hidden,
                            quick=(widths, bias) in QUICK))
    return out


def finding(outcomes):
    agree = sum(o.agrees is True for o in outcomes)
    differ = [o.model for o in outcomes if o.agrees is False]
    text = (f"{agree} of {len(outcomes)} architectures have exactly one law per hidden neuron, "
            f"proven by sandwich with the per-neuron laws")
    return text + ("." if not differ else f"; they differ for {', '.join(differ)}.")


if __name__ == "__main__":
    raise SystemExit(script_main(__file__))
