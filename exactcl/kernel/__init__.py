"""The trusted kernel: everything ``exactcl verify`` rests on, and nothing else.

The strict certificate parser (:mod:`~exactcl.kernel.certformat`), exact and
modular arithmetic (:mod:`~exactcl.kernel.rings`, :mod:`~exactcl.kernel.fields`,
:mod:`~exactcl.kernel.linalg`), the semantics of every layer evaluated over
jets at a point (:mod:`~exactcl.kernel.evaluator` for chains of dense layers
and ReLUs, :mod:`~exactcl.kernel.blocks` for residual, convolutional and
attention blocks), brackets and the closure check
(:mod:`~exactcl.kernel.brackets`, :mod:`~exactcl.kernel.jets`), the work
budget, the checks of names, flows, subsets and law identities, and the
verifier. Its modules import nothing of exactcl outside this folder, and
never SymPy, networkx or torch (``tests/test_layout.py`` reads it from the
source): the rest of the package may be as clever as it likes, because the
kernel re-checks what it produces.
"""
