"""Pictures and the drift along gradient descent."""

from __future__ import annotations

import functools
import re
import subprocess
import sys

import numpy as np
import pytest

import exactcl
from exactcl.errors import InputError, UnsupportedError
from exactcl.interfaces import plots
from exactcl.models.specs import parse_spec
from exactcl.workflows.training import drift, slope


@pytest.mark.parametrize("spec", ["linear:2,2,2", "linear:3,3,3", "relu:3,4,2",
                                  "relu-bias:2,3,3,2", "product:4", "linear:2,2,5,5,2"])
def test_drift_shrinks_like_the_square_of_the_step_size(spec):
    d = drift(parse_spec(spec))
    assert 1.8 < d.exponent < 2.2, d
    # halving the step size divides the drift by about 4, every time
    ratios = [a / b for a, b in zip(d.final[1:], d.final)]
    assert all(3.0 < r < 5.0 for r in ratios), ratios
    # the laws move far less than a quantity gradient descent does not conserve
    eta = max(d.step_sizes)
    assert abs(d.other[eta][-1]) > 30 * d.final[-1]
    # and the loss goes down
    assert d.loss[eta][-1] < d.loss[eta][0]


def test_network_gradient_matches_finite_differences():
    from exactcl.workflows.training import _problem
    model = parse_spec("relu-bias:2,3,3,2")
    loss_and_grad, theta0 = _problem(model, np.random.default_rng(1), np)
    loss, grad = loss_and_grad(theta0)
    eps = 1e-6
    for k in range(0, model.D, 4):
        e = np.zeros(model.D)
        e[k] = eps
        numeric = (loss_and_grad(theta0 + e)[0] - loss_and_grad(theta0 - e)[0]) / (2 * eps)
        assert abs(numeric - grad[k]) < 1e-6 * max(1.0, abs(grad[k]))


def test_laws_are_conserved_by_the_exact_flow_direction():
    # the gradient of the loss is orthogonal to the gradient of every law
    from exactcl.workflows.training import _numeric_poly, _problem
    model = parse_spec("relu:2,3,2")
    result = exactcl.count(model)
    loss_and_grad, theta0 = _problem(model, np.random.default_rng(0), np)
    _, grad = loss_and_grad(theta0)
    for h in result.exhibited:
        grad_h = np.array([_numeric_poly(h.derivative(v), model.ring, np)(theta0)
                           for v in range(model.D)])
        assert abs(grad_h @ grad) < 1e-10 * np.linalg.norm(grad_h) * np.linalg.norm(grad)


def test_long_training_drifts_like_the_step_size_not_its_square():
    d = drift(parse_spec("relu-bias:2,3,3,2"), steps=200,
              step_sizes=(0.0025, 0.005, 0.01, 0.02))
    assert d.exponent < 1.6


def test_slope():
    assert slope([1, 10], [5, 5]) == 0
    assert abs(slope([1, 2, 4, 8], [1, 0.5, 0.25, 0.125]) + 1) < 1e-12


@pytest.mark.parametrize("kwargs, needle", [
    (dict(step_sizes=(0.001,)), "'step_sizes'"),
    (dict(step_sizes=(0.001, -1)), "'step_sizes'"),
    (dict(step_sizes="0.1,0.2"), "'step_sizes'"),
    (dict(steps=0), "'steps'"),
    (dict(seed=-1), "'seed'"),
    (dict(step_sizes=(5.0, 10.0)), "diverges"),
])
def test_drift_bad_arguments(kwargs, needle):
    with pytest.raises(InputError, match=needle):
        drift(parse_spec("linear:2,2,2"), **kwargs)


def test_drift_needs_laws_to_track():
    x, y, z = __import__("sympy").symbols("x y z")
    model = exactcl.from_fields([[y * z, x**2 + z, x]], [x, y, z])
    with pytest.raises(UnsupportedError, match="no exhibited polynomial law"):
        drift(model)


def test_growth_figure_shows_the_profile_and_the_bounds():
    result = exactcl.count(parse_spec("linear:2,2,5,5,2"))
    fig = plots.growth_figure(result)
    ax = fig.axes[0]
    line = ax.get_lines()[0]
    assert list(line.get_ydata()) == list(result.growth.profile) == [4, 9, 13, 15, 16]
    levels = sorted(round(ln.get_ydata()[0]) for ln in ax.get_lines()[1:])
    assert levels == [49 - 33, 49]
    assert "certified by sandwich" in ax.get_title()


def test_graph_figure_draws_the_basis_and_its_operands():
    result = exactcl.count(parse_spec("linear:2,2,5,5,2"))
    fig = plots.graph_figure(result)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "X1" in texts and "[X1,X2]" in texts
    assert any(t.startswith("Z") and "=" in t for t in texts)  # the key of long words
    small = plots.graph_figure(result, max_nodes=8)
    assert "showing" in small.axes[0].get_title()
    with pytest.raises(InputError, match="'max_nodes'"):
        plots.graph_figure(result, max_nodes=0)


def test_figures_refuse_what_is_not_a_model():
    with pytest.raises(InputError, match="'model'"):
        plots.growth_figure("linear:2,2,2")


@pytest.mark.parametrize("argv, needle", [
    (["plot", "growth", "linear:2,2,2", "-o", "x.jpg"], "'-o'"),
    (["plot", "growth", "linear:2,2,2", "-o", "x.svg", "--dpi", "300"], "'--dpi'"),
    (["plot", "growth", "linear:2,2,2", "-o", "x.pdf", "--dpi", "300"], "'--dpi'"),
    (["plot", "growth", "linear:2,2,2", "-o", "x.png", "--dpi", "5000"], "'--dpi'"),
    (["plot", "growth", "linear:2,2,2", "-o", "x.png", "--dpi", "high"], "--dpi"),
    (["plot", "growth", "linear:2,2,2", "-o", "no/such/folder/x.png"], "'-o'"),
    (["plot", "growth", "linear:2,2,2", "-o", "x.png", "--steps", "5"], "'--steps'"),
    (["plot", "drift", "linear:2,2,2", "-o", "x.png", "--step-sizes", "a,b"],
     "'--step-sizes'"),
    (["plot", "drift", "linear:2,2,2", "-o", "x.png", "--max-nodes", "3"], "'--max-nodes'"),
    (["plot", "cloud", "linear:2,2,2", "-o", "x.png"], "invalid choice"),
])
def test_plot_command_errors(tmp_path, argv, needle):
    proc = subprocess.run([sys.executable, "-m", "exactcl", *argv], cwd=tmp_path,
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 2 and needle in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2 and not list(tmp_path.iterdir())


def test_plot_drift_prints_the_exponent(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "exactcl", "plot", "drift", "relu:2,3,2",
                           "-o", "d.svg"], cwd=tmp_path, capture_output=True, text=True,
                          check=True, timeout=300)
    line = [ln for ln in proc.stdout.splitlines() if "fitted exponent" in ln][0]
    assert 1.8 < float(line.split(":")[1].split()[0]) < 2.2
    svg = (tmp_path / "d.svg").read_text()
    assert svg.startswith("<?xml") and "</svg>" in svg
    assert [p.name for p in tmp_path.iterdir()] == ["d.svg"]  # no temporary left behind


def png_size(path) -> tuple[int, int]:
    """Width and height in pixels, from the PNG header."""
    import struct
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_save_writes_pdf_with_embedded_fonts_and_png_at_a_resolution(tmp_path):
    fig = plots.growth_figure(exactcl.linear([2, 2, 2]))
    pdf = tmp_path / "g.pdf"
    assert plots.save(fig, pdf) == str(pdf)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and b"/FontFile2" in data  # TrueType, not Type 3
    assert b"/Type3" not in data and b"CreationDate" not in data
    plots.save(fig, tmp_path / "a.png")
    plots.save(fig, tmp_path / "b.png", dpi=300)
    (w, h), (w3, h3) = png_size(tmp_path / "a.png"), png_size(tmp_path / "b.png")
    assert (w3, h3) == (3 * w, 3 * h) and w == round(fig.get_figwidth() * plots.DPI)
    for dpi in (10, 601, 300.0, True):
        with pytest.raises(InputError, match="'dpi' must be an int from 50 to 600"):
            plots.save(fig, tmp_path / "c.png", dpi=dpi)
    with pytest.raises(InputError, match="'dpi' goes with a .png"):
        plots.save(fig, tmp_path / "c.svg", dpi=300)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "g.pdf"]


def test_plot_command_writes_pdf_and_png_at_dpi(tmp_path):
    for name, extra in [("g.pdf", []), ("g.png", ["--dpi", "200"])]:
        subprocess.run([sys.executable, "-m", "exactcl", "plot", "graph", "linear:2,2,2",
                        "-o", name, *extra], cwd=tmp_path, check=True, capture_output=True,
                       timeout=120)
    assert (tmp_path / "g.pdf").read_bytes().startswith(b"%PDF")
    fig = plots.graph_figure(exactcl.linear([2, 2, 2]))
    assert png_size(tmp_path / "g.png") == (round(fig.get_figwidth() * 200),
                                            round(fig.get_figheight() * 200))


# --------------------------------------------------------------------------- the graph


def hollow_model():
    """Three fields whose basis is [X1, X3, [X2,X3]] at seed 0: X2 is only an operand."""
    x, y, z = __import__("sympy").symbols("x y z")
    return exactcl.from_fields([[1, 0, y], [x, 0, x * y], [0, 1, 0]], [x, y, z])


@functools.cache
def counted(spec: str):
    return exactcl.count(hollow_model(), seed=0) if spec == "hollow" else \
        exactcl.count(parse_spec(spec))


GRAPHS = {
    "linear:2,2,5,5,2": lambda: plots.graph_figure(counted("linear:2,2,5,5,2")),
    "relu-bias:2,3,3,2": lambda: plots.graph_figure(counted("relu-bias:2,3,3,2")),
    "relu:3,4,5": lambda: plots.graph_figure(counted("relu:3,4,5")),
    "hollow": lambda: plots.graph_figure(counted("hollow")),
    "shown-8": lambda: plots.graph_figure(counted("linear:2,2,5,5,2"), max_nodes=8),
}


def drawn(fig, dpi=100):
    """Draw ``fig`` at ``dpi``; its node and tag boxes and texts in pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    fig.set_dpi(dpi)
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    boxes = {p.get_gid(): p.get_window_extent(renderer) for p in ax.patches
             if (p.get_gid() or "").startswith(("node", "tag"))}
    texts = [(t, t.get_window_extent(renderer)) for t in ax.texts]
    return boxes, texts


def apart(a, b) -> float:
    """How far apart two boxes are (negative: they overlap), from their
    centres and sizes: the larger of the gaps along x and along y."""
    dx = abs((a.x0 + a.x1) - (b.x0 + b.x1)) / 2 - (a.width + b.width) / 2
    dy = abs((a.y0 + a.y1) - (b.y0 + b.y1)) / 2 - (a.height + b.height) / 2
    return max(dx, dy)


@pytest.mark.parametrize("name", list(GRAPHS))
def test_graph_boxes_hold_their_labels_and_never_touch(name):
    fig = GRAPHS[name]()
    for dpi in (100, 300):
        check_graph_geometry(fig, dpi)


def check_graph_geometry(fig, dpi):
    boxes, texts = drawn(fig, dpi)
    nodes = {k: b for k, b in boxes.items() if k.startswith("node")}
    assert len(nodes) >= 3
    inch = dpi
    for a, b in __import__("itertools").combinations(sorted(nodes), 2):
        assert apart(nodes[a], nodes[b]) >= 0.1 * inch, (a, b)  # a visible gap between words
    for a, b in __import__("itertools").combinations(sorted(boxes), 2):
        assert apart(boxes[a], boxes[b]) > 0, (a, b)  # tags touch no word and no other tag
    width, height = fig.bbox.width, fig.bbox.height
    for text, box in texts:
        assert text.get_fontsize() >= 9, text.get_text()
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height, text
        inside = [k for k, b in boxes.items() if b.contains(*box.get_points().mean(axis=0))]
        if inside:  # a label sits wholly inside its box, with a margin
            (k,) = inside
            b = boxes[k]
            margin = min(box.x0 - b.x0, b.x1 - box.x1, box.y0 - b.y0, b.y1 - box.y1)
            assert margin >= 0.01 * inch, (text.get_text(), margin)
    legend = fig.axes[0].get_legend().get_window_extent()
    assert legend.x0 >= 0 and legend.x1 <= width and legend.y0 >= 0
    assert all(apart(legend, b) > 0 for b in boxes.values())


def test_graph_figure_grows_with_the_number_of_words():
    small = plots.graph_figure(parse_spec("linear:2,2,2"))
    large = plots.graph_figure(parse_spec("relu:3,4,5"))  # 28 generators, three columns
    assert large.get_figheight() > small.get_figheight() + 1


def legend_texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_graph_legend_lists_only_what_is_drawn():
    tagged = legend_texts(GRAPHS["linear:2,2,5,5,2"]())
    assert tagged[:2] == ["in the basis", "operand → its bracket"] and len(tagged) == 3
    assert tagged[2].startswith("tag Xi")
    assert legend_texts(plots.graph_figure(parse_spec("linear:2,2,2"))) == [
        "in the basis", "operand → its bracket"]  # no deeper bracket: no tag
    assert legend_texts(GRAPHS["relu-bias:2,3,3,2"]()) == ["in the basis"]  # no bracket
    fig = GRAPHS["hollow"]()
    assert legend_texts(fig) == ["in the basis", "only an operand (not in the basis)",
                                 "operand → its bracket"]
    faces = {p.get_gid(): p.get_facecolor() for p in fig.axes[0].patches
             if (p.get_gid() or "").startswith("node")}
    assert sum(face == (1.0, 1.0, 1.0, 1.0) for face in faces.values()) == 1  # X2, hollow


def key(fig) -> list[str]:
    """The key's lines, with the padding after the names squeezed."""
    return [re.sub(r"^(\S+) +=", r"\1 =", t.get_text()) for t in fig.axes[0].texts
            if " = " in t.get_text()]


def test_graph_key_says_what_each_generator_is():
    lines = key(GRAPHS["linear:2,2,5,5,2"]())
    assert lines[:4] == [f"X{k + 1} = ∇φ{k + 1}, φ{k + 1} = (W4 W3 W2 W1)[{i},{j}]"
                         for k, (i, j) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)])]
    assert "Z46 = [X3,[X2,[X2,[X2,X3]]]]" in lines
    relu = key(GRAPHS["relu-bias:2,3,3,2"]())
    assert len(relu) == 21 and relu[0] == "X1 = ∇φ1, φ1 = path x0→0→0→y0"
    assert "X59 = ∇φ59, φ59 = path b2_2→y0" in relu
    assert key(GRAPHS["hollow"]())[:3] == ["X1 = field 1", "X2 = field 2", "X3 = field 3"]
    u, v1, v2 = __import__("sympy").symbols("u v1 v2")
    one_neuron = exactcl.from_phi([u * v1, u * v2], [u, v1, v2])
    assert key(plots.graph_figure(one_neuron))[0] == "X1 = ∇φ1, φ1 = u*v1"
    # a model gives the same key as its count
    assert key(plots.graph_figure(parse_spec("relu:3,4,5"))) == key(GRAPHS["relu:3,4,5"]())


@pytest.mark.parametrize("spec", ["linear:2,3,2", "linear:3,2", "linear:2,2,3,2",
                                  "relu:2,3,2", "relu-bias:2,3,3,2", "product:3"])
def test_generator_labels_name_the_component_of_phi(spec):
    # each label is read back into a polynomial, built here from the parameter names
    model = parse_spec(spec)
    g, idx = model.ring.gens, model.ring.index
    assert len(model.generator_labels) == len(model.phi) == len(model.generators)
    for k, (label, phi) in enumerate(zip(model.generator_labels, model.phi), 1):
        head, _, what = label.partition(" = ")
        assert head == f"∇φ{k}, φ{k}", label
        if m := re.fullmatch(r"\(?((?:W\d+ ?)+)\)?\[(\d+),(\d+)\]", what):  # entry of W_L...W_1
            layers = [int(w[1:]) for w in m.group(1).split()]
            assert layers == list(range(len(layers), 0, -1))
            i, j = int(m.group(2)), int(m.group(3))
            rows = [[g[idx[f"W1_{a}_{b}"]] for b in range(model_width(model, 0))]
                    for a in range(model_width(model, 1))]
            for layer in layers[-2::-1]:
                n_in = len(rows)
                rows = [[sum((g[idx[f"W{layer}_{a}_{c}"]] * rows[c][b] for c in range(n_in)),
                             model.ring.zero()) for b in range(len(rows[0]))]
                        for a in range(model_width(model, layer))]
            assert phi == rows[i][j], label
        elif what.startswith("path "):
            stops = what[5:].split("→")
            expected = model.ring.constant(1)
            if stops[0].startswith("b"):  # from the bias of hidden neuron j of layer l
                layer, prev = (int(s) for s in stops[0][1:].split("_"))
                expected *= g[idx[stops[0]]]
            else:
                layer, prev = 0, int(stops[0][1:])
            for stop in stops[1:]:
                layer += 1
                now = int(stop.lstrip("y"))
                expected *= g[idx[f"W{layer}_{now}_{prev}"]]
                prev = now
            assert phi == expected, label
        else:  # product:D
            assert phi == __import__("math").prod(g[idx[t]] for t in what.split()), label


def model_width(model, layer: int) -> int:
    """Width of a layer of a linear model, read from its parameter names."""
    if layer == 0:
        return 1 + max(int(n.split("_")[2]) for n in model.parameters if n.startswith("W1_"))
    return 1 + max(int(n.split("_")[1]) for n in model.parameters
                   if n.startswith(f"W{layer}_"))


# --------------------------------------------------------------------------- the drift


def fake_drift(n_laws: int):
    """A Drift of ``n_laws`` made-up laws, without training."""
    from exactcl.workflows.training import Drift
    sizes, steps = (0.1, 0.2), 5
    t = np.arange(steps + 1)[:, None]
    values = {e: e**2 * t * np.arange(1, n_laws + 1) for e in sizes}
    return Drift("fake", tuple(f"h{k}" for k in range(n_laws)), steps, sizes, values,
                 {e: e * t[:, 0] for e in sizes}, {e: 1.0 / (1 + t[:, 0]) for e in sizes},
                 tuple(float(np.max(values[e][-1])) for e in sizes), 2.0,
                 tuple(f"law {k + 1}" for k in range(n_laws)))


def law_lines(ax):
    return [ln for ln in ax.get_lines() if ln.get_label().startswith("$h_")]


def test_drift_figure_labels_every_axis_and_gives_each_law_an_entry():
    fig, d = plots.drift_figure(parse_spec("relu:2,3,2"))
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert ax.get_xlabel() and ax.get_ylabel(), ax.get_title()
    first = fig.axes[0]
    lines = law_lines(first)
    assert len(lines) == len(d.laws) == 3
    entries = [t.get_text() for t in first.get_legend().get_texts()]
    assert entries == [f"$h_{{{k}}}$: neuron {k - 1} of hidden layer 1" for k in (1, 2, 3)] \
        + [r"$|\theta|^2$ (not conserved)"]
    colours = {(ln.get_color(), ln.get_linestyle()) for ln in lines}
    assert len(colours) == len(lines)  # one look per law


def test_drift_figure_caps_the_laws_drawn_and_says_so():
    fig, d = plots.drift_figure(None, drift_result=fake_drift(20))
    first = fig.axes[0]
    lines = law_lines(first)
    assert len(lines) == plots.MAX_DRIFT_LINES == 12
    assert len({(ln.get_color(), ln.get_linestyle()) for ln in lines}) == 12
    entries = [t.get_text() for t in first.get_legend().get_texts()]
    assert len(entries) == 12 + 2
    assert entries[-1] == "8 more laws not drawn (all 20 are in the fit)"
    assert "12 of 20 drawn" in first.get_title()
    few, _ = plots.drift_figure(None, drift_result=fake_drift(2))
    assert "2 of 2 drawn" in few.axes[0].get_title()
    assert not any("more laws" in t.get_text() for t in few.axes[0].get_legend().get_texts())
