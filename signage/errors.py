"""Errors that carry their HTTP status and a message a person can act on.

Domain code raises these; one handler in `signage.app` renders each as a page, an htmx
fragment or JSON, so views never build error responses by hand.
"""

from __future__ import annotations

from signage.i18n import N_


class HTTPError(Exception):
    status_code = 400
    # The message is an English msgid; the handler translates it into the user's language.
    default_message = N_("The request could not be processed.")

    def __init__(self, message: str | None = None, **params: object) -> None:
        self.message = message or self.default_message
        self.params = params
        super().__init__(self.message % params if params else self.message)


class BadRequest(HTTPError):
    status_code = 400
    default_message = N_("The request could not be processed.")


class Unauthorized(HTTPError):
    status_code = 401
    default_message = N_("Please log in.")


class Forbidden(HTTPError):
    status_code = 403
    default_message = N_("You do not have permission to do this.")


class CSRFFailed(Forbidden):
    default_message = N_(
        "This form has expired or did not come from this site. Reload the page and try again."
    )


class NotFound(HTTPError):
    status_code = 404
    default_message = N_("This page does not exist.")


class MethodNotAllowed(HTTPError):
    status_code = 405
    default_message = N_("This address does not accept that kind of request.")


class Conflict(HTTPError):
    status_code = 409
    default_message = N_("This conflicts with something that already exists.")


class PayloadTooLarge(HTTPError):
    status_code = 413
    default_message = N_("The request is too large.")


class ValidationFailed(HTTPError):
    """A form had invalid fields; `errors` maps each field name to its message."""

    status_code = 422
    default_message = N_("Some fields need attention.")

    def __init__(self, errors: dict[str, str], message: str | None = None) -> None:
        super().__init__(message)
        self.errors = errors


class TooManyRequests(HTTPError):
    status_code = 429
    default_message = N_("Too many attempts. Wait a few minutes and try again.")


class DatabaseUnavailable(HTTPError):
    """The database cannot be reached just now; nothing of the request was kept."""

    status_code = 503
    default_message = N_(
        "The database cannot be reached just now, so nothing was saved. Try again in a minute."
    )
