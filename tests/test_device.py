"""The dense modular kernel on a device (exactcl/engine/device.py) against
densemod and FLINT: torch's float64 on ``device="cpu"`` is exact under the
same bounds, so ranks, first independent columns and echelon forms must be
densemod's on matrices of every rank, at the extreme residues, on the split
path (p = 2^26 - 5) and past one product (inner dimension above 2^14);
DeviceStackBasis keeps DenseStackBasis's vectors batch after batch; the
device is chosen as EXACTCL_DEVICE says. A CUDA test runs where a device is
visible."""

from __future__ import annotations

import os

import numpy as np
import pytest
from flint import fmpz_mat, nmod_mat
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from exactcl.engine import device  # noqa: E402
from exactcl.engine.bases import BlockBasis, DenseStackBasis  # noqa: E402
from exactcl.engine.device import DeviceStackBasis  # noqa: E402
from exactcl.errors import InputError  # noqa: E402
from exactcl.kernel import densemod  # noqa: E402

PRIMES = [3, 5, 101, (1 << 20) - 3, (1 << 26) - 5]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread, as densemod's one BLAS thread (a shared machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _flint_rank(M, p) -> int:
    return int(nmod_mat(fmpz_mat([[int(v) for v in row] for row in M]), p).rank())


def _matrices(rng, p):
    """Matrices of many shapes and ranks (thin products, repeated and scaled
    rows, sparse, every residue at +-h)."""
    out = []
    for m, n in [(1, 1), (1, 7), (7, 1), (33, 33), (40, 70), (70, 40), (130, 97), (97, 130)]:
        for r in sorted({0, 1, min(m, n) // 2, min(m, n)}):
            left = rng.integers(-3, 4, size=(m, r))
            right = rng.integers(0, p, size=(r, n))
            out.append((left @ right) % p if r else np.zeros((m, n), dtype=np.int64))
    h = (p - 1) // 2
    out.append(np.where(rng.random((80, 80)) < 0.5, h, -h))
    out.append(np.full((64, 64), h))
    base = rng.integers(0, p, size=(10, 50))
    out.append(np.vstack([base, 3 * base % p, base]))
    out.append(rng.integers(0, p, size=(90, 90)) * (rng.random((90, 90)) < 0.03))
    return out


@pytest.mark.parametrize("p", PRIMES)
def test_rank_pivots_and_echelon_are_densemods_and_flints(p):
    rng = np.random.default_rng(p % 997)
    for M in _matrices(rng, p):
        k = device.rank(M, p, device="cpu")
        assert k == densemod.rank(M, p) == _flint_rank(M, p), (M.shape, p)
        assert device.pivot_columns(M, p, device="cpu") == densemod.pivot_columns(M, p)
        R, piv = device.echelon(M, p, device="cpu")
        R0, piv0 = densemod.echelon(M, p)
        assert piv == piv0 and len(piv) == k
        assert R.dtype == torch.float64 and np.array_equal(R.numpy(), R0), (M.shape, p)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 70), st.integers(1, 70), st.integers(0, 70), st.sampled_from(PRIMES),
       st.integers(0, 2**32))
def test_rank_and_first_columns_properties(m, n, r, p, seed):
    rng = np.random.default_rng(seed)
    r = min(r, m, n)
    M = (rng.integers(0, p, size=(m, r)) @ rng.integers(0, p, size=(r, n))) % p if r else \
        np.zeros((m, n), dtype=np.int64)
    k = device.rank(M, p, device="cpu")
    assert k == device.rank(M.T, p, device="cpu") == densemod.rank(M, p) <= r
    assert device.pivot_columns(M, p, device="cpu") == densemod.pivot_columns(M, p)


@pytest.mark.parametrize("p", [(1 << 20) - 3, (1 << 26) - 5])
def test_products_are_exact_at_the_extremes_and_past_one_product(p):
    h = (p - 1) // 2
    for K in (1, 1 << 14, (1 << 14) + 3, 40000):  # one product, the last before a cut, cut
        A = np.full((2, K), float(h))
        A[1] = -h
        B = np.full((K, 3), float(h))
        B[:, 1] = -h
        B[::2, 2] = -h
        exact = [[sum(int(a) * int(b) for a, b in zip(A[i], B[:, j])) for j in range(3)]
                 for i in range(2)]
        want = densemod.reduce(np.array([[v % p for v in row] for row in exact], float), p)
        got = device.matmul(torch.from_numpy(A), torch.from_numpy(B), p)
        assert np.array_equal(got.numpy(), want), K
        C = np.full((2, 3), float(-h))
        got = device.matmul_sub(torch.from_numpy(C), torch.from_numpy(A), torch.from_numpy(B), p)
        assert np.array_equal(got.numpy(), densemod.reduce(C - want, p)), K


def test_random_products_past_2_14_terms_on_the_split_path_are_exact():
    p = (1 << 26) - 5
    rng = np.random.default_rng(5)
    K = (1 << 14) + 77
    A = densemod.balanced(rng.integers(0, p, size=(2, K)), p)
    B = densemod.balanced(rng.integers(0, p, size=(K, 2)), p)
    exact = [[sum(int(a) * int(b) for a, b in zip(A[i], B[:, j])) % p for j in range(2)]
             for i in range(2)]
    got = device.matmul(torch.from_numpy(A), torch.from_numpy(B), p)
    assert (got.numpy().astype(np.int64) % p).tolist() == exact


def test_a_wide_rank_on_the_split_path():
    """Rows of more than 2^14 columns at p = 2^26 - 5, every rank as FLINT's."""
    p = (1 << 26) - 5
    rng = np.random.default_rng(5)
    n = (1 << 14) + 40
    for r in (0, 7, 40):
        M = (rng.integers(0, p, size=(40, r)) @ rng.integers(0, p, size=(r, n)) % p) if r \
            else np.zeros((40, n), dtype=np.int64)
        assert device.rank(M, p, device="cpu") == densemod.rank(M, p) == _flint_rank(M, p) == r
        assert device.pivot_columns(M.T, p, device="cpu") == densemod.pivot_columns(M.T, p)


@pytest.mark.parametrize("p", [3, (1 << 20) - 3, (1 << 26) - 5])
def test_triangular_solves_are_densemods(p):
    """A leaf triangle solved by its inverse (a product of ceil(log2 k)
    factors) and a recursive one: densemod's forward substitution's X."""
    rng = np.random.default_rng(p % 101)
    for k in (1, 2, 3, 17, 32, 33, 100):
        L = densemod.balanced(rng.integers(0, p, size=(k, k)), p)
        B = densemod.balanced(rng.integers(0, p, size=(k, 7)), p)
        want = densemod._trsm(L, B, p)
        assert np.array_equal(device._trsm(torch.from_numpy(L), torch.from_numpy(B), p).numpy(),
                              want), k
        if k <= densemod.LEAF:
            inv = device._unit_lower_inverse(torch.from_numpy(L), p).numpy()
            unit = np.tril(L, -1) + np.eye(k)
            assert np.array_equal(densemod.matmul(unit, inv, p), np.eye(k)), k


def test_reduce_gives_balanced_residues_up_to_2_52():
    p = (1 << 26) - 5
    x = torch.tensor([2.0**52 - 1, -(2.0**52 - 1), 2.0**52 - p // 2, p // 2 + 0.0,
                      -(p // 2) - 1.0], dtype=torch.float64)
    got = device.reduce(x, p)
    assert got.tolist() == densemod.reduce(x.numpy(), p).tolist()


@pytest.mark.parametrize("p", [(1 << 20) - 3, (1 << 26) - 5])
def test_reduce_is_exact_where_a_product_by_the_reciprocal_rounds_the_wrong_way(p):
    """x = q p - h near 2^52: x * fl(1/p) (torch's CUDA division by a
    scalar) rounds to the wrong quotient for some q, and one pass would
    leave a residue past h; two passes give the balanced residue."""
    h = (p - 1) // 2
    top = ((1 << 52) - 1 + h) // p
    q = np.arange(top - 2_000_000, top + 1, dtype=np.int64)
    x = (q * p - h).astype(np.float64)
    wrong = np.rint(x * (1.0 / p)) != q
    assert wrong.any()  # the case the second pass is for
    x = np.concatenate([x[wrong][:50], x[-50:], -x[wrong][:50]])
    got = device.reduce(torch.from_numpy(x), p).numpy()
    want = [((int(v) + h) % p) - h for v in x]
    assert got.tolist() == [float(w) for w in want]


def test_tensors_are_read_as_given_and_bad_ones_refused():
    M = torch.tensor([[7.0, 14.0], [1.0, 2.0]], dtype=torch.float64)
    assert device.rank(M, 7) == 1 and M.tolist() == [[7.0, 14.0], [1.0, 2.0]]  # not changed
    assert device.rank(torch.tensor([[1, 2], [3, 5]]), 101) == 2  # int64, on its device
    assert device.rank([], 7, device="cpu") == 0 and device.pivot_columns([[0, 0]], 7) == []
    with pytest.raises(ValueError, match="integers"):
        device.rank(torch.tensor([[0.5]], dtype=torch.float64), 7)
    with pytest.raises(ValueError, match="below 2\\^26"):
        device.rank([[1]], (1 << 26) + 15, device="cpu")
    with pytest.raises(ValueError, match="below 2\\^26"):
        DeviceStackBasis(3, 1 << 27, device="cpu")


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("keep_rows", [True, False])
def test_the_device_basis_keeps_what_the_dense_basis_keeps(seed, keep_rows):
    """Batch by batch: the same indices kept, the same ranks, widened alike;
    batches as lists, dicts, numpy arrays and tensors."""
    p = (1 << 20) - 3 if seed % 2 else (1 << 26) - 5
    rng = np.random.default_rng(seed)
    n = 70
    thin = rng.integers(0, p, size=(50, n))  # a span of dimension 50 < n
    one = DenseStackBasis(n, p, keep_rows=keep_rows)
    two = DeviceStackBasis(n, p, keep_rows=keep_rows, device="cpu")
    for step in range(9):
        b = int(rng.integers(1, 14))
        batch = (rng.integers(-2, 3, size=(b, 50)) @ thin) % p
        if step % 4 == 1:
            batch[0] = 0
            batch = [{c: int(x) for c, x in enumerate(row) if x} for row in batch]
        elif step % 4 == 2:
            batch = densemod.balanced(batch, p)
        elif step % 4 == 3:
            batch = torch.from_numpy(densemod.balanced(batch, p))
        else:
            batch = batch.tolist()
        limit = None if step != 5 else one.rank + 2
        b1 = batch.numpy() if isinstance(batch, torch.Tensor) else batch
        assert one.add(b1, limit=limit) == two.add(batch, limit=limit), step
        assert one.rank == two.rank
    if keep_rows:
        extra = [[0] * n + [1, 0], [0] * n + [0, 1]]
        one.widen(n + 2, extra)
        two.widen(n + 2, extra)
        batch = rng.integers(0, p, size=(5, n + 2)).tolist()
        assert one.add(batch) == two.add(batch) and one.rank == two.rank
        assert isinstance(two._kept, torch.Tensor) and two._kept.device.type == "cpu"


def test_a_block_basis_with_device_blocks_keeps_the_same_vectors(monkeypatch):
    from exactcl.engine import bases
    monkeypatch.setattr(bases, "BLAS_ABOVE", 8)
    p = (1 << 20) - 3
    rng = np.random.default_rng(2)
    one = BlockBasis(30, p)
    two = BlockBasis(30, p, dense=lambda n, q: DeviceStackBasis(n, q, device="cpu"))
    for _ in range(6):
        batch = [{int(c): int(rng.integers(1, p)) for c in rng.choice(30, size=3)}
                 for _ in range(5)]
        assert one.add(batch) == two.add(batch)
    assert one.rank == two.rank and one.blocks() == two.blocks()
    assert any(isinstance(b, DeviceStackBasis) for b in two._basis.values())


def test_a_wide_count_on_the_device_basis_is_the_numpy_count(monkeypatch):
    """The growth of a (narrowly) wide program through new_dense_basis on
    a device, here torch's CPU: the same rank profile and count."""
    import exactcl
    from exactcl.engine import bases, counting
    from exactcl.layers.program import parse_net
    monkeypatch.setattr(densemod, "WIDE", 40)
    monkeypatch.setattr(bases, "BLAS_ABOVE", 40)
    monkeypatch.setattr(counting, "BLAS_ABOVE", 40)
    model = exactcl.from_program(parse_net("Linear(4,5,bias),ReLU,Linear(5,6,bias),ReLU,"
                                           "Linear(6,3)", "spec"))
    plain = exactcl.count(model, engine="program")
    made = []

    def on_cpu(ncols, prime, keep_rows=True):
        made.append(DeviceStackBasis(ncols, prime, keep_rows, device="cpu"))
        return made[-1]

    from exactcl.engine import evaluation
    monkeypatch.setattr(evaluation, "new_dense_basis", on_cpu)
    moved = exactcl.count(model, engine="program")
    assert made and moved.laws == plain.laws and moved.growth.prime == plain.growth.prime
    assert moved.growth.profile == plain.growth.profile


# -- the choice of a device ---------------------------------------------------------------------

@pytest.fixture
def visible(monkeypatch):
    """Pretend a CUDA device is visible (its products never run here)."""
    monkeypatch.setattr(device, "_driver_present", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(device, "_products_exact", lambda name: True)
    for k in [k for k in os.environ if "EMULAT" in k.upper()]:
        monkeypatch.delenv(k)


def test_a_visible_device_is_chosen_unless_cpu_is_asked(monkeypatch, visible):
    monkeypatch.delenv(device.ENV, raising=False)
    assert device.device_available() and device.choose_device() == "cuda"
    for value, want in [("auto", "cuda"), ("cpu", None), (" CPU ", None), ("cuda", "cuda"),
                        ("cuda:1", "cuda:1")]:
        monkeypatch.setenv(device.ENV, value)
        assert device.choose_device() == want, value
    monkeypatch.setenv(device.ENV, "cuda:2")
    with pytest.raises(InputError, match="sees 2 CUDA device"):
        device.choose_device()
    monkeypatch.setenv(device.ENV, "auto")
    monkeypatch.setenv("CUBLAS_EMULATE_DOUBLE_PRECISION", "1")
    assert device.choose_device() is None  # float64 emulation is outside the argument
    monkeypatch.setenv(device.ENV, "cuda")
    with pytest.raises(InputError, match="emulate float64"):
        device.choose_device()


def test_without_a_device_numpy_is_kept_and_a_forced_device_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv(device.ENV, raising=False)
    assert not device.device_available() and device.choose_device() is None
    assert type(device.new_dense_basis(50, 101)) is DenseStackBasis
    for value in ("cuda", "cuda:0"):
        monkeypatch.setenv(device.ENV, value)
        with pytest.raises(InputError, match=f"'EXACTCL_DEVICE' asks for '{value}', but torch "
                                             "sees no CUDA device"):
            device.choose_device()
    for value in ("gpu", "cuda:x", "cuda:", "tpu"):
        monkeypatch.setenv(device.ENV, value)
        with pytest.raises(InputError, match="must be 'auto', 'cpu', 'cuda' or 'cuda:N', not"):
            device.choose_device()


def test_a_device_whose_products_are_not_exact_is_not_used(monkeypatch, visible):
    monkeypatch.setattr(device, "_products_exact", lambda name: False)
    monkeypatch.delenv(device.ENV, raising=False)
    assert device.choose_device() is None
    monkeypatch.setenv(device.ENV, "cuda")
    with pytest.raises(InputError, match="not exact"):
        device.choose_device()


def test_the_exactness_check_passes_on_torchs_cpu():
    device._CHECKED.pop("cpu", None)
    assert device._products_exact("cpu")


def test_no_driver_means_no_torch_import_needed(monkeypatch):
    monkeypatch.setattr(device, "_driver_present", lambda: False)
    assert not device.device_available()


def test_new_dense_basis_gives_a_device_basis_when_one_is_chosen(monkeypatch):
    monkeypatch.setattr(device, "choose_device", lambda: "cpu")
    B = device.new_dense_basis(5, 101, keep_rows=False)
    assert isinstance(B, DeviceStackBasis) and B.device.type == "cpu" and not B.keep_rows


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_a_wide_rank_on_a_cuda_device():
    p = (1 << 20) - 3
    rng = np.random.default_rng(7)
    M = rng.integers(0, p, size=(3000, 60)) @ rng.integers(0, p, size=(60, 2500)) % p
    M[:, :40] = rng.integers(0, p, size=(3000, 40))
    if os.environ.get(device.ENV, "").strip().lower() in ("", "auto"):
        assert device.choose_device() == "cuda"
    assert device.rank(M, p, device="cuda") == densemod.rank(M, p) == 100
    B = DeviceStackBasis(2500, p, device="cuda")
    assert len(B.add(M[:200].tolist())) == densemod.rank(M[:200], p)
    R, piv = device.echelon(M[:300], p, device="cuda")
    R0, piv0 = densemod.echelon(M[:300], p)
    assert piv == piv0 and np.array_equal(R.cpu().numpy(), R0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_a_wide_count_on_a_cuda_device_is_the_numpy_count(monkeypatch):
    import exactcl
    from exactcl.engine import bases, counting, evaluation
    from exactcl.layers.program import parse_net
    monkeypatch.setattr(densemod, "WIDE", 40)
    monkeypatch.setattr(bases, "BLAS_ABOVE", 40)
    monkeypatch.setattr(counting, "BLAS_ABOVE", 40)
    model = exactcl.from_program(parse_net("Linear(4,5,bias),ReLU,Linear(5,6,bias),ReLU,"
                                           "Linear(6,3)", "spec"))
    monkeypatch.setenv(device.ENV, "cpu")
    plain = exactcl.count(model, engine="program")
    monkeypatch.setenv(device.ENV, "cuda")
    made = []

    def spy(ncols, prime, keep_rows=True):
        made.append(device.new_dense_basis(ncols, prime, keep_rows))
        return made[-1]

    monkeypatch.setattr(evaluation, "new_dense_basis", spy)
    moved = exactcl.count(model, engine="program")
    assert made and all(b.device.type == "cuda" for b in made)
    assert moved.laws == plain.laws and moved.growth.profile == plain.growth.profile


def test_without_torch_the_numpy_basis_is_kept_and_cuda_is_refused_by_name():
    import subprocess
    import sys
    code = ("import os, sys; sys.modules['torch'] = None\n"
            "from exactcl.engine import device\n"
            "os.environ.pop('EXACTCL_DEVICE', None)\n"
            "print(device.device_available(), device.choose_device(),\n"
            "      type(device.new_dense_basis(50, 101)).__name__)\n"
            "os.environ['EXACTCL_DEVICE'] = 'cuda'\n"
            "try:\n    device.choose_device()\n"
            "except ValueError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120, cwd=os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__)))).stdout.splitlines()
    assert out == ["False None DenseStackBasis",
                   "Environment variable 'EXACTCL_DEVICE' asks for 'cuda', but torch is not "
                   "installed."]
