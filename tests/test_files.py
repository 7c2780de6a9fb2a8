"""File safety: the user's files are never lost or damaged.

- ``--output`` naming one of the run's inputs is refused before anything is opened for
  writing, whatever the spelling: ``./list.txt``, ``dir/../list.txt``, an absolute path,
  a symbolic link, a hard link, standard input redirected from the same file, or the
  ``--tls-ca-file``.
- ``--resume`` changes nothing unless the whole file is this program's output: foreign
  lines, a foreign header or a foreign last line without a newline are refused and the
  file is left byte for byte as it was; at most one trailing partial line that is the
  beginning of one of ours is cut.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from prober.cli import main
from prober.errors import InputError
from prober.output.listio import CSV_FIELDS, Entry, check_output_path, load_done

LIST = "alice@example.test\nbob@example.test\n"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    captured = capsys.readouterr()
    code = exit_.value.code
    return (code if isinstance(code, int) else 0), captured.out, captured.err


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# No test here may reach a mail server: the refusals come first. A DNS server on a
# closed loopback port makes sure nothing else would be asked either.
OFFLINE = ["--dns-server", "127.0.0.1:9", "--dns-timeout", "0.2", "--allow-private", "-q"]


@pytest.mark.parametrize(
    "spelling",
    ["./list.txt", "list.txt", "sub/../list.txt", "{abs}", "link.txt", "hard.txt", "{abslink}"],
)
def test_output_that_is_the_input_is_refused_and_the_input_kept(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    spelling: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    listing = tmp_path / "list.txt"
    listing.write_text(LIST)
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.txt").symlink_to("list.txt")
    os.link(listing, tmp_path / "hard.txt")
    output = spelling.format(abs=str(listing), abslink=str(tmp_path / "link.txt"))
    before = digest(listing)
    code, out, err = run(capsys, "--file", "list.txt", "--output", output, *OFFLINE)
    assert code == 2
    assert "same file as the input" in err and "Name another output file" in err
    assert digest(listing) == before and listing.read_text() == LIST


def test_input_through_a_link_and_output_by_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "list.txt").write_text(LIST)
    (tmp_path / "link.txt").symlink_to("list.txt")
    for extra in ([], ["--resume"]):
        code, _out, err = run(
            capsys, "--file", "link.txt", "--output", "list.txt", *extra, *OFFLINE
        )
        assert code == 2 and "same file as the input" in err
    assert (tmp_path / "list.txt").read_text() == LIST


def test_output_that_is_the_ca_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    before = digest(ca)
    code, _out, err = run(
        capsys, "a@example.test", "b@example.test", "--output", "./ca.pem",
        "--tls-ca-file", "ca.pem", *OFFLINE,
    )  # fmt: skip
    assert code == 2 and "same file as the input ca.pem" in err
    assert digest(ca) == before


def test_output_that_is_redirected_standard_input_is_refused(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(LIST)
    with listing.open("rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-m", "prober", "--file", "-", "--output", str(listing), *OFFLINE],
            stdin=stdin, capture_output=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert b"standard input" in done.stderr and b"Traceback" not in done.stderr
    assert listing.read_text() == LIST


def test_distinct_files_pass_the_check(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text(LIST)
    check_output_path(str(tmp_path / "out.jsonl"), [str(tmp_path / "in.txt"), None])
    check_output_path(None, [str(tmp_path / "in.txt")])
    (tmp_path / "out.jsonl").write_text("")
    check_output_path(str(tmp_path / "out.jsonl"), [str(tmp_path / "in.txt")])
    with pytest.raises(InputError):
        check_output_path(str(tmp_path / "in.txt"), [str(tmp_path / "./in.txt")])


# -- --resume on a file that is not ours -------------------------------------------------

OURS = (
    '{"address":"a@x.test","normalized":"a@x.test","verdict":"undeliverable","reason":"syntax"}\n'
)
HEADER = ",".join(CSV_FIELDS) + "\n"
_VALUES = "a@x.test,a@x.test,deliverable,accepted,ok,false,,250,2.1.5,accepted,mx.x.test,0.1,"
ROW = _VALUES + "," * (len(CSV_FIELDS) - 1 - _VALUES.count(",")) + "\n"

FOREIGN = [
    ("jsonl", LIST),  # the address list itself
    ("jsonl", "alice@example.test"),  # one line, no final newline
    ("jsonl", OURS + "alice@example.test"),  # ours, then a foreign partial line
    ("jsonl", OURS + "not json\n" + OURS),
    ("jsonl", OURS + '{"address": "a@x.test"}\n'),  # no verdict: not a result
    ("jsonl", OURS + '{"address":"a@x.test","verdict":"maybe"}\n'),
    ("jsonl", "\ufeffhello\n"),
    ("csv", "email,name\nalice@example.test,Alice\n"),
    ("csv", "email,name\nalice@example.test,Alice"),
    ("csv", HEADER + "alice@example.test\n"),
    ("csv", HEADER + ROW + "x,y,z,w," * 10),  # a partial line with too many fields
    ("csv", "alice@example.test"),
    ("csv", HEADER + ROW.replace("deliverable", "perhaps")),
]


@pytest.mark.parametrize(("fmt", "content"), FOREIGN)
def test_resume_into_a_foreign_file_changes_nothing(
    tmp_path: Path, fmt: str, content: str
) -> None:
    path = tmp_path / f"out.{fmt}"
    path.write_text(content, encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(InputError) as error:
        load_done(str(path), fmt)
    assert "was not changed" in str(error.value)
    assert path.read_bytes() == before


@pytest.mark.parametrize(("fmt", "content"), FOREIGN[:3])
def test_resume_into_a_foreign_file_through_the_command(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fmt: str,
    content: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.txt").write_text(LIST)
    out = tmp_path / f"out.{fmt}"
    out.write_text(content)
    code, _o, err = run(
        capsys, "--file", "in.txt", "--output", out.name, "--format", fmt, "--resume", *OFFLINE
    )
    assert code == 2 and "was not changed" in err
    assert out.read_text() == content


@pytest.mark.parametrize(
    ("fmt", "content", "partial"),
    [
        ("jsonl", OURS * 3, '{"address":"b@x.test","verd'),
        ("jsonl", "", '{"address":'),
        ("csv", HEADER + ROW, "b@x.test,b@x.test,deliv"),
        ("csv", "", HEADER[:20]),
    ],
)
def test_resume_cuts_one_partial_line_of_ours_and_only_it(
    tmp_path: Path, fmt: str, content: str, partial: str
) -> None:
    path = tmp_path / f"out.{fmt}"
    path.write_text(content + partial)
    done = load_done(str(path), fmt)
    assert path.read_text() == content
    assert len(done) == content.count("\n") - (1 if fmt == "csv" and content else 0)


def test_resume_leaves_a_whole_file_of_ours_untouched(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text(OURS * 2)
    done = load_done(str(path), "jsonl")
    assert path.read_text() == OURS * 2
    entry = Entry("a@x.test")
    assert done.take(entry) == "undeliverable" and done.take(entry) == "undeliverable"
    assert done.take(entry) is None  # past what was written: to be probed


# -- a full disk ---------------------------------------------------------------------------

FULL_DISK_RUNS = [
    ["explain", "550"],
    ["explain", "--json", "5.1.1"],
    ["not-an-address"],
    ["not-an-address", "--json"],
    ["a", "b", "--format", "csv", "-q"],
    ["a", "b", "--format", "jsonl", "-q"],
    ["a", "b", "--format", "text", "-q"],
    ["a", "b", "--format", "csv", "--output", "/dev/full", "-q"],
    ["a", "b", "--format", "jsonl", "--output", "/dev/full", "-q"],
    ["a", "b", "--format", "csv", "--output", "/dev/full", "--resume", "-q"],
    ["demo", "--json"],
]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("args", FULL_DISK_RUNS, ids=" ".join)
def test_a_full_disk_is_one_line_and_status_2(args: list[str]) -> None:
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [sys.executable, "-m", "prober", *args],
            stdout=full, stderr=subprocess.PIPE, timeout=60,
        )  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert err == "probe: cannot write the results: no space left on device\n", err


def test_a_small_filesystem_filling_up(tmp_path: Path) -> None:
    """A real filesystem that fills up half-way through a list: every line written is
    whole, the run says why it stopped, and --resume on the same file is refused only if
    the file is not ours (it is)."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        listing = tmp_path / "list.txt"
        listing.write_text("".join(f"not-an-address-{i}\n" for i in range(400)))
        out = mount / "out.csv"
        done = subprocess.run(
            [sys.executable, "-m", "prober", "--file", str(listing), "--output", str(out),
             "--format", "csv", "-q"],
            capture_output=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 2
        assert done.stderr.decode() == (
            "probe: cannot write the results: no space left on device\n"
        )
        load_done(str(out), "csv")  # what was written is ours, whole lines or one partial
        lines = out.read_text().splitlines()
        assert lines[0] == ",".join(CSV_FIELDS) and 1 < len(lines) < 401
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/full", "/dev/null"])
def test_a_device_is_not_a_list(device: str, capsys: pytest.CaptureFixture[str]) -> None:
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    code, _out, err = run(capsys, "--file", device, *OFFLINE)
    assert code == 2 and "is a device" in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("args", [["explain", "550"], ["a", "b", "-q"], ["x@y", "--port", "x"]])
def test_even_stderr_full_gives_status_2(args: list[str]) -> None:
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [sys.executable, "-m", "prober", *args], stdout=full, stderr=full, timeout=60
        )
    assert done.returncode == 2


def test_a_terminal_or_pipe_as_output_is_not_taken_for_the_input() -> None:
    # stdin and stdout on the same terminal are one device, but writing destroys nothing.
    import pty

    master, slave = pty.openpty()
    try:
        with open(slave, "rb", closefd=False) as stdin:
            check_output_path(os.ttyname(slave), ["-"], stdin=stdin)  # type: ignore[arg-type]
        check_output_path("/dev/null", ["/dev/null"])
    finally:
        os.close(master)
        os.close(slave)
