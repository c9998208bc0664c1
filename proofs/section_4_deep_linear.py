"""Section 4, deep linear networks: the balancedness laws
W_l W_l^T - W_{l+1}^T W_{l+1} (one symmetric matrix per hidden layer) and
whether they are all the laws. The paper checked random architectures
(depth 2 to 4, widths 2 to 5) numerically; here they are certified, with a
systematic grid of every small shape (widths 1 to 3, two and three layers).
Where the balancedness laws are not complete, the true count is certified
and polynomial laws of higher degree are searched for.

Run: python proofs/section_4_deep_linear.py [--check] [--quick]
"""

import itertools
import random

import exactcl
from exactcl.workflows.reproduce import Case, script_main

CLAIM_ID = "section_4_deep_linear"
TITLE = "Section 4: deep linear networks and their balancedness laws"
SOURCE = ("Marcotte, Gribonval, Peyre (NeurIPS 2023), Section 4 (numerical check on random "
          "deep linear networks, depth 2-4, widths 2-5)")


def balancedness(widths):
    """Number of balancedness laws: n(n+1)/2 per hidden layer of width n."""
    return sum(n * (n + 1) // 2 for n in widths[1:-1])


def random_architectures(count=12, seed=2023):
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        depth = rng.randint(2, 4)
        widths = tuple(rng.randint(2, 5) for _ in range(depth + 1))
        if widths not in out:
            out.append(widths)
    return out


GRID = [w for L in (2, 3) for w in itertools.product((1, 2, 3), repeat=L + 1)]
QUICK = {(2, 2, 2, 2), (1, 2, 2, 1), (2, 3, 2)}
#: None is slow since words are evaluated by jets: linear:2,2,5,5,2, whose
#: depth-4 words have two million terms when expanded, took 3 minutes to
#: certify and 12 to verify before; it now takes about a second.
SLOW: set[tuple[int, ...]] = set()


def _missing_laws(widths):
    def note(result):
        if result.laws is None or result.laws <= result.explicit_laws:
            return ""
        D = result.parameters
        degree = 4 if D <= 10 else 3
        try:
            search = exactcl.laws(exactcl.linear(list(widths)), degree)
        except exactcl.ResourceError as err:
            return (f"balancedness gives {result.explicit_laws} independent laws, the "
                    f"certified count is {result.laws}; the degree-{degree} search for the "
                    f"missing ones is too large here ({err})")
        return (f"balancedness gives {result.explicit_laws} independent laws, the certified "
                f"count is {result.laws}; all polynomial laws of degree <= {degree} "
                f"({len(search.laws)} found) have functional rank {search.independent}, so "
                f"{result.laws - search.independent} missing law(s) are not polynomial of "
                f"degree <= {degree}")
    return note


def _name(widths):
    return "linear_" + "_".join(map(str, widths))


def cases():
    out = []
    seen = set()
    for tag, shapes in (("random", random_architectures()), ("grid", GRID)):
        for widths in shapes:
            if widths in seen:
                continue
            seen.add(widths)
            out.append(Case(_name(widths), lambda w=widths: exactcl.linear(list(w)),
                            f"balancedness: {balancedness(widths)} laws ({tag})",
                            balancedness(widths), quick=widths in QUICK, slow=widths in SLOW,
                            follow_up=_missing_laws(widths)))
    return out


def finding(outcomes):
    more = [o for o in outcomes if o.laws is not None and o.laws > o.case.expected]
    fewer = [o for o in outcomes if o.laws is not None and o.laws < o.case.expected]
    same = len(outcomes) - len(more) - len(fewer)
    text = f"{same} of {len(outcomes)} shapes have exactly the balancedness laws."
    if more:
        scalar = all(o.laws == o.parameters - 1 and o.model.split(":")[1].split(",")[0] == "1"
                     and o.model.endswith(",1") for o in more)
        text += (f" {len(more)} have more ({', '.join(o.model for o in more[:4])}"
                 f"{', ...' if len(more) > 4 else ''})" + (
                     ": all have input and output width 1, so phi is a scalar, there is one "
                     "generator and D - 1 laws; the extra laws are not polynomial of low "
                     "degree (see the notes)." if scalar else "."))
    if fewer:
        def squeezed(model):
            w = [int(x) for x in model.split(":")[1].split(",")]
            return any(w[k] > w[k - 1] + w[k + 1] for k in range(1, len(w) - 1))
        text += (f" {len(fewer)} have fewer independent laws than balancedness entries "
                 f"({', '.join(o.model for o in fewer[:4])}{', ...' if len(fewer) > 4 else ''})"
                 + (": in all of them a hidden layer is wider than its two neighbours together "
                    "(n_l > n_(l-1) + n_(l+1)), as for two-layer nets with r > n + m, and the "
                    "balancedness laws become functionally dependent."
                    if all(squeezed(o.model) for o in fewer) else "."))
    return text


if __name__ == "__main__":
    raise SystemExit(script_main(__file__))
