"""Corollary 4.4, two-layer linear networks x -> U V^T x (U: n x r, V: m x r):
the entries of U^T U - V^T V are r(r+1)/2 independent laws and there are
no others when r <= n + m. The grid goes beyond, to r > n + m, where the
certified count differs, and checks the general formula it supports.

Run: python proofs/corollary_4_4_two_layer_linear.py [--check] [--quick]
"""

import exactcl
from exactcl.workflows.reproduce import Case, script_main

CLAIM_ID = "corollary_4_4_two_layer_linear"
TITLE = "Corollary 4.4: two-layer linear networks have r(r+1)/2 laws (r <= n + m)"
SOURCE = ("Marcotte, Gribonval, Peyre (NeurIPS 2023), Corollary 4.4; the grid adds r > n + m, "
          "outside its assumption")

GRID = [(n, m, r) for n in (1, 2, 3) for m in (1, 2, 3) for r in range(1, 7)]
QUICK = {(2, 2, 2), (1, 1, 3), (2, 1, 2)}


def formula(n: int, m: int, r: int) -> int:
    """The count the certificates support: r(r+1)/2 - (r-n-m)_+ (r-n-m+1)/2."""
    excess = max(0, r - n - m)
    return r * (r + 1) // 2 - excess * (excess + 1) // 2


def _quadratic_laws(n, m, r):
    def note(result):
        search = exactcl.laws(exactcl.linear([m, r, n]), 2)
        extra = (" (the 2-minors of [U; V] are extra quadratic laws, functionally dependent)"
                 if len(search.laws) > r * (r + 1) // 2 else "")
        return (f"degree-2 search: {len(search.laws)} quadratic laws, functional rank "
                f"{search.independent}{extra}; formula gives {formula(n, m, r)}")
    return note


def cases():
    out = []
    for n, m, r in GRID:
        claim = f"r(r+1)/2 = {r * (r + 1) // 2}" + ("" if r <= n + m else
                                                    f" (assumes r <= n+m = {n + m})")
        out.append(Case(f"n{n}_m{m}_r{r}", lambda n=n, m=m, r=r: exactcl.linear([m, r, n]),
                        claim, r * (r + 1) // 2, quick=(n, m, r) in QUICK,
                        follow_up=_quadratic_laws(n, m, r) if r > n + m and r <= 4 else None))
    return out


def finding(outcomes):
    bad = []
    for o in outcomes:
        n, m, r = (int(x[1:]) for x in o.case.name.split("_"))
        if o.laws != formula(n, m, r):
            bad.append(o.model)
    inside = [o for o in outcomes if o.agrees]
    outside = [o for o in outcomes if o.agrees is False]
    text = (f"all {len(inside)} shapes with r <= n + m have r(r+1)/2 laws as stated; the "
            f"{len(outside)} shapes with r > n + m have fewer. Every certified count equals "
            f"N = r(r+1)/2 - (r-n-m)_+ (r-n-m+1)/2, i.e. dim Lie = (n+m)(n+m-1)/2 once "
            f"r >= n + m")
    return text + ("." if not bad else f"; EXCEPT {', '.join(bad)}.")


if __name__ == "__main__":
    raise SystemExit(script_main(__file__))
