"""Corollary 4.4, two-layer ReLU networks (r hidden neurons, with or
without hidden biases): one law per hidden neuron,
||incoming weights||^2 (+ bias^2) - ||outgoing weights||^2, and no others.

Run: python proofs/corollary_4_4_two_layer_relu.py [--check] [--quick]
"""

import exactcl
from exactcl.workflows.reproduce import Case, script_main

CLAIM_ID = "corollary_4_4_two_layer_relu"
TITLE = "Corollary 4.4: two-layer ReLU networks have one law per hidden neuron"
SOURCE = "Marcotte, Gribonval, Peyre (NeurIPS 2023), Corollary 4.4"

GRID = [(n, m, r, bias) for bias in (False, True) for n in (1, 2, 3) for m in (1, 2, 3)
        for r in (1, 2, 3, 4)]
QUICK = {(2, 2, 2, False), (2, 3, 2, True)}


def cases():
    return [Case(f"{'bias_' if bias else ''}n{n}_m{m}_r{r}",
                 lambda n=n, m=m, r=r, bias=bias: exactcl.relu([m, r, n], bias=bias),
                 f"r = {r} (one per neuron)", r, quick=(n, m, r, bias) in QUICK)
            for n, m, r, bias in GRID]


def finding(outcomes):
    agree = sum(o.agrees is True for o in outcomes)
    return (f"{agree} of {len(outcomes)} shapes (n, m <= 3, r <= 4, with and without bias) have "
            f"exactly one law per hidden neuron, proven by sandwich with the per-neuron laws.")


if __name__ == "__main__":
    raise SystemExit(script_main(__file__))
