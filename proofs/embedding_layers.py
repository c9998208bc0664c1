"""Embeddings: nn.Embedding(V, d) maps token i to row i of its weight E, the
dense layer W = E^T on one-hot inputs. Its rescalings with the next
parametrised layer (E -> E G^T, W' -> W' G^-1) give the balancedness
E^T E - W'^T W', d(d+1)/2 laws when the next layer reads it directly, one
per coordinate across a ReLU; a ReLU network after it adds one per hidden
neuron, a LogSoftmax head its translation laws. The data are one-hot
vectors only, so the count is that of the model on them (docs/design.md,
embeddings): it equals the dense twin's when no bias follows the
embedding, and can exceed it when one does (one token and a bias: phi is a
single component). Each summary line says the dense twin's count.

Run: python proofs/embedding_layers.py [--check] [--quick]
"""

from exactcl import Embedding, Linear, LogSoftmax, ReLU, count, net
from exactcl.workflows.reproduce import Case, script_main

CLAIM_ID = "embedding_layers"
TITLE = ("Embeddings: the balancedness of the embedding with the next layer, on one-hot "
         "data; a bias after a one-token embedding adds laws its dense twin does not have")
SOURCE = ("Marcotte, Gribonval, Peyre (NeurIPS 2023), Corollary 4.4 and Section 4 (the "
          "embedding as the first factor W = E^T); Kunin et al., Neural Mechanics (ICLR "
          "2021), rescaling and translation symmetries")


def _dense_twin(layers):
    """The same program with a dense Linear(V, d) in place of the embedding."""
    first = layers[0]
    return net(Linear(first.num_embeddings, first.embedding_dim), *layers[1:])


def _twin_sentence(layers):
    def follow_up(result):
        twin = count(_dense_twin(layers))
        same = "the same" if twin.laws == result.laws else "fewer"
        return (f"its dense twin (Linear({layers[0].num_embeddings}, "
                f"{layers[0].embedding_dim}) in place of the embedding) has {twin.laws} laws "
                f"({twin.proof}): {same}.")
    return follow_up


def _case(name, layers, claim, expected, quick=False):
    return Case(name, lambda layers=layers: net(*layers), claim, expected, quick=quick,
                follow_up=_twin_sentence(layers))


def cases():
    out = []
    # an embedding read by a dense layer: the balancedness of the pair, d(d+1)/2
    for V, d, m, bias in [(6, 3, 2, True), (6, 3, 2, False), (4, 2, 3, True), (4, 2, 3, False),
                          (3, 3, 2, True), (2, 3, 2, False), (5, 4, 3, True)]:
        layers = [Embedding(V, d), Linear(d, m, bias=bias)]
        n = d * (d + 1) // 2
        name = f"embedding_{V}_{d}_linear_{m}{'_bias' if bias else ''}"
        out.append(_case(name, layers, f"{n} (balancedness E^T E - W^T W, {d} x {d})", n,
                         quick=(V, d, m, bias) == (6, 3, 2, True)))
    # one token and a bias after it: phi = W e + b, one component per output
    out.append(_case("embedding_1_2_linear_1_bias", [Embedding(1, 2), Linear(2, 1, bias=True)],
                     "4 (phi = w . e + b is one component: D - 1 = 4; the balancedness gives 3)",
                     4))
    # across a ReLU: one law per embedding coordinate
    for V, d, m in [(4, 3, 2), (5, 2, 3)]:
        layers = [Embedding(V, d), ReLU(), Linear(d, m)]
        out.append(_case(f"embedding_{V}_{d}_relu_linear_{m}", layers,
                         f"{d} (one per embedding coordinate)", d))
    # a ReLU network after it: the balancedness with its first layer, one per hidden neuron
    for V, d, h, m, bias in [(3, 2, 3, 2, True), (4, 2, 3, 2, False), (1, 2, 2, 1, True),
                             (5, 3, 4, 3, True)]:
        layers = [Embedding(V, d), Linear(d, h, bias=bias), ReLU(), Linear(h, m, bias=bias)]
        n = d * (d + 1) // 2 + h
        name = f"embedding_{V}_{d}_relu_{h}_{m}{'_bias' if bias else ''}"
        out.append(_case(name, layers, f"{n} (balancedness {d} x {d}, plus one per hidden "
                                       f"neuron)", n))
    # a LogSoftmax head: the translation laws of the last dense layer on top
    for V, d, m in [(5, 3, 4), (6, 3, 2)]:
        layers = [Embedding(V, d), Linear(d, m, bias=True), LogSoftmax()]
        n = d * (d + 1) // 2 + d + 1
        out.append(_case(f"embedding_{V}_{d}_linear_{m}_bias_logsoftmax", layers,
                         f"{n} (balancedness, plus {d} column sums and the bias sum)", n))
    return out


def finding(outcomes):
    agree = sum(o.agrees is True for o in outcomes)
    sandwich = sum(o.proof == "sandwich" for o in outcomes)
    closure = sum(o.proof == "closure" for o in outcomes)
    return (f"{agree} of {len(outcomes)} networks starting with an embedding have the laws "
            f"the claim column states: the balancedness of the embedding with the next layer "
            f"(one law per coordinate across a ReLU) plus the laws of the rest of the network; "
            f"with one token and a bias after the embedding, the model on one-hot data has a "
            f"single component and one law more than its dense twin (4 against 3); "
            f"{sandwich} counts are proven by sandwich and {closure} by closure.")


if __name__ == "__main__":
    raise SystemExit(script_main(__file__))
