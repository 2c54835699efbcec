"""The errors a user can fix. The program prints their message, one sentence that says
what to do, instead of a traceback."""


class UserError(Exception):
    """A problem the user can fix; its message says how."""
