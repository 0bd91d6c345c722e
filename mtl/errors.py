"""Errors that reach a user as one line, never as a traceback."""


class MtlError(Exception):
    """An error whose message is complete and meant for the user.

    The CLI prints ``error: <message>`` and exits non-zero; library callers can catch it.
    """


class ConfigError(MtlError):
    """Settings that cannot be read or do not validate."""


class DataError(MtlError):
    """An input data file that is missing or malformed; the message names the file."""


class ServiceError(MtlError):
    """A backing service (Kafka, Redis, Java/Maven tooling) that cannot be started or reached."""


def first_line(exc: BaseException, *, limit: int = 300) -> str:
    """The first line of an exception's message (its type when the message is empty), at most ``limit``."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]
