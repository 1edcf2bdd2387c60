"""Errors that reach users as one clear line (the CLIs print them without a traceback)."""
from __future__ import annotations


def brief(error: BaseException, limit: int = 120) -> str:
    """The first line of an exception's message (or of its OS error text), for a one-line error."""
    text = (getattr(error, "strerror", None) or str(error)).strip()
    return text.splitlines()[0][:limit] if text else type(error).__name__


class UserError(Exception):
    """A problem with the user's input, files or environment, explained in its message."""


class CheckpointError(UserError):
    """A checkpoint is missing, unreadable, of the wrong kind or of the wrong shape."""


class LiftError(UserError):
    """2D keypoints cannot be lifted as given (wrong shape, no valid frame, bad options)."""
