"""Reading untrusted XML (CAP, JMA, EDXL-DE) safely, and the one refusal error.

defusedxml parses with the standard library's expat but refuses a DTD, entity
declarations (so no entity expansion) and external references. Before parsing, a document
is refused when it is over the size limit, declares an encoding other than UTF-8, or is not
UTF-8 at all.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import fromstring

# The default size limit of one document (CAP alerts and JMA reports are a few kilobytes;
# a large JMA earthquake report with every municipality stays well below this).
MAX_BYTES = 512 * 1024

_DECLARATION = re.compile(rb"^\s*<\?xml\s[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")


class Refused(Exception):
    """A document that is not accepted; `field` names what is wrong ("document" for the
    XML itself, else the element, e.g. "info/urgency")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse(data: bytes, *, max_bytes: int = MAX_BYTES) -> Element:
    """The root element of `data`, or `Refused`."""
    if len(data) > max_bytes:
        raise Refused("document", f"the document is over the size limit of {max_bytes} bytes")
    if not data.strip():
        raise Refused("document", "the document is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise Refused("encoding", "the document is UTF-16; only UTF-8 is accepted")
    body = data.removeprefix(b"\xef\xbb\xbf")
    declared = _DECLARATION.match(body)
    if declared and declared.group(1).decode("ascii").lower().replace("_", "-") not in (
        "utf-8",
        "utf8",
    ):
        raise Refused(
            "encoding",
            f"the document declares the encoding {declared.group(1).decode('ascii')}; "
            "only UTF-8 is accepted",
        )
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("encoding", "the document is not valid UTF-8") from None
    try:
        return fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DTDForbidden:
        raise Refused("document", "a DTD (<!DOCTYPE>) is not allowed") from None
    except EntitiesForbidden:
        raise Refused("document", "entity declarations are not allowed") from None
    except ExternalReferenceForbidden:
        raise Refused("document", "external references are not allowed") from None
    except ParseError as exc:
        raise Refused("document", f"the document is not well-formed XML ({exc})") from None


def local(tag: str) -> tuple[str, str]:
    """("namespace", "name") of an ElementTree tag such as "{urn:x}alert"."""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag
