"""Helpers shared by the test modules: the command line run in-process, a
translated torch module, the block interpreter's forward mod p."""

from __future__ import annotations

from exactcl.interfaces.cli import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``exactcl ARGV`` in this process: (exit status, stdout, stderr)."""
    try:
        rc = main(list(argv))
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return rc, out, err


def assert_refused(capsys, argv, fragments) -> str:
    """One line ``exactcl: error: ...`` holding every fragment, status 2,
    nothing on stdout; returns the line."""
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 2, (rc, out, err)
    assert out == ""
    assert err.startswith("exactcl: error: ") and err.count("\n") == 1, err
    for frag in fragments:
        assert frag in err, (frag, err)
    return err


def translated(module, shape, *, entries: int = 64):
    """``from_torch(module, shape)``, checked against the module itself: the
    translation's own output check must have run and passed, and the
    parameter map is checked entry by entry (up to ``entries`` of them, spread
    over every tensor): moving one torch entry moves the module's output as
    moving its exactcl parameter moves the program's exact output. Returns
    the TorchModel."""
    from fractions import Fraction

    import torch

    from exactcl.layers.forward import output
    from exactcl.torch.bridge import from_torch

    tm = from_torch(module, shape, check=True)
    assert tm.checked.startswith("output equals the module's forward"), tm.checked
    torch.manual_seed(1234)
    x = torch.randn((1,) + tuple(shape), dtype=torch.float64)
    state = {n: p.detach().to(torch.float64).clone() for n, p in module.named_parameters()}
    values = {ex: Fraction(float(state[t][idx])) for ex, t, idx in tm.parameter_map}
    values.update((ex, value) for ex, _, _, value in tm.frozen)
    assert all(value == Fraction(float(state[t][idx])) for _, t, idx, value in tm.frozen)
    canonical = tm.program.canonical()
    inputs = [Fraction(v) for v in x.reshape(-1).tolist()]
    attention = isinstance(module, torch.nn.MultiheadAttention)

    def module_output(params):
        with torch.no_grad():
            if attention:
                got = torch.func.functional_call(module, params, (x[0], x[0], x[0]))[0]
            else:
                got = torch.func.functional_call(module, params, (x,))
        return got.reshape(-1).tolist()

    step = max(1, len(tm.parameter_map) // entries)
    for ex, tname, idx in tm.parameter_map[::step]:
        moved = {n: t.clone() for n, t in state.items()}
        moved[tname][idx] += 0.75
        exact = output(canonical, {**values, ex: values[ex] + Fraction(3, 4)}, inputs,
                       logit_scale=tm.logit_scale)
        got = module_output(moved)
        scale = max(1.0, max(abs(float(v)) for v in exact))
        assert all(abs(float(e) - g) <= 1e-9 * scale for e, g in zip(exact, got)), (
            ex, tname, idx, [float(e) for e in exact], got)
    return tm


def engine_output(layers, point, x, sigma, prime: int) -> list[int]:
    """The block interpreter's output mod ``prime`` of the program ``layers``
    at the parameter values ``point`` on the input ``x`` and the activation
    pattern ``sigma`` (one list of indicators per indicator layer)."""
    from exactcl.kernel import blocks
    from exactcl.kernel.layers.base import constant

    lay = blocks.BlockLayout(layers)
    words = blocks.Words(lay, [], {}, point, prime)
    rows, cols = lay.input_shape
    out, _ = words.forward_sequence(lay.ops, constant(rows, cols, x, prime), words.point,
                                    [[v % prime for v in s] for s in sigma])
    return [int(v) for v in out[0].entries()]


def reverse_pass_and_expansion(layers, seed: int, prime: int = 1_000_003):
    """grad F of one random probe of the block program ``layers`` mod
    ``prime``, by the rules' forward and reverse passes, and the same
    gradient from F built over Q from the rules' exact expansion and derived:
    (got, want), each {parameter index: nonzero value mod prime}."""
    import random

    from flint import fmpq, fmpq_mpoly_ctx

    from exactcl.kernel import blocks
    from exactcl.kernel.evaluator import Probe

    lay = blocks.BlockLayout(layers)
    ctx = fmpq_mpoly_ctx.get(lay.parameters, "lex")
    n_x, relus, n_u = lay.probe_sizes()
    expansion = blocks._Expansion(lay, ctx.gens(), [n_x + sum(relus[:i])
                                                    for i in range(len(relus))])
    one = ctx.from_dict({}) + 1
    out = expansion.forward(lay.ops, [{(i,): one} for i in range(n_x)])
    rng = random.Random(seed)
    values = [rng.randrange(1, 50) for _ in range(n_x + sum(relus) + n_u)]
    F = ctx.from_dict({})
    for k, entry in enumerate(out):
        for mono, poly in entry.items():
            c = values[n_x + sum(relus) + k]
            for var in mono:
                c *= values[var]
            F += poly * c
    point = [rng.randrange(1, 50) for _ in range(lay.D)]
    starts = [n_x + sum(relus[:t]) for t in range(len(relus))]
    probe = Probe(values[:n_x], (), [values[s:s + w] for s, w in zip(starts, relus)],
                  values[n_x + sum(relus):])
    got = blocks.Words(lay, [probe], {}, point, prime).value(0)
    want = {}
    for i, name in enumerate(lay.parameters):
        d = F.derivative(name)(*map(fmpq, point))
        if int(d.p) * pow(int(d.q), -1, prime) % prime:
            want[i] = int(d.p) * pow(int(d.q), -1, prime) % prime
    return got, want


def draw_forward_case(data, layers):
    """A hypothesis draw for the program ``layers``: its layout, an integer
    point and input in [-3, 3], the exact output there and the activation
    pattern it decides: (layout, point, x, exact, sigma)."""
    from hypothesis import strategies as st

    from exactcl.kernel import blocks
    from exactcl.layers.forward import output, relu_patterns

    lay = blocks.BlockLayout(layers)
    point = data.draw(st.lists(st.integers(-3, 3), min_size=lay.D, max_size=lay.D))
    n_in = lay.input_shape[0] * lay.input_shape[1]
    x = data.draw(st.lists(st.integers(-3, 3), min_size=n_in, max_size=n_in))
    values = dict(zip(lay.parameters, point))
    return lay, point, x, output(layers, values, x), relu_patterns(layers, values, x)
