"""The one exception type the user sees: a one-line message saying what is wrong and what to do."""


class SuperResError(ValueError):
    """Bad input or a refused operation. The CLI prints it on one line and exits with status 2."""
