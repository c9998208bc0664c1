"""Files and paths: where exactcl writes and what it reads.

Output paths are checked before any work by one function
(:func:`exactcl.certificates.files.check_output`), used by ``certify``, ``plot``
and ``sweep --out``; the atomic write never renames over anything but a
regular file. Devices are tested on copies made with ``mknod`` in a
temporary folder (never on the real ``/dev/null``: before these checks,
running as root replaced it).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import exactcl
from exactcl.certificates import files
from exactcl.certificates.files import atomic_path, write_atomic
from exactcl.errors import InputError
from exactcl.interfaces.cli import main
from tests.helpers import assert_refused, run_cli

# --------------------------------------------------------------------------- helpers




def _can_create_in(folder: Path) -> bool:
    try:
        (folder / "probe").write_text("")
    except OSError:
        return False
    (folder / "probe").unlink()
    return True


@pytest.fixture
def readonly_folder(tmp_path):
    """A folder where no file can be created: a mode-555 folder, or, for
    root (whom permission bits do not stop), /proc."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if not _can_create_in(folder):
            yield folder
        elif os.path.isdir("/proc") and not _can_create_in(Path("/proc")):
            yield Path("/proc")
        else:
            pytest.skip("no folder here refuses new files")
    finally:
        folder.chmod(0o755)


@pytest.fixture(params=["fifo", "character device"])
def special(request, tmp_path):
    """A named pipe, or a copy of /dev/null made with mknod, in tmp_path."""
    path = tmp_path / ("pipe" if request.param == "fifo" else "null")
    if request.param == "fifo":
        os.mkfifo(path)
    else:
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        except (PermissionError, AttributeError):
            pytest.skip("mknod is not permitted here")
    return path


def _kind(path: Path) -> str:
    mode = os.stat(path).st_mode
    return "fifo" if stat.S_ISFIFO(mode) else "chr" if stat.S_ISCHR(mode) else "other"


# --------------------------------------------------------------------------- 1. devices


def test_atomic_write_never_replaces_a_device_or_a_pipe(special):
    before = _kind(special)
    with pytest.raises(InputError, match="not a regular file"):
        write_atomic(special, "text")
    assert _kind(special) == before
    assert sorted(p.name for p in special.parent.iterdir()) == [special.name]  # no temporary


def test_atomic_path_checks_again_before_the_rename(tmp_path):
    target = tmp_path / "c.json"
    with pytest.raises(InputError, match="named pipe"):
        with atomic_path(target) as tmp:
            Path(tmp).write_text("new")
            os.mkfifo(target)  # appeared while the file was being written
    assert stat.S_ISFIFO(os.stat(target).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]


def test_cli_certify_refuses_a_device_before_any_work(capsys, special, monkeypatch):
    import exactcl.engine.counting
    monkeypatch.setattr(exactcl.engine.counting, "grow", None)  # any count would fail loudly
    before = _kind(special)
    assert_refused(capsys, ["certify", "linear:2,2", "-o", str(special)],
                   ["'--output'", str(special), "regular file"])
    assert _kind(special) == before


def test_api_certify_refuses_a_device_before_the_count(special, monkeypatch):
    import exactcl.certificates.build
    monkeypatch.setattr(exactcl.certificates.build, "count", None)
    with pytest.raises(InputError, match="'path'"):
        exactcl.certify(exactcl.product(2), special)


# --------------------------------------------------------------------------- 2. bad paths


def _bad_file_outputs(tmp_path: Path) -> list[tuple[str, str]]:
    (tmp_path / "dir").mkdir(exist_ok=True)
    (tmp_path / "file").write_text("")
    return [("", "''"), (str(tmp_path / "dir"), "folder"), (str(tmp_path / "dir") + "/", "folder"),
            (str(tmp_path / "file" / "x.json"), "existing folder"),
            (str(tmp_path / "missing" / "x.json"), "existing folder")]


def test_check_output_refuses_every_bad_file_path(tmp_path):
    for path, needle in _bad_file_outputs(tmp_path):
        with pytest.raises(InputError) as info:
            files.check_output(path, "-o")
        assert "'-o'" in str(info.value) and needle in str(info.value), (path, info.value)
    assert files.check_output(str(tmp_path / "new.json"), "-o") == str(tmp_path / "new.json")
    assert files.check_output(str(tmp_path / "file"), "-o") == str(tmp_path / "file")


@pytest.mark.parametrize("index", range(5), ids=["empty", "dir", "dir/", "under-a-file",
                                                  "missing-folder"])
def test_cli_certify_refuses_a_bad_output_before_any_work(capsys, tmp_path, index, monkeypatch):
    import exactcl.engine.counting
    monkeypatch.setattr(exactcl.engine.counting, "grow", None)
    path, needle = _bad_file_outputs(tmp_path)[index]
    assert_refused(capsys, ["certify", "linear:2,2", "-o", path], ["'--output'", needle])
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == []


def test_cli_certify_refuses_a_folder_it_cannot_write(capsys, readonly_folder):
    target = readonly_folder / "c.json"
    assert_refused(capsys, ["certify", "linear:2,2", "-o", str(target)],
                   ["'--output'", str(target), "can write"])


@pytest.mark.parametrize("name", ["", "dir", "dir/", "pipe.png", "ro"])
def test_cli_plot_refuses_a_bad_output(capsys, tmp_path, name, readonly_folder):
    pytest.importorskip("matplotlib")
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "pipe.png")
    path = {"": "", "ro": str(readonly_folder / "x.png")}.get(name, str(tmp_path / name))
    assert_refused(capsys, ["plot", "growth", "linear:2,2", "-o", path], ["'-o'"])
    assert stat.S_ISFIFO(os.stat(tmp_path / "pipe.png").st_mode)


def test_plots_check_output_is_the_shared_check(tmp_path):
    plots = pytest.importorskip("exactcl.interfaces.plots")
    os.mkfifo(tmp_path / "p.svg")
    with pytest.raises(InputError, match="'-o'.*named pipe"):
        plots.check_output(str(tmp_path / "p.svg"))
    assert plots.check_output(str(tmp_path / "new.png")) == ".png"


def test_cli_sweep_refuses_an_empty_out(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_refused(capsys, ["sweep", "--spec", "product:2", "--out", ""], ["'--out'", "''"])
    assert_refused(capsys, ["sweep", "--spec", "product:2", "--out", "", "--list"],
                   ["'--out'", "''"])
    assert list(tmp_path.iterdir()) == []  # nothing written in the working folder


def test_cli_sweep_refuses_a_device_and_a_folder_it_cannot_write(capsys, special,
                                                                  readonly_folder):
    assert_refused(capsys, ["sweep", "--spec", "product:2", "--out", str(special)],
                   ["'--out'", str(special)])
    target = readonly_folder / "s"
    assert_refused(capsys, ["sweep", "--spec", "product:2", "--out", str(target)],
                   ["'--out'", str(target), "can write"])


def test_api_sweep_refuses_an_empty_out(tmp_path, monkeypatch):
    from exactcl.workflows.grid import Case
    from exactcl.workflows.sweep import sweep
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="'--out'"):
        sweep([Case(spec="product:2")], "", progress=False)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- 3. two grids


def _table_models(folder: Path) -> list[str]:
    import csv
    with open(folder / "results.csv", newline="", encoding="utf-8") as fh:
        return [row["model"] for row in csv.DictReader(fh)]


def test_a_second_grid_is_merged_and_every_table_lists_the_folder(tmp_path):
    import json

    from exactcl.workflows.grid import Case
    from exactcl.workflows.sweep import folder_certificates, sweep
    out = tmp_path / "s"
    p2, p3, p4 = (Case(spec=f"product:{d}") for d in (2, 3, 4))
    first = sweep([p2, p3], out, jobs=1, progress=False)
    assert first.other_grid == 0 and first.merge_note() is None
    second = sweep([p4, p3], out, jobs=1, progress=False, seed=1)  # other options too
    assert second.other_grid == 1 and "1 case was already" in second.merge_note()
    assert (second.ran, second.resumed) == (2, 0)  # p3 ran again with the new seed
    assert [c.id for c in second.cases] == [p2.id, p3.id, p4.id]
    assert second.ok
    held = sorted(p.name for p in (out / "cases").iterdir())
    assert held == sorted(f"{c.id}.json" for c in (p2, p3, p4))
    manifest = json.loads((out / "sweep.json").read_text())
    assert [Case.from_dict(d).id for d in manifest["cases"]] == [p2.id, p3.id, p4.id]
    assert _table_models(out) == ["product:2", "product:3", "product:4"]
    markdown = (out / "results.md").read_text()
    assert all(f"| product:{d} |" in markdown for d in (2, 3, 4))
    assert json.loads((out / "cases" / f"{p2.id}.json").read_text())["options"]["seed"] == 0
    found, notes = folder_certificates(out)
    assert len(found) == 3 and notes == []
    # the same second grid again: nothing runs, the table still lists the folder
    again = sweep([p4, p3], out, jobs=1, progress=False, seed=1)
    assert (again.ran, again.other_grid) == (0, 1)
    assert _table_models(out) == ["product:2", "product:3", "product:4"]


def test_cli_says_how_many_cases_came_from_another_grid(capsys, tmp_path):
    out = str(tmp_path / "s")
    assert main(["sweep", "--spec", "product:2", "--spec", "product:3", "--out", out, "-q",
                 "-j", "1"]) == 0
    capsys.readouterr()
    assert main(["sweep", "--spec", "product:4", "--out", out, "-q", "-j", "1"]) == 0
    text = capsys.readouterr().out
    assert "2 cases were already in" in text and "another grid" in text
    assert "3 of 3 cases done" in text
    assert main(["sweep", "--spec", "product:5", "--out", out, "--list"]) == 0
    assert "3 more cases in the folder from another grid" in capsys.readouterr().out
    assert main(["verify", out, "-q"]) == 0
    assert "3 certificates: 3 verified" in capsys.readouterr().out


def test_sweep_help_describes_the_merge(capsys):
    rc, out, _ = run_cli(capsys, "sweep", "--help")
    assert rc == 0 and "another grid" in out


# --------------------------------------------------------------------------- 4. pipes


@pytest.mark.parametrize("argv", [
    ["count", "linear:2,2,2", "--json"],
    ["laws", "--phi", "u*v**2", "--degree", "12"],
    ["sweep", "--spec", "product:2", "--spec", "product:3", "--list", "--out", "none"],
], ids=["count-json", "laws", "sweep-list"])
def test_a_closed_pipe_ends_the_command_quietly(argv, tmp_path):
    """`exactcl ... | head`: the reader is gone before anything is printed."""
    proc = subprocess.Popen([sys.executable, "-m", "exactcl", *argv], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # as head does after its lines
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert err.decode() == ""  # no "internal error", no "Exception ignored"
    assert proc.returncode == 141


# --------------------------------------------------------------------------- 5. verify


def test_verify_refuses_a_pipe_or_a_device_without_blocking(special, tmp_path):
    """A named pipe with no writer used to block verify forever."""
    proc = subprocess.run([sys.executable, "-m", "exactcl", "verify", str(special)],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 3, proc
    assert str(special) in proc.stdout + proc.stderr
    assert "not a regular file" in proc.stdout + proc.stderr
    report = exactcl.verify(special)
    assert report.status == "unreadable" and "not a regular file" in report.summary


def test_verify_of_a_folder_path_given_as_a_file_is_unreadable(tmp_path):
    assert exactcl.verify(tmp_path).status == "unreadable"


# --------------------------------------------------------------------------- 9. dask extra

WITHOUT_DASK = """
import sys
sys.modules["distributed"] = None   # as if the dask extra were not installed
from exactcl.interfaces.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("engine", [["--engine", "dask"], ["--scheduler", "tcp://127.0.0.1:9"]],
                         ids=["engine", "scheduler"])
def test_cli_dask_without_the_extra_is_refused_and_leaves_nothing(tmp_path, engine):
    out = tmp_path / "s"
    proc = subprocess.run([sys.executable, "-c", WITHOUT_DASK, "sweep", "--spec", "product:2",
                           "--out", str(out), *engine], capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    assert proc.stderr.startswith("exactcl: error: ") and proc.stderr.count("\n") == 1
    assert f"'{engine[0]}'" in proc.stderr and "exactcl[dask]" in proc.stderr
    assert not out.exists()


def test_api_dask_without_the_extra_leaves_no_folder(tmp_path):
    code = ("import sys\nsys.modules['distributed'] = None\n"
            "from exactcl.workflows.grid import Case\nfrom exactcl.workflows.sweep import sweep\n"
            "try:\n    sweep([Case(spec='product:2')], sys.argv[1], engine='dask', "
            "progress=False)\nexcept Exception as err:\n    print(type(err).__name__)\n")
    out = tmp_path / "s"
    proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.stdout.strip() == "UnsupportedError", proc
    assert not out.exists()
