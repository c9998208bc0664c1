"""A certificate's program of layers: its layout (the chain evaluator's for
dense layers and ReLUs, else the block interpreter's), refused from its
sizes before it is built (layers, nesting, parameters, and what each
layer's rule bounds)."""

from __future__ import annotations

from .blocks import BlockLayout, check_blocks, count_layers, count_text, is_block_program
from .errors import CertificateFormatError
from .evaluator import Layout, check_layers
from .layers import RULES
from .reading import MAX_LAYERS, MAX_PROGRAM_VARIABLES, _list

__all__ = ["program_layout"]


def program_layout(model: dict) -> Layout:
    """The :class:`~exactcl.kernel.evaluator.Layout` of ``model.program``, refusing
    layers that are not a network, and a program of more than MAX_LAYERS
    layers or MAX_PROGRAM_VARIABLES parameters from its sizes, before it is built.

    >>> program_layout({"program": [["linear", 2, 3, False], ["relu"], ["linear", 3, 1, False]]}).D
    9
    >>> program_layout({"program": [["linear", 10**5, 10**5, False]]})
    Traceback (most recent call last):
    ...
    exactcl.errors.CertificateFormatError: model.program has 10,000,000,000 parameters; a certificate holds at most 40,000.
    """
    layers = _list(model["program"], "model.program", MAX_LAYERS)
    if is_block_program(layers):
        return _block_layout(layers)
    try:
        canonical = check_layers(layers)
    except ValueError as err:
        raise CertificateFormatError(f"model.program: {err}.") from None
    D = sum(n_in * n_out + (n_out if bias else 0)
            for kind, *rest in canonical if kind == "linear" for n_in, n_out, bias in [rest])
    if D > MAX_PROGRAM_VARIABLES:
        raise CertificateFormatError(f"model.program has {count_text(D)} parameters; a "
                                     f"certificate holds at most {MAX_PROGRAM_VARIABLES:,}.")
    return Layout(canonical)


def _block_layout(layers: list) -> BlockLayout:
    """The :class:`~exactcl.kernel.blocks.BlockLayout` of a block program, refused
    from its sizes before it is built: layers (those of residual blocks
    included, counted before they are checked), nesting, parameters, and
    what each layer's rule bounds (a convolution's positions and the entries
    its convolutions unfold, attention's tokens: the layout holds their
    index); what evaluating it costs is the verifier's estimate.

    >>> _block_layout([["conv", 1, 1, [2], [1], False, [10**6]]])
    Traceback (most recent call last):
    ...
    exactcl.errors.CertificateFormatError: model.program: layer 1 (conv) reads 1,000,000 positions; a certificate holds at most 4,096.
    >>> _block_layout([["conv", 4, 1, [2048], [1], False, [4096]]])
    Traceback (most recent call last):
    ...
    exactcl.errors.CertificateFormatError: model.program: layer 1 (conv) brings the entries its convolutions unfold to 16,785,408; a certificate holds at most 4,194,304.
    """
    try:
        count_layers(layers)
        canonical = check_blocks(layers)
    except ValueError as err:
        raise CertificateFormatError(f"model.program: {err}.") from None
    totals = {"parameters": 0, "patches": 0}

    def walk(seq, where):
        for n, layer in enumerate(seq, 1):
            rule = RULES[layer[0]]
            problem = rule.file_bounds(layer, f"{where}layer {n}", totals)
            if problem is not None:
                raise CertificateFormatError(f"model.program: {problem}.")
            totals["parameters"] += rule.parameters(layer)
            if totals["parameters"] > MAX_PROGRAM_VARIABLES:
                raise CertificateFormatError(f"model.program has more than {MAX_PROGRAM_VARIABLES:,} "
                                             f"parameters; a certificate holds at most "
                                             f"{MAX_PROGRAM_VARIABLES:,}.")
            if rule.nested is not None:
                walk(layer[rule.nested], f"{where}layer {n} ({rule.kind}) ")

    walk(canonical, "")
    return BlockLayout(canonical)
