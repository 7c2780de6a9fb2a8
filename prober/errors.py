"""The exceptions prober raises.

Every exception derives from :class:`ProberError`::

    ProberError
    ├── AddressError          the address cannot be probed (syntax, length, forbidden characters)
    ├── GuardError            a destination is not allowed (private, loopback, reserved network)
    ├── CatalogueError        the reply-code catalogue is malformed (a packaging bug)
    ├── CommandError          a command line would carry forbidden characters (injection guard)
    ├── InputError            a list file or pasted text cannot be read
    ├── OutputError           the results cannot be written (a full disk, a closed pipe)
    └── NetworkError          a connection failed or a server broke the protocol (kind says how)

Network and protocol failures during a probe are not raised to the caller: they are
recorded as steps of the transcript and explained, because "the server reset the
connection" is a result, not a crash.
"""

from __future__ import annotations


class ProberError(Exception):
    """Root of every exception raised by prober."""


class AddressError(ProberError, ValueError):
    """The address cannot be probed; ``reason`` is a full sentence naming the fault."""

    def __init__(self, address: str, reason: str, code: str = "syntax") -> None:
        super().__init__(reason)
        self.address = address
        self.reason = reason
        self.code = code


class GuardError(ProberError):
    """A destination address is refused by the network guard."""

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(f"{target}: {reason}")
        self.target = target
        self.reason = reason


class CatalogueError(ProberError):
    """The packaged reply-code catalogue is inconsistent."""


class CommandError(ProberError, ValueError):
    """A command line would carry characters that could smuggle another command."""


class InputError(ProberError):
    """Input (a list file, a pasted bounce) cannot be read."""


class OutputError(ProberError):
    """The results cannot be written; the message is the one line the user sees."""

    @classmethod
    def of(cls, exc: OSError) -> OutputError:
        """``cannot write the results: no space left on device`` and the like."""
        why = exc.strerror or str(exc) or type(exc).__name__
        return cls(f"cannot write the results: {why[:1].lower()}{why[1:]}")


class NetworkError(ProberError):
    """A connection failed or the server misbehaved; ``kind`` says how.

    Raised inside the SMTP edge and turned into a transcript step there; callers of
    :func:`prober.probe` see it only as an explained result.

    kinds: ``refused`` (111), ``unreachable`` (101), ``connect_timeout`` (101),
    ``timeout`` (no reply in time), ``closed`` (the server hung up), ``protocol`` (not
    SMTP), ``tls`` (the TLS handshake failed), ``proxy`` (the proxy refused or failed).
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
