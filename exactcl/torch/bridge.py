"""PyTorch modules in: the exactcl program of what a module computes, a map
between its parameters and exactcl's, and the certified laws as torch
functions of the module's parameters.

:func:`from_torch` traces the module with ``torch.fx`` and reads its graph
node by node (:mod:`exactcl.torch.capture` says what is read and what is
refused; nothing is skipped), then checks the program against the module
itself: the program's exact output at the module's parameters against the
module's own forward, on random inputs. A module that exactcl cannot read
faithfully is refused in one line, never counted as another model.

The parameter map follows exactcl's names (:mod:`exactcl.kernel.blocks`): the
weight ``W{l}_{i}_{j}`` of the l-th parametrised layer is
``weight[i, j]`` of the torch parameter that layer reads, a kernel
``K{l}_{o}_{i}_{t}`` is ``weight[o, i, t]``, a bias ``b{l}_{i}`` is
``bias[i]``; attention's Q_h, K_h, V_h are rows of ``in_proj_weight``,
O_h columns of ``out_proj.weight``, its biases b_q, b_k, b_v entries of
``in_proj_bias`` and b_o ``out_proj.bias``. Each parameter is named as
``module.named_parameters()`` names it.

Laws as torch functions evaluate the exact polynomials in floating point
(float64 by default): they measure, they decide nothing.

torch is imported only when a function here is called; ``import exactcl``
never needs it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from ..kernel.errors import InputError, UnsupportedError
from .laws import HeavyBall, TorchLaw, _LawSet, _torch

__all__ = ["HeavyBall", "TorchLaw", "TorchModel", "from_torch"]  # and Residual, built on first use


def _residual_class():
    torch = _torch()

    class Residual(torch.nn.Module):
        """x -> x + block(x): the residual pattern :func:`from_torch` reads."""

        def __init__(self, *layers):
            super().__init__()
            self.block = layers[0] if len(layers) == 1 else torch.nn.Sequential(*layers)

        def forward(self, x):
            return x + self.block(x)

    return Residual


_RESIDUAL = None


def __getattr__(name: str):
    if name == "Residual":
        global _RESIDUAL
        if _RESIDUAL is None:
            _RESIDUAL = _residual_class()
        return _RESIDUAL
    raise AttributeError(name)


@dataclass(frozen=True)
class TorchModel:
    """What a torch module computes, as an exactcl program.

    ``program`` is the :class:`~exactcl.layers.program.Program`; ``parameter_map``
    lists, per exactcl parameter (in exactcl's order), ``(exactcl name,
    torch parameter name, index)``, and is the single truth of which torch
    entry each exactcl parameter is; ``nodes`` says how each node of the
    traced graph was read, ``(fx node, module path, what it became)``;
    ``checked`` says whether and how the program was compared with the
    module's own forward; ``logit_scale`` is the constant attention scales
    its logits by (torch: 1/sqrt(head_dim); it changes no law). ``frozen``
    lists the parameters with ``requires_grad=False``, ``(exactcl name,
    torch name, index, value)``, each value the rational the float was
    when the module was read: the flow does not move them, the count holds
    them at those values, and ``parameter_map`` lists the trained ones.

    :func:`exactcl.count`, :func:`exactcl.certify` and :func:`exactcl.laws`
    take a ``TorchModel`` as they take a program.
    """

    program: object
    parameter_map: tuple[tuple[str, str, tuple[int, ...]], ...]
    nodes: tuple = ()
    checked: str = "not checked against the module"
    logit_scale: float = 1.0
    frozen: tuple = ()

    @property
    def name(self) -> str:
        """The model's name: the program's, or with frozen parameters
        ``"frozen T1, T2 of SPEC"`` (T the frozen tensors)."""
        if not self.frozen:
            return self.program.name
        return f"frozen {', '.join(self._frozen_tensors())} of {self.program.spec}"

    def _frozen_tensors(self) -> list[str]:
        """The frozen tensors by name; a tensor only some rows of which are
        frozen (an embedding's padding_idx) as ``name[row, ...]``."""
        trained = {t for _, t, _ in self.parameter_map}
        out: dict = {}
        for _, t, idx, _ in self.frozen:
            out.setdefault(t, {})[idx[0]] = None
        return [t if t not in trained else f"{t}[{', '.join(map(str, rows))}]"
                for t, rows in out.items()]

    def __exactcl_model__(self, max_memory=None):
        """The :class:`~exactcl.models.builtin.Model` the functions of exactcl count:
        the program's, or, with frozen parameters, the flow of the trained
        ones with the frozen ones held at their values
        (:func:`exactcl.models.builtin.with_constants`, phi expanded)."""
        from ..models.builtin import from_program, with_constants
        model = from_program(self.program, max_memory=max_memory)
        if not self.frozen:
            return model
        layout = self.program.layout
        if getattr(layout, "tokens", None) is not None or getattr(layout, "norm", None):
            kind = "a network on tokens" if layout.tokens is not None else "a normalised network"
            smooth = sorted({op[0] for op in getattr(layout, "smooth", None) or ()})
            if smooth:
                kind = f"a network with smooth activations ({', '.join(smooth)})"
            raise UnsupportedError(f"Argument 'module' has frozen parameters "
                                   f"({', '.join(self._frozen_tensors())}) in {kind}: frozen "
                                   f"parameters are counted by expanding phi with them held at "
                                   f"their values, and this model is not polynomial; train "
                                   f"every parameter (requires_grad=True) to count it.")
        return with_constants(model, {ex: value for ex, _, _, value in self.frozen}, self.name)

    def count(self, **options):
        """The certified count (:func:`exactcl.count`)."""
        from ..engine.counting import count
        return count(self, **options)

    def certify(self, path=None, **options):
        """Count and certify (:func:`exactcl.certify`)."""
        from ..certificates.build import certify
        return certify(self, path, **options)

    def describe(self) -> str:
        """How the module was read: one line per node, then the check.

        >>> print(TorchModel(None, (), (("_0", "0", "Linear(2, 1)"),), "not checked").describe())
        _0 (0): Linear(2, 1)
        not checked
        """
        lines = [f"{node} ({where}): {what}" for node, where, what in self.nodes]
        if self.frozen:
            lines.append(f"frozen (held at their values when read): "
                         f"{', '.join(self._frozen_tensors())}")
        return "\n".join(lines + [self.checked])

    def laws(self, result=None, *, optimizer=None, dtype=None) -> list[TorchLaw]:
        """The exhibited laws of ``result`` (default: a new count) as functions
        of a module's parameters.

        A count under a metric (``flow="metric:diag"``) gives laws in the
        parameters alone, as the gradient flow's. A count under the heavy
        ball (``flow="momentum:TAU"``) gives laws in (s, theta, theta') and
        needs ``optimizer``, the ``torch.optim.SGD`` that trains the module
        with heavy-ball momentum (:class:`HeavyBall` says how its steps
        discretise the flow and which settings it accepts); the laws must
        be made before its first step, since they count the steps from
        there.
        """
        if result is None:
            result = self.count()
        flow = result.flow
        clock = None
        if flow is not None and flow.lifted:
            if flow.kind != "momentum":
                why = (" (torch's Nesterov option is the heavy ball with a look-ahead, not "
                       "the damping 3/t)" if flow.kind == "nesterov" else "")
                raise InputError(f"Argument 'result' is a count under {flow.text}; no torch "
                                 f"optimizer runs that flow{why}.")
            clock = HeavyBall(optimizer, flow.tau)
        elif optimizer is not None:
            raise InputError("Argument 'optimizer' is for a count under momentum; these laws "
                             "are functions of the parameters alone.")
        shared = _LawSet(self.parameter_map, result.exhibited, result.ring, dtype, clock)
        labels = result.exhibited_labels or tuple("" for _ in result.exhibited)
        return [TorchLaw(shared, k, label, text)
                for k, (label, text) in enumerate(zip(labels, result.laws_strings()))]


#: The output check of :func:`from_torch` runs by default when one exact
#: forward pass costs at most this many multiply-adds (about a second each
#: in rationals); ``check=True`` runs it at any size.
CHECK_MAX_COST = 2**19
#: Random inputs the output check compares the program and the module on.
CHECK_INPUTS = 3
#: Largest difference allowed between the module's forward in float64 and
#: the exact output, relative to the exact output's largest entry (or 1).
CHECK_TOLERANCE = 1e-8


def from_torch(module, example_input_shape: Sequence[int], *, check: bool | None = None,
               batch_size: int | None = None) -> TorchModel:
    """The exactcl program of what ``module`` computes, and the map of its
    parameters.

    ``example_input_shape`` is the shape of one input without the batch:
    ``(n,)`` for a dense network, ``(channels, length)`` or ``(channels,
    height, width)`` for a convolutional one, ``(tokens, d)`` for attention
    (one sequence: a ``nn.TransformerEncoderLayer`` with torch's default
    batch_first=False is read, and checked, on it unbatched).
    The module is traced with ``torch.fx`` and read node by node
    (:mod:`exactcl.torch.capture` lists what is translated; anything else is
    refused in one line that names the node).

    ``check`` compares the program with the module itself: the program's
    exact output at the module's parameters (the rationals their floats
    are) against the module's forward in float64, on
    :data:`CHECK_INPUTS` random inputs; a difference is a refusal, never a
    certificate of another model. By default (None) it runs when an exact
    forward pass costs at most :data:`CHECK_MAX_COST` multiply-adds;
    ``True`` runs it whatever the size, ``False`` skips it. The result says
    which (``checked``).

    ``batch_size`` N is for a module with a ``nn.BatchNorm1d`` or
    ``nn.BatchNorm2d`` in training mode: one example's output then depends
    on the whole batch, so the model counted is that of a batch of N
    examples (of shape ``example_input_shape``, a vector, or an image
    (C, H, W) for BatchNorm2d) to their outputs, the model each training
    step's gradient follows; it is refused for a module without one.

    >>> import torch  # doctest: +SKIP
    >>> tm = from_torch(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),
    ...                                     torch.nn.Linear(4, 2)), (3,))  # doctest: +SKIP
    >>> tm.program.spec, tm.count().laws  # doctest: +SKIP
    ('net:Linear(3,4,bias),ReLU,Linear(4,2,bias)', 4)
    >>> layer = torch.nn.TransformerEncoderLayer(4, 2, dim_feedforward=8,
    ...                                          dropout=0).eval()  # doctest: +SKIP
    >>> from_torch(layer, (3, 4)).count().laws  # doctest: +SKIP
    38
    """
    torch = _torch()
    if not isinstance(module, torch.nn.Module):
        raise InputError(f"Argument 'module' must be a torch.nn.Module, not "
                         f"{type(module).__name__}.")
    shape = _shape(example_input_shape)
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                   or batch_size < 2):
        raise InputError(f"Argument 'batch_size' must be an int >= 2 (the examples of a batch "
                         f"a batch normalisation normalises over), not {batch_size!r}.")
    if check is not None and not isinstance(check, bool):
        raise InputError(f"Argument 'check' must be True, False or None (automatic), not "
                         f"{check!r}.")
    from .capture import capture
    got = capture(torch, module, shape, batch_size)
    program, owners = _program(got)
    full = _parameter_map(program, owners)
    frozen, rows = set(got.frozen), set(got.frozen_rows)

    def still(t, idx) -> bool:  # frozen: a whole tensor, or a row of it (padding_idx)
        return t in frozen or (t, idx[0]) in rows

    params = dict(module.named_parameters())
    held = tuple((ex, t, idx, Fraction(float(params[t].detach()[idx].item())))
                 for ex, t, idx in full if still(t, idx))
    tm = TorchModel(program, tuple(e for e in full if not still(e[1], e[2])), tuple(got.nodes),
                    logit_scale=got.logit_scale, frozen=held)
    cost = got.cost * CHECK_INPUTS
    if check is False or (check is None and cost > CHECK_MAX_COST):
        why = ("check=False" if check is False else
               f"{cost} exact multiply-adds, above {CHECK_MAX_COST}: check=True runs it")
        return dataclasses.replace(tm, checked=f"not checked against the module ({why})")
    return dataclasses.replace(tm, checked=_check_output(torch, module, tm, shape, batch_size,
                                                         got.unbatched))


def _shape(shape) -> tuple[int, ...]:
    if (not isinstance(shape, (tuple, list))
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape)):
        raise InputError(f"Argument 'example_input_shape' must be the shape of one input "
                         f"without the batch, a tuple of positive ints such as (3,) or "
                         f"(1, 16) (or () for one token), not {shape!r}.")
    return tuple(shape)


def _program(got):
    """The program of the captured steps, and per parametrised layer (in the
    program's order) its torch parameters ``{role: name}``."""
    from ..layers.program import Residual, net
    owners: list[dict] = []
    first_sized = [True]

    def layers(steps) -> list:
        out = []
        for step in steps:
            layer = step.layer
            if step.inner:
                out.append(Residual(*layers(step.inner)))
                continue
            if step.reads:
                owners.append({role: name for role, _, name in step.reads})
            if layer.size_name is not None:
                # the first convolution names its input size; later ones get it
                # from the layers before them, as a program written by hand does
                if not first_sized[0]:
                    layer = layer.without_size()
                first_sized[0] = False
            out.append(layer)
        return out

    built = layers(got.steps)
    try:
        program = net(*built)
    except InputError as err:
        spec = ",".join(layer.spec() for layer in built)
        raise InputError(f"Argument 'module' computes {spec}, which exactcl cannot express: "
                         f"{str(err).removeprefix('Argument ' + repr('layers') + ' ')}") from None
    return program, owners


def _parameter_map(program, owners: list[dict]) -> list[tuple[str, str, tuple[int, ...]]]:
    """(exactcl name, torch name, index) per exactcl parameter, in order."""
    out = []
    if owners and "in_proj_weight" in owners[0] and len(program.layers) == 1:
        return program.layers[0].torch_parameter_map(program.parameters, owners[0])
    attention = _attention_of(program)
    for name in program.parameters:
        head, *idx = name.split("_")
        if attention is not None and (head[0] in "QKVO" or head[:2] in ("bq", "bk", "bv", "bo")):
            # attention in a network (its only other layers: dense, W{l} and b{l})
            owner = next(o for o in owners if "in_proj_weight" in o)
            out += attention.torch_parameter_map([name], owner)
            continue
        kind, layer = head[0], int(head[1:])
        names, index = owners[layer - 1], tuple(int(i) for i in idx)
        if kind != "b" and "embedding" in names:  # W{l}_{j}_{i} is weight[i, j]
            out.append((name, names["embedding"], index[::-1]))
            continue
        role = "bias" if kind == "b" else "weight"
        out.append((name, names[role], index))
    return out


def _attention_of(program):
    """The attention layer of a program (nested in residual blocks too), or None."""
    stack = list(program.layers)
    while stack:
        layer = stack.pop()
        if type(layer).__name__ == "Attention":
            return layer
        stack.extend(layer.children)
    return None


def _check_output(torch, module, tm: TorchModel, shape, batch_size=None,
                  unbatched: bool = False) -> str:
    """Compare the program's exact output with the module's forward on random
    inputs (batches of ``batch_size`` examples, each passed to the module as
    one batch, when given; each example by itself, unbatched, when
    ``unbatched``: an attention with batch_first=False, a
    TransformerEncoderLayer's, reads one sequence (tokens, d) so); refuse on
    a difference. Returns what was
    checked. The module's buffers (a batch normalisation's running
    statistics) are copies: the check changes nothing of the module."""
    from ..layers.forward import output
    params = dict(module.named_parameters())
    values = {ex: value for ex, _, _, value in tm.frozen}
    cache: dict = {}
    for ex, tname, idx in tm.parameter_map:
        flat = cache.get(tname)
        if flat is None:
            flat = cache[tname] = params[tname].detach().to("cpu", torch.float64)
        values[ex] = Fraction(float(flat[idx]))
    generator = torch.Generator().manual_seed(0)
    first = tm.program.layers[0]
    tokens = getattr(first, "check_inputs", None)  # a layer reading token indices
    if tokens is not None:
        x = tokens(torch, generator, CHECK_INPUTS, shape, first)
    else:
        x = torch.randn((CHECK_INPUTS,) + ((batch_size,) if batch_size else ()) + tuple(shape),
                        generator=generator, dtype=torch.float64)
    state = {name: t.detach().to(torch.float64, copy=True) if t.is_floating_point()
             else t.detach().clone()
             for name, t in list(module.named_parameters()) + list(module.named_buffers())}
    device = next(module.parameters()).device
    with torch.no_grad(), _eps_of_own_dtype(torch, module):
        if isinstance(module, torch.nn.MultiheadAttention):
            got = torch.stack([torch.func.functional_call(
                module, state, (s.to(device), s.to(device), s.to(device)))[0] for s in x])
        elif batch_size or unbatched:  # one call per batch (its examples are normalised
            # together), or per example (an attention with batch_first=False)
            got = torch.stack([torch.func.functional_call(
                module, {k: v.to(device) for k, v in state.items()}, (s.to(device),))
                for s in x])
        else:
            got = torch.func.functional_call(module, {k: v.to(device) for k, v in state.items()},
                                             (x.to(device),))
    got = got.reshape(CHECK_INPUTS, -1).to("cpu")
    canonical = tm.program.canonical()
    worst = 0.0
    for n in range(CHECK_INPUTS):
        entries = x[n].reshape(-1).tolist()
        exact = output(canonical, values, first.exact_input(entries, first) if tokens else
                       [Fraction(v) for v in entries], logit_scale=tm.logit_scale)
        if len(exact) != got.shape[1]:
            raise InputError(f"Argument 'module' gives {got.shape[1]} outputs per input but its "
                             f"translation {tm.program.spec} gives {len(exact)}: refused rather "
                             f"than counted as another model.")
        scale = max(1.0, max(abs(float(v)) for v in exact))
        for k, (e, t) in enumerate(zip(exact, got[n].tolist())):
            gap = abs(float(e) - t) / scale
            if not gap <= CHECK_TOLERANCE:
                raise InputError(f"Argument 'module' is not what exactcl read: on a random "
                                 f"input, output entry {k} of the module is {t:.17g} and of "
                                 f"its translation {tm.program.spec} {float(e):.17g}; refused "
                                 f"rather than counted as another model.")
            worst = max(worst, gap)
    return (f"output equals the module's forward on {CHECK_INPUTS} random inputs (largest "
            f"relative difference {worst:.1e}, float64 against exact)")


@contextlib.contextmanager
def _eps_of_own_dtype(torch, module):
    """While the module runs in float64 for the check, an RMSNorm with
    eps=None keeps the eps of its own dtype (2^-23 in float32), the value
    read, not float64's."""
    unset = [sub for sub in module.modules()
             if type(sub).__name__ == "RMSNorm" and getattr(sub, "eps", 0) is None]
    for sub in unset:
        weight = getattr(sub, "weight", None)
        sub.eps = torch.finfo(weight.dtype if weight is not None else torch.float32).eps
    try:
        yield
    finally:
        for sub in unset:
            sub.eps = None

