"""``probe submit``'s reader: the service's list formats, a record at a time (pure files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from prober.errors import InputError
from prober.workers.reading import open_list


def read(path: Path, kind: str, column: str | None = None, most: int = 100) -> tuple:
    listing = open_list(path, kind, column, most)
    return listing.kind, listing.columns, list(listing.rows)


def test_csv_with_an_address_column_keeps_every_cell(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_text('\ufeffid,Email,note\n1,a@x.test,"one, two"\n\n2, b@x.test ,\n', "utf-8")
    assert read(path, "csv") == (
        "csv", ("id", "Email", "note"),
        [("a@x.test", ["1", "a@x.test", "one, two"]), ("b@x.test", ["2", " b@x.test ", ""])],
    )


def test_csv_named_column_and_headerless_csv(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_text("name,contact\nAl,al@x.test\n")
    assert read(path, "csv", "CONTACT")[2] == [("al@x.test", ["Al", "al@x.test"])]
    with pytest.raises(InputError, match="no column 'phone'; its columns are: name, contact"):
        read(path, "csv", "phone")
    bare = tmp_path / "bare.csv"
    bare.write_text("Al,al@x.test\nBo,bo@x.test\n")
    assert read(bare, "csv") == (
        "csv", ("column1", "column2"),
        [("al@x.test", ["Al", "al@x.test"]), ("bo@x.test", ["Bo", "bo@x.test"])],
    )
    neither = tmp_path / "n.csv"
    neither.write_text("name,phone\nAl,123\n")
    with pytest.raises(InputError, match="named like an address column"):
        read(neither, "csv")


def test_json_lines_and_plain_lines(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    path.write_text('{"email": "a@x.test", "id": 1}\n\n"b@x.test"\n')
    assert read(path, "jsonl") == (
        "jsonl", ("address",),
        [("a@x.test", {"email": "a@x.test", "id": 1}), ("b@x.test", "b@x.test")],
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text('"a@x.test"\n{"name": "no address"}\n')
    with pytest.raises(InputError, match="Line 2 of the JSON lines has no address"):
        read(bad, "jsonl")
    lines = tmp_path / "l.txt"
    lines.write_text("  a@x.test \n\nnot an address\n")
    assert read(lines, "lines")[2] == [
        ("a@x.test", ["a@x.test"]), ("not an address", ["not an address"])
    ]


def test_limits_and_bad_files_are_explained(tmp_path: Path) -> None:
    many = tmp_path / "many.txt"
    many.write_text("".join(f"u{n}@x.test\n" for n in range(11)))
    with pytest.raises(InputError, match="more than 10 rows; split it"):
        read(many, "lines", most=10)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    with pytest.raises(InputError, match="holds no address"):
        read(empty, "lines")
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"a@x.test\n" * 3 + "caf\u00e9@x.test\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8 text"):
        read(latin, "lines")
    with pytest.raises(InputError, match="Cannot read the list"):
        read(tmp_path / "missing.txt", "lines")
