"""Exceptions that carry a one-line message for the user."""


class InputError(ValueError):
    """A user mistake: bad flag, bad value, unreadable or malformed file.

    The message is one line that names the flag or file and the problem; the
    CLI prints it on stderr and exits with a non-zero status.
    """


class ConfigTypeError(InputError, TypeError):
    """A configuration field of the wrong type (a string for a number, a float count).

    Both a TypeError (what Python callers expect) and an InputError (so the commands
    print it as their usual one-line error).
    """
