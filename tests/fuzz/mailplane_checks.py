"""Checks schemathesis applies to every response of mailplane's GraphQL API.

GraphQL answers refusals (FORBIDDEN, VALIDATION, ...) in `errors` by design, so
schemathesis' own `not_a_server_error` (any resolver error is a failure) does not fit.
What must never happen: a 5xx other than a retryable 503, an error without a code, an
INTERNAL error.
"""

import schemathesis


@schemathesis.check
def every_error_has_a_code_and_none_is_internal(ctx, response, case):
    if response.status_code >= 500 and response.status_code != 503:
        raise AssertionError(f"HTTP {response.status_code}: {response.text[:500]}")
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"not JSON (HTTP {response.status_code}): {response.text[:200]}")
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code is None:
            raise AssertionError(f"an error without a code: {error}")
        if code == "INTERNAL":
            raise AssertionError(f"INTERNAL: {error}")
