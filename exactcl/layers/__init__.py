"""What a model is made of: the layer types of the Python API and the spec
language (their parameters and names, shape checks, spec syntax, canonical
form), programs of layers, and the exact forward interpreter.

A layer's semantics (its evaluation over jets, which certificates rest on)
is in :mod:`exactcl.kernel`; everything here is checked again there.
"""
