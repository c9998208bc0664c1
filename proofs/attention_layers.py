"""Attention with biases, nn.MultiheadAttention(bias=True): per head h the
queries, keys and values X Q_h^T + 1 b_q^T, X K_h^T + 1 b_k^T,
X V_h^T + 1 b_v^T, and an output bias b_o on every token.

Softmax ignores the key bias (its terms are constant along each row of the
logits), so each entry of b_k is a law; the rows of softmax sum to 1, so
the value bias passes as the constant row O_h^T b_v; the model is
sum_h softmax(s [X|1] [Q_h|b_q]^T K_h X^T) X V_h^T O_h + 1 e^T with
e = b_o + sum_h O_h^T b_v. The symmetries of the bias-augmented factors
[Q_h|b_q] and [V_h|b_v] give the laws Q Q^T + b_q b_q^T - K K^T and
V V^T + b_v b_v^T - O O^T, as for two-layer linear networks
d -> k -> d + 1: k(k+1)/2 each for k <= 2d + 1 (Corollary 4.4 of the
NeurIPS paper), past it k(k+1)/2 - (k-2d-1)(k-2d)/2. So, per head,
k(k+1) + k laws for k <= 2d + 1.

Every count is of softmax attention itself: the ranks come from the
Taylor coefficients of orders 0, 1, 2 and 3 in the input at X = 0 (the
last against centred outputs), whose gradients lie in the model's
functional space (docs/design.md, attention), the laws are laws of the
factorisation through which the model factors, and a sandwich settles it.

Run: python proofs/attention_layers.py [--check] [--quick]
"""

from exactcl import Attention, net
from exactcl.workflows.reproduce import Case, others_differ, script_main

CLAIM_ID = "attention_layers"
TITLE = ("Attention with biases: the bias-augmented head laws and one law per key-bias entry, "
         "nothing else")
SOURCE = ("Marcotte, Peyre, Gribonval, Transformative or Conservative? (ICML 2025), attention "
          "laws; Kunin et al., Neural Mechanics (ICLR 2021), symmetries of biases; torch's "
          "nn.MultiheadAttention(bias=True)")

#: Single-head shapes (d, k), k up to 2d + 3, D = 4 d k + 3 k + d <= 90.
SINGLE = [(1, k) for k in range(1, 6)] + [(2, k) for k in range(1, 8)] + \
         [(3, k) for k in range(1, 6)]
#: Multi-head shapes (heads, d, k), the issue's d = 4 with 2 heads among them.
MULTI = [(2, 1, 1), (2, 2, 1), (2, 2, 2), (2, 3, 1), (3, 2, 1), (3, 2, 2), (2, 4, 2), (4, 4, 1)]


def per_factor(d: int, k: int) -> int:
    """Laws of a two-layer linear network d -> k -> d + 1 (Corollary 4.4,
    and past k = 2d + 1 the dependent entries removed)."""
    extra = max(k - 2 * d - 1, 0)
    return k * (k + 1) // 2 - extra * (extra + 1) // 2


def expected(heads: int, d: int, k: int) -> int:
    return heads * (2 * per_factor(d, k) + k)


def _claim(heads: int, d: int, k: int) -> str:
    each = "" if heads == 1 else f"{heads} x "
    if k <= 2 * d + 1:
        return (f"{each}(k(k+1) + k) = {expected(heads, d, k)} (per head: the two "
                f"bias-augmented factors and the k key-bias entries)")
    return (f"{each}(2N + k) = {expected(heads, d, k)}, N = k(k+1)/2 - (k-2d-1)(k-2d)/2 "
            f"(k > 2d + 1: the factors' entries are dependent)")


def cases():
    out = []
    for d, k in SINGLE:
        out.append(Case(f"bias_d{d}_k{k}", lambda d=d, k=k: net(Attention(d, 1, k, bias=True)),
                        _claim(1, d, k), expected(1, d, k), quick=(d, k) == (2, 2)))
    for h, d, k in MULTI:
        out.append(Case(f"bias_heads{h}_d{d}_k{k}",
                        lambda d=d, k=k, h=h: net(Attention(d, h, k, bias=True)),
                        _claim(h, d, k), expected(h, d, k), quick=(h, d, k) == (2, 4, 2)))
    return out


def finding(outcomes):
    agree = [o for o in outcomes if o.agrees is True]
    sandwich = sum(o.proof == "sandwich" for o in outcomes)
    past = [o for o in outcomes if "k > 2d + 1" in o.case.claim]
    text = (f"Softmax attention with biases: {len(agree)} of {len(outcomes)} shapes have exactly "
            f"the bias-augmented head laws (Q Q^T + b_q b_q^T - K K^T, V V^T + b_v b_v^T - "
            f"O O^T) and one law per key-bias entry, {len(past)} of them past k = 2d + 1 where "
            f"the factors' laws are dependent; {sandwich} of the counts are proven by sandwich. "
            f"The value and output biases add no law of their own: the model sees them only "
            f"through e = b_o + sum_h O_h^T b_v, and the translations b_v -> b_v + t, "
            f"b_o -> b_o - O^T t that keep e give none.")
    return text + others_differ(outcomes)


if __name__ == "__main__":
    raise SystemExit(script_main(__file__))
