"""Pictures of what exactcl proves (needs the ``plot`` extra: matplotlib).

Each picture is one call that returns a ``matplotlib.figure.Figure``
(shown inline by Jupyter; no pyplot state is touched) and one command::

    exactcl plot growth SPEC -o growth.png
    exactcl plot graph SPEC -o graph.svg
    exactcl plot drift SPEC -o drift.png

* :func:`growth_figure`: the rank of W_k(theta) per bracket depth k,
  against D and D minus the number of exhibited laws;
* :func:`graph_figure`: the provenance graph of the bracket words that
  form the basis (each word with the two words it brackets);
* :func:`drift_figure`: the laws and the squared norm along gradient
  descent with several step sizes, and the fitted exponent of the drift
  (:mod:`exactcl.training`).

Pictures are deterministic: fixed seeds, fixed sizes, and files written
by :func:`save` without dates or random ids.
"""

from __future__ import annotations

import os

from .errors import InputError, UnsupportedError, bad_argument

__all__ = ["check_output", "drift_figure", "graph_figure", "growth_figure", "save"]

#: Largest number of words drawn by :func:`graph_figure` (more are summarised).
MAX_GRAPH_NODES = 60
#: Laws drawn one by one in the drift picture (all of them enter the fit).
MAX_DRIFT_LINES = 12
#: Most words in one column of the graph (a depth with more wraps) and the
#: spacing of its sub-columns.
GRAPH_ROWS = 12
SUBCOLUMN = 0.45
#: Long words listed beside the graph (each is drawn as Z<id> in its node).
MAX_KEY_LINES = 24
DPI = 100


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UnsupportedError("Pictures need matplotlib: pip install 'exactcl[plot]'.") \
            from None
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _result(model_or_result, **count_options):
    from .counting import CountResult, count
    from .models import Model
    if isinstance(model_or_result, CountResult):
        return model_or_result
    if isinstance(model_or_result, Model):
        return count(model_or_result, **count_options)
    raise bad_argument("model", "an exactcl Model or CountResult", model_or_result)


def growth_figure(model_or_result, **count_options):
    """The rank of W_k(theta) per bracket depth, against D and D - M.

    Parameters
    ----------
    model_or_result : Model or CountResult
        A model (counted here, with ``count_options``) or a count.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import exactcl
    >>> fig = growth_figure(exactcl.linear([2, 2, 2]))
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()][:2]
    ['rank of $W_k(\\\\theta)$ (modular, a lower bound)', 'D = 8 parameters']
    """
    r = _result(model_or_result, **count_options)
    profile = list(r.growth.profile)
    depths = list(range(len(profile)))
    fig = _figure(6.4, 4.2)
    ax = fig.add_subplot()
    ax.plot(depths, profile, "o-", color="C0", lw=2, ms=7,
            label=r"rank of $W_k(\theta)$ (modular, a lower bound)")
    for k, rank in zip(depths, profile):
        ax.annotate(str(rank), (k, rank), textcoords="offset points", xytext=(0, 8),
                    ha="center", fontsize=9, color="C0")
    ax.axhline(r.parameters, color="0.3", ls="--", lw=1.2,
               label=f"D = {r.parameters} parameters")
    M = r.explicit_laws
    ax.axhline(r.parameters - M, color="C2", ls=":", lw=1.8,
               label=f"D - M = {r.parameters - M} ({M} exhibited laws)")
    if r.laws is not None:
        how = {"sandwich": "sandwich", "closure": "closure check"}.get(r.proof, r.proof)
        verdict = f"dim Lie = {r.lie_dimension}: {r.laws} laws, certified by {how}"
    else:
        verdict = f"bounds only: between {r.lower} and {r.upper} laws"
    ax.set_title(f"{r.model}: growth of the Lie algebra\n{verdict}", fontsize=11)
    ax.set_xlabel("bracket depth k")
    ax.set_ylabel("rank")
    ax.set_xticks(depths)
    ax.set_xlim(-0.4, max(depths) + 0.4 if depths else 0.4)
    ax.set_ylim(0, r.parameters * 1.12 + 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9, framealpha=0.95)
    return fig


def _basis_subgraph(growth):
    """The words of the basis and every word they are built from."""
    graph = growth.graph
    keep, stack = set(), list(growth.basis)
    while stack:
        node = stack.pop()
        if node in keep:
            continue
        keep.add(node)
        stack += [u for u in graph.predecessors(node)]
    return graph.subgraph(sorted(keep))


def graph_figure(model_or_result, max_nodes: int = MAX_GRAPH_NODES, **count_options):
    """The provenance graph of the bracket words that form the basis.

    Words are placed in columns by bracket depth; a word of the basis is
    filled, a word used only to build others is hollow; arrows go from
    the two operands of a bracket to the bracket. Beyond ``max_nodes``
    words, the deepest are kept (with what they are built from) and the
    title says how many are left out.

    Examples
    --------
    >>> import exactcl
    >>> fig = graph_figure(exactcl.linear([2, 2, 2]))
    >>> fig.axes[0].get_title().splitlines()[0]
    'linear:2,2,2: 5 basis words (4 generators, 1 bracket) at the point'
    """
    import networkx as nx
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise bad_argument("max_nodes", "an int >= 1", max_nodes)
    r = _result(model_or_result, **count_options)
    growth = r.growth
    sub = _basis_subgraph(growth)
    basis = set(growth.basis)
    total = sub.number_of_nodes()
    if total > max_nodes:  # keep brackets first (they carry the structure), then generators
        order = sorted(sub.nodes, key=lambda n: (-sub.nodes[n]["depth"], n))
        chosen: set = set()
        for node in order:
            need = {node} | nx.ancestors(sub, node)
            if len(chosen | need) <= max_nodes:
                chosen |= need
        sub = sub.subgraph(sorted(chosen))
    gens = sum(1 for n in basis if growth.graph.nodes[n]["depth"] == 0)
    fig = _figure(10.0, 5.2)
    ax = fig.add_subplot()
    ax.set_axis_off()
    by_depth: dict[int, list] = {}
    for n in sorted(sub.nodes):
        by_depth.setdefault(sub.nodes[n]["depth"], []).append(n)
    pos, centres, x0 = {}, {}, 0.0
    for depth in sorted(by_depth):  # a tall depth wraps into several sub-columns
        nodes = by_depth[depth]
        cols = -(-len(nodes) // GRAPH_ROWS)
        rows = -(-len(nodes) // cols)
        for i, n in enumerate(nodes):
            c, k = divmod(i, rows)
            pos[n] = (x0 + c * SUBCOLUMN, (rows - 1) / 2 - k)
        centres[depth] = x0 + (cols - 1) * SUBCOLUMN / 2
        x0 += (cols - 1) * SUBCOLUMN + 1.0
    short = len(sub) <= 30
    size = 900 if len(sub) <= 30 else 500
    labels = {n: _label(sub.nodes[n]["word"], short, n) for n in sub.nodes}
    nx.draw_networkx_edges(sub, pos, ax=ax, arrows=True, arrowstyle="-|>", arrowsize=10,
                           edge_color="0.6", width=0.8, node_size=size,
                           connectionstyle="arc3,rad=0.12")
    filled = [n for n in sub.nodes if n in basis]
    hollow = [n for n in sub.nodes if n not in basis]
    nx.draw_networkx_nodes(sub, pos, nodelist=filled, ax=ax, node_color="C0",
                           node_size=size, edgecolors="C0")
    nx.draw_networkx_nodes(sub, pos, nodelist=hollow, ax=ax, node_color="white",
                           node_size=size, edgecolors="C0", linewidths=1.5)
    nx.draw_networkx_labels(sub, pos, labels={n: labels[n] for n in filled}, ax=ax,
                            font_size=7, font_color="white")
    nx.draw_networkx_labels(sub, pos, labels={n: labels[n] for n in hollow}, ax=ax,
                            font_size=7, font_color="C0")
    named = [n for n in sorted(sub.nodes) if labels[n].startswith("Z")]
    if named:
        key = "\n".join(f"{labels[n]} = {sub.nodes[n]['word']}" for n in named[:MAX_KEY_LINES])
        if len(named) > MAX_KEY_LINES:
            key += f"\n... and {len(named) - MAX_KEY_LINES} more"
        ax.text(0.98, 0.5, key, transform=ax.transAxes, fontsize=9, va="center", ha="left",
                family="monospace", color="0.2")
    for depth, x in centres.items():
        ax.annotate(f"depth {depth}", (x, max(p[1] for p in pos.values()) + 0.9),
                    ha="center", fontsize=9, color="0.3")
    brackets = len(basis) - gens
    title = (f"{r.model}: {len(basis)} basis words ({gens} generators, "
             f"{brackets} bracket{'s' if brackets != 1 else ''}) at the point")
    if sub.number_of_nodes() < total:
        title += f"\nshowing {sub.number_of_nodes()} of {total} words (deepest first)"
    else:
        title += "\nfilled: in the basis; hollow: only an operand; arrows: operand to bracket"
    ax.set_title(title, fontsize=10)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 1.3)
    return fig


def _label(word: str, short: bool, node: int) -> str:
    """X3, [X1,X2], or Z17 for a word too long to read in a node."""
    if word.startswith("X") or (short and len(word) <= 9):
        return word
    return f"Z{node}"


def drift_figure(model, drift_result=None, **drift_options):
    """Laws and the squared norm along gradient descent, and the drift's
    exponent in the step size.

    Three panels: (1) for the largest step size, every law's
    |h(theta_t) / h(theta_0) - 1| (thin) beside |theta_t|^2 / |theta_0|^2 - 1
    (thick, not conserved); (2) the largest drift of the laws against the
    step for each step size; (3) the drift after the last step against
    the step size, log-log, with the fitted slope (about 2).

    Returns
    -------
    (matplotlib.figure.Figure, exactcl.training.Drift)
    """
    from .training import drift
    d = drift_result if drift_result is not None else drift(model, **drift_options)
    import numpy as np
    fig = _figure(13.0, 4.2)
    axes = fig.subplots(1, 3)
    steps = np.arange(d.steps + 1)
    eta = max(d.step_sizes)
    ax = axes[0]
    tiny = 1e-300  # a law exactly at its start (t = 0) is drawn at the bottom
    for k in range(min(len(d.laws), MAX_DRIFT_LINES)):
        ax.semilogy(steps[1:], np.abs(d.law_values[eta][1:, k]) + tiny, lw=0.9, alpha=0.8,
                    color=f"C{k % 10}", label="laws h" if k == 0 else None)
    ax.semilogy(steps[1:], np.abs(d.other[eta][1:]) + tiny, lw=2.5, ls="--", color="k",
                label=r"$|\theta|^2$ (not conserved)")
    shown = min(len(d.laws), MAX_DRIFT_LINES)
    ax.set_title(f"relative change, step size {eta:g}\n({shown} of {len(d.laws)} laws drawn)",
                 fontsize=10)
    ax.set_xlabel("gradient step t")
    ax.set_ylabel(r"$|q(\theta_t)/q(\theta_0) - 1|$")
    ax.legend(fontsize=8, loc="lower right")
    ax = axes[1]
    for i, e in enumerate(d.step_sizes):
        worst = np.max(np.abs(d.law_values[e][1:]), axis=1)
        ax.semilogy(steps[1:], worst, color=f"C{i}", lw=1.6, label=f"step size {e:g}")
    ax.set_title("largest drift of the laws", fontsize=10)
    ax.set_xlabel("gradient step t")
    ax.legend(fontsize=8, loc="lower right")
    ax = axes[2]
    xs = np.array(d.step_sizes)
    ax.loglog(xs, d.final, "o", color="C3", ms=7, label=f"after {d.steps} steps")
    c = np.exp(np.mean(np.log(d.final) - d.exponent * np.log(xs)))
    ax.loglog(xs, c * xs ** d.exponent, "-", color="C3", lw=1,
              label=f"fit: slope {d.exponent:.2f}")
    ax.loglog(xs, d.final[0] * (xs / xs[0]) ** 2, ":", color="0.4", lw=1,
              label="slope 2 (theory)")
    ax.set_title(f"drift ~ (step size)^{d.exponent:.2f} (fitted exponent)", fontsize=10)
    ax.set_xlabel("step size")
    from matplotlib.ticker import NullFormatter
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{e:g}" for e in xs], fontsize=8)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=8, loc="lower right")
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(f"{d.model}: conservation laws along gradient descent "
                 f"(random data, MSE, {d.steps} steps)", fontsize=11)
    return fig, d


def check_output(path: str) -> str:
    """The extension of a picture file that :func:`save` can write, else
    :class:`InputError` naming ``-o``."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".png", ".svg"):
        raise InputError(f"Argument '-o' must name a .png or .svg file, not {path!r}.")
    from .certformat import check_output as check_path
    check_path(path, "-o")  # a regular file or a new name, in a folder that can be written
    return ext


def save(fig, path: str | os.PathLike) -> str:
    """Write ``fig`` to ``path`` (``.png`` or ``.svg``) atomically and
    reproducibly (no date, fixed SVG ids); return the path."""
    path = os.fspath(path)
    ext = check_output(path)
    import matplotlib

    from .certformat import atomic_path
    metadata = {"Date": None} if ext == ".svg" else {"Software": None}
    with atomic_path(path, suffix=ext) as tmp, \
            matplotlib.rc_context({"svg.hashsalt": "exactcl", "svg.fonttype": "path"}):
        fig.savefig(tmp, format=ext[1:], metadata=metadata)
    return path
