"""Laws that depend only on a subset of the parameters (Marcotte, Peyre,
Gribonval, "Transformative or Conservative? Conservation laws for ResNets and
Transformers", ICML 2025): the laws of a deep network that involve only a
pair of consecutive layers, a residual block or an attention head are
those of that building block in isolation.

For each case exactcl certifies the number of independent laws depending
only on the chosen parameters S (``exactcl.subset_laws``): at most |S| -
rank, the rank of the full count's bracket words restricted to S at points
sharing theta_S and differing elsewhere; at least the number of the
model's polynomial laws supported on S (exact elimination over Q). The
"paper" column is the count of the block in isolation where the subset is
a block, and says so where it is not.

Run: python proofs/subset_laws.py [--check] [--quick]
"""

import exactcl
from exactcl import Attention, Linear, LinearAttention, ReLU, Residual, net
from exactcl.workflows.reproduce import Case, script_main

CLAIM_ID = "subset_laws"
TITLE = "Laws of a parameter subset: a block's laws inside a deep network and across skips"
SOURCE = ("Marcotte, Peyre, Gribonval, Transformative or Conservative? Conservation laws "
          "for ResNets and Transformers (ICML 2025), laws depending on a subset of parameters")


def _relu_block(n: int, h: int) -> Residual:
    return Residual(Linear(n, h), ReLU(), Linear(h, n))


def _resnet():
    return net(Linear(2, 2), _relu_block(2, 3), _relu_block(2, 3))


def _linear_resnet():
    return net(Linear(2, 2), Residual(Linear(2, 2)), Residual(Linear(2, 2)))


def _case(name, build, subset, claim, expected, quick=False):
    return Case(name, build, claim, expected, quick=quick, options={"subset": subset},
                follow_up=_laws_note)


def _laws_note(result) -> str:
    laws = result.laws_strings()
    if not laws:
        return "no law depends only on these parameters"
    shown = "; ".join(laws[:2]) + ("; ..." if len(laws) > 2 else "")
    return f"{len(laws)} exhibited, e.g. {shown}"


def cases():
    two_layer = "the two-layer block in isolation"
    out = [
        # deep linear: a pair of consecutive layers has its two-layer balancedness
        _case("linear_2_2_2_2_W1_W2", lambda: exactcl.linear([2, 2, 2, 2]), "W1,W2",
              f"{two_layer}: n(n+1)/2 = 3 (W1 W1^T - W2^T W2)", 3, quick=True),
        _case("linear_2_2_2_2_W2_W3", lambda: exactcl.linear([2, 2, 2, 2]), "W2,W3",
              f"{two_layer}: 3 (W2 W2^T - W3^T W3)", 3),
        _case("linear_2_3_3_2_W2_W3", lambda: exactcl.linear([2, 3, 3, 2]), "W2,W3",
              f"{two_layer}: 6 (W2 W2^T - W3^T W3)", 6),
        _case("linear_3_2_2_3_W1_W2", lambda: exactcl.linear([3, 2, 2, 3]), "W1,W2",
              f"{two_layer}: 3", 3),
        _case("linear_2_2_2_2_W1_W3", lambda: exactcl.linear([2, 2, 2, 2]), "W1,W3",
              "not consecutive layers: no statement", None),
        # deep ReLU: one law per neuron between the two layers, bias included
        _case("relu_2_3_3_2_W1_W2", lambda: exactcl.relu([2, 3, 3, 2]), "W1,W2",
              f"{two_layer}: one per hidden neuron, 3", 3, quick=True),
        _case("relu_bias_2_3_3_2_W1_b1_W2", lambda: exactcl.relu([2, 3, 3, 2], bias=True),
              "W1,b1,W2", f"{two_layer}: one per hidden neuron, 3", 3),
        _case("relu_bias_2_3_3_2_W2_b2_W3", lambda: exactcl.relu([2, 3, 3, 2], bias=True),
              "W2,b2,W3", f"{two_layer}: one per hidden neuron, 3", 3),
        _case("relu_bias_2_3_3_2_W2_W3", lambda: exactcl.relu([2, 3, 3, 2], bias=True),
              "W2,W3", "the block without its bias b2: its neuron laws involve b2, so 0", 0),
        # residual networks: a block's laws, and none across a skip for ReLU blocks
        _case("resnet_block_1", _resnet, "W2,W3",
              "the residual block in isolation: one per hidden neuron, 3", 3, quick=True),
        _case("resnet_stem_and_block", _resnet, "W1,W2",
              "across the skip (stem and the block's first layer): no law", 0),
        _case("resnet_across_blocks", _resnet, "W3,W4",
              "across the skip (one block's last layer, the next block's first): no law", 0),
        _case("linear_resnet_stem_and_block", _linear_resnet, "W1,W2",
              "across the skip: no law (the statement for blocks with a nonlinearity)", 0),
        _case("linear_resnet_blocks", _linear_resnet, "W2,W3",
              "across the skip: no law", 0),
        # attention: one head's parameters carry that head's laws
        _case("attention_softmax_head_0", lambda: net(Attention(2, 2, 1)), "Q0,K0,V0,O0",
              "the head in isolation: k(k+1) = 2", 2, quick=True),
        _case("attention_softmax_Q0_K0", lambda: net(Attention(2, 2, 1)), "Q0,K0",
              "the query-key factor in isolation: k(k+1)/2 = 1", 1),
        _case("attention_factors_head_0", lambda: net(Attention(2, 2, 1, kind="factors")),
              "Q0,K0,V0,O0", "the head in isolation: 2", 2),
        _case("attention_linear_head_0", lambda: net(LinearAttention(2, 2, 1)), "Q0,K0,V0,O0",
              "the head in isolation, per-head laws of softmax attention: 2", 2),
    ]
    return out


def finding(outcomes):
    agree = sum(o.agrees is True for o in outcomes)
    stated = sum(o.agrees is not None for o in outcomes)
    differ = [o.case.name for o in outcomes if o.agrees is False]
    text = (f"{agree} of {stated} stated cases certified as the paper says: the laws of a "
            f"pair of consecutive layers, of a residual ReLU block or of an attention head "
            f"inside the larger model are those of the block in isolation, and no law joins "
            f"parameters across the skip of a residual ReLU block.")
    if differ:
        text += (f" Different: {', '.join(differ)} — linear residual blocks x + W x are "
                 f"reparametrised linear layers (I + W), so the balancedness of the shifted "
                 f"matrices joins the parameters across the skips (3 laws for each pair); and "
                 f"softmax-free attention keeps one more law per head, the scaling "
                 f"|Q_h|^2 + |K_h|^2 - |V_h|^2 - |O_h|^2.")
    return text


if __name__ == "__main__":
    raise SystemExit(script_main(__file__))
