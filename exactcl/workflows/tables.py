"""Tables of a sweep's results: Markdown, LaTeX (booktabs) and CSV.

Each renderer takes ``(case, record)`` pairs in table order (``record``
is None for a case not run yet) and returns the text of the whole table.
A row says the model, D, dim Lie, the number of laws, how many were
exhibited, what proved the count, the seconds and the certificate; a
failed case shows its error instead, and a case not run says so.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from .grid import Case

__all__ = ["csv_table", "latex_table", "markdown_table"]

Row = tuple[Case, "dict | None"]
#: Longest error message shown in a Markdown cell (the CSV has it whole).
MESSAGE_CHARS = 120

HEADERS = ("model", "D", "dim Lie", "laws", "exhibited", "proved by", "seconds", "certificate")


def _with_degree(rows: Sequence[Row]) -> bool:
    return any(case.degree is not None for case, _ in rows)


def _proof(record: dict) -> str:
    if record["certified"] != "certified":
        return "bounds only"
    if record["proof"] != "closure":
        return record["proof"]
    if record.get("closure_mode") == "deterministic":
        return "closure (exact)"
    return f"closure (Monte Carlo, error <= {record.get('error_bound')})"


def _plain(case: Case, record: dict | None) -> list[str]:
    """The cells of one row as plain text."""
    if record is None:
        return [case.label, "", "", "", "", "not run yet", "", ""]
    D = "" if record.get("parameters") is None else str(record["parameters"])
    if record["status"] == "failed":
        err = record["error"]
        message = " ".join(f"{err['kind']}: {err['message']}".split())
        if len(message) > MESSAGE_CHARS:
            message = message[:MESSAGE_CHARS - 3] + "..."
        seconds = "" if record.get("seconds") is None else f"{record['seconds']:.2f}"
        return [case.label, D, "", "failed", "", message, seconds, ""]
    lie = (str(record["lie_dimension"]) if record["lie_dimension"] is not None
           else f">= {record['lie_rank']}")
    laws = (str(record["laws"]) if record["laws"] is not None
            else "{}-{}".format(*record["bounds"]))
    return [case.label, D, lie, laws, str(record["exhibited"]), _proof(record),
            f"{record['seconds']:.2f}", record.get("certificate", "")]


def markdown_table(rows: Sequence[Row]) -> str:
    """A GitHub-flavoured Markdown table.

    Examples
    --------
    >>> from exactcl.workflows.sweep import run_case
    >>> case = Case(spec="linear:2,2,2")
    >>> rec = run_case({"case": case.as_dict(), "options": {"seed": 0, "closure": "auto",
    ...                 "closure_rounds": 2}})["record"]
    >>> rec["seconds"], rec["certificate"] = 0.01, "certificates/linear_2-2-2.json"
    >>> print(markdown_table([(case, rec), (Case(spec="relu:2,2"), None)]))
    | model | D | dim Lie | laws | exhibited | proved by | seconds | certificate |
    |---|--:|--:|--:|--:|---|--:|---|
    | linear:2,2,2 | 8 | 5 | 3 | 3 | sandwich | 0.01 | certificates/linear_2-2-2.json |
    | relu:2,2 |  |  |  |  | not run yet |  |  |
    <BLANKLINE>
    """
    degree = _with_degree(rows)
    headers = list(HEADERS)
    align = ["---", "--:", "--:", "--:", "--:", "---", "--:", "---"]
    if degree:
        headers.insert(1, "degree")
        align.insert(1, "--:")
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    for case, record in rows:
        cells = _plain(case, record)
        if degree:
            cells.insert(1, "" if case.degree is None else str(case.degree))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
          "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
          "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}"}


def latex_escape(text: str) -> str:
    r"""Text safe inside a LaTeX table cell.

    >>> latex_escape("certificates/relu_2-2.json & 50% {x}")
    'certificates/relu\\_2-2.json \\& 50\\% \\{x\\}'
    """
    return "".join(_LATEX.get(ch, ch) for ch in text)


def _latex_cells(case: Case, record: dict | None) -> list[str]:
    cells = [latex_escape(c) for c in _plain(case, record)]
    cells[0] = rf"\texttt{{{cells[0]}}}"
    if record is not None and record["status"] == "ok":
        if record["lie_dimension"] is None:
            cells[2] = rf"$\geq {record['lie_rank']}$"
        if record["laws"] is None:
            cells[3] = "${}$--${}$".format(*record["bounds"])
        if record["proof"] == "closure" and record.get("closure_mode") != "deterministic":
            bits = str(record.get("error_bound", "")).replace("2^-", "")
            cells[5] = rf"closure (Monte Carlo, error $\leq 2^{{-{bits}}}$)"
        if record.get("certificate"):
            name = record["certificate"].removeprefix("certificates/").removesuffix(".json")
            cells[7] = rf"\texttt{{{latex_escape(name)}}}"
    elif record is not None:
        cells[5] = "failed: " + latex_escape(record["error"]["kind"])
    return cells


def latex_table(rows: Sequence[Row]) -> str:
    r"""A booktabs ``tabular``, ready for ``\input`` (needs
    ``\usepackage{booktabs}``).

    Examples
    --------
    >>> print(latex_table([(Case(spec="relu:2,2"), None)]))
    % Conservation laws certified by exactcl; re-check with `exactcl verify FOLDER`.
    % Needs \usepackage{booktabs}. Certificate NAME is certificates/NAME.json.
    \begin{tabular}{lrrrrlrl}
    \toprule
    Model & $D$ & $\dim \mathrm{Lie}$ & Laws & Exhibited & Proved by & Seconds & Certificate \\
    \midrule
    \texttt{relu:2,2} &  &  &  &  & not run yet &  &  \\
    \bottomrule
    \end{tabular}
    <BLANKLINE>
    """
    degree = _with_degree(rows)
    headers = ["Model", "$D$", r"$\dim \mathrm{Lie}$", "Laws", "Exhibited", "Proved by",
               "Seconds", "Certificate"]
    spec = "lrrrrlrl"
    if degree:
        headers.insert(1, "Degree")
        spec = "lr" + spec[1:]
    lines = [r"% Conservation laws certified by exactcl; re-check with `exactcl verify FOLDER`.",
             r"% Needs \usepackage{booktabs}. Certificate NAME is certificates/NAME.json.",
             rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(headers) + r" \\",
             r"\midrule"]
    for case, record in rows:
        cells = _latex_cells(case, record)
        if degree:
            cells.insert(1, "" if case.degree is None else str(case.degree))
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


CSV_COLUMNS = ("model", "degree", "status", "D", "lie_dimension", "lie_rank", "laws",
               "laws_lower", "laws_upper", "exhibited", "proof", "closure_mode",
               "error_bound", "seconds", "certificate", "host", "error")


def csv_table(rows: Sequence[Row]) -> str:
    """One CSV line per case, every field whole (errors included).

    ``status`` is ``certified``, ``bounds``, ``failed`` or ``not run``.

    >>> print(csv_table([(Case(spec="relu:2,2"), None)]), end="")
    model,degree,status,D,lie_dimension,lie_rank,laws,laws_lower,laws_upper,exhibited,proof,closure_mode,error_bound,seconds,certificate,host,error
    "relu:2,2",,not run,,,,,,,,,,,,,,
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for case, rec in rows:
        row = dict.fromkeys(CSV_COLUMNS, "")
        row["model"], row["degree"] = case.label, case.degree
        if rec is None:
            row["status"] = "not run"
        elif rec["status"] == "failed":
            row.update(status="failed", D=rec.get("parameters"), seconds=rec.get("seconds"),
                       host=rec.get("host"),
                       error=f"{rec['error']['kind']}: {rec['error']['message']}")
        else:
            row.update(status=rec["certified"], D=rec["parameters"],
                       lie_dimension=rec["lie_dimension"], lie_rank=rec["lie_rank"],
                       laws=rec["laws"], laws_lower=rec["bounds"][0],
                       laws_upper=rec["bounds"][1], exhibited=rec["exhibited"],
                       proof=rec["proof"], closure_mode=rec.get("closure_mode"),
                       error_bound=rec.get("error_bound"), seconds=rec["seconds"],
                       certificate=rec.get("certificate"), host=rec.get("host"))
        writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
    return buf.getvalue()
