"""Elasticsearch refusing who we are (401, or 403 from its security) or us refusing its certificate: messages that
say what is wrong for a person to fix, naming the kind of credential and the certificate problem, never a secret.

Neither is transient: one-shot commands stop at once with the message, the worker logs it and retries slowly (a
rotated Secret fixes it), the service answers 503 and logs it. Pure: no I/O.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from typing import Any, Final

import aiohttp
import elastic_transport
import elasticsearch

from common.elasticsearch_clients import NO_CREDENTIAL

# Elasticsearch's 403 reason: "action [indices:admin/create] is unauthorized for API key id [..] of user [..] on
# indices [..], this action is granted by the index privileges [create_index,manage,all]". The action and the
# privileges help; the ids and the user name stay out of our messages.
_ACTION: Final = re.compile(r"action \[([^\]]+)\]")
_GRANTED_BY: Final = re.compile(r"granted by the (?:index |cluster )?privileges \[([^\]]+)\]")


FINGERPRINT_MISMATCH: Final = "the certificate's SHA-256 fingerprint is not ES_SSL_FINGERPRINT"


class CredentialRefused(Exception):
    """Elasticsearch refused the configured credential; the message names its kind and what was refused."""


def _reason(body: Any) -> str:
    error = body.get("error") if isinstance(body, Mapping) else None
    reason = error.get("reason") if isinstance(error, Mapping) else None
    return reason if isinstance(reason, str) else ""


def _kind(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, Mapping) else None
    kind = error.get("type") if isinstance(error, Mapping) else None
    return kind if isinstance(kind, str) else None


def is_refusal(status: int, body: Any) -> bool:
    """401, or a 403 from Elasticsearch's security (a 403 can also be an index block, which is not about us)."""
    return status == 401 or (status == 403 and _kind(body) in {"security_exception", None})


def describe(credential: str, status: int, body: Any) -> str:
    """One line for a 401/403 answer (pure): which credential, and for a 403 which action it lacks."""
    if status == 401 and credential == NO_CREDENTIAL:
        return "Elasticsearch asks for a credential and none is set (ES_API_KEY, or ES_USERNAME and ES_PASSWORD): 401"
    if status == 401:
        return f"Elasticsearch refused the {credential}: 401, not authenticated (wrong, expired or revoked)"
    line = f"Elasticsearch refused the {credential}: 403, not allowed"
    reason = _reason(body)
    action = _ACTION.search(reason)
    if action is not None:
        line += f" to {action.group(1)}"
    granted = _GRANTED_BY.search(reason)
    if granted is not None:
        line += f" (granted by the privileges {granted.group(1)})"
    return line + "; see docs/secured-elasticsearch.md for the privileges each process needs"


def refusal(failure: BaseException, credential: str) -> CredentialRefused | None:
    """The refusal an elasticsearch-py error is, or None."""
    if isinstance(failure, elasticsearch.ApiError) and is_refusal(failure.meta.status, failure.body):
        return CredentialRefused(describe(credential, failure.meta.status, failure.body))
    return None


def needs_a_person(failure: BaseException) -> bool:
    """A refused credential or certificate: retrying soon cannot help."""
    if isinstance(failure, CredentialRefused):
        return True
    if isinstance(failure, elasticsearch.ApiError) and is_refusal(failure.meta.status, failure.body):
        return True
    return certificate_problem(failure) is not None


def explain(failure: BaseException, credential: str) -> str | None:
    """The one line a person reads for a failure that `needs_a_person`, or None for any other."""
    if isinstance(failure, CredentialRefused):
        return str(failure)
    refused = refusal(failure, credential)
    if refused is not None:
        return str(refused)
    problem = certificate_problem(failure)
    return None if problem is None else f"Elasticsearch's certificate is refused: {problem}"


def _causes(failure: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    pending: list[BaseException] = [failure]
    while pending and len(seen) < 16:
        current = pending.pop()
        if any(current is known for known in seen):
            continue
        seen.append(current)
        pending += [cause for cause in (current.__cause__, current.__context__) if cause is not None]
        if isinstance(current, elastic_transport.TransportError) and isinstance(current.errors, tuple):
            pending += [error for error in current.errors if isinstance(error, BaseException)]
        pending += [arg for arg in current.args if isinstance(arg, BaseException)]
        wrapped = getattr(current, "certificate_error", None)  # aiohttp's ClientConnectorCertificateError
        if isinstance(wrapped, BaseException):
            pending.append(wrapped)
    return seen


def certificate_problem(failure: BaseException) -> str | None:
    """What was wrong with the TLS handshake (e.g. "certificate verify failed: unable to get local issuer
    certificate"), found in the failure or its causes, or None when it was not about TLS."""
    causes = _causes(failure)
    if any(isinstance(cause, aiohttp.ServerFingerprintMismatch) for cause in causes):
        return f"certificate verify failed: {FINGERPRINT_MISMATCH}"
    for cause in causes:
        message = getattr(cause, "verify_message", None)  # aiohttp's wrapper has none; the error it wraps does
        if isinstance(cause, ssl.SSLCertVerificationError) and isinstance(message, str) and message:
            return f"certificate verify failed: {message}"
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {getattr(cause, 'reason', None) or type(cause).__name__}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS failed: {cause.reason or type(cause).__name__}"
    text = str(failure)
    if isinstance(failure, elastic_transport.TlsError) or "CERTIFICATE_VERIFY_FAILED" in text:
        match = re.search(r"certificate verify failed: ([^(\]']+)", text)
        return f"certificate verify failed: {match.group(1).strip()}" if match else "TLS failed"
    return None
