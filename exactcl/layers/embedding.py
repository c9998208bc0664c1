"""Embeddings, token i -> row i of a weight E of ``num_embeddings`` (V) rows
and ``embedding_dim`` (d) columns: the layer, its spec ``Embedding(V,d)``,
its canonical form ``["embedding", V, d]``, its exact forward rule, its
units for candidate laws, and its torch translation (``nn.Embedding``).

Token i is the one-hot vector e_i, and the layer the dense map x -> W x
with W = E^T: exactcl names ``W{l}_{j}_{i}`` the entry E[i, j] (torch's
``weight[i, j]``), and the candidate laws are a dense layer's, the
balancedness E^T E - W'^T W' with the next parametrised layer. What is
counted is the model on one-hot data, which can have more laws than the
dense program when a bias follows (:mod:`exactcl.kernel.layers.embedding`,
docs/design.md). It is the program's first layer.

>>> from exactcl import Linear, count, net
>>> prog = net(Embedding(6, 3), Linear(3, 2, bias=True))
>>> prog.spec, prog.D, prog.parameters[:3]
('net:Embedding(6,3),Linear(3,2,bias)', 26, ('W1_0_0', 'W1_0_1', 'W1_0_2'))
>>> result = count(prog)
>>> result.laws, result.proof
(6, 'sandwich')
>>> count(net(Embedding(1, 2), Linear(2, 1, bias=True))).laws  # the dense program has 3
4
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import (
    PARAMETRISED,
    Layer,
    SpecCall,
    check_parameters,
    check_size,
    show_value,
    spec_int,
)
from .dense import Linear

__all__ = ["Embedding"]


@dataclass(frozen=True)
class Embedding(Layer):
    """An embedding of ``num_embeddings`` tokens in ``embedding_dim``
    dimensions: token i gives row i of its weight (torch's ``nn.Embedding``
    without ``max_norm``).

    >>> Embedding(6, 3).canonical(), Embedding(6, 3).spec()
    (['embedding', 6, 3], 'Embedding(6,3)')
    >>> Embedding(0, 3)
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'num_embeddings' of Embedding(0, 3) must be a positive int, not 0.
    """

    num_embeddings: int
    embedding_dim: int

    kinds = ("embedding",)
    spec_heads = ("embedding",)
    spec_help = "Embedding(tokens,dim)"
    example = "Embedding(tokens, dim)"
    role = PARAMETRISED
    unit_name = "embedding coordinate"
    weights = "W"
    torch_modules = ("Embedding",)
    torch_functions = ("F.embedding",)

    def __post_init__(self) -> None:
        text = (f"Embedding({show_value(self.num_embeddings)}, "
                f"{show_value(self.embedding_dim)})")
        check_size(text, "num_embeddings", self.num_embeddings)
        check_size(text, "embedding_dim", self.embedding_dim)
        check_parameters(text, "'num_embeddings' and 'embedding_dim'",
                         self.num_embeddings * self.embedding_dim)

    def __repr__(self) -> str:
        return f"Embedding({self.num_embeddings}, {self.embedding_dim})"

    def canonical(self, size=None) -> list:
        return ["embedding", self.num_embeddings, self.embedding_dim]

    def spec(self) -> str:
        return f"Embedding({self.num_embeddings},{self.embedding_dim})"

    def output_shape(self, shape):
        return (self.embedding_dim, None)

    @classmethod
    def from_spec(cls, call: SpecCall) -> Embedding:
        """``Embedding(6,3)``: 6 tokens, 3 dimensions.

        >>> from exactcl.layers.program import parse_net
        >>> parse_net("Linear(2,6),Embedding(6,3)", "net:Linear(2,6),Embedding(6,3)")
        Traceback (most recent call last):
        ...
        exactcl.errors.InputError: Argument 'SPEC' is not a network: layer 2 (embedding) must be the program's first layer (its input is a token), not after another layer or inside a block, in 'net:Linear(2,6),Embedding(6,3)'.
        """
        plain = call.plain
        if len(plain) != 2 or call.keys:
            raise call.unknown()
        sizes = [spec_int(p) for p in plain]
        if None in sizes or min(sizes) < 1:
            raise call.fail(f"must have positive int sizes (tokens, dim), not "
                            f"({plain[0]}, {plain[1]})")
        return cls(sizes[0], sizes[1])

    # -- rules on canonical layers ---------------------------------------------------

    @staticmethod
    def forward(layer, run, a: list, shape):
        """E^T a, ``W{l}_{j}_{i}`` = E[i, j]: on the one-hot vector of token i,
        row i of E."""
        _, V, d = layer
        run.layer += 1
        n = run.layer
        if len(a) != V:
            raise ValueError(f"layer W{n} (an embedding of {V} tokens) takes a one-hot vector "
                             f"of {V} entries, not {len(a)}")
        return [sum(run.value(f"W{n}_{j}_{i}") * a[i] for i in range(V) if a[i])
                for j in range(d)], None

    @staticmethod
    def readers(entries: tuple[int, int, int], layer, channels: int) -> list[list[int]]:
        """As a dense layer's (an embedding reads no layer: it comes first)."""
        return Linear.readers(entries, layer, channels)

    # -- torch translation -----------------------------------------------------------

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        x = reader.single_input(node, sub)
        (weight,) = reader.own(node, sub, ("weight",))
        return _from_torch(cls, reader, node, x, weight, sub.padding_idx, sub.max_norm,
                           sub.scale_grad_by_freq, sub.sparse)

    @classmethod
    def from_torch_function(cls, reader, node, fn):
        bound = reader.bind(node, ("input", "weight", "padding_idx", "max_norm", "norm_type",
                                   "scale_grad_by_freq", "sparse"),
                            {"padding_idx": None, "max_norm": None, "norm_type": 2.0,
                             "scale_grad_by_freq": False, "sparse": False})
        weight = reader.param(node, bound["weight"], "weight")
        padding = bound["padding_idx"]
        if isinstance(padding, int) and padding < 0:  # as F.embedding reads it
            padding += int(weight.tensor.shape[0])
        return _from_torch(cls, reader, node, reader.value(node, bound["input"]), weight,
                           padding, bound["max_norm"], bound["scale_grad_by_freq"],
                           bound["sparse"])

    @staticmethod
    def check_inputs(torch, generator, count: int, shape, layer) -> object:
        """``count`` random inputs of ``shape`` for comparing a translated
        module with its program: token indices."""
        return torch.randint(0, layer.num_embeddings, (count,) + tuple(shape),
                             generator=generator)

    @staticmethod
    def exact_input(tokens, layer) -> list[int]:
        """The one-hot vector of the one token of an input."""
        (token,) = tokens
        return [int(i == token) for i in range(layer.num_embeddings)]


_WHY = {"max_norm": "renormalises the rows it reads, in place",
        "scale_grad_by_freq": "scales the gradient by token counts, not the gradient flow of "
                              "the loss",
        "sparse": "sparse gradients"}


def _from_torch(cls, reader, node, x, weight, padding_idx, max_norm, scale_grad_by_freq,
                sparse):
    """The Embedding a torch weight (V, d) makes, on the token indices ``x``."""
    for option, value, default in (("max_norm", max_norm, None),
                                   ("scale_grad_by_freq", scale_grad_by_freq, False),
                                   ("sparse", sparse, False)):
        if value != default:
            raise reader.refuse(node, f"an Embedding with {option}={default} (padding_idx is "
                                      f"read)", f"has {option}={value} ({_WHY[option]})")
    if x.steps:
        raise reader.refuse(node, "an Embedding reading the module's input (token indices)",
                            "reads a tensor computed by layers")
    if x.shape not in ((), (1,)):
        reader.shape_error(node, x, "() (one token per example, inputs of shape (batch,)) "
                           "or (1,): several tokens would read the embedding once each, "
                           "shared weights exactcl cannot count yet", "Embedding")
        raise reader.refuse(node, "one token per example", f"gets the shape {x.shape}")
    if weight.tensor.dim() != 2:
        raise reader.refuse(node, "a weight of shape (tokens, dim)",
                            f"has weight {tuple(weight.tensor.shape)}")
    V, d = (int(s) for s in weight.tensor.shape)
    name = reader.canonical(weight.tensor, weight.name)
    if padding_idx is not None:
        reader.freeze_row(name, int(padding_idx))
    return reader.append(node, x, cls(V, d), x.shape + (d,),
                         (("embedding", weight.tensor, name),), cost=V * d)
