"""What every layer rule of the kernel shares: the contract a layer family
fulfils (:class:`LayerRule`), and the matrices over jets its rules compute
with.

A layer family's rule gives, for its canonical form (the list a
certificate stores, ``["linear", n_in, n_out, bias]``, ...):

* its **check** (the canonical tuple and the shape it gives, or ValueError
  naming the layer), and the **sizes** it adds, read from its numbers before
  anything is built (:func:`exactcl.kernel.blocks.size_problem` and the
  certificate reader's bounds);
* its **compilation** into an op of :class:`~exactcl.kernel.blocks.BlockLayout`
  (its parameter tensors named and ordered, the index it gathers by);
* its **semantics**: the forward pass and its reverse over jets of
  matrices mod p (grad F of a probe, and every bracket word through nested
  forward mode), the exact expansion over Q for small programs, the
  pass at all ones (a bound on phi's terms), and its degree in theta;
* its reading in a ``net:`` name (:mod:`exactcl.kernel.namecheck`),
  independent of the spec parser that wrote the name.

Activations are matrices: a vector n x 1 after a dense layer, channels x
positions after a convolution. A shape is (rows, cols, spatial size or
None); None is the program's input before its first layer.
"""

from __future__ import annotations

from flint import nmod_mat

from ..densemod import ModMat
from ..evaluator import _add

#: Entries of the program's input and of every layer's output (ReLUs
#: included), in all, and of the d x d matrices of attention: more than
#: three times the parameters a model may have (exactcl.limits), so that no
#: chain of dense layers is refused by it (its input, outputs and ReLU
#: indicators never exceed three times its parameters).
MAX_ACTIVATIONS = 2**17


def ints(value: object, n: int | None = None) -> bool:
    """Whether ``value`` is a list of ints (of length ``n``)."""
    return (isinstance(value, (list, tuple)) and (n is None or len(value) == n) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value))


def positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


class LayerRule:
    """The kernel's rules for one layer family (one instance per family,
    registered in :mod:`exactcl.kernel.layers`). The defaults are those of
    a layer without parameters that keeps its input's shape.

    ``kind`` is the canonical tag; ``heads`` the names a ``net:`` spec
    writes it with; ``ends`` whether it may end a program (and be followed
    by an activation); ``activation`` whether it must follow such a layer
    (it then holds one indicator per unit, a pattern of probes); ``alone``
    whether it is a model by itself (no other layer beside it); ``final``
    whether it must be the program's last layer.
    """

    kind = ""
    heads: tuple[str, ...] = ()
    ends = False
    activation = False
    alone = False
    #: Index of the nested layer list in the canonical form (residual blocks).
    nested: int | None = None
    #: Whether it must be the program's last layer (a head such as log-softmax).
    final = False
    #: Whether a program holding it draws dense probes, every indicator like
    #: an input entry (:data:`exactcl.kernel.blocks.DENSE`; convolution, pooling).
    dense_probes = False
    #: Whether it may act on each token of a network with attention, by its
    #: per-sample rule (:meth:`forward_tokens`; exactcl.kernel.tokens).
    tokenwise = False
    #: The kinds of layers that mix tokens in whose networks it acts on each
    #: token too (a convolution on each image of a batch normalised by
    #: batch_norm_2d).
    tokenwise_with: tuple[str, ...] = ()
    #: Whether it multiplies by indicators of a pattern without being an
    #: activation (a max pooling): in a network on tokens it adds 1 to the
    #: probe's degree, as a ReLU does.
    indicators = False
    #: Whether it mixes the tokens of a network on tokens (attention, a batch
    #: normalisation over the examples of a batch), and where its canonical
    #: form holds N.
    crosses_tokens = False
    token_index: int | None = None
    #: Whether a network on tokens holding it is expanded at a batch whose
    #: order-0 input is zero (batch_norm_2d; exactcl.kernel.tokens).
    zero_origin = False
    #: Whether its forward and backward rules use only the jets' generic
    #: operations (products, sums, :func:`reshape`, :func:`hadamard`), so that a
    #: program of such layers is evaluated on BLAS matrices
    #: (:class:`~exactcl.kernel.densemod.ModMat`) at a prime below 2^26.
    blas = False
    #: Whether it has rules on a batch of probes at once, each probe a column of
    #: float64 balanced residues (:meth:`forward_batch`, :meth:`backward_batch`;
    #: exactcl.kernel.batch).
    batched = False

    def forward_batch(self, batch, op, A):
        """(output, saved) of the layer on the columns of ``A`` (one per
        probe), ``batch`` an :class:`exactcl.kernel.batch.ProbeBatch`."""
        raise NotImplementedError

    def backward_batch(self, batch, op, delta, saved):
        """The reverse pass on the columns of ``delta``: the gradients'
        factors recorded by ``batch.grad``; the input's delta."""
        raise NotImplementedError

    # -- a layer that mixes tokens (exactcl.kernel.tokens): degrees and height --------------

    def probe_degrees_tokens(self, op, degrees: list) -> list:
        """Degrees in the probe's entries of the orders 0..3 of its output,
        from those of its input."""
        raise NotImplementedError

    def theta_degree_tokens(self, op, r: int) -> int:
        """Degree in theta of its output for an input of degree ``r``."""
        raise NotImplementedError

    def majorant_tokens(self, op, a) -> list:
        """Bounds on the absolute coefficients of its output's entries when
        those of every input entry are at most ``a``."""
        raise NotImplementedError

    def den_tokens(self, op) -> int:
        """What clears its own denominators in a product of F, beyond the
        6^3 N^4 every token program's height takes."""
        return 1

    # -- checks and sizes, from the numbers alone ---------------------------------------

    def check(self, layer, shape, at: str, checker):
        """(canonical tuple, output shape) of ``layer`` whose input has
        ``shape``; ``checker.sequence(layers, shape, where)`` checks a nested
        list and ``checker.input_shape(layers)`` gives a checked list's input."""
        raise NotImplementedError

    def input_shape(self, layer, first_shape):
        """The input shape of a checked program that starts with ``layer``."""
        raise ValueError(f"a program cannot start with {self.kind}")

    def sizes(self, layer, entries: int, at: str, totals: dict, sequence):
        """(entries of the output, problem or None), the parameters and the
        unfolded entries added to ``totals``; ``sequence`` sizes a nested list."""
        return entries, None

    def parameters(self, layer) -> int:
        """The parameters the layer itself holds (those of nested layers not)."""
        return 0

    def file_bounds(self, layer, at: str, totals: dict) -> str | None:
        """What makes a certificate's layer too large to build, or None."""
        return None

    # -- compilation and semantics ------------------------------------------------------

    def compile(self, layer, shape, layout):
        """(op, output shape): ``layout`` is the BlockLayout being built
        (``layout.add_tensor``, ``layout.relus``, ``layout.compile_sequence``)."""
        raise NotImplementedError

    def forward(self, words, op, a, point, sigma):
        """(output jet, what the reverse pass needs)."""
        raise NotImplementedError

    def backward(self, words, op, delta, saved, point, sigma, grads):
        """The jet flowing back to the layer's input; parameter gradients
        are added to ``grads`` (:func:`accumulate`)."""
        raise NotImplementedError

    def forward_tokens(self, words, op, tokens: list, point, sigma):
        """(output tokens, what the reverse pass needs) on a list of tokens'
        jets: the per-sample rule applied to each token, the indicators
        shared by the tokens (exactcl.kernel.tokens)."""
        outs, saved = [], []
        for a in tokens:
            out, s = self.forward(words, op, a, point, sigma)
            outs.append(out)
            saved.append(s)
        return outs, saved

    def backward_tokens(self, words, op, deltas: list, saved, point, sigma, grads) -> list:
        """The reverse pass of :meth:`forward_tokens`."""
        return [self.backward(words, op, d, s, point, sigma, grads)
                for d, s in zip(deltas, saved)]

    def expand(self, op, a: list, context):
        """The forward pass on a flat activation of {probe monomial: poly}."""
        raise NotImplementedError

    def ones(self, op, a: list[int], layout, sequence) -> list[int]:
        """The forward pass at all ones over the integers (biases add 1)."""
        return a

    def degree(self, op, sequence) -> int:
        """The parametrised layers on a path through the op (degree in theta)."""
        return 0

    def products(self, op, layout) -> list[tuple[int, int, bool]]:
        """Dense-equivalent sizes (columns, rows, bias) of its matrix products."""
        return []

    def children(self, op) -> list:
        """The ops nested in ``op``."""
        return []

    # -- net: names ---------------------------------------------------------------------

    def read_name(self, head: str, inner: str | None, block):
        """The canonical layer a ``net:`` name piece writes (a convolution's
        size None when not named), or None when it is not in the form
        exactcl writes; ``block(text)`` reads a nested body."""
        return None

    def fill_size(self, layer, shape, fill):
        """(layer with sizes filled in from the layers before it, shape
        after it: (channels, size) after a convolution, None after a dense
        layer); ``fill(layers, shape)`` fills a nested list."""
        return layer, shape


# -- jets of matrices: {bit mask: nmod_mat} -------------------------------------------

def reshape(A: dict, rows: int, cols: int, p: int) -> dict:
    return {m: y.reshape(rows, cols) if isinstance(y, ModMat) else
            nmod_mat(rows, cols, y.entries(), p) for m, y in A.items()}


def hadamard(A: dict, mask: list[int], p: int) -> dict:
    """Each entry of A times the corresponding entry of ``mask`` (flat)."""
    out = {}
    for m, y in A.items():
        if isinstance(y, ModMat):
            out[m] = y.hadamard(mask)
            continue
        out[m] = nmod_mat(y.nrows(), y.ncols(), [v * c for v, c in zip(y.entries(), mask)], p)
    return out


def constant(rows: int, cols: int, values, p: int, blas: bool = False) -> dict:
    """The jet of a constant matrix (an ``nmod_mat``, or a
    :class:`~exactcl.kernel.densemod.ModMat` with ``blas``)."""
    if blas:
        return {0: ModMat.of(rows, cols, values, p)}
    return {0: nmod_mat(rows, cols, [v % p for v in values], p)}


def accumulate(grads: list, t: int, g: dict) -> None:
    grads[t] = g if grads[t] is None else _add(grads[t], g)


# -- polynomials over Q as {probe monomial: poly} (exact expansion) ----------------------

def put(acc: dict, key, value) -> None:
    acc[key] = acc[key] + value if key in acc else value


def sym_times(entry: dict, factor: dict) -> dict:
    out: dict = {}
    for m1, v1 in entry.items():
        for m2, v2 in factor.items():
            put(out, tuple(sorted(m1 + m2)), v1 * v2)
    return out


def sym_matmul(A: list[list], B: list[list]) -> list[list]:
    n, k, m = len(A), len(B), len(B[0])
    out = []
    for i in range(n):
        row = []
        for j in range(m):
            acc: dict = {}
            for t in range(k):
                if A[i][t] and B[t][j]:
                    for key, v in sym_times(A[i][t], B[t][j]).items():
                        put(acc, key, v)
            row.append(acc)
        out.append(row)
    return out


def sym_sum(x: dict, y: dict) -> dict:
    out = dict(x)
    for k, v in y.items():
        put(out, k, v)
    return out
