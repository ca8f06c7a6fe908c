"""Schemathesis hooks for scripts/api-fuzz: the role boundary check.

Each run acts as one demo certificate holder (CALLVAULT_ROLE). Whatever schemathesis sends,
that person or system may get a successful answer only from the operations its assignments
allow (the demo's assignment file: crates/cli/src/demo_serve.rs); anything else must be
refused. This is the "no role gets data it must not" check of issue 8.
"""

import os
import re

import schemathesis

# Operations anyone with a valid certificate may use: liveness, the API description, and
# the audit log's public verification material (signed checkpoints and Merkle proofs).
PUBLIC = {
    "GET /healthz",
    "GET /api/v1/openapi.json",
    "GET /api/v1/audit/checkpoint",
    "GET /api/v1/audit/proof/{kind}",
    "GET /api/v1/audit/verifier-key",
}

RECORDINGS_READ = {
    "POST /api/v1/recordings/search",
    "GET /api/v1/recordings/{id}",
    "GET /api/v1/recordings/{id}/audio",
}

# A nurse links a call she took to its patient (investigators never link).
NURSE = RECORDINGS_READ | {"POST /api/v1/recordings/{id}/patient"}

AUDIT_REVIEW = {
    "GET /api/v1/audit/events",
    "GET /api/v1/audit/follow-up",
    "POST /api/v1/audit/follow-up",
    "GET /api/v1/audit/follow-up/{id}",
    "POST /api/v1/audit/follow-up/{id}/findings/{n}",
    "GET /api/v1/audit/fhir/AuditEvent",
    "GET /api/v1/audit/fhir/AuditEvent/{index}",
    "POST /api/v1/audit/log-extract",
    "POST /api/v1/patients/access-log",
    "POST /api/v1/records/protected-patients",
}

GOVERNANCE = {
    "GET /api/v1/governance/users",
    "POST /api/v1/governance/users",
    "GET /api/v1/governance/assignments",
    "POST /api/v1/governance/assignments",
    "POST /api/v1/governance/assignments/{id}/approve",
    "POST /api/v1/governance/assignments/{id}/reject",
    "POST /api/v1/governance/assignments/{id}/revoke",
    "GET /api/v1/governance/access-review",
}

ALLOWED = {
    "nurse-a": NURSE,
    "nurse-b": NURSE,
    "investigator-a": RECORDINGS_READ,
    "reviewer-a": AUDIT_REVIEW,
    "admin-a": GOVERNANCE,
    "recorder-a": {"POST /api/v1/recordings"},
    "operator-a": {"GET /metrics"},
}

ROLE = os.environ.get("CALLVAULT_ROLE", "")


@schemathesis.check
def role_boundaries(ctx, response, case):
    """Fails when a role gets a 2xx from an operation its assignments do not allow."""
    if not 200 <= response.status_code < 300:
        return None
    op = f"{case.method.upper()} {case.operation.path}"
    if op in PUBLIC or op in ALLOWED.get(ROLE, set()):
        return None
    raise AssertionError(
        f"{ROLE} got {response.status_code} from {op}, which its assignments do not allow"
    )


# The upload's audio part may be declared audio/wav or audio/x-wav (besides
# application/octet-stream): send whatever was generated for it as raw bytes, as the
# octet-stream serializer does, so every media type the API documents can be exercised.
schemathesis.serializer.alias("audio/wav", "application/octet-stream")
schemathesis.serializer.alias("audio/x-wav", "application/octet-stream")
