"""With --lang it, no English: every command rendered in Italian, scanned for English words.

Server text is quoted as it came and is left out of the scan (the replies the world's
servers send, and transcript lines of what was sent and received); so are identifiers
(``mailbox_unknown``), option names, host names and addresses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from prober.cli import main
from prober.output.messages import LANGUAGES, messages
from prober.testing.world import MailHandler, MailHost, ThreadedWorld, banner_then
from tests.test_schema import validate

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
    or also default use must should value option missing invalid such usage
    options arguments commands required help show exit
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
        line = re.sub(r"\S*[@_/\\=]\S*|--\S+|\S+\.test\b|\b[A-Z0-9.-]{2,}\b", " ", line)
        line = re.sub(r"\[[^\]]*\]|\([^)]*:[^)]*\)", " ", line)  # [tags], (rule: ids)
        # Values and identifiers in straight quotes ('text', "address", {value!r}); the
        # Italian prose itself writes its apostrophes as ’.
        line = re.sub(r"'[^'\n]*'|\"[^\"\n]*\"", " ", line)
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


# -- usage errors, every error message, and the help of every command ---------------------

# Option values written as they are typed: identifiers, not words (the Italian prose quotes
# them; the tests above strip quoted values).
USAGE_ERRORS = {
    "not-a-number": ["check", "a@alpha.test", "--timeout", "abc"],
    "not-an-integer": ["check", "a@alpha.test", "--max-mx", "many"],
    "unknown-option": ["check", "--bogus", "a@alpha.test"],
    "missing-argument": ["explain"],
    "needs-a-value": ["check", "a@alpha.test", "--port"],
    "choice": ["check", "a@alpha.test", "--format", "xml"],
    "extra-argument": ["diagnose", "alpha.test", "beta.test"],
    "json-and-format": ["check", "a@alpha.test", "--json", "--format", "csv"],
    "json-many": ["check", "a@alpha.test", "b@alpha.test", "--json"],
    "no-address": ["check"],
    "resume-alone": ["check", "a@alpha.test", "--resume"],
    "dns-server": ["check", "a@alpha.test", "--dns-server", "resolver.test"],
    "proxy": ["check", "a@alpha.test", "--proxy", "http://127.0.0.1:8080"],
    "sender": ["check", "a@alpha.test", "--mail-from", "a<b@client.test"],
    "seconds": ["check", "a@alpha.test", "--deadline", "0"],
    "check-ip": ["preflight", "--check-ip", "nope"],
    "target": ["preflight", "--target", "[::1"],
    "no-such-command": ["job", "nope"],
    "not-taken-here": ["--color", "never", "explain", "550"],
    "missing-list": ["check", "--file", "/nonexistent/list.txt", "--offline"],
    "missing-config": ["check", "a@alpha.test", "--config", "/nonexistent/config.toml"],
    "bounce-file": ["explain", "/nonexistent/bounce.eml"],
    "key-name": ["keys", "create", " "],
}


@pytest.mark.parametrize("name", sorted(USAGE_ERRORS))
def test_usage_errors_are_italian(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    # --lang first: the language is chosen before click reads anything, and a global
    # option before the command name is taken as the command's own.
    with pytest.raises(SystemExit) as exited:
        main(["--lang", "it", *USAGE_ERRORS[name]])
    captured = capsys.readouterr()
    assert exited.value.code == 2, captured
    shown = captured.err
    assert shown.startswith(("Uso: ", "probe: ", "Errore: ")), shown
    assert not re.search(r"\b(Usage|Error|Try)\b", shown), shown
    assert "{" not in re.sub(r"\{[A-Z]+\}", "", shown), shown  # {DOMINIO}: a required argument
    leaks = english_words(shown)
    assert not leaks, "\n".join(leaks) + "\n\n" + shown


def _error_keys() -> set[str]:
    """Every message key an error is raised with in prober (InputError, OutputError,
    OptionError, Phrase), read from the source: the first argument, a string."""
    import ast

    keys: set[str] = set()
    for path in Path(__file__).resolve().parent.parent.joinpath("prober").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name in ("InputError", "OutputError", "OptionError", "Phrase") and node.args:
                first = node.args[0]
                assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                    f"{path}:{node.lineno}: an error's message is a key of messages.toml"
                )
                keys.add(first.value)
    return keys


def test_every_error_is_a_message_in_both_languages() -> None:
    keys = _error_keys()
    assert len(keys) > 100
    missing = sorted(k for k in keys if k not in messages())
    assert not missing, missing


@pytest.mark.parametrize(
    "key", sorted(_error_keys() | {k for k in messages() if k.startswith(("oserror_", "usage_"))})
)
def test_every_error_message_reads_in_italian(key: str) -> None:
    from prober.output.messages import worded

    names = set(re.findall(r"\{(\w+)", messages()[key]["en"]))
    text = worded(key, "it", {name: "valore" for name in names})
    assert text != messages()[key]["en"] or not re.search(r"[a-z]{4}", text), text
    leaks = english_words(text)
    assert not leaks, "\n".join(leaks)


def test_errors_keep_english_for_the_library_and_italian_for_the_user() -> None:
    from prober import ProbeOptions
    from prober.errors import InputError

    with pytest.raises(InputError) as caught:
        ProbeOptions(proxy="http://127.0.0.1:8080")
    assert str(caught.value).startswith("The proxy 'http://127.0.0.1:8080' is not a SOCKS")
    assert caught.value.text("it").startswith("Il proxy 'http://127.0.0.1:8080' non è")
    assert caught.value.key == "error_proxy_scheme"
    try:
        open("/nonexistent/list.txt", "rb")  # noqa: SIM115
    except OSError as exc:
        error = InputError("error_cannot_read", path="/nonexistent/list.txt", why=exc)
    assert str(error) == "Cannot read /nonexistent/list.txt: no such file or directory."
    assert error.text("it") == (
        "Impossibile leggere /nonexistent/list.txt: file o cartella inesistente."
    )


def _command_paths() -> list[list[str]]:
    from prober.cli import command

    group = command()
    paths: list[list[str]] = [[]]
    for name, sub in group.commands.items():
        paths.append([name])
        paths += [[name, inner] for inner in getattr(sub, "commands", {})]
    return paths


def _names_of_commands(text: str) -> str:
    """Command names are identifiers: the command path after "probe", and the first word
    of each line listing subcommands."""

    names = {n for path in _command_paths() for n in path}
    text = re.sub(r"\bprobe(?: [a-z]+)*", " ", text)
    return re.sub(rf"^  ({'|'.join(sorted(names))})  ", "    ", text, flags=re.MULTILINE)


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "probe")
def test_help_of_every_command_is_italian(
    path: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--lang", "it", *path, "-h"])
    shown = capsys.readouterr().out
    assert exited.value.code == 0
    assert shown.startswith("Uso: probe"), shown
    for english in ("Usage", "Options", "Arguments", "Commands", "default:", "required"):
        assert english not in shown, shown
    leaks = english_words(_names_of_commands(shown))
    assert not leaks, "\n".join(leaks) + "\n\n" + shown


def test_every_help_text_has_its_italian_and_none_is_left_over() -> None:
    from prober.cli import command
    from prober.cli_words import _help_table, _key

    group = command()
    texts: set[str] = set()

    def walk(cmd: object) -> None:
        for text in [getattr(cmd, "help", None)] + [p.help for p in cmd.params]:  # type: ignore[attr-defined]
            if text:
                texts.add(_key(text))
        for sub in getattr(cmd, "commands", {}).values():
            walk(sub)

    walk(group)
    texts.add("Show this message and exit.")
    entries = _help_table()["help"]
    known = {_key(e["en"]) for e in entries}
    assert not texts - known, sorted(texts - known)
    assert not known - texts, sorted(known - texts)
    for entry in entries:
        assert set(re.findall(r"\{\w+\}", entry["en"])) == set(
            re.findall(r"\{\w+\}", entry["it"])
        )


# -- which language: --lang anywhere, PROBER_LANG, the configuration file, the locale ---------


@pytest.mark.parametrize(
    ("args", "env", "config", "expected"),
    [
        (["explain", "550"], {}, None, "en"),
        (["explain", "550"], {"LANG": "it_IT.UTF-8"}, None, "it"),
        (["explain", "550"], {"LC_ALL": "C", "LANG": "it_IT.UTF-8"}, None, "en"),
        (["explain", "550"], {"LC_MESSAGES": "it_CH.UTF-8", "LANG": "en_GB"}, None, "it"),
        (["explain", "550"], {"LANG": "de_DE.UTF-8"}, None, "en"),
        (["explain", "550"], {"LANG": "it_IT.UTF-8"}, "en", "en"),
        (["explain", "550"], {}, "it", "it"),
        (["explain", "550"], {"PROBER_LANG": "it"}, "en", "it"),
        (["explain", "550", "--lang", "en"], {"PROBER_LANG": "it"}, "it", "en"),
        (["--lang=it", "explain", "550"], {}, None, "it"),
        (["explain", "550", "--lang", "xx"], {"LANG": "it_IT.UTF-8"}, None, "en"),
    ],
)
def test_the_language_is_chosen_before_parsing(
    args: list[str], env: dict[str, str], config: str | None, expected: str
) -> None:
    from prober.cli_words import choose_language

    assert choose_language(args, env, config) == expected


def test_the_locale_speaks_italian_and_lang_en_wins(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LC_ALL", "LC_MESSAGES", "PROBER_LANG", "PROBER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "it_IT.UTF-8")
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent")
    with pytest.raises(SystemExit) as exited:
        main(["explain", "550"])
    assert exited.value.code == 0
    assert "Cosa fare" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["explain", "550", "--lang", "en"])
    assert "What to do" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["explain", "-h"])
    assert capsys.readouterr().out.startswith("Uso: probe explain")


# (arguments, first line under --lang it, label in Italian, label in English)
EXPLAIN_HEADINGS = [
    (
        ["explain", "550"],
        "550 casella non disponibile [other, permanente]",
        "casella non disponibile",
        "mailbox unavailable",
    ),
    (
        ["explain", "550 5.1.1 user unknown"],
        "550 5.1.1 casella non disponibile [mailbox_unknown, permanente]",
        "casella non disponibile",
        "mailbox unavailable",
    ),
    (
        ["explain", "5.1.1"],
        "5.1.1 Indirizzo della casella di destinazione errato [mailbox_unknown, permanente]",
        "Indirizzo della casella di destinazione errato",
        "Bad destination mailbox address",
    ),
    (
        ["explain", "454 4.7.0 TLS not available due to local problem"],
        "454 4.7.0 errore temporaneo di autenticazione / TLS non disponibile"
        " [server_unavailable, temporaneo]",
        "errore temporaneo di autenticazione / TLS non disponibile",
        "temporary authentication failure / TLS not available",
    ),
]


@pytest.mark.parametrize(
    ("args", "heading", "italian", "english"), EXPLAIN_HEADINGS, ids=lambda v: str(v)[:24]
)
def test_explain_names_the_code_in_italian(
    args: list[str], heading: str, italian: str, english: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The heading names the code in the explanation's language, and so does the JSON.
    with pytest.raises(SystemExit) as exited:
        main(["--lang", "it", *args])
    assert exited.value.code == 0
    assert capsys.readouterr().out.splitlines()[0] == heading
    for lang, label in (("it", italian), ("en", english)):
        with pytest.raises(SystemExit):
            main(["--lang", lang, *args, "--json"])
        data = json.loads(capsys.readouterr().out)
        assert (data["lang"], data["label"]) == (lang, label)
        validate(data)


def test_options_before_the_command(
    world: ThreadedWorld, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # probe --lang it explain 550 runs explain, in Italian.
    with pytest.raises(SystemExit) as exited:
        main(["--lang", "it", "explain", "550"])
    assert exited.value.code == 0
    assert "Cosa fare" in capsys.readouterr().out
    # probe --config FILE check ADDRESS reads the file (which asks for Italian).
    config = tmp_path / "config.toml"
    config.write_text('lang = "it"\nhelo = "probe.client.test"\nmail_from = "c@client.test"\n')
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config), "check", "a@alpha.test", *world_args(world), "-q"])
    assert exited.value.code == 0
    assert "CONSEGNABILE" in capsys.readouterr().out
    # probe --lang it ADDRESS is still probe check.
    with pytest.raises(SystemExit) as exited:
        main(["--lang", "it", "--config", str(config), "a@alpha.test", *world_args(world), "-q"])
    assert exited.value.code == 0
    assert "CONSEGNABILE" in capsys.readouterr().out
    # An option the command does not take is a usage error naming both.
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config), "keys", "list"])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert "probe keys non accetta --config" in err


def test_job_status_speaks_italian() -> None:
    pytest.importorskip("dramatiq")
    from prober.workers.jobs import Status
    from prober.workers.store import WorkerShare

    status = Status(
        job_id="0123abcd",
        status="running",
        total=10,
        done=4,
        waiting=1,
        pending=5,
        verdicts={"deliverable": 3, "undeliverable": 1},
        workers=(WorkerShare("b", 4, 100.0, 102.0),),
        fleet=({"worker": "b", "in_flight": 2, "results_per_second": 2.0},),
        elapsed=2.0,
    )
    english = status.text("en")
    assert "running, 4 of 10 done" in english and "deliverable: 3" in english
    italian = status.text("it")
    assert "in corso, 4 su 10 fatti" in italian and "consegnabile: 3" in italian
    assert english_words(italian) == [], italian
