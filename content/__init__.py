"""What is shown on screens, independent of the web: content types, layouts, schedules.

This package imports neither `signage` nor `players`. Messages for people are English
sentences marked with `N_` (or raised as `MediaRejected(...)`); the staff UI translates
them when it shows them.
"""


def N_(message: str) -> str:
    """Marks a message for the translation catalogs; returns it unchanged."""
    return message
