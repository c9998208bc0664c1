"""Helpers shared by the test modules: the command line run in-process."""

from __future__ import annotations

from exactcl.cli import main


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
