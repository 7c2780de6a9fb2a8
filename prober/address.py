"""Parse and normalise the address to probe (pure; no network).

email-validator does the RFC 5322/6531 syntax and IDNA work; this module adds what a
prober needs on top: octet limits from RFC 5321 §4.5.3.1, a hard refusal of anything that
could break out of an SMTP command line, and the domain in A-label form for DNS.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from dataclasses import dataclass

import email_validator

from prober.errors import AddressError
from prober.smtp.reply import printable

MAX_LOCAL_OCTETS = 64  # RFC 5321 §4.5.3.1.1
MAX_ADDRESS_OCTETS = 254  # RFC 3696 errata 1690: a path of 256 octets less the angle brackets
# Input far beyond any legal address is refused without parsing, so a pasted megabyte
# costs nothing.
_MAX_INPUT = 1024


@dataclass(frozen=True, slots=True)
class Address:
    """A probe-able address."""

    original: str
    local_part: str  # as normalised (Unicode NFC)
    domain: str  # Unicode form, lower-cased
    ascii_domain: str  # A-label form for DNS and SMTP; "[192.0.2.1]" for a literal
    literal: str | None  # the IP of a domain literal (user@[192.0.2.1]), else None
    smtputf8: bool  # the local part is not ASCII: the server must offer SMTPUTF8
    # Sentences about lookalike characters: the address is probed, but a person should
    # know that it may imitate another one (mixed scripts, styled letters).
    warnings: tuple[str, ...] = ()

    @property
    def normalized(self) -> str:
        return f"{self.local_part}@{self.domain}"

    @property
    def smtp_path(self) -> str:
        """The form used inside ``RCPT TO:<…>``."""
        return f"{self.local_part}@{self.ascii_domain}"


def _describe(char: str) -> str:
    names = {"\r": "a carriage return (CR)", "\n": "a line feed (LF)", "\x00": "a NUL byte"}
    if char in names:
        return names[char]
    return f"the control character U+{ord(char):04X}"


def parse_address(text: str) -> Address:
    """Validate ``text`` as an address prober may probe, or raise :class:`AddressError`.

    The reason in the error is a full sentence naming the part at fault.
    """
    if len(text) > _MAX_INPUT:
        raise AddressError(
            text[:80],
            f"The input is {len(text)} characters long; no address "
            f"can be longer than {MAX_ADDRESS_OCTETS} octets.",
        )
    address = text.strip(" \t")
    if not address:
        raise AddressError(text, "No address was given.")
    # Printable ASCII holds no surrogate, control or line separator: most lists are all
    # such addresses, and the character-by-character check below is the slow path.
    plain = address.isascii() and address.isprintable()
    for char in "" if plain else address:
        if unicodedata.category(char) == "Cs":
            # Python holds undecodable input bytes (a command line that was not UTF-8) as
            # lone surrogates; they are not characters and cannot be encoded.
            raise AddressError(
                printable(text).encode("utf-8", "backslashreplace").decode(),
                f"The address contains U+{ord(char):04X}, half of a UTF-16 surrogate pair and "
                "not a character: the input was probably not valid UTF-8.",
            )
        if unicodedata.category(char) == "Cc" or char in "\u2028\u2029":
            raise AddressError(
                text,
                f"The address contains {_describe(char)}, which could end an SMTP command "
                "line early and inject another; it is refused.",
            )
    for char, name in (("<", "'<'"), (">", "'>'"), (" ", "a space")):
        if char in address:
            raise AddressError(
                text,
                f"The address contains {name}; it cannot be placed in an SMTP command "
                "safely, so it is refused.",
            )
    if "@" not in address:
        raise AddressError(text, "The address has no '@': it needs a local part and a domain.")
    local, _, domain = address.rpartition("@")
    if not local:
        raise AddressError(text, "The local part (before the '@') is empty.")
    if not domain:
        raise AddressError(text, "The domain (after the '@') is empty.")
    if len(local.encode("utf-8")) > MAX_LOCAL_OCTETS:
        over = len(local.encode("utf-8")) - MAX_LOCAL_OCTETS
        raise AddressError(
            text,
            f"The local part is {len(local.encode('utf-8'))} octets long, {over} more than "
            f"the {MAX_LOCAL_OCTETS} that RFC 5321 allows.",
        )
    if len(address.encode("utf-8")) > MAX_ADDRESS_OCTETS:
        raise AddressError(
            text,
            f"The address is {len(address.encode('utf-8'))} octets long; the limit is "
            f"{MAX_ADDRESS_OCTETS}.",
        )
    try:
        valid = email_validator.validate_email(
            address,
            check_deliverability=False,
            allow_smtputf8=True,
            allow_quoted_local=True,
            allow_domain_literal=True,
            allow_display_name=False,
            test_environment=True,  # accept the reserved *.test names our loopback world uses
        )
    except email_validator.EmailNotValidError as exc:
        raise AddressError(text, _sentence(printable(str(exc)))) from None

    literal: str | None = None
    ip = getattr(valid, "domain_address", None)
    if ip is not None:
        literal = str(ip)
        ascii_domain = f"[IPv6:{ip}]" if isinstance(ip, ipaddress.IPv6Address) else f"[{ip}]"
        domain = ascii_domain
    else:
        domain = valid.domain.lower()
        ascii_domain = (valid.ascii_domain or valid.domain).lower()
    local_part = valid.local_part
    return Address(
        original=text,
        local_part=local_part,
        domain=domain,
        ascii_domain=ascii_domain,
        literal=literal,
        smtputf8=not local_part.isascii(),
        warnings=lookalike_warnings(
            (local_part, "" if literal is not None else domain),
            (local, "" if literal is not None else address.rpartition("@")[2]),
        ),
    )


def _sentence(message: str) -> str:
    message = message.strip()
    if message and message[-1] not in ".!?":
        message += "."
    return message


# Scripts whose letters are easily mistaken for one another's ("а" and "a", "ο" and "o"),
# as named in the Unicode character names. Mixing other scripts (Latin with Han, as in
# some Japanese addresses) does not make lookalikes, so it is not flagged.
_CONFUSABLE_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "GEORGIAN", "CHEROKEE", "COPTIC")


def _script(char: str) -> str | None:
    """The confusable script of a letter (read from its plain form), else None."""
    plain = unicodedata.normalize("NFKC", char)[:1]
    if not plain or not unicodedata.category(plain).startswith("L"):
        return None
    words = unicodedata.name(plain, "").split()
    return next((word for word in words if word in _CONFUSABLE_SCRIPTS), None)


def _mixed(part: str) -> str | None:
    """A clause naming the scripts mixed in ``part`` and an example letter, or None."""
    seen: dict[str, str] = {}
    for char in part:
        script = _script(char)
        if script is not None and script not in seen:
            seen[script] = char
    if len(seen) < 2:
        return None
    names = [script.title() for script in seen]
    minority = next(c for script, c in seen.items() if script != "LATIN")
    return (
        f"mixes {' and '.join(names)} letters (for example {minority!r}, "
        f"{unicodedata.name(minority, '?')})"
    )


def lookalike_warnings(normalized: tuple[str, str], typed: tuple[str, str]) -> tuple[str, ...]:
    """Warnings for characters that make an address look like another one.

    ``normalized`` and ``typed`` are (local part, domain) after and before validation:
    scripts are read from the Unicode form (an A-label domain hides them), styled letters
    from what was typed (IDNA mapping has already replaced them in the domain). Such an
    address is legal and may be real, so it is probed, not refused; the warning lets a
    person see that "pаypal" is not "paypal" before trusting the answer.
    """
    found: list[str] = []
    for what, part, as_typed in zip(("local part", "domain"), normalized, typed, strict=True):
        if part.isascii() and as_typed.isascii():
            continue  # ASCII letters are all Latin and none is a styled form: nothing to see
        for label in part.split(".") if what == "domain" else [part]:
            mixed = _mixed(label)
            if mixed is not None:
                found.append(
                    f"The {what} {mixed}; letters of different scripts can look identical, "
                    "so this address may imitate another one."
                )
                break
        styled = [c for c in as_typed if unicodedata.normalize("NFKC", c) != c]
        if styled:
            char = styled[0]
            plain = unicodedata.normalize("NFKC", char)
            found.append(
                f"The {what} contains {char!r} ({unicodedata.name(char, '?')}), a styled form "
                f"of {plain!r}; it looks like an ordinary letter but is a different character."
            )
    return tuple(found)
