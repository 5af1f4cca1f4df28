"""Elasticsearch refusing our credential, or us refusing its certificate: what is one, and the line a person reads."""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp
import elastic_transport
import elasticsearch
import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig, TlsError

from common import elasticsearch_refusals
from common.elasticsearch_clients import API_KEY, NO_CREDENTIAL, USER_PASSWORD

NODE = NodeConfig("https", "127.0.0.1", 9200)
UNAUTHENTICATED = {"error": {"type": "security_exception", "reason": "unable to authenticate user [someone] for REST"}}
UNAUTHORIZED = {
    "error": {
        "type": "security_exception",
        "reason": "action [indices:admin/create] is unauthorized for API key id [abc] of user [svc] on indices "
        "[contacts-v1], this action is granted by the index privileges [create_index,manage,all]",
    }
}
BLOCKED = {"error": {"type": "cluster_block_exception", "reason": "index [x] blocked by: [FORBIDDEN/8/read-only]"}}


def api_error(status: int, body: Any) -> elasticsearch.ApiError:
    meta = ApiResponseMeta(status, "1.1", HttpHeaders(), 0.0, NODE)
    return elasticsearch.ApiError("refused", meta, body)


@pytest.mark.parametrize(
    ("status", "body", "refused"),
    [(401, UNAUTHENTICATED, True), (401, None, True), (403, UNAUTHORIZED, True), (403, BLOCKED, False),
     (404, None, False), (500, UNAUTHENTICATED, False)],
)  # fmt: skip
def test_what_is_a_refusal_of_our_credential(status: int, body: Any, refused: bool) -> None:
    assert elasticsearch_refusals.is_refusal(status, body) is refused
    assert elasticsearch_refusals.needs_a_person(api_error(status, body)) is refused


@pytest.mark.parametrize(
    ("credential", "status", "body", "line"),
    [
        (API_KEY, 401, UNAUTHENTICATED, "Elasticsearch refused the API key (ES_API_KEY): 401, not authenticated"),
        (USER_PASSWORD, 401, None, "Elasticsearch refused the user and password (ES_USERNAME, ES_PASSWORD): 401"),
        (NO_CREDENTIAL, 401, None, "Elasticsearch asks for a credential and none is set"),
        (
            API_KEY,
            403,
            UNAUTHORIZED,
            "Elasticsearch refused the API key (ES_API_KEY): 403, not allowed to indices:admin/create "
            "(granted by the privileges create_index,manage,all)",
        ),
    ],
)
def test_the_line_names_the_credential_kind_and_the_missing_privilege(
    credential: str, status: int, body: Any, line: str
) -> None:
    described = elasticsearch_refusals.describe(credential, status, body)
    assert described.startswith(line)
    assert "someone" not in described and "svc" not in described and "abc" not in described  # no user, no key id
    assert elasticsearch_refusals.explain(api_error(status, body), credential) == described


def test_a_certificate_problem_is_found_in_the_causes() -> None:
    verify = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    verify.verify_message = "unable to get local issuer certificate"
    wrapped = TlsError("Cannot connect", errors=(verify,))
    assert elasticsearch_refusals.certificate_problem(wrapped) == (
        "certificate verify failed: unable to get local issuer certificate"
    )
    try:
        raise OSError("connect failed") from verify
    except OSError as caused:
        assert elasticsearch_refusals.certificate_problem(caused) is not None
    assert elasticsearch_refusals.certificate_problem(ConnectionRefusedError()) is None
    assert elasticsearch_refusals.explain(ConnectionRefusedError(), API_KEY) is None


def test_a_pinned_fingerprint_that_does_not_match_is_a_certificate_problem() -> None:
    mismatch = aiohttp.ServerFingerprintMismatch(b"expected", b"got", "127.0.0.1", 9200)
    wrapped = elastic_transport.ConnectionError("Cannot connect", errors=(mismatch,))
    assert elasticsearch_refusals.certificate_problem(wrapped) == (
        f"certificate verify failed: {elasticsearch_refusals.FINGERPRINT_MISMATCH}"
    )
