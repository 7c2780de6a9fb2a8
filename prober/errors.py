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

:class:`InputError` and :class:`OutputError` carry their message as a key of
``data/messages.toml`` and the values that fill it in: ``str(exc)`` is the English
sentence, ``exc.text("it")`` the same in Italian (the command line shows the user's
language). Every :class:`ProberError` has ``text(lang)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ProberError(Exception):
    """Root of every exception raised by prober."""

    def text(self, lang: str) -> str:
        """The message in ``lang`` (the English one when it has no other)."""
        return str(self)


@dataclass(frozen=True)
class Phrase:
    """A piece of an error's message that is itself a message: ``key`` of
    ``data/messages.toml`` with its ``params`` (``Phrase("duration_deadline")``)."""

    key: str
    params: dict[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.text("en")

    def text(self, lang: str) -> str:
        from prober.output.messages import worded

        return worded(self.key, lang, self.params)


class _Worded(ProberError):
    """An error whose message is ``key`` of ``data/messages.toml`` filled in with
    ``params``; a key that is not there is taken as the message itself. A parameter
    that is a :class:`ProberError` or an :class:`OSError` is worded in the same language."""

    def __init__(self, key: str, /, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def __str__(self) -> str:
        return self.text("en")

    def text(self, lang: str) -> str:
        from prober.output.messages import worded  # data, read once; no I/O of the caller's

        return worded(self.key, lang, self.params)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickled (across processes) with its values, not only its key.
        return (_worded, (type(self), self.key, self.params))


def _worded(cls: type[_Worded], key: str, params: dict[str, object]) -> _Worded:
    return cls(key, **params)


class AddressError(ProberError, ValueError):
    """The address cannot be probed; ``reason`` is a full sentence naming the fault."""

    def __init__(self, address: str, reason: str, code: str = "syntax") -> None:
        super().__init__(reason)
        self.address = address
        self.reason = reason
        self.code = code

    def text(self, lang: str) -> str:
        from prober.output.messages import translated

        return translated(self.reason, lang)


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


class InputError(_Worded):
    """Input (an option's value, a list file, a pasted bounce, the configuration file)
    cannot be used; ``key`` and ``params`` name the message (see :class:`_Worded`)."""


class OutputError(_Worded):
    """The results cannot be written; the message is the one line the user sees."""

    @classmethod
    def of(cls, exc: OSError) -> OutputError:
        """``cannot write the results: no space left on device`` and the like."""
        return cls("output_failed", why=exc)


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
