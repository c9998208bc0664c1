"""The dense modular kernel on a GPU: :mod:`exactcl.kernel.densemod`'s
blocked elimination modulo a prime p < 2^26, in float64 torch tensors on a
device (docs/design.md, section 1, "On a GPU").

Every function here is densemod's, step for step, with the same bounds and
the same constants (:data:`~exactcl.kernel.densemod.SPLIT`,
:data:`~exactcl.kernel.densemod.LEAF`, ``_inner``): a matrix holds balanced
residues, integers of absolute value at most h = (p - 1)/2; a product is one
float64 matmul when its terms (at most h^2) add up to less than 2^52 over
the inner dimension, else the right factor is split into 13-bit halves, and
longer products are cut into reduced pieces. Each term is then an integer
below 2^52 and so is every partial sum of any subset of the terms, so the
device's float64 matmul returns the exact sum whatever order it adds in,
fused or not, split over the inner dimension or not (cuBLAS on CUDA, the
CPU's BLAS on ``device="cpu"``). TF32 applies to float32 products only,
never to float64. :func:`reduce` takes two passes, exact however the
quotient is rounded (torch's CUDA division by a scalar multiplies by its
rounded reciprocal). The argument assumes native
float64 products: cuBLAS's opt-in emulation of float64 on integer tensor
cores is outside it, so :func:`choose_device` refuses an environment asking
for it, and uses a device only after its products passed a check at the
extreme residues.

The only differences from densemod are where a host value is needed: a
leaf panel finds each pivot on the device and reads its row and value in
one transfer (one host sync per column), and a triangle of at most LEAF
rows is solved by its inverse, a product of ceil(log2 LEAF) factors
(float64 products under the same bounds, where densemod substitutes row by
row on int64, which CUDA's matmul does not provide).

torch is imported inside functions: exactcl imports without it. The
verifier never uses this module; the device is an optional accelerator of
the growth's rank decisions, chosen by :func:`choose_device`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from ..kernel import densemod
from ..kernel.densemod import LEAF, SPLIT, _check_prime, _inner
from ..kernel.errors import InputError
from .bases import DenseStackBasis

__all__ = ["ENV", "DeviceStackBasis", "choose_device", "device_available", "echelon", "matmul",
           "matmul_sub", "new_dense_basis", "pivot_columns", "rank", "reduce"]

#: The environment variable that chooses the device: unset (or ``auto``) for
#: a CUDA device when one is visible, ``cpu`` for none, ``cuda`` or
#: ``cuda:N`` to require one.
ENV = "EXACTCL_DEVICE"


def _torch():
    import torch
    return torch


# -- the kernel -----------------------------------------------------------------------------------

def reduce(x, p: int, inplace: bool = False):
    """Balanced residues of a float64 tensor of integers below 2^52 in
    absolute value (in place with ``inplace``), whatever rounding the
    quotient takes: two passes of r = r - rint(r * inv) p with inv the
    rounded 1/p (docs/design.md, section 1, "On a GPU").

    Notes
    -----
    torch's CUDA division by a scalar multiplies by its rounded reciprocal,
    so densemod's one-pass argument (x / p correctly rounded, within 1/(2p)
    of its value) does not hold there; here the quotient is x * inv on every
    device. x * inv is within 2^-51 |x| / p < 2/p <= 2/3 of x / p, so the first
    pass leaves an exact integer r congruent to x with |r| < 3p/2 (the
    product rint(.) p is an integer below 2^53, the difference exact); the
    second pass's quotient is within 2^-50 of r / p, closer than the 1/(2p)
    that separates r / p from a half-integer (p is odd), so it leaves the
    balanced residue in [-h, h], h = (p - 1)/2, exactly.

    >>> import torch
    >>> reduce(torch.tensor([7.0, -7.0, 3.0, 4.0], dtype=torch.float64), 7).tolist()
    [0.0, 0.0, 3.0, -3.0]
    """
    inv = 1.0 / p
    out = x if inplace else x.clone()
    for _ in range(2):
        q = out * inv
        out.sub_(q.round_(), alpha=p)  # round_: half to even, as rint
    return out


def matmul(A, B, p: int):
    """A B mod p, balanced, for balanced float64 tensors on one device:
    densemod's :func:`~exactcl.kernel.densemod.matmul` (one product when
    K h^2 < 2^52 for the inner dimension K, else B = B_hi 2^13 + B_lo and two
    products of terms below h 2^12 < 2^37, pieces of at most 2^14 terms
    each reduced), so every partial sum stays below 2^52.

    >>> import torch
    >>> A = torch.tensor([[3.0, 5.0]], dtype=torch.float64)
    >>> matmul(A, torch.tensor([[2.0], [4.0]], dtype=torch.float64), 11).tolist()
    [[4.0]]
    """
    h = (p - 1) // 2
    whole = _inner(h * h)
    split = A.shape[1] > whole
    longest = _inner(h << 12) // 2 if split else whole  # + the reduced high part, < 2^38
    if A.shape[1] > longest:
        out = A.new_zeros((A.shape[0], B.shape[1]))
        for s in range(0, A.shape[1], longest):
            out = reduce(out + matmul(A[:, s:s + longest], B[s:s + longest], p), p,
                         inplace=True)
        return out
    if not split:
        return reduce(A @ B, p, inplace=True)
    hi = (B / SPLIT).round_()  # by a power of 2: exact, as a product by its reciprocal
    lo = B - hi * SPLIT
    out = reduce(A @ hi, p, inplace=True)
    out *= SPLIT
    out += A @ lo
    return reduce(out, p, inplace=True)


def matmul_sub(C, A, B, p: int):
    """C - A B mod p, balanced (C balanced): one reduction when A B is one
    product whose sum with C stays below 2^52, else :func:`matmul` then the
    difference (densemod's :func:`~exactcl.kernel.densemod.matmul_sub`)."""
    h = (p - 1) // 2
    if A.shape[1] <= _inner(h * h + h) - 1:  # |C| + K h^2 < 2^52
        out = A @ B
        out.neg_()
        out += C
        return reduce(out, p, inplace=True)
    return reduce(C - matmul(A, B, p), p, inplace=True)


def _unit_lower_inverse(L, p: int):
    """The inverse mod p of a unit lower triangular L of k rows (its
    diagonal not read): with N its strictly lower part, N^k = 0, so
    L^-1 = sum_{i<k} (-N)^i = (I - N)(I + N^2)(I + N^4)..., ceil(log2 k)
    factors, each product by :func:`matmul` (exact by its bound): a few
    products instead of k dependent rows, fewer launches on a GPU."""
    torch = _torch()
    k = L.shape[0]
    M = -L.tril(-1)  # balanced: -N
    eye = torch.eye(k, dtype=L.dtype, device=L.device)
    inv, power, reach = eye + M, M, 2  # sum_{i < reach} M^i
    while reach < k:
        power = matmul(power, power, p)
        inv = reduce(inv + matmul(inv, power, p), p, inplace=True)
        reach *= 2
    return inv


def _trsm(L, B, p: int):
    """X with L X = B mod p, L unit lower triangular (its diagonal not
    read); recursive, a leaf of at most LEAF rows by its inverse
    (:func:`_unit_lower_inverse`) and one product."""
    torch = _torch()
    k = L.shape[0]
    if k <= LEAF:
        return matmul(_unit_lower_inverse(L, p), B, p)
    half = k // 2
    X1 = _trsm(L[:half, :half], B[:half], p)
    X2 = _trsm(L[half:, half:], matmul_sub(B[half:], L[half:, :half], X1, p), p)
    return torch.cat([X1, X2])


def _leaf(A, r: int, c0: int, c1: int, p: int) -> list[int]:
    """densemod's ``_leaf`` on the device: columns c0..c1 of rows r.. of A
    eliminated entry by entry (pivot rows moved up, multipliers stored below
    each pivot); the pivot columns. The first nonzero entry of a column is
    found on the device and its row and value read in one host sync. A
    multiplier f = x inv(y) and a product f y' stay below 2^51 before they
    are reduced."""
    torch = _torch()
    P = A[r:, c0:c1].clone()
    m = P.shape[0]
    pivots: list[int] = []
    k = 0
    for j in range(c1 - c0):
        if k == m:
            break
        col = P[k:, j]
        first = torch.argmax((col != 0).to(col.dtype))  # the first nonzero, or 0
        at, value = torch.stack([first.to(col.dtype), col[first]]).tolist()
        if value == 0:
            continue
        i = k + int(at)
        if i != k:
            P[[k, i]] = P[[i, k]]
            A[[r + k, r + i]] = A[[r + i, r + k]]
        inv = pow(int(value) % p, -1, p)
        f = reduce(P[k + 1:, j] * inv, p, inplace=True)
        if j + 1 < c1 - c0:
            rest = P[k + 1:, j + 1:]
            rest -= torch.outer(f, P[k, j + 1:])
            reduce(rest, p, inplace=True)
        P[k + 1:, j] = f
        pivots.append(c0 + j)
        k += 1
    A[r:, c0:c1] = P
    return pivots


def _factor(A, r: int, c0: int, c1: int, p: int) -> list[int]:
    """densemod's ``_factor``: columns c0..c1 of rows r.. factored in place
    (left half, triangular solve, Schur complement, right half); the pivot
    columns."""
    if r >= A.shape[0] or c0 >= c1:
        return []
    if c1 - c0 <= LEAF:
        return _leaf(A, r, c0, c1, p)
    mid = (c0 + c1) // 2
    left = _factor(A, r, c0, mid, p)
    k = len(left)
    if k:
        U = _trsm(A[r:r + k][:, left], A[r:r + k, mid:c1], p)
        A[r:r + k, mid:c1] = U
        if r + k < A.shape[0]:
            A[r + k:, mid:c1] = matmul_sub(A[r + k:, mid:c1], A[r + k:][:, left], U, p)
    return left + _factor(A, r + k, mid, c1, p)


def _tensor(values, p: int, device):
    """A float64 tensor of balanced residues on ``device``, a copy: from a
    tensor of integers below 2^52 (reduced there) or anything
    :func:`~exactcl.kernel.densemod.balanced` reads (moved once)."""
    torch = _torch()
    _check_prime(p)
    if isinstance(values, torch.Tensor):
        dev = values.device if device is None else device
        A = values.to(device=dev, dtype=torch.float64, copy=True)
        if A.numel() and not (bool((A.abs() < 2.0**52).all()) and
                              torch.equal(A, torch.round(A))):
            raise ValueError("a dense modular matrix holds integers below 2^52 in absolute "
                             "value")
        return reduce(A, p, inplace=True)
    arr = np.ascontiguousarray(densemod.balanced(values, p))
    return torch.from_numpy(arr).to(device or "cpu")


def rank(values, p: int, device=None) -> int:
    """The rank over F_p of an integer matrix (rows, an array or a tensor),
    computed on ``device`` (a tensor's own by default, else the CPU).

    >>> rank([[1, 2, 3], [2, 4, 6], [0, 0, 1]], 101, device="cpu")
    2
    """
    A = _tensor(values, p, device)
    if A.ndim != 2 or not A.numel():
        return 0
    if A.shape[0] < A.shape[1]:  # fewer columns to split: factor the transpose
        A = A.T.contiguous()
    return len(_factor(A, 0, 0, A.shape[1], p))


def pivot_columns(values, p: int, device=None) -> list[int]:
    """The first independent columns of a matrix over F_p, in order.

    >>> pivot_columns([[1, 2, 0, 1], [0, 0, 1, 1]], 7, device="cpu")
    [0, 2]
    """
    A = _tensor(values, p, device)
    if A.ndim != 2 or not A.numel():
        return []
    return _factor(A, 0, 0, A.shape[1], p)


def _upper_solve(U, B, p: int):
    """X with U X = B mod p, U upper triangular with nonzero diagonal (its
    inverses computed on the host from one transfer of the diagonal)."""
    torch = _torch()
    inv = torch.tensor([pow(int(v) % p, -1, p) for v in torch.diagonal(U).tolist()],
                       dtype=torch.float64, device=U.device)
    Un = reduce(U * inv[:, None], p, inplace=True)  # |U| h: below 2^51
    Bn = reduce(B * inv[:, None], p, inplace=True)
    # reversed, the unit upper triangle is unit lower
    return torch.flip(_trsm(torch.flip(Un, (0, 1)), torch.flip(Bn, (0,)), p), (0,))


def _echelon(A, p: int) -> tuple:
    """The reduced echelon form of a balanced tensor it may overwrite."""
    piv = _factor(A, 0, 0, A.shape[1], p)
    k = len(piv)
    U = A[:k].clone()
    if k:  # the multipliers stored below the pivots: zero
        U[:, piv] = U[:, piv].triu()
    return _upper_solve(U[:, piv], U, p), piv


def echelon(values, p: int, device=None) -> tuple:
    """(R, pivots): the reduced row echelon form over F_p (a balanced
    float64 tensor of its rank rows) and its pivot columns, equal to
    densemod's :func:`~exactcl.kernel.densemod.echelon`.

    >>> R, piv = echelon([[2, 4, 1], [1, 2, 0]], 7, device="cpu")
    >>> (R % 7).tolist(), piv
    ([[1.0, 2.0, 0.0], [0.0, 0.0, 1.0]], [0, 2])
    """
    A = _tensor(values, p, device)
    if A.ndim != 2 or not A.numel():
        return A.new_zeros((0, A.shape[-1] if A.ndim == 2 else 0)), []
    return _echelon(A, p)


# -- the choice of a device -----------------------------------------------------------------------

#: Paths one of which exists on Linux when a GPU driver torch can use is
#: loaded (NVIDIA's, or ROCm's for AMD devices, which torch also calls cuda).
DRIVER_PATHS = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/kfd")


def _driver_present() -> bool:
    """Whether a GPU may be visible, without importing torch (1.5 s and 200
    MB on a machine without one): on Linux, a driver's device files."""
    if "torch" in sys.modules or sys.platform != "linux":
        return True
    return any(Path(path).exists() for path in DRIVER_PATHS)


def _emulated() -> str | None:
    """The name of an environment variable asking cuBLAS to emulate float64
    products (outside the argument of exactness), if any."""
    return next((k for k in os.environ if k.upper().startswith("CUBLAS")
                 and "EMULAT" in k.upper() and os.environ[k] not in ("", "0")), None)


def device_available() -> bool:
    """Whether torch is installed and sees a CUDA device (without importing
    torch on a Linux machine with no GPU driver).

    >>> isinstance(device_available(), bool)
    True
    """
    if not _driver_present():
        return False
    try:
        torch = _torch()
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


_CHECKED: dict[str, bool] = {}


def _products_exact(device: str) -> bool:
    """Whether the device's products agree with densemod's at the extreme
    residues (every entry +-h), one product and the split one, once per
    device: a check that the argument's premises hold there, not a proof."""
    if device not in _CHECKED:
        torch = _torch()
        ok = True
        for p, K in (((1 << 20) - 3, 1 << 14), ((1 << 26) - 5, 300)):
            h = (p - 1) // 2
            A = np.full((2, K), float(h))
            A[1, ::3] = -h
            B = np.full((K, 3), float(h))
            B[::2, 1] = -h
            want = densemod.matmul(A, B, p)
            got = matmul(torch.from_numpy(A).to(device), torch.from_numpy(B).to(device), p)
            ok = ok and np.array_equal(got.cpu().numpy(), want)
        _CHECKED[device] = ok
    return _CHECKED[device]


def choose_device() -> str | None:
    """The device of the growth's dense rank decisions: ``"cuda"`` when a
    CUDA device is visible, None (numpy's BLAS) otherwise or when
    ``EXACTCL_DEVICE=cpu``; ``EXACTCL_DEVICE=cuda`` (or ``cuda:N``) requires
    that device.

    Raises
    ------
    InputError (a ValueError)
        When :data:`ENV` is not ``auto``, ``cpu``, ``cuda`` or ``cuda:N``, or asks
        for a device that is not visible or whose products are not exact.

    Examples
    --------
    >>> from unittest import mock
    >>> with mock.patch.dict("os.environ", {"EXACTCL_DEVICE": "cpu"}):
    ...     choose_device() is None
    True
    >>> with mock.patch.dict("os.environ", {"EXACTCL_DEVICE": "tpu"}):
    ...     choose_device()
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Environment variable 'EXACTCL_DEVICE' must be 'auto', 'cpu', 'cuda' or 'cuda:N', not 'tpu'.
    """
    raw = os.environ.get(ENV, "")
    want = raw.strip().lower()
    if want in ("", "auto"):
        if not device_available() or _emulated():
            return None
        return "cuda" if _products_exact("cuda") else None
    if want == "cpu":
        return None
    index = want[5:] if want.startswith("cuda:") else None
    if want != "cuda" and not (index and index.isdigit()):
        raise InputError(f"Environment variable {ENV!r} must be 'auto', 'cpu', 'cuda' or "
                         f"'cuda:N', not {raw!r}.")
    try:
        torch = _torch()
    except ImportError:
        raise InputError(f"Environment variable {ENV!r} asks for {raw!r}, but torch is not "
                         f"installed.") from None
    if not torch.cuda.is_available():
        raise InputError(f"Environment variable {ENV!r} asks for {raw!r}, but torch sees no "
                         f"CUDA device.")
    if index is not None and int(index) >= torch.cuda.device_count():
        raise InputError(f"Environment variable {ENV!r} asks for {raw!r}, but torch sees "
                         f"{torch.cuda.device_count()} CUDA device(s).")
    emulated = _emulated()
    if emulated:
        raise InputError(f"Environment variable {ENV!r} asks for {raw!r}, but {emulated} asks "
                         f"cuBLAS to emulate float64 products, whose exactness is not argued.")
    if not _products_exact(want):
        raise InputError(f"Environment variable {ENV!r} asks for {raw!r}, but its float64 "
                         f"products are not exact at the extreme residues.")
    return want


# -- the growth's basis ---------------------------------------------------------------------------

class DeviceStackBasis(DenseStackBasis):
    """:class:`~exactcl.engine.bases.DenseStackBasis` with its batches and
    echelon form held as float64 tensors on a device (:func:`choose_device`'s
    by default): the same vectors kept, batch after batch, by the same
    elimination (this module's functions instead of densemod's). A batch
    (lists, {column: value} dicts, a numpy array of balanced residues or a
    tensor) is moved to the device once.

    >>> B = DeviceStackBasis(3, 101, device="cpu")
    >>> B.add([[1, 0, 0], [2, 0, 0], [0, 1, 0]]), B.add([[1, 1, 0], [0, 0, 5]])
    ([0, 2], [1])
    """

    def __init__(self, ncols: int, prime: int, keep_rows: bool = True, device=None) -> None:
        torch = _torch()
        _check_prime(prime)
        self.device = torch.device(device if device is not None else choose_device() or "cpu")
        super().__init__(ncols, prime, keep_rows)

    def _zeros(self, rows: int, cols: int):
        torch = _torch()
        return torch.zeros((rows, cols), dtype=torch.float64, device=self.device)

    @staticmethod
    def _stack(parts: list, axis: int):
        return _torch().cat(parts, dim=axis)

    def _asarray(self, A):
        return _torch().from_numpy(A).to(device=self.device, dtype=_torch().float64)

    def _echelon_of(self, A) -> tuple:
        return _echelon(A.clone(memory_format=_torch().contiguous_format), self.prime)

    def _pivots_of(self, A) -> list[int]:
        A = A.clone(memory_format=_torch().contiguous_format)
        return _factor(A, 0, 0, A.shape[1], self.prime)

    def _matmul_sub(self, C, A, B):
        return matmul_sub(C.contiguous(), A, B.contiguous(), self.prime)

    def _residues(self, rows, Ft, pivots: list[int], free: list[int]):
        return self._matmul_sub(rows[:, free], rows[:, pivots], Ft.T)

    @staticmethod
    def _copy(A):
        return A.clone()

    def _echelon_owned(self, A) -> tuple:
        return self._echelon_of(A)

    def _extended(self, Ft, Ft2, new: list[int], rest: list[int]):
        return self._stack([self._matmul_sub(Ft[rest], Ft2, Ft[new]), Ft2], 1)

    def _dense(self, batch):
        torch = _torch()
        if isinstance(batch, torch.Tensor):
            return batch.to(device=self.device, dtype=torch.float64)
        arr = super()._dense(batch)  # numpy (densemod.balanced), or an empty tensor
        if isinstance(arr, torch.Tensor):
            return arr
        return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64)).to(self.device)


def new_dense_basis(ncols: int, prime: int, keep_rows: bool = True) -> DenseStackBasis:
    """The dense basis of a wide block: a :class:`DeviceStackBasis` on
    :func:`choose_device`'s device when it gives one, else a
    :class:`~exactcl.engine.bases.DenseStackBasis` on numpy.

    >>> from unittest import mock
    >>> with mock.patch.dict("os.environ", {"EXACTCL_DEVICE": "cpu"}):
    ...     type(new_dense_basis(4000, (1 << 20) - 3)).__name__
    'DenseStackBasis'
    """
    device = choose_device()
    if device is None:
        return DenseStackBasis(ncols, prime, keep_rows)
    return DeviceStackBasis(ncols, prime, keep_rows, device=device)
