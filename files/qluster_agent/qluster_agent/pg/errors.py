"""The one exception type the controller raises; its message is one line for the operator."""


class PgError(RuntimeError):
    pass
