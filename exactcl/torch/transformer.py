"""Reading torch's ``nn.TransformerEncoderLayer`` (post-norm, ReLU).

torch.fx cannot trace the layer's ``forward`` (it first checks whether its
fused fast path applies), and torch's layers are kept whole when a module
is traced. So the layer's post-norm forward,

    x = norm1(x + dropout1(self_attn(x, x, x, need_weights=False)[0]))
    x = norm2(x + dropout2(linear2(dropout(activation(linear1(x))))))

is written here as a small fx graph of calls to its submodules, and that
graph is read at the layer's node by the reader of
:mod:`exactcl.torch.capture`, node by node, as if the user had written
it: the attention, the dropouts (refused in training mode with p > 0),
the LayerNorms (eps read as the decimal it prints as), the dense layers
and the residual additions are each read by their own rules, and the
output check against the layer's own forward (:func:`exactcl.from_torch`)
tests the whole. What the graph cannot express is refused first, by the
option's name: ``norm_first=True`` (a normalisation before the attention
is not counted), an activation other than ReLU, masks and ``is_causal``.

With ``batch_first=False`` (torch's default) the layer reads its input as
(tokens, batch, d); called on one sequence (tokens, d), unbatched, it is
the model of one example, which is what exactcl counts. Its attention is
then accepted with ``batch_first=False`` (:attr:`unbatched` on the
reader), and the output check calls the module once per example on a
(tokens, d) input.
"""

from __future__ import annotations

import operator

from ..errors import InputError

__all__ = ["NOT_YET", "read_encoder_layer"]

_STACKED = ("it stacks TransformerEncoderLayers, two LayerNorms each, and exactcl counts at "
            "most two layer normalisations after one attention (one "
            "nn.TransformerEncoderLayer is read: pass it, or a module calling it once)")
_CROSS = ("its cross-attention to the encoder's memory is not read (exactcl reads "
          "self-attention: one nn.TransformerEncoderLayer, post-norm, with its LayerNorms)")
#: torch's other transformer blocks, refused before tracing (fx cannot trace
#: them), with what is missing.
NOT_YET = {"TransformerEncoder": _STACKED, "TransformerDecoderLayer": _CROSS,
           "TransformerDecoder": _CROSS, "Transformer": _CROSS}


def _refuse(node, option: str, found: str, expected: str):
    where = str(node.target) or "(the module itself)"
    return InputError(f"Argument 'module' holds a torch.nn.TransformerEncoderLayer at {where} "
                      f"with {option}, which exactcl cannot read: {found}; exactcl expected "
                      f"{expected}.")


def _check_options(reader, node, sub) -> None:
    """Refuse, by name, the options the post-norm graph does not compute."""
    F, nn = reader.F, reader.nn
    if sub.norm_first:
        raise _refuse(node, "norm_first=True",
                      "a pre-norm layer normalises each token with a LayerNorm before the "
                      "attention, which is not counted", "norm_first=False (post-norm: the "
                      "LayerNorms norm1, norm2 after the attention and after the MLP)")
    act = sub.activation
    if isinstance(act, nn.Module):  # read by its own layer type (nn.ReLU, nn.GELU, ...)
        return
    if not (act is F.relu or act is reader.torch.relu or act is F.gelu):
        name = getattr(act, "__name__", repr(act))
        raise _refuse(node, f"activation {name}",
                      "the activation function is not one exactcl reads in this layer",
                      "activation='relu' or 'gelu', or an activation module (nn.ReLU(), "
                      "nn.GELU(), nn.Tanh(), ...)")


def _graph(fx, prefix: str, name: str, activation, where: str):
    """The post-norm forward as an fx graph of calls to the layer's
    submodules (``prefix`` its path, ``name`` the prefix of its node names,
    which keeps them apart from the enclosing graph's)."""
    graph = fx.Graph()

    def module(piece: str, *args, **kwargs):
        return graph.create_node("call_module", prefix + piece, args, kwargs,
                                 name=f"{name}_{piece}")

    def function(fn, args, piece: str):
        made = graph.create_node("call_function", fn, args, {}, name=f"{name}_{piece}")
        made.meta["nn_module_stack"] = {where: "TransformerEncoderLayer"}  # for messages
        return made

    x = graph.placeholder(f"{name}_src")
    sa = module("self_attn", x, x, x, need_weights=False)
    sa = module("dropout1", function(operator.getitem, (sa, 0), "attention_output"))
    y = module("norm1", function(operator.add, (x, sa), "add1"))
    h = module("linear1", y)
    h = (module("activation", h) if activation is None
         else function(activation, (h,), "activation"))
    ff = module("dropout2", module("linear2", module("dropout", h)))
    graph.output(module("norm2", function(operator.add, (y, ff), "add2")))
    return graph


def read_encoder_layer(reader, node, sub):
    """The value the ``nn.TransformerEncoderLayer`` ``sub`` called at
    ``node`` computes: its post-norm graph read at that node, its input
    bound to the node's."""
    import torch.fx as fx
    args = list(node.args)
    extra = [f"{k}={v!r}" if not hasattr(v, "op") else k
             for k, v in list(zip(("src_mask", "src_key_padding_mask", "is_causal"), args[1:]))
             + sorted(node.kwargs.items()) if v is not None and v is not False]
    if not args or extra:
        raise reader.refuse(node, "the TransformerEncoderLayer called on one tensor, without "
                            "masks (layer(x))", f"calls it with {', '.join(extra) or 'no input'}")
    x = reader.value(node, args[0])
    _check_options(reader, node, sub)
    prefix = f"{node.target}." if node.target else ""
    if not sub.self_attn.batch_first:
        reader.unbatched.add(prefix + "self_attn")
    act = None if isinstance(sub.activation, reader.nn.Module) else sub.activation
    graph = _graph(fx, prefix, node.name, act, str(node.target) or "(the module itself)")
    reader.record(node, "TransformerEncoderLayer (post-norm), read as its forward:")
    out = None
    for inner in graph.nodes:
        if inner.op == "placeholder":
            reader.env[inner] = x
        elif inner.op == "call_module":
            reader.env[inner] = reader.call_module(inner)
        elif inner.op == "call_function":
            reader.env[inner] = reader.call_function(inner)
        else:  # the output, the graph's last node
            out = reader.env[inner.args[0]]
    return out
