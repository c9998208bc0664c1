"""What a model is made of: the layer types of the Python API and the spec
language (their parameters and names, shape checks, spec syntax, canonical
form), programs of layers, and the exact forward interpreter.

A layer's semantics (its evaluation over jets, which certificates rest on)
is in :mod:`exactcl.kernel`; everything here is checked again there.

One module per layer family holds everything user-side about its layer
types (:mod:`~exactcl.layers.dense`, :mod:`~exactcl.layers.activations`,
:mod:`~exactcl.layers.conv`, :mod:`~exactcl.layers.residual`,
:mod:`~exactcl.layers.attention`), each fulfilling the contract of
:mod:`~exactcl.layers.base`; :mod:`~exactcl.layers.registry` lists them,
one line each, and the programs (:mod:`~exactcl.layers.program`), the
forward interpreter (:mod:`~exactcl.layers.forward`), the candidate laws
(:mod:`exactcl.models.blocks`) and the torch capture
(:mod:`exactcl.torch.capture`) find every layer type there.
"""
