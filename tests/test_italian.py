"""With --lang it, no English: every command rendered in Italian, scanned for English words.

Server text is quoted as it came and is left out of the scan (the replies the world's
servers send, and transcript lines of what was sent and received); so are identifiers
(``mailbox_unknown``), option names, host names and addresses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from prober.cli import main
from prober.output.messages import LANGUAGES, messages
from prober.testing.world import MailHandler, MailHost, ThreadedWorld, banner_then

# Words that are English and never Italian; kept short of words both languages use
# (server, host, mail, record, catch-all, email, ok).
ENGLISH = set(
    """
    the and is has have was were not with this that which from for of to be are does did
    cannot can could should would will what who when there their its only been than then
    into after before found goes first port took matched verified said happened unknown
    mailbox domain address addresses character characters long refused accepted
    deliverable undeliverable risky results result distinct reasons skipped blank lines
    warning permanent temporary nobody sender recipient contains space empty local part
    resolve resolves name names give code codes text reply replies no yes none see try
    again later connection connected opened closed closing seconds second
    preference records mail-from helo-name means meaning
    """.split()
)

# What the loopback servers below (and the demo world's) say, and what the user typed:
# quoted, not prober's words.
SERVER_TEXT = (
    "Recipient address rejected: User unknown in local recipient table",
    "Mailbox full, quota exceeded",
    "Mailbox disabled",
    "Recipient OK",
    "not an address",
    "No such user",
    "Ok",
    "Bye",
    "ESMTP",
    "Go away",
    "Mailbox full",
    "Sender OK",
)

ZONE = {
    "alpha.test.": [("MX", 10, "mx.alpha.test.")],
    "mx.alpha.test.": [("A", "127.0.0.2")],
    "blocked.test.": [("MX", 10, "mx.blocked.test.")],
    "mx.blocked.test.": [("A", "127.0.0.3")],
    "probe.client.test.": [("A", "127.0.0.9")],
}


@pytest.fixture(scope="module")
def world() -> Iterator[ThreadedWorld]:
    handler = MailHandler(
        rcpt={"a@alpha.test": "250 2.1.5 Ok", "full@alpha.test": "452 4.2.2 Mailbox full"},
        default="550 5.1.1 No such user",
    )
    hosts = [
        MailHost("mx.alpha.test", "127.0.0.2", handler),
        MailHost("mx.blocked.test", "127.0.0.3", script=banner_then("554 5.7.1 Go away")),
    ]
    with ThreadedWorld(ZONE, hosts) as running:
        yield running


def world_args(world: ThreadedWorld) -> list[str]:
    host, port = world.dns_address
    return [
        "--dns-server", f"{host}:{port}", "--port", str(world.port), "--allow-private",
        "--timeout", "3", "--connect-timeout", "2",
    ]  # fmt: skip


def say(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit):
        main([*args, "--lang", "it"])
    captured = capsys.readouterr()
    return captured.out + captured.err


def english_words(text: str) -> list[str]:
    found = []
    # Server text is taken out before lines are looked at: it may be wrapped over two.
    flat = " ".join(text.split(" "))
    for quoted in sorted(SERVER_TEXT, key=len, reverse=True):
        words = quoted.split()
        flat = re.sub(r"\s+".join(map(re.escape, words)), " ", flat)
    for line in flat.splitlines():
        stripped = line.strip()
        # A transcript line: "> command" sent, "< reply" received — protocol, not prose.
        if re.match(r"^(\d+\.\d+s\s+)?([A-Z]+\s+)?[<>]\s", stripped):
            continue
        # The heading of an explanation names the code as the RFCs do ("550 5.1.1
        # mailbox unavailable"): the standard's own term, like the code itself.
        line = re.sub(r"^(\s*)(\d{3}( \d\.\d{1,3}\.\d{1,3})?|\d\.\d{1,3}\.\d{1,3}) [^\[]*\[",
                      r"\1[", line)  # fmt: skip
        line = re.sub(r"\S*[@_/\\=]\S*|--\S+|\S+\.test\b|\b[A-Z0-9.-]{2,}\b", " ", line)
        line = re.sub(r"\[[^\]]*\]|\([^)]*:[^)]*\)", " ", line)  # [tags], (rule: ids)
        # "Why we think so" quotes the server's words «…» and names rules by their ids
        # (user-unknown); a wrapped line may cut either.
        line = re.sub(r"«[^»]*»?|^[^«»]*»", " ", line)
        line = re.sub(r"\(?\b[a-z0-9]+(?:-[a-z0-9]+)+-?\b\)?|^\s*[a-z0-9-]*\)", " ", line)
        for word in re.findall(r"[A-Za-z]+(?:'[a-z]+)?", line):
            if word.lower() in ENGLISH:
                found.append(f"{word!r} in: {line.strip()}")
    return found


def test_every_message_has_both_languages_and_the_same_placeholders() -> None:
    for key, texts in messages().items():
        assert set(texts) == set(LANGUAGES), key
        names = [set(re.findall(r"\{(\w+)", texts[lang])) for lang in LANGUAGES]
        assert names[0] == names[1], key


COMMANDS = {
    "check": ["a@alpha.test"],
    "check-verbose": ["b@alpha.test", "-v"],
    "check-quiet": ["full@alpha.test", "-q"],
    "check-blocked": ["eve@blocked.test"],
    "check-syntax": ["not an address"],
    "check-no-at": ["nobody.alpha.test"],
    "check-no-domain": ["x@nowhere.test"],
    "check-local-helo": ["a@alpha.test", "--helo", "localhost.localdomain"],
    "check-list": ["a@alpha.test", "b@alpha.test", "--format", "text"],
    "check-file": ["--file", "LIST", "--format", "text"],
    "check-csv": ["--file", "CSV", "--format", "csv"],
    "explain-code": ["explain", "550"],
    "explain-enhanced": ["explain", "5.1.1"],
    "explain-unknown-code": ["explain", "299"],
    "explain-no-class": ["explain", "799"],
    "explain-text": ["explain", "550 5.7.1 blocked using zen.spamhaus.org"],
    "explain-nothing": ["explain", "hello world"],
    "demo": ["demo"],
    "demo-one": ["demo", "bob@example.test"],
    "diagnose": ["diagnose", "alpha.test", "--no-relay-test", "--deadline", "20"],
    "preflight": ["preflight"],
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_italian_output_has_no_english(
    name: str, world: ThreadedWorld, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = COMMANDS[name]
    if args[0] in ("explain", "demo"):
        shown = say(capsys, *args)
    elif args[0] == "diagnose":
        shown = say(capsys, *args, *world_args(world)[:-2], "--helo", "probe.client.test")
    elif args[0] == "preflight":
        host, port = world.dns_address
        shown = say(
            capsys, "preflight", "--target", f"127.0.0.2:{world.port}",
            "--dns-server", f"{host}:{port}", "--allow-private", "--helo", "probe.client.test",
            "--timeout", "2", "--deadline", "10",
        )  # fmt: skip
    else:
        extra = [] if "--helo" in args else ["--helo", "probe.client.test"]
        if "LIST" in args:
            listing = tmp_path / "list.txt"
            listing.write_bytes(
                b"a@alpha.test\nb@alpha.test\nnot an address\n\ncaf\xe9@alpha.test\n"
                + b"x" * 5000
                + b"\n"
            )
            args = [str(listing) if a == "LIST" else a for a in args]
        if "CSV" in args:
            table = tmp_path / "crm.csv"
            table.write_text("nome;email\nAnna;a@alpha.test\nVuota;\nBob;not an address\n")
            args = [str(table) if a == "CSV" else a for a in args]
        shown = say(capsys, *args, *world_args(world), "--mail-from", "c@client.test", *extra)
    if "--format" in args and args[args.index("--format") + 1] == "csv":
        # A table: the verdict, reason and category columns hold identifiers, as JSON
        # does; the words are the summary and error cells.
        import csv as _csv

        lines = shown.splitlines()
        rows = list(_csv.reader(lines[:4], delimiter=";"))
        keep = [i for i, n in enumerate(rows[0]) if n in ("probe_summary", "probe_error")]
        shown = "\n".join(" ".join(row[i] for i in keep if i < len(row)) for row in rows[1:])
        shown += "\n" + "\n".join(lines[4:])
    assert " ?" not in shown and "?;" not in shown  # no placeholder left unfilled
    leaks = english_words(shown)
    assert not leaks, "\n".join(leaks) + "\n\n" + shown
