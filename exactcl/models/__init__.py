"""What is counted: :class:`~exactcl.models.base.Model` (generator fields,
phi, candidate laws), the built-in families, models of programs of layers,
models from SymPy expressions, models under other flows (momentum,
Nesterov, mirror), and the spec strings naming them.
"""
