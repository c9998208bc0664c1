"""Pictures of what exactcl proves (needs the ``plot`` extra: matplotlib).

Each picture is one call that returns a ``matplotlib.figure.Figure``
(shown inline by Jupyter; no pyplot state is touched) and one command::

    exactcl plot growth SPEC -o growth.png
    exactcl plot graph SPEC -o graph.svg
    exactcl plot drift SPEC -o drift.pdf
    exactcl plot growth SPEC -o growth.png --dpi 300

* :func:`growth_figure`: the rank of W_k(theta) per bracket depth k,
  against D and D minus the number of exhibited laws;
* :func:`graph_figure`: the provenance graph of the bracket words that
  form the basis (each word with the two words it brackets);
* :func:`drift_figure`: the laws and the squared norm along gradient
  descent with several step sizes, and the fitted exponent of the drift
  (:mod:`exactcl.workflows.training`).

:func:`save` writes .png (at ``dpi``), .svg or .pdf. Pictures are
deterministic: fixed seeds, fixed sizes, and files written without dates
or random ids, so the same command gives the same bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..kernel.errors import InputError, UnsupportedError, bad_argument

__all__ = ["check_dpi", "check_output", "drift_figure", "graph_figure", "growth_figure", "save"]

#: Largest number of words drawn by :func:`graph_figure` (more are summarised).
MAX_GRAPH_NODES = 60
#: Laws drawn one by one in the drift picture, each with its legend entry
#: (all of them enter the fit), and the longest description of a law there.
MAX_DRIFT_LINES = 12
LAW_LABEL_CHARS = 30
#: Most words in one column of the graph (a depth with more wraps).
GRAPH_ROWS = 12
#: The graph's geometry, in inches (its figure is drawn one data unit to
#: the inch). Text is in DejaVu Sans Mono, which matplotlib ships, so a
#: label of n characters has the same width on every machine: n * 0.602 em
#: as vector text, up to 0.62 em once rasterised (hinting); widths are
#: reckoned at CHAR_EM so that labels stay inside their boxes.
MONO = "DejaVu Sans Mono"
CHAR_EM = 0.64
NODE_FONT = 10
NODE_CHAR = CHAR_EM * NODE_FONT / 72
BOX_PAD = 0.07
BOX_HEIGHT = 0.3
ROW_PITCH = 0.46
SUBCOLUMN_GAP = 0.3
DEPTH_GAP = 0.75
#: Tags naming the generator of a bracket [Xi, Z] on the arrow from Z: font,
#: box, gap to the bracket's box, and the least run of an arrow before a tag.
TAG_FONT = 9
TAG_CHAR = CHAR_EM * TAG_FONT / 72
TAG_PAD = 0.04
TAG_HEIGHT = 0.22
TAG_GAP = 0.03
ARROW_ROOM = 0.35
KEY_FONT = 9
KEY_CHAR = CHAR_EM * KEY_FONT / 72
KEY_PITCH = 0.2
KEY_GAP = 0.35
#: Lines of the key in one column at least (more wrap into further columns).
KEY_MIN_ROWS = 16
MARGIN = 0.2
#: Height of the depth headers above the columns, and the width of a
#: character in them (10 pt sans serif, generous).
HEADER = 0.5
HEADER_CHAR = 0.085
MIN_WIDTH = 6.4
#: The title (11 pt) and legend (9 pt) in sans serif: line heights and
#: character widths (generous), and the width of a legend entry's handle.
TITLE_LINE = 0.25
TITLE_CHAR = 0.09
LEGEND_FONT = 9
LEGEND_ROW = 0.25
LEGEND_CHAR = 0.075
LEGEND_HANDLE = 0.55
#: Picture types :func:`save` writes: raster .png, vector .svg and .pdf.
FORMATS = (".png", ".svg", ".pdf")
#: Resolution of a .png unless ``dpi`` says otherwise (and of figures shown
#: in Jupyter); the range accepted: 600 dpi is the most that journals ask of
#: raster line art, and beyond it a vector .pdf or .svg is the better file.
DPI = 100
MIN_DPI = 50
MAX_DPI = 600


def _figure(width: float, height: float, layout: str | None = "constrained"):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UnsupportedError("Pictures need matplotlib: pip install 'exactcl[plot]'.") \
            from None
    return Figure(figsize=(width, height), dpi=DPI, layout=layout)


def _result(model_or_result, **count_options):
    from ..engine.counting import CountResult, count
    from ..models.builtin import Model
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

    Words are boxes sized to their labels, in columns by bracket depth (a
    depth with more than :data:`GRAPH_ROWS` words wraps into several
    columns); a word of the basis is filled, a word used only to build
    others is hollow. Arrows go from an operand to its bracket: both
    generators of a depth-1 bracket [Xi, Xj] point to it, and a deeper
    bracket [Xi, Z] gets one arrow from Z, tagged Xi where it meets the
    bracket (so no arrow crosses a column). The key beside the graph says
    what each generator is (``X3 = ∇φ3, φ3 = (W2 W1)[1,0]``: the gradient
    of a named component of phi, or ``field 3``) and spells out long words
    (``Z<id>``); the legend lists only what is drawn. The figure grows
    with the number of words, so that boxes never touch. Beyond
    ``max_nodes`` words, the deepest are kept (with what they are built
    from) and the title says how many are left out.

    Examples
    --------
    >>> import exactcl
    >>> fig = graph_figure(exactcl.linear([2, 2, 2]))
    >>> fig.axes[0].get_title().splitlines()[0]
    'linear:2,2,2: 5 basis words (4 generators, 1 bracket) at the point'
    >>> [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("X2 =")]
    ['X2 = ∇φ2, φ2 = (W2 W1)[0,1]']
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['in the basis', 'operand → its bracket']
    """
    import networkx as nx
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch
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
    gens = sum(1 for n in basis if growth.nodes[n]["depth"] == 0)
    short = len(sub) <= 30
    labels = {n: _label(sub.nodes[n]["word"], short, n) for n in sub.nodes}
    arrows = _arrows(sub)
    tags = {v: labels[via] for _, v, via in arrows if via is not None}
    layout = _graph_layout(sub, labels, tags)
    key = _graph_key(sub, labels, r.generator_labels)
    key_rows = max(KEY_MIN_ROWS, int(layout.height / KEY_PITCH))
    key_cols = [key[i:i + key_rows] for i in range(0, len(key), key_rows)]
    key_widths = [max(len(line) for line in col) * KEY_CHAR for col in key_cols]
    key_width = sum(key_widths) + KEY_GAP * len(key_cols)
    legend = []  # only what is drawn
    if any(n in basis for n in sub.nodes):
        legend.append(Patch(facecolor="C0", edgecolor="C0", label="in the basis"))
    if any(n not in basis for n in sub.nodes):
        legend.append(Patch(facecolor="white", edgecolor="C0", linewidth=1.3,
                            label="only an operand (not in the basis)"))
    if arrows:
        legend.append(Line2D([], [], color="0.45", marker=">", markevery=[1], lw=0.9,
                             label="operand → its bracket"))
    if tags:
        legend.append(Patch(facecolor="white", edgecolor="0.6", linewidth=0.7,
                            label="tag Xi on the arrow Z → [Xi, Z]: the generator it is "
                                  "bracketed with"))
    brackets = len(basis) - gens
    title = (f"{r.model}: {len(basis)} basis words ({gens} generators, "
             f"{brackets} bracket{'s' if brackets != 1 else ''}) at the point")
    if sub.number_of_nodes() < total:
        title += f"\nshowing {sub.number_of_nodes()} of {total} words (deepest first)"
    top = MARGIN + TITLE_LINE * (title.count("\n") + 1) + HEADER
    content = max(layout.height, min(len(key), key_rows) * KEY_PITCH)
    entries = [LEGEND_HANDLE + LEGEND_CHAR * len(h.get_label()) for h in legend]
    width = max(MIN_WIDTH, 2 * MARGIN + layout.width + key_width,
                2 * MARGIN + TITLE_CHAR * max(map(len, title.splitlines())))
    in_row = sum(entries) <= width - 2 * MARGIN  # else one entry per line
    legend_height = LEGEND_ROW * (1 if in_row else len(legend)) + LEGEND_ROW / 2
    height = top + content + legend_height + MARGIN
    fig = _figure(width, height, layout=None)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)  # one data unit is one inch, both ways
    ax.set_title(title, fontsize=11, y=1 - MARGIN / height, va="top")
    left = (width - layout.width - key_width) / 2
    ytop = height - top - (content - layout.height) / 2
    boxes = {}
    for n, (x, y, w) in layout.nodes.items():
        cx, cy = left + x, ytop - y
        filled = n in basis
        boxes[n] = _box(ax, FancyBboxPatch, cx, cy, w, BOX_HEIGHT, gid=f"node{n}",
                        facecolor="C0" if filled else "white", edgecolor="C0",
                        linewidth=1.3, zorder=2)
        ax.text(cx, cy, labels[n], ha="center", va="center_baseline", fontsize=NODE_FONT,
                family=MONO, color="white" if filled else "C0", zorder=3)
    for v, name in sorted(tags.items()):  # abutting the bracket's box, on its left
        cx, cy = boxes[v].get_x(), boxes[v].get_y() + BOX_HEIGHT / 2
        w = _tag_width(name)
        boxes[v, "tag"] = _box(ax, FancyBboxPatch, cx - TAG_GAP - w / 2, cy, w, TAG_HEIGHT,
                               gid=f"tag{v}", facecolor="white", edgecolor="0.6",
                               linewidth=0.7, zorder=2)
        ax.text(cx - TAG_GAP - w / 2, cy, name, ha="center", va="center_baseline",
                fontsize=TAG_FONT, family=MONO, color="0.15", zorder=3)
    for u, v, via in arrows:
        a, b = boxes[u], boxes[v] if via is None else boxes[v, "tag"]
        # an arrow past the next depth arcs over the words between its ends
        skip = sub.nodes[v]["depth"] - sub.nodes[u]["depth"] > 1
        ax.add_patch(FancyArrowPatch(_centre(a), _centre(b), patchA=a, patchB=b,
                                     shrinkA=1.5, shrinkB=1.5, arrowstyle="-|>",
                                     mutation_scale=11, color="0.45", linewidth=0.9, zorder=1,
                                     connectionstyle=f"arc3,rad={-0.3 if skip else 0}"))
    for depth, (x, _) in sorted(layout.columns.items()):
        ax.text(left + x, height - top + HEADER / 2, _header(depth), ha="center",
                va="center", fontsize=10, color="0.3", linespacing=1.3)
    x = left + layout.width + KEY_GAP
    for col, w in zip(key_cols, key_widths):
        y = height - top - (content - min(len(key), key_rows) * KEY_PITCH) / 2
        for line in col:
            ax.text(x, y - KEY_PITCH / 2, line, ha="left", va="center", fontsize=KEY_FONT,
                    family=MONO, color="0.15")
            y -= KEY_PITCH
        x += w + KEY_GAP
    ax.legend(handles=legend, loc="lower center", bbox_to_anchor=(0.5, MARGIN / height),
              ncol=len(legend) if in_row else 1, fontsize=LEGEND_FONT, frameon=False,
              handlelength=1.6, borderaxespad=0)
    return fig


def _box(ax, cls, cx: float, cy: float, w: float, h: float, **style):
    box = cls((cx - w / 2, cy - h / 2), w, h, boxstyle=f"round,pad=0,rounding_size={h / 3}",
              **style)
    ax.add_patch(box)
    return box


def _centre(box) -> tuple[float, float]:
    return box.get_x() + box.get_width() / 2, box.get_y() + box.get_height() / 2


def _arrows(sub) -> list[tuple]:
    """(operand, bracket, generator or None) for each arrow of the graph.

    A bracket [Xi, Z] deeper than depth 1 gets one arrow, from Z, with Xi
    named on it: an arrow from Xi itself would cross every column between
    the generators and the bracket. Other brackets get one arrow from each
    operand.
    """
    out = []
    for v in sorted(sub.nodes):
        ops = sorted(sub.predecessors(v))
        gens = [u for u in ops if sub.nodes[u]["depth"] == 0]
        if sub.nodes[v]["depth"] > 1 and len(ops) == 2 and len(gens) == 1:
            out.append((next(u for u in ops if u not in gens), v, gens[0]))
        else:
            out += [(u, v, None) for u in ops]
    return out


@dataclass(frozen=True)
class _Layout:
    """Where the boxes of a graph go, in inches from the top left of the
    graph: ``nodes[n] = (x, y, width)`` of the box centre, ``columns[depth]
    = (x, width)`` of each depth."""

    nodes: dict
    columns: dict
    width: float
    height: float


def _graph_layout(sub, labels, tags) -> _Layout:
    """Columns by depth, wrapped at :data:`GRAPH_ROWS`, each as wide as its
    widest label: boxes are :data:`ROW_PITCH` - :data:`BOX_HEIGHT` apart
    vertically and at least :data:`SUBCOLUMN_GAP` horizontally, with room
    on the left of a box for its tag (``tags[n]``, the generator named on
    the arrow into it)."""
    by_depth: dict[int, list] = {}
    for n in sorted(sub.nodes):
        by_depth.setdefault(sub.nodes[n]["depth"], []).append(n)
    rows_max = max((-(-len(ns) // -(-len(ns) // GRAPH_ROWS)) for ns in by_depth.values()),
                   default=1)
    nodes, columns, x = {}, {}, 0.0
    for depth in sorted(by_depth):
        ns = by_depth[depth]
        cols = -(-len(ns) // GRAPH_ROWS)
        rows = -(-len(ns) // cols)
        chunks = [ns[c * rows:(c + 1) * rows] for c in range(cols)]
        widths = [max(_box_width(labels[n]) for n in chunk) for chunk in chunks]
        # room for the widest tag left of each sub-column (the first's is in the depth gap)
        room = [max((_tag_width(tags[n]) + TAG_GAP for n in chunk if n in tags), default=0.0)
                for chunk in chunks]
        x += max(0.0, room[0] - DEPTH_GAP + ARROW_ROOM)
        span = sum(widths) + sum(SUBCOLUMN_GAP + g for g in room[1:])
        header = HEADER_CHAR * max(map(len, _header(depth).splitlines()))
        start = x
        x += max(0.0, header - span) / 2  # a narrow column is centred under its header
        for c, (w, chunk) in enumerate(zip(widths, chunks)):
            if c:
                x += SUBCOLUMN_GAP + room[c]
            for k, n in enumerate(chunk):
                y = ((rows_max - rows) / 2 + k + 0.5) * ROW_PITCH
                nodes[n] = (x + w / 2, y, _box_width(labels[n]))
            x += w
        x = start + max(span, header)
        columns[depth] = ((start + x) / 2, x - start)
        x += DEPTH_GAP
    return _Layout(nodes, columns, max(x - DEPTH_GAP, 0.0), rows_max * ROW_PITCH)


def _header(depth: int) -> str:
    return "depth 0\ngenerators" if depth == 0 else f"depth {depth}"


def _box_width(label: str) -> float:
    return len(label) * NODE_CHAR + 2 * BOX_PAD


def _tag_width(label: str) -> float:
    return len(label) * TAG_CHAR + 2 * TAG_PAD


def _graph_key(sub, labels, generator_labels) -> list[str]:
    """Key lines: what each generator drawn is, then each long word."""
    known = []
    for n in sorted(sub.nodes):
        word = sub.nodes[n]["word"]  # "X3" is generator 2
        if word[0] == "X" and word[1:].isdigit() and int(word[1:]) <= len(generator_labels):
            known.append((word, generator_labels[int(word[1:]) - 1]))
    named = [(labels[n], sub.nodes[n]["word"]) for n in sorted(sub.nodes)
             if labels[n].startswith("Z")]
    lines = []
    for pairs in (known, named):  # names padded to one width, so the '=' line up
        w = max((len(name) for name, _ in pairs), default=0)
        lines += [f"{name:<{w}} = {text}" for name, text in pairs]
    return lines


def _label(word: str, short: bool, node: int) -> str:
    """X3, [X1,X2], or Z17 for a word too long to read in a box."""
    if word.startswith("X") or (short and len(word) <= 9):
        return word
    return f"Z{node}"


def drift_figure(model, drift_result=None, **drift_options):
    """Laws and the squared norm along gradient descent, and the drift's
    exponent in the step size.

    Three panels, each axis labelled: (1) for the largest step size, each
    law's |h(theta_t) / h(theta_0) - 1| (one line and one legend entry per
    law, up to :data:`MAX_DRIFT_LINES`; the legend says how many are left
    out) beside |theta_t|^2 / |theta_0|^2 - 1 (thick, not conserved); (2)
    the largest drift of the laws against the step for each step size;
    (3) the drift after the last step against the step size, log-log,
    with the fitted slope (about 2).

    Returns
    -------
    (matplotlib.figure.Figure, exactcl.workflows.training.Drift)

    Examples
    --------
    >>> import exactcl
    >>> fig, d = drift_figure(exactcl.linear([2, 2, 2]))
    >>> [ax.get_ylabel() != "" for ax in fig.axes]
    [True, True, True]
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()][:2]
    ['$h_{1}$: (W1 W1^T - W2^T W2)[0,0]', '$h_{2}$: (W1 W1^T - W2^T W2)[0,1]']
    """
    from ..workflows.training import drift
    d = drift_result if drift_result is not None else drift(model, **drift_options)
    import numpy as np
    from matplotlib import colormaps
    shown = min(len(d.laws), MAX_DRIFT_LINES)
    rows = -(-(shown + 1 + (shown < len(d.laws))) // 2)  # legend rows below panel 1
    fig = _figure(13.0, 4.4 + 0.19 * rows)
    axes = fig.subplots(1, 3)
    steps = np.arange(d.steps + 1)
    eta = max(d.step_sizes)
    ax = axes[0]
    tiny = 1e-300  # a law exactly at its start (t = 0) is drawn at the bottom
    for k in range(shown):
        name = d.labels[k] if k < len(d.labels) else d.laws[k]
        if len(name) > LAW_LABEL_CHARS:
            name = name[:LAW_LABEL_CHARS - 1] + "…"
        ax.semilogy(steps[1:], np.abs(d.law_values[eta][1:, k]) + tiny, lw=1.1,
                    color=f"C{k % 10}", ls="-" if k < 10 else "--",
                    label=f"$h_{{{k + 1}}}$: {name}")
    ax.semilogy(steps[1:], np.abs(d.other[eta][1:]) + tiny, lw=2.5, ls="--", color="k",
                label=r"$|\theta|^2$ (not conserved)")
    handles, labels = ax.get_legend_handles_labels()
    if shown < len(d.laws):
        from matplotlib.lines import Line2D
        handles.append(Line2D([], [], lw=0))
        labels.append(f"{len(d.laws) - shown} more laws not drawn (all {len(d.laws)} are in "
                      f"the fit)")
    ax.set_title(f"each law, step size {eta:g}\n(one line per law: {shown} of "
                 f"{len(d.laws)} drawn)", fontsize=10)
    ax.set_xlabel("gradient step t")
    ax.set_ylabel(r"relative change $|q(\theta_t)/q(\theta_0) - 1|$")
    ax.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16),
              ncol=2, frameon=False, handlelength=1.8, columnspacing=1.2)
    ax = axes[1]
    shades = colormaps["viridis"](np.linspace(0.85, 0.05, len(d.step_sizes)))
    for e, colour in zip(d.step_sizes, shades):
        worst = np.max(np.abs(d.law_values[e][1:]), axis=1)
        ax.semilogy(steps[1:], worst, color=colour, lw=1.6, label=f"step size {e:g}")
    ax.set_title("largest drift of the laws, per step size", fontsize=10)
    ax.set_xlabel("gradient step t")
    ax.set_ylabel(r"$\mathrm{max}_i\ |h_i(\theta_t)/h_i(\theta_0) - 1|$")
    ax.legend(fontsize=8, loc="lower right")
    ax = axes[2]
    xs = np.array(d.step_sizes)
    ax.loglog(xs, d.final, "-", color="0.75", lw=0)  # sets the log scales
    for x, y, colour in zip(xs, d.final, shades):
        ax.loglog([x], [y], "o", color=colour, ms=7)
    ax.loglog([], [], "o", color="0.4", ms=7, label=f"after {d.steps} steps")
    c = np.exp(np.mean(np.log(d.final) - d.exponent * np.log(xs)))
    ax.loglog(xs, c * xs ** d.exponent, "-", color="C3", lw=1,
              label=f"fit: slope {d.exponent:.2f}")
    ax.loglog(xs, d.final[0] * (xs / xs[0]) ** 2, ":", color="0.4", lw=1,
              label="slope 2 (theory)")
    ax.set_title(f"drift ~ (step size)^{d.exponent:.2f} (fitted exponent)", fontsize=10)
    ax.set_xlabel("step size")
    ax.set_ylabel(f"$\\mathrm{{max}}_i\\ |h_i(\\theta_T)/h_i(\\theta_0) - 1|$, T = {d.steps}")
    from matplotlib.ticker import NullFormatter
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{e:g}" for e in xs], fontsize=8)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=8, loc="upper left")
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(f"{d.model}: conservation laws along gradient descent "
                 f"(random data, MSE, {d.steps} steps)", fontsize=11)
    return fig, d


def check_output(path: str) -> str:
    """The extension of a picture file that :func:`save` can write, else
    :class:`InputError` naming ``-o``.

    >>> check_output("fig.PDF")
    '.pdf'
    >>> check_output("fig.jpg")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument '-o' must name a .png, .svg or .pdf file, not 'fig.jpg'.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise InputError(f"Argument '-o' must name a .png, .svg or .pdf file, not {path!r}.")
    from ..certificates.files import check_output as check_path
    check_path(path, "-o")  # a regular file or a new name, in a folder that can be written
    return ext


def check_dpi(dpi: int | None, ext: str, name: str = "dpi") -> int:
    """The resolution to write a picture of type ``ext`` at: ``dpi``, or
    :data:`DPI` when it is None; refused when it is not an int from
    :data:`MIN_DPI` to :data:`MAX_DPI` or the picture is vector.

    >>> check_dpi(None, ".png"), check_dpi(300, ".png"), check_dpi(None, ".pdf")
    (100, 300, 100)
    >>> check_dpi(300, ".svg", "--dpi")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument '--dpi' goes with a .png picture (.svg and .pdf are vector: they have no resolution), not with a .svg file.
    """
    if dpi is None:
        return DPI
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not MIN_DPI <= dpi <= MAX_DPI:
        raise InputError(f"Argument '{name}' must be an int from {MIN_DPI} to {MAX_DPI} (beyond, "
                         f"write .pdf or .svg), not {dpi!r}.")
    if ext != ".png":
        raise InputError(f"Argument '{name}' goes with a .png picture (.svg and .pdf are "
                         f"vector: they have no resolution), not with a {ext} file.")
    return dpi


def save(fig, path: str | os.PathLike, dpi: int | None = None) -> str:
    """Write ``fig`` to ``path`` atomically and reproducibly; return the path.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or os.PathLike
        A ``.png`` (raster), ``.svg`` or ``.pdf`` (vector) file in an
        existing folder.
    dpi : int, optional
        Resolution of a ``.png``, from :data:`MIN_DPI` to :data:`MAX_DPI`
        (default :data:`DPI`); refused for vector files.

    Notes
    -----
    The same figure gives the same bytes on every run: no dates or
    software versions in the metadata, SVG ids from a fixed salt, text as
    paths in SVG, and TrueType (Type 42) fonts in PDF, which publishers'
    checks accept where they refuse the Type 3 default.
    """
    path = os.fspath(path)
    ext = check_output(path)
    resolution = check_dpi(dpi, ext)
    import matplotlib

    from ..certificates.files import atomic_path
    metadata = {".png": {"Software": None}, ".svg": {"Date": None},
                ".pdf": {"CreationDate": None, "ModDate": None}}[ext]
    rc = {"svg.hashsalt": "exactcl", "svg.fonttype": "path", "pdf.fonttype": 42}
    with atomic_path(path, suffix=ext) as tmp, matplotlib.rc_context(rc):
        fig.savefig(tmp, format=ext[1:], metadata=metadata, dpi=resolution)
    return path
