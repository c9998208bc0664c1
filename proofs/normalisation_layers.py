"""Normalisation layers: a LayerNorm (or an RMSNorm, without the
translation) after a dense layer (W, b) makes the model invariant
under moves of that layer's output it cannot see. The translation
h -> h + t 1 gives linear laws for every eps (the column sums of W and
the sum of b); with eps = 0 the scale h -> c h gives the
quadratic law |W|^2 + |b|^2, broken at order eps when eps > 0 (torch's
default eps = 1e-5 = 1/100000): there the count is of the model as given,
and the scale law is reported rejected. Affine parameters (gamma_j,
beta_j) rescale against the columns of the next dense layer; without
them the next dense layer reads a vector orthogonal to 1 and its row sums
are laws. Folklore for the symmetries (Kunin et al., Neural Mechanics,
ICLR 2021); here every count is certified, the square root kept sound by
ring maps of Z[sqrt q] to F_p (docs/design.md, normalisation layers), so
the list is proven complete per case.

Run: python proofs/normalisation_layers.py [--check] [--quick]
"""

from fractions import Fraction

from exactcl import GroupNorm, LayerNorm, Linear, ReLU, RMSNorm, net
from exactcl.workflows.reproduce import Case, script_main

CLAIM_ID = "normalisation_layers"
TITLE = ("Layer, RMS and group normalisation: the translation laws of the dense layer "
         "before it for every eps, its scale law when eps = 0 (broken at order eps "
         "otherwise), and one law per affine unit")
SOURCE = ("Kunin et al., Neural Mechanics (ICLR 2021), scale and translation symmetries of "
          "normalisation; Marcotte, Gribonval, Peyre (NeurIPS 2023), Section 4, the "
          "network's own laws")

EPS = {"eps0": Fraction(0), "eps1e-5": Fraction(1, 100000)}


def build(widths, eps, affine, bias, relu, depth2=False):
    """Linear(n0, n1, bias) [, Linear(n1, n1, bias)], LayerNorm(n1), [ReLU],
    Linear(n1, n2, bias)."""
    n0, n1, n2 = widths
    layers = [Linear(n0, n1, bias=True)]
    if depth2:
        layers.append(Linear(n1, n1, bias=True))
    layers.append(LayerNorm(n1, eps=eps, elementwise_affine=affine, bias=bias))
    if relu:
        layers.append(ReLU())
    layers.append(Linear(n1, n2, bias=True))
    return net(*layers)


def expected(widths, eps, affine, relu, depth2) -> tuple[int, str]:
    n0, n1, n2 = widths
    cols = n1 if depth2 else n0
    parts = [f"{cols + 1} translation (column sums and bias sum)"]
    n = cols + 1
    if eps == 0:
        parts.append("1 scale")
        n += 1
    if affine:
        parts.append(f"{n1} affine units")
        n += n1
    elif not relu:
        parts.append(f"{n2} row sums of the last weight")
        n += n2
    if depth2:
        parts.append(f"{n1 * (n1 + 1) // 2} balancedness of the two dense layers")
        n += n1 * (n1 + 1) // 2
    return n, " + ".join(parts)


def cases():
    out = []
    for key, eps in EPS.items():
        for widths in ((4, 5, 3), (3, 4, 2)):
            for affine, bias in ((True, True), (True, False), (False, False)):
                for relu in (True, False):
                    n, what = expected(widths, eps, affine, relu, False)
                    shape = "_".join(map(str, widths))
                    kind = "affine" if bias else "gamma" if affine else "plain"
                    name = f"layernorm_{key}_{kind}_{'relu_' if relu else ''}{shape}"
                    out.append(Case(name, lambda w=widths, e=eps, a=affine, b=bias, r=relu:
                                    build(w, e, a, b, r), f"{n} ({what})", n,
                                    quick=name == "layernorm_eps1e-5_affine_relu_4_5_3"))
        n, what = expected((3, 4, 2), eps, True, True, True)
        out.append(Case(f"layernorm_{key}_two_dense_3_4_2",
                        lambda e=eps: build((3, 4, 2), e, True, True, True, depth2=True),
                        f"{n} ({what})", n))
        for affine, relu in ((True, True), (False, False)):
            n = (1 if eps == 0 else 0) + (5 if affine else 0)
            what = " + ".join((["1 scale"] if eps == 0 else []) + (["5 affine units"] if affine
                                                                   else [])) or "none"
            name = f"rmsnorm_{key}_{'affine_relu' if affine else 'plain'}_4_5_3"
            out.append(Case(name, lambda e=eps, a=affine, r=relu: rms((4, 5, 3), e, a, r),
                            f"{n} ({what})", n))
        for groups, affine, relu in ((2, True, True), (3, False, False)):
            # per group: 4 column sums and the bias sum, the scale when eps = 0; then the
            # affine units, or the 3 row sums of the last weight over each group
            c = 3 * groups
            n = groups * (5 + (eps == 0)) + (c if affine else 3 * groups)
            name = f"groupnorm{groups}_{key}_{'affine_relu' if affine else 'plain'}_4_{c}_3"
            out.append(Case(name, lambda e=eps, g=groups, a=affine, r=relu:
                            grouped(g, e, a, r), f"{n} (per group: translation"
                            f"{', scale' if eps == 0 else ''}; "
                            f"{'affine units' if affine else 'row sums per group'})", n))
    return out


def grouped(groups, eps, affine, relu):
    """Linear(4, c, bias), GroupNorm(groups, c), [ReLU], Linear(c, 3, bias), c = 3 groups."""
    c = 3 * groups
    layers = [Linear(4, c, bias=True), GroupNorm(groups, c, eps=eps, affine=affine)]
    if relu:
        layers.append(ReLU())
    return net(*layers, Linear(c, 3, bias=True))


def rms(widths, eps, affine, relu):
    """Linear(n0, n1, bias), RMSNorm(n1), [ReLU], Linear(n1, n2, bias)."""
    n0, n1, n2 = widths
    layers = [Linear(n0, n1, bias=True), RMSNorm(n1, eps=eps, elementwise_affine=affine)]
    if relu:
        layers.append(ReLU())
    return net(*layers, Linear(n1, n2, bias=True))


def finding(outcomes):
    agree = sum(o.agrees is True for o in outcomes)
    sandwich = sum(o.proof == "sandwich" for o in outcomes)
    return (f"{agree} of {len(outcomes)} networks with a LayerNorm, RMSNorm or GroupNorm "
            f"after a dense layer have exactly the laws its symmetries give: the translation "
            f"laws of the dense layer before it (column sums, bias sum) for every eps, its "
            f"scale law |W|^2 + |b|^2 only when eps = 0 (with eps = 1/100000 it is broken at "
            f"order eps and rejected by its check), one law per affine unit (gamma_j, beta_j) "
            f"against the next layer, or without affine parameters the row sums of the next "
            f"layer when no ReLU is between; an RMSNorm (no centring) gives only the scale law "
            f"when eps = 0 and its affine units; a GroupNorm gives these laws group by group; "
            f"{sandwich} of the counts are proven by sandwich.")


if __name__ == "__main__":
    raise SystemExit(script_main(__file__))
