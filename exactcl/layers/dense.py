"""Dense layers, x -> W x (+ b): the layer, its spec ``Linear(n_in,n_out[,bias])``,
its canonical form ``["linear", n_in, n_out, bias]``, its exact forward
rule, its units for candidate laws, and its torch translation
(``nn.Linear``, ``F.linear``).

>>> Linear(3, 4, bias=True).spec(), Linear(3, 4).canonical()
('Linear(3,4,bias)', ['linear', 3, 4, False])
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import (
    PARAMETRISED,
    Layer,
    SpecCall,
    check_bool,
    check_parameters,
    check_size,
    show_value,
    spec_int,
)

__all__ = ["Linear"]


@dataclass(frozen=True)
class Linear(Layer):
    """A dense layer x -> W x (+ b): W has ``out_features`` rows and
    ``in_features`` columns.

    >>> Linear(3, 0)
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'out_features' of Linear(3, 0) must be a positive int, not 0.
    """

    in_features: int
    out_features: int
    bias: bool = False

    kinds = ("linear",)
    spec_heads = ("linear",)
    spec_help = "Linear(n_in,n_out[,bias])"
    example = "Linear(n_in, n_out)"
    chain = True
    role = PARAMETRISED
    unit_name = "neuron"
    weights = "W"
    torch_modules = ("Linear",)
    torch_functions = ("F.linear",)

    def __post_init__(self) -> None:
        text = f"Linear({show_value(self.in_features)}, {show_value(self.out_features)})"
        check_size(text, "in_features", self.in_features)
        check_size(text, "out_features", self.out_features)
        check_bool(text, "bias", self.bias)
        check_parameters(text, "'in_features' and 'out_features'",
                         self.in_features * self.out_features + self.bias * self.out_features)

    def __repr__(self) -> str:
        extra = ", bias=True" if self.bias else ""
        return f"Linear({self.in_features}, {self.out_features}{extra})"

    def canonical(self, size=None) -> list:
        return ["linear", self.in_features, self.out_features, self.bias]

    def spec(self) -> str:
        return f"Linear({self.in_features},{self.out_features}{',bias' if self.bias else ''})"

    def output_shape(self, shape):
        return (self.out_features, None)

    @classmethod
    def from_spec(cls, call: SpecCall) -> Linear:
        """``Linear(3,4)`` or ``Linear(3,4,bias)``.

        >>> from exactcl.layers.program import parse_net
        >>> parse_net("Linear(0,3)", "net:Linear(0,3)")
        Traceback (most recent call last):
        ...
        exactcl.errors.InputError: Argument 'SPEC' layer 1, 'Linear(0,3)', must have positive int sizes (n_in, n_out), not (0, 3), in 'net:Linear(0,3)'.
        """
        plain = call.plain
        if (len(plain) not in (2, 3) or call.keys
                or (len(plain) == 3 and plain[2].lower() != "bias")):
            raise call.unknown()
        sizes = [spec_int(p) for p in plain[:2]]
        if None in sizes or min(sizes) < 1:
            raise call.fail(f"must have positive int sizes (n_in, n_out), not "
                            f"({plain[0]}, {plain[1]})")
        return cls(sizes[0], sizes[1], bias=len(plain) == 3)

    # -- rules on canonical layers ---------------------------------------------------

    @staticmethod
    def forward(layer, run, a: list, shape):
        """``W{l}_{i}_{j}`` and ``b{l}_{i}``; the input is read flattened,
        channel by channel (torch's ``flatten`` order)."""
        _, n_in, n_out, bias = layer
        run.layer += 1
        n = run.layer
        if len(a) != n_in:
            raise ValueError(f"layer W{n} takes {n_in} inputs, not {len(a)}")
        out = []
        for i in range(n_out):
            s = sum(run.value(f"W{n}_{i}_{j}") * a[j] for j in range(n_in))
            out.append(s + run.value(f"b{n}_{i}") if bias else s)
        return out, None

    @staticmethod
    def readers(entries: tuple[int, int, int], layer, channels: int) -> list[list[int]]:
        """Per unit of the layer before (``channels`` of them), the indices of
        the weights reading it, W's (rows, cols, offset) given: every output
        and, after a flattened convolution, every position of the channel."""
        rows, cols, o = entries
        per = cols // channels  # positions of a flattened convolution (1 after a dense layer)
        return [[o + r * cols + c * per + q for r in range(rows) for q in range(per)]
                for c in range(channels)]

    # -- torch translation -----------------------------------------------------------

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        x = reader.single_input(node, sub)
        weight, bias = reader.own(node, sub, ("weight", "bias"))
        return _from_torch(reader, node, x, weight, bias)

    @classmethod
    def from_torch_function(cls, reader, node, fn):
        bound = reader.bind(node, ("input", "weight", "bias"), {"bias": None})
        return _from_torch(reader, node, reader.value(node, bound["input"]),
                           reader.param(node, bound["weight"], "weight"),
                           reader.param(node, bound["bias"], "bias"))


def _from_torch(reader, node, x, weight, bias):
    """The Linear a torch weight (out, in) and bias (out,) make, on ``x``."""
    w = weight.tensor
    if w.dim() != 2 or (bias is not None and tuple(bias.tensor.shape) != (w.shape[0],)):
        raise reader.refuse(node, "a weight of shape (out, in) and a bias of shape (out,)",
                            f"has weight {tuple(w.shape)}")
    n_out, n_in = (int(s) for s in w.shape)
    if len(x.shape) == 2 and x.shape[1] == n_in:  # on each token (a network with attention)
        reader.per_token = getattr(reader, "per_token", None) or node
        layer = Linear(n_in, n_out, bias=bias is not None)
        return reader.append(node, x, layer, (x.shape[0], n_out), reader.reads(weight, bias),
                             cost=x.shape[0] * n_in * n_out)
    if x.shape != (n_in,):
        reader.shape_error(node, x, f"({n_in},)", "Linear")
        raise reader.refuse(
            node, f"its input to be a vector of {n_in} entries (torch applies a Linear to "
                  f"the last dimension, exactcl to the whole input: flatten first)",
            f"gets its input of shape {x.shape}")
    layer = Linear(n_in, n_out, bias=bias is not None)
    return reader.append(node, x, layer, (n_out,), reader.reads(weight, bias),
                         cost=n_in * n_out)
