"""Softmax attention as a layer of a network on N tokens: per-token dense
layers and ReLUs around it, residual blocks, and a transformer-style block
without normalisation (X + Attn(X), then Y + W2 relu(W1 Y + b1) + b2 per
token).

The laws derived by hand (docs/design.md, attention inside a network):

* each head's laws (bias-augmented with biases: Q Q^T + b_q b_q^T - K K^T,
  V V^T + b_v b_v^T - O O^T) and one per key-bias entry, as alone;
* a dense layer W (bias b) right before the attention: W -> G W,
  b -> G b, Q_h, K_h, V_h -> . G^-1 keeps the model, so the d(d+1)/2
  entries of W W^T + b b^T - sum_h (Q_h^T Q_h + K_h^T K_h + V_h^T V_h)
  are laws (only the d diagonal ones across a ReLU);
* the dense layer W' reading the attention's output: O_h -> O_h G^T,
  b_o -> G b_o, W' -> W' G^-1: the d(d+1)/2 entries of
  sum_h O_h^T O_h + b_o b_o^T - W'^T W';
* one law per hidden neuron of a ReLU MLP, and the residual stream's
  balancedness when a dense layer writes it and another reads it;
* X + Attn(X) has the gradients of Attn(X): the laws of the attention
  alone.

Every count is of the softmax network itself: the ranks come from the
Taylor coefficients of orders 0 to 3 in t of the network at X = 1 x0^T +
t X' (identical tokens: the expansion is rational), whose gradients lie
in the model's functional space; the laws are laws of the factorisation;
a sandwich settles it.

Run: python proofs/attention_networks.py [--check] [--quick]
"""

from exactcl import Attention, Linear, ReLU, Residual, net
from exactcl.workflows.reproduce import Case, others_differ, script_main

CLAIM_ID = "attention_networks"
TITLE = ("Attention inside networks of per-token layers: the head laws, the balancedness of "
         "the dense layers around it, the MLP's neurons, nothing else")
SOURCE = ("Marcotte, Peyre, Gribonval, Transformative or Conservative? (ICML 2025), attention "
          "and residual laws; Kunin et al., Neural Mechanics (ICLR 2021), symmetries; "
          "docs/design.md, attention inside a network")


def heads_laws(d: int, heads: int, k: int, bias: bool) -> int:
    """Each head's laws (k <= 2d, or 2d + 1 with biases), and the key bias."""
    return heads * (k * (k + 1) + (k if bias else 0))


def _case(name, layers, claim, expected, quick=False):
    return Case(name, lambda: net(*layers()), claim, expected, quick=quick)


def cases():
    return [
        _case("dense_attention_dense_3_4_2",
              lambda: (Linear(3, 4), Attention(4, 2), Linear(4, 2)),
              "10 balancedness of W1 against Q, K, V + 2 x 6 head laws + 10 of O against W3",
              10 + heads_laws(4, 2, 2, False) + 10, quick=True),
        _case("dense_attention_dense_2_2_2",
              lambda: (Linear(2, 2), Attention(2, 1, 1), Linear(2, 2)),
              "3 balancedness of W1 against Q, K, V + 2 head laws + 3 of O against W3",
              3 + heads_laws(2, 1, 1, False) + 3),
        _case("biased_2_2_1",
              lambda: (Linear(2, 2, bias=True), Attention(2, 1, 1, bias=True), Linear(2, 1)),
              "3 balancedness of [W1 | b1] against Q, K, V + 3 biased head laws + 3 of "
              "[O | b_o] against W3",
              3 + heads_laws(2, 1, 1, True) + 3),
        _case("relu_attention_3_4_2",
              lambda: (Linear(3, 4, bias=True), ReLU(), Attention(4, 1, 2, bias=True),
                       Linear(4, 2)),
              "4 neurons of the ReLU against Q, K, V + 8 biased head laws + 10 of [O | b_o] "
              "against W3",
              4 + heads_laws(4, 1, 2, True) + 10),
        _case("residual_attention_2_1_2",
              lambda: (Residual(Attention(2, 1, 2, bias=True)),),
              "X + Attn(X): the 8 laws of the attention alone",
              heads_laws(2, 1, 2, True)),
        _case("transformer_block_4_2_8",
              lambda: (Residual(Attention(4, 2, bias=True)),
                       Residual(Linear(4, 8, bias=True), ReLU(), Linear(8, 4, bias=True))),
              "2 x 8 biased head laws + 8 hidden neurons of the MLP",
              heads_laws(4, 2, 2, True) + 8, quick=True),
    ]


def finding(outcomes):
    agree = [o for o in outcomes if o.agrees is True]
    sandwich = sum(o.proof == "sandwich" for o in outcomes)
    text = (f"Softmax attention inside networks of per-token layers: {len(agree)} of "
            f"{len(outcomes)} networks have exactly the laws derived by hand (each head's, "
            f"bias-augmented with biases, and its key bias; the balancedness of the dense "
            f"layer before the attention against the stacked Q, K, V, diagonal across a ReLU; "
            f"that of the output projections O_h and b_o against the dense layer after it; one "
            f"per hidden neuron of the MLP), and {sandwich} of the counts are proven by "
            f"sandwich. X + Attn(X) keeps the laws of the attention alone, and a "
            f"transformer-style block without normalisation keeps those of its attention and "
            f"of its MLP, no more. Every rank is that of Taylor coefficients in t of the "
            f"network at identical tokens X = 1 x0^T + t X', orders 0 to 3, each indicator 0 "
            f"or 1.")
    return text + others_differ(outcomes)


if __name__ == "__main__":
    raise SystemExit(script_main(__file__))
