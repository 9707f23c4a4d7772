"""Exceptions that carry a one-line message for the user."""


class InputError(ValueError):
    """A user mistake: bad flag, bad value, unreadable or malformed file.

    The message is one line that names the flag or file and the problem; the
    CLI prints it on stderr and exits with a non-zero status.
    """
