"""Which S3 errors are an outage (503 and retry) rather than a bug. A real SeaweedFS answers
InternalError only in the seconds after a restart, too briefly to test against reliably, so
the classification is tested on botocore's own error type."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from dockyard.storage.s3 import _server_side


def _error(code: str, status: int) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": "x"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "GetObject")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "status", "outage"),
    [
        ("InternalError", 500, True),
        ("ServiceUnavailable", 503, True),
        ("SlowDown", 503, True),
        ("503", 503, True),
        ("SomethingNew", 502, True),
        ("AccessDenied", 403, False),
        ("InvalidRange", 416, False),
    ],
)
def test_server_side_errors_are_outages(code: str, status: int, outage: bool) -> None:
    assert _server_side(_error(code, status), code) is outage
