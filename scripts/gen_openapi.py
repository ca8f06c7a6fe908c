#!/usr/bin/env python3
"""Writes the OpenAPI 3.1 document of the access API (crates/server/openapi.json).

The JSON file is what the server serves and what tests and API fuzzers read; this script is
how it is edited: change it here, then run

    python3 scripts/gen_openapi.py > crates/server/openapi.json

scripts/test fails if the checked-in file differs from this script's output.
"""
import json
def ref(n): return {"$ref": f"#/components/schemas/{n}"}
def resp(n): return {"$ref": f"#/components/responses/{n}"}
def qp(name, desc, required=False, schema=None):
    return {"name": name, "in": "query", "required": required, "description": desc, "schema": schema or {"type": "string"}}
def hp(name, desc):
    return {"name": name, "in": "header", "required": False, "description": desc, "schema": {"type": "string"}}
purpose_params = [
    qp("purpose", "Purpose of use (required here or as header X-Callvault-Purpose).", schema={"$ref": "#/components/schemas/Purpose"}),
    qp("emergency_reason", "Emergency access (nödåtkomst) reason, free text (at least 10 characters); required to reach another care unit of the same care provider. Sealed in the audit event; the access is flagged."),
    qp("case_number", "Investigation case number; required with purpose kvalitetssakring and recorded in the audit event."),
    qp("assignment", "The assignment (medarbetaruppdrag) to act under, when the caller holds several for the purpose."),
    hp("X-Callvault-Purpose", "Purpose of use, instead of the query parameter (UTF-8)."),
    hp("X-Callvault-Emergency-Reason", "Emergency access reason, instead of the query parameter (UTF-8)."),
    hp("X-Callvault-Case-Number", "Investigation case number, instead of the query parameter."),
]
errors = {"400": resp("BadRequest"), "403": resp("Forbidden"), "500": resp("Internal")}
rec_id = {"name": "id", "in": "path", "required": True, "description": "Recording id (UUID).", "schema": {"type": "string", "format": "uuid"}}
asg_id = {"name": "id", "in": "path", "required": True, "description": "Assignment id.", "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}
hold_id = {"name": "id", "in": "path", "required": True, "description": "Legal hold id.", "schema": {"type": "string"}}
run_id = {"name": "id", "in": "path", "required": True, "description": "Follow-up run id.", "schema": {"type": "string"}}
order_id = {"name": "id", "in": "path", "required": True, "description": "Deletion order id.", "schema": {"type": "string"}}
cp_param = qp("care_provider", "Care provider HSA-ID (e.g. SE2321000016-0001).", True, {"type": "string", "pattern": "^SE[0-9A-Za-z-]+$"})
review_params = [cp_param, qp("purpose", "Purpose of use: logguppfoljning (here or as header X-Callvault-Purpose).", schema={"$ref": "#/components/schemas/Purpose"}), hp("X-Callvault-Purpose", "Purpose of use, instead of the query parameter (UTF-8).")]
doc = {
 "openapi": "3.1.0",
 "info": {
  "title": "callvault access API",
  "version": "1.0.0",
  "summary": "Encrypted vault of recorded nurse-advice calls: mutual TLS, assignment-based authorization, every access audited.",
  "description": "Every route requires a client certificate (SITHS person or function certificate; the HSA-ID is taken from the subject serialNumber). Data routes follow one path: policy decision, then a durable audit event (denials are audited too), then data. Errors are RFC 9457 problem details.",
  "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}
 },
 "servers": [{"url": "https://127.0.0.1:8443", "description": "callvault demo"}],
 "security": [{"sithsClientCertificate": []}],
 "paths": {
  "/healthz": {"get": {"operationId": "health", "summary": "Liveness.", "responses": {"200": {"description": "The server is up.", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
  "/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus metrics (request counts by route template and status, vault totals; no identifiers), for operators: the caller must hold an assignment in force with the operate right.", "responses": {"200": {"description": "Prometheus text exposition.", "content": {"text/plain": {"schema": {"type": "string"}}}}, "403": resp("Forbidden"), "500": resp("Internal")}}},
  "/api/v1/openapi.json": {"get": {"operationId": "openapi", "summary": "This document.", "responses": {"200": {"description": "OpenAPI 3.1 document.", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
  "/api/v1/recordings": {
   "post": {
    "operationId": "uploadRecording",
    "summary": "Deliver a call recording (recorders with a function certificate and the ingest right).",
    "description": "Multipart: a metadata part (JSON) first, then an audio part (WAV). The audio is streamed into the encryption, never held whole in memory nor written in plaintext. Idempotent: the same call id with the same audio returns the existing recording (200, audited as recording.redeliver); with other audio, 409. A failed upload stores nothing.",
    "requestBody": {"required": True, "content": {"multipart/form-data": {
      "schema": {"type": "object", "required": ["metadata", "audio"], "properties": {"metadata": ref("UploadMetadata"), "audio": {"type": "string", "contentMediaType": "audio/wav", "description": "RIFF/WAVE: PCM 16-bit, A-law or µ-law."}}},
      "encoding": {"metadata": {"contentType": "application/json"}, "audio": {"contentType": "audio/wav, audio/x-wav, application/octet-stream"}}}}},
    "responses": {
     "201": {"description": "Stored and audited.", "content": {"application/json": {"schema": ref("UploadResult")}}},
     "200": {"description": "The same call was already stored with the same audio (re-delivery, audited).", "content": {"application/json": {"schema": ref("UploadResult")}}},
     "400": resp("BadRequest"), "403": resp("Forbidden"),
     "408": {"description": "The upload stalled longer than the idle timeout, or stayed slower than the minimum rate; nothing was stored.", "content": {"application/problem+json": {"schema": ref("Problem")}}},
     "409": {"description": "The call id already has a recording with other audio.", "content": {"application/problem+json": {"schema": ref("Problem")}}},
     "413": {"description": "Metadata or audio larger than configured; nothing was stored.", "content": {"application/problem+json": {"schema": ref("Problem")}}},
     "503": {"description": "Every upload slot is in use, the audit writer is saturated (Retry-After: 1), or the vault cannot write its storage now (every site full, read-only or gone; the catalog locked or full; Retry-After: 30); nothing was stored; retry later.", "content": {"application/problem+json": {"schema": ref("Problem")}}},
     "500": resp("Internal")}}
  },
  "/api/v1/recordings/search": {"post": {
    "operationId": "searchRecordings",
    "summary": "Recordings of one patient at one care provider (blind-index search), or the one recording of a call found by its care unit and call id — how a recording not yet linked to a patient is found. The search, with its parameters, is an audited access. Hits are ordered by call start, then id. The patient travels in the JSON body, never in the URL (URLs end up in proxy and load-balancer logs).",
    "parameters": purpose_params,
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": False, "description": "Either patient (with the optional filters), or care_unit and call_id (nothing else).", "oneOf": [{"required": ["patient"]}, {"required": ["call_id", "care_unit"]}], "properties": {
       "patient": {"type": "string", "description": "Personnummer, samordningsnummer or reserve number. Never echoed in errors."},
       "call_id": {"type": "string", "description": "A call search: the telephony call id (with care_unit). Finds the recording whether or not it is linked to a patient."},
       "care_provider": {"type": "string", "pattern": "^SE[0-9A-Za-z-]+$", "description": "Care provider HSA-ID; may be left out when the caller holds assignments for this purpose at one care provider only."},
       "from": {"type": "string", "format": "date-time", "description": "Calls starting at or after."},
       "to": {"type": "string", "format": "date-time", "description": "Calls starting before."},
       "care_unit": {"type": "string", "description": "Only this care unit (HSA-ID), within the caller's scope."},
       "nurse": {"type": "string", "description": "Only calls answered by this nurse (HSA-ID)."},
       "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "Hits per page (default 100)."},
       "cursor": {"type": "string", "description": "next_cursor of the previous page."}}}}}},
    "responses": {"200": {"description": "Hits within the caller's care units (or the whole care provider for investigations and emergency access).", "content": {"application/json": {"schema": ref("SearchResult")}}}, **errors}}},
  "/api/v1/recordings/{id}": {"get": {
    "operationId": "recordingMetadata",
    "summary": "Decrypted metadata of one recording (audited).",
    "parameters": [rec_id] + purpose_params,
    "responses": {"200": {"description": "Metadata.", "content": {"application/json": {"schema": ref("RecordingMetadata")}}}, "404": resp("NotFound"), "503": {"description": "The audit writer is saturated; nothing was returned; retry shortly.", "content": {"application/problem+json": {"schema": ref("Problem")}}}, **errors}}},
  "/api/v1/recordings/{id}/audio": {"get": {
    "operationId": "recordingAudio",
    "summary": "The recording's audio (WAV), streamed; HTTP Range supported (first range of a multi-range request). Audited with the byte range.",
    "parameters": [rec_id, {"name": "Range", "in": "header", "required": False, "description": "bytes=a-b, bytes=a- or bytes=-n.", "schema": {"type": "string"}}] + purpose_params,
    "responses": {
     "200": {"description": "The whole recording.", "headers": {"X-Callvault-Audit-Leaf": {"description": "Leaf index of the access event.", "schema": {"type": "integer"}}}, "content": {"audio/wav": {"schema": {"type": "string", "contentMediaType": "audio/wav"}}}},
     "206": {"description": "The requested range.", "headers": {"Content-Range": {"schema": {"type": "string"}}, "X-Callvault-Audit-Leaf": {"description": "Leaf index of the access event.", "schema": {"type": "integer"}}}, "content": {"audio/wav": {"schema": {"type": "string", "contentMediaType": "audio/wav"}}}},
     "404": resp("NotFound"),
     "416": {"description": "The range lies outside the recording.", "content": {"application/problem+json": {"schema": ref("Problem")}}},
     "503": {"description": "Every audio stream slot is in use; retry shortly.", "content": {"application/problem+json": {"schema": ref("Problem")}}},
     **errors}}},
  "/api/v1/recordings/{id}/patient": {"post": {
    "operationId": "linkPatient",
    "summary": "Links a recording to the patient the call was about, or corrects a wrong link. Only the nurse who took the call (with view-metadata on its care unit), or someone whose assignment grants link-patient, may; purpose vård och behandling, never emergency access. A correction is a new link with a reason; the old one stays in the history, and both patients' access logs show it. The patient travels in the body, never in the URL. Audited (patient.link, and patient.unlink for the patient a correction replaces), granted or refused.",
    "parameters": [rec_id] + [p for p in purpose_params if p["name"] not in ("case_number", "X-Callvault-Case-Number")],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": False, "required": ["patient_id"], "properties": {
       "patient_id": {"type": "string", "description": "Personnummer, samordningsnummer or reserve number. Never echoed in errors."},
       "reason": {"type": "string", "minLength": 10, "maxLength": 1000, "description": "Why the current link is wrong: required when the recording has a patient (a correction), ignored otherwise. Sealed."}}}}}},
    "responses": {
     "200": {"description": "Linked.", "content": {"application/json": {"schema": {"type": "object", "required": ["recording", "link", "corrected", "audit_leaf_index"], "properties": {
       "recording": {"type": "string", "format": "uuid"},
       "link": {"type": "integer", "minimum": 1, "description": "1 for the first link, one more for each correction."},
       "corrected": {"type": "boolean", "description": "Whether it replaced a patient the recording had."},
       "audit_leaf_index": {"type": "integer", "description": "Leaf index of the patient.link event."}}}}}},
     "400": resp("BadRequest"), "403": resp("Forbidden"), "404": resp("NotFound"),
     "409": {"description": "Another link was made at the same moment; nothing was changed.", "content": {"application/problem+json": {"schema": ref("Problem")}}},
     "500": resp("Internal")}}},
  "/api/v1/audit/checkpoint": {"get": {
    "operationId": "auditCheckpoint",
    "summary": "The latest signed checkpoint of the audit log (C2SP signed note, Ed25519).",
    "parameters": [qp("cosigned", "true: append the witnesses' cosignatures (C2SP tlog-cosignature) stored for this checkpoint.", schema={"type": "boolean"})],
    "responses": {"200": {"description": "Checkpoint text.", "content": {"text/plain": {"schema": {"type": "string"}}}}, "400": resp("BadRequest"), "404": resp("NotFound"), "500": resp("Internal")}}},
  "/api/v1/audit/verifier-key": {"get": {
    "operationId": "auditVerifierKey",
    "summary": "The audit log's public verifier key, C2SP signed-note vkey form (<origin>+<key id hex>+<base64 of type byte and Ed25519 public key>): what checks the checkpoints offline. A public key; not an audit event.",
    "responses": {"200": {"description": "The verifier key and a newline.", "content": {"text/plain": {"schema": {"type": "string"}}}}, "500": resp("Internal")}}},
  "/api/v1/audit/events": {"get": {
    "operationId": "auditEvents",
    "summary": "The latest audit events concerning a care provider (log reviewers; audited).",
    "parameters": [cp_param, qp("limit", "How many events (1 to 1000, default 100).", schema={"type": "integer", "minimum": 1, "maximum": 1000})] + purpose_params[:1] + purpose_params[4:5],
    "responses": {"200": {"description": "Events, oldest first.", "content": {"application/json": {"schema": {"type": "array", "items": ref("AuditEventView")}}}}, **errors}}},
  "/api/v1/audit/proof/{kind}": {"get": {
    "operationId": "auditProof",
    "summary": "Inclusion proof of a leaf, or consistency proof from an older tree size, against the latest checkpoint (RFC 9162 hashes).",
    "parameters": [{"name": "kind", "in": "path", "required": True, "schema": {"type": "string", "enum": ["inclusion", "consistency"]}},
                   qp("index", "Leaf index (inclusion).", schema={"type": "integer", "minimum": 0}),
                   qp("old_size", "Older tree size (consistency).", schema={"type": "integer", "minimum": 0})],
    "responses": {"200": {"description": "The proof and the checkpoint(s) it verifies against.", "content": {"application/json": {"schema": ref("Proof")}}}, "400": resp("BadRequest"), "404": resp("NotFound"), "500": resp("Internal")}}},
  "/api/v1/governance/users": {
   "get": {
    "operationId": "listUsers",
    "summary": "Registered users of a care provider (privilege administrators; audited).",
    "parameters": [qp("care_provider", "Care provider HSA-ID; may be left out when the caller administers exactly one.")],
    "responses": {"200": {"description": "Users, by HSA-ID.", "content": {"application/json": {"schema": {"type": "array", "items": ref("User")}}}}, **errors}},
   "post": {
    "operationId": "registerUser",
    "summary": "Register a user (person or system) employed by the administrator's care provider (audited as user.register).",
    "requestBody": {"required": True, "content": {"application/json": {"schema": ref("UserRegistration")}}},
    "responses": {"201": {"description": "Registered.", "content": {"application/json": {"schema": ref("GovernanceReceipt")}}}, "409": resp("Conflict"), **errors}}},
  "/api/v1/governance/assignments": {
   "get": {
    "operationId": "listAssignments",
    "summary": "Assignments of a care provider with their four-eyes history (privilege administrators; audited).",
    "parameters": [qp("care_provider", "Care provider HSA-ID; may be left out when the caller administers exactly one."),
                   qp("state", "Only assignments in this state.", schema={"type": "string", "enum": ["requested", "approved", "rejected", "revoked"]})],
    "responses": {"200": {"description": "Assignments, by id.", "content": {"application/json": {"schema": {"type": "array", "items": ref("Assignment")}}}}, **errors}},
   "post": {
    "operationId": "requestAssignment",
    "summary": "Request an assignment (audited as assignment.request). It is in force only once a different administrator of the same care provider approves it.",
    "requestBody": {"required": True, "content": {"application/json": {"schema": ref("AssignmentRequest")}}},
    "responses": {"201": {"description": "Requested; awaiting approval.", "content": {"application/json": {"schema": ref("GovernanceReceipt")}}}, "404": resp("NotFound"), "409": resp("Conflict"), **errors}}},
  "/api/v1/governance/assignments/{id}/approve": {"post": {
    "operationId": "approveAssignment",
    "summary": "Approve a request (audited). Refused (403) for its requester and its holder, and for administrators of another care provider; in force for the next request.",
    "parameters": [asg_id],
    "requestBody": {"required": False, "content": {"application/json": {"schema": ref("Decision")}}},
    "responses": {"200": {"description": "Approved.", "content": {"application/json": {"schema": ref("GovernanceReceipt")}}}, "404": resp("NotFound"), "409": resp("Conflict"), **errors}}},
  "/api/v1/governance/assignments/{id}/reject": {"post": {
    "operationId": "rejectAssignment",
    "summary": "Reject a request, with a comment (audited). Same four-eyes rule as approval.",
    "parameters": [asg_id],
    "requestBody": {"required": True, "content": {"application/json": {"schema": ref("Decision")}}},
    "responses": {"200": {"description": "Rejected.", "content": {"application/json": {"schema": ref("GovernanceReceipt")}}}, "404": resp("NotFound"), "409": resp("Conflict"), **errors}}},
  "/api/v1/governance/assignments/{id}/revoke": {"post": {
    "operationId": "revokeAssignment",
    "summary": "Revoke an approved assignment, with a reason (audited). Takes effect at once, including for audio streams already open under it.",
    "parameters": [asg_id],
    "requestBody": {"required": True, "content": {"application/json": {"schema": ref("Revocation")}}},
    "responses": {"200": {"description": "Revoked.", "content": {"application/json": {"schema": ref("GovernanceReceipt")}}}, "404": resp("NotFound"), "409": resp("Conflict"), **errors}}},
  "/api/v1/governance/access-review": {"get": {
    "operationId": "accessReview",
    "summary": "Access review of a care provider: every assignment in force with requester, approver, age, last use, expiring within 30 days, unused for 90 days (audited).",
    "parameters": [qp("care_provider", "Care provider HSA-ID; may be left out when the caller administers exactly one."),
                   qp("format", "json (default), csv, or text (printable).", schema={"type": "string", "enum": ["json", "csv", "text"]})],
    "responses": {"200": {"description": "The report.", "content": {
       "application/json": {"schema": ref("AccessReview")},
       "text/csv": {"schema": {"type": "string"}},
       "text/plain": {"schema": {"type": "string"}}}}, **errors}}},
  "/api/v1/records/holds": {
   "get": {
    "operationId": "listLegalHolds",
    "summary": "Legal holds of a care provider, reasons included (records managers; audited).",
    "parameters": [qp("care_provider", "Care provider HSA-ID; may be left out when the caller manages records at exactly one.")],
    "responses": {"200": {"description": "Holds, oldest first.", "content": {"application/json": {"schema": {"type": "array", "items": ref("LegalHold")}}}}, **errors}},
   "post": {
    "operationId": "setLegalHold",
    "summary": "Set a legal hold (rättslig spärr) over recordings, by id or all of a patient's in a period; no limit on how many. Held recordings cannot be destroyed (audited as hold.set).",
    "requestBody": {"required": True, "content": {"application/json": {"schema": ref("LegalHoldRequest")}}},
    "responses": {"201": {"description": "Set.", "content": {"application/json": {"schema": ref("RecordsReceipt")}}}, "409": resp("Conflict"), **errors}}},
  "/api/v1/records/holds/{id}/release": {"post": {
    "operationId": "releaseLegalHold",
    "summary": "Release a legal hold, with a reason (audited as hold.release).",
    "parameters": [hold_id, qp("care_provider", "Care provider HSA-ID; may be left out when the caller manages records at exactly one.")],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": False, "required": ["reason"], "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 1000}}}}}},
    "responses": {"200": {"description": "Released.", "content": {"application/json": {"schema": ref("RecordsReceipt")}}}, "409": resp("Conflict"), **errors}}},
  "/api/v1/records/retention": {"get": {
    "operationId": "retentionReport",
    "summary": "Recordings past their retention date (nothing is deleted; a purge is a separate, approved order). Audited.",
    "parameters": [qp("care_provider", "Care provider HSA-ID; may be left out when the caller manages records at exactly one."), qp("limit", "List at most this many (1 to 10000, default 1000); all are counted.", schema={"type": "integer", "minimum": 1, "maximum": 10000})],
    "responses": {"200": {"description": "The report.", "content": {"application/json": {"schema": ref("RetentionReport")}}}, **errors}}},
  "/api/v1/records/deletions": {
   "get": {
    "operationId": "listDeletionOrders",
    "summary": "Deletion orders of a care provider (records managers; audited).",
    "parameters": [qp("care_provider", "Care provider HSA-ID; may be left out when the caller manages records at exactly one.")],
    "responses": {"200": {"description": "Orders, oldest first.", "content": {"application/json": {"schema": {"type": "array", "items": ref("DeletionOrder")}}}}, **errors}},
   "post": {
    "operationId": "registerDeletionOrder",
    "summary": "Register an IVO decision (with its document, stored sealed; its SHA-256 recorded) or a purge of recordings past retention. A second records manager must approve it (audited as deletion.register).",
    "requestBody": {"required": True, "content": {"application/json": {"schema": ref("DeletionOrderRequest")}}},
    "responses": {"201": {"description": "Registered; awaiting approval.", "content": {"application/json": {"schema": ref("RecordsReceipt")}}}, "409": resp("Conflict"), **errors}}},
  "/api/v1/records/deletions/{id}/approve": {"post": {
    "operationId": "approveDeletionOrder",
    "summary": "Approve a deletion order (never by the person who registered it).",
    "parameters": [order_id],
    "requestBody": {"required": False, "content": {"application/json": {"schema": ref("Decision")}}},
    "responses": {"200": {"description": "Approved.", "content": {"application/json": {"schema": ref("RecordsReceipt")}}}, "404": resp("NotFound"), "409": resp("Conflict"), **errors}}},
  "/api/v1/records/deletions/{id}/reject": {"post": {
    "operationId": "rejectDeletionOrder",
    "summary": "Reject a deletion order, with a comment.",
    "parameters": [order_id],
    "requestBody": {"required": True, "content": {"application/json": {"schema": ref("Decision")}}},
    "responses": {"200": {"description": "Rejected.", "content": {"application/json": {"schema": ref("RecordsReceipt")}}}, "404": resp("NotFound"), "409": resp("Conflict"), **errors}}},
  "/api/v1/records/deletions/{id}/execute": {"post": {
    "operationId": "executeDeletionOrder",
    "summary": "Execute (or resume) an approved order: crypto-shred every recording (wrapped data key destroyed, tombstone kept), delete the blobs at every site, and answer the signed deletion certificate. Refused (409) while any recording is under legal hold.",
    "parameters": [order_id],
    "responses": {"200": {"description": "Executed.", "content": {"application/json": {"schema": ref("DeletionCertificate")}}}, "404": resp("NotFound"), "409": resp("Conflict"), **errors}}},
  "/api/v1/records/deletions/{id}/document": {"get": {
    "operationId": "decisionDocument",
    "summary": "The decision document of an IVO order, checked against its recorded SHA-256 (records managers; audited).",
    "parameters": [order_id],
    "responses": {"200": {"description": "The document.", "content": {"application/pdf": {"schema": {"type": "string", "contentMediaType": "application/pdf"}}, "application/octet-stream": {"schema": {"type": "string"}}}}, "404": resp("NotFound"), "409": resp("Conflict"), **errors}}},
  "/api/v1/records/deletions/{id}/certificate": {"get": {
    "operationId": "deletionCertificate",
    "summary": "The deletion certificate of an executed order.",
    "parameters": [order_id],
    "responses": {"200": {"description": "The certificate.", "content": {"application/json": {"schema": ref("DeletionCertificate")}}}, "404": resp("NotFound"), "409": resp("Conflict"), **errors}}},
  "/api/v1/audit/follow-up": {
   "get": {
    "operationId": "listFollowUps",
    "summary": "Log follow-up runs of a care provider with their counts (log reviewers; audited as followup.read).",
    "parameters": review_params,
    "responses": {"200": {"description": "Runs, oldest first.", "content": {"application/json": {"schema": {"type": "array", "items": ref("FollowUpRun")}}}}, **errors}},
   "post": {
    "operationId": "runFollowUp",
    "summary": "Run the follow-up rules (emergency access, outside own units, protected identity, own records, many patients per hour, outside working hours, denied bursts) and a reproducible random spot check over the care provider's audit events in [from, to). The run and its findings are recorded with a followup.run event.",
    "parameters": review_params,
    "requestBody": {"required": True, "content": {"application/json": {"schema": ref("FollowUpRequest")}}},
    "responses": {"201": {"description": "The run with its findings.", "content": {"application/json": {"schema": ref("FollowUpReport")}}}, **errors}}},
  "/api/v1/audit/follow-up/{id}": {"get": {
    "operationId": "showFollowUp",
    "summary": "One run with its findings and reviews: JSON, CSV, or a printable HTML report in Swedish (audited as followup.read).",
    "parameters": [run_id] + review_params + [qp("format", "json (default), csv, or html.", schema={"type": "string", "enum": ["json", "csv", "html"]})],
    "responses": {"200": {"description": "The run.", "content": {
       "application/json": {"schema": ref("FollowUpReport")},
       "text/csv": {"schema": {"type": "string"}},
       "text/html": {"schema": {"type": "string"}}}}, "404": resp("NotFound"), **errors}}},
  "/api/v1/audit/follow-up/{id}/findings/{n}": {"post": {
    "operationId": "reviewFinding",
    "summary": "Judge a finding justified or unjustified, with a comment (sealed at rest; audited as followup.review). A finding about the reviewer's own access is refused (403).",
    "parameters": [run_id, {"name": "n", "in": "path", "required": True, "description": "Finding number within the run.", "schema": {"type": "integer", "minimum": 1}}] + review_params,
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": False, "required": ["verdict", "comment"], "properties": {
       "verdict": {"type": "string", "enum": ["justified", "unjustified"]}, "comment": {"type": "string", "minLength": 1, "maxLength": 2000}}}}}},
    "responses": {"200": {"description": "Recorded.", "content": {"application/json": {"schema": {"type": "object", "required": ["run", "finding", "verdict", "audit_leaf_index"], "properties": {
       "run": {"type": "string"}, "finding": {"type": "integer"}, "verdict": {"type": "string"}, "audit_leaf_index": {"type": "integer"}}}}}}, "404": resp("NotFound"), **errors}}},
  "/api/v1/audit/fhir/AuditEvent": {"get": {
    "operationId": "fhirAuditEventExport",
    "summary": "The care provider's audit events in [from, to) as FHIR R4 AuditEvent resources following IHE BALP (PatientRead, PatientQuery, PatientCreate, PatientDelete; others as plain AuditEvent), one per line (NDJSON). Patients as pseudonyms unless patient_identifiers=clear. Log reviewers; audited as audit.export.",
    "parameters": review_params + [qp("from", "Period start (RFC 3339).", True, {"type": "string", "format": "date-time"}), qp("to", "Period end, exclusive (RFC 3339); at most 366 days after from.", True, {"type": "string", "format": "date-time"}), qp("patient_identifiers", "pseudonym (default: the care provider's blind index) or clear.", schema={"type": "string", "enum": ["pseudonym", "clear"]})],
    "responses": {"200": {"description": "NDJSON of FHIR AuditEvent resources.", "content": {"application/fhir+ndjson": {"schema": {"type": "string"}}}}, **errors}}},
  "/api/v1/audit/fhir/AuditEvent/{index}": {"get": {
    "operationId": "fhirAuditEvent",
    "summary": "One audit event of the care provider (by leaf index) as a FHIR R4 AuditEvent (IHE BALP). Audited as audit.export.",
    "parameters": [{"name": "index", "in": "path", "required": True, "description": "Audit log leaf index.", "schema": {"type": "integer", "minimum": 0}}] + review_params + [qp("patient_identifiers", "pseudonym (default) or clear.", schema={"type": "string", "enum": ["pseudonym", "clear"]})],
    "responses": {"200": {"description": "The resource.", "content": {"application/fhir+json": {"schema": {"type": "object"}}}}, "404": resp("NotFound"), **errors}}},
  "/api/v1/audit/log-extract": {"post": {
    "operationId": "patientLogExtract",
    "summary": "A patient's log extract (loggutdrag): every access to the patient's recordings and metadata at the care provider in a period, with time, care provider, care unit, user name and title as the care provider's policy allows, purpose and action; PDF in Swedish, CSV or JSON. Log reviewers (read-access-log); audited as audit.extract. The patient travels in the body, never in the URL; never cached.",
    "parameters": review_params,
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": False, "required": ["patient"], "properties": {
       "patient": {"type": "string", "description": "Personnummer, samordningsnummer or reserve number."},
       "from": {"type": "string", "format": "date-time"}, "to": {"type": "string", "format": "date-time", "description": "Exclusive."},
       "format": {"type": "string", "enum": ["pdf", "csv", "json"], "default": "pdf"}}}}}},
    "responses": {"200": {"description": "The extract (Content-Disposition: attachment).", "content": {
       "application/pdf": {"schema": {"type": "string", "contentMediaType": "application/pdf"}},
       "text/csv": {"schema": {"type": "string"}},
       "application/json": {"schema": {"type": "object"}}}}, **errors}}},
  "/api/v1/records/audit-prunes": {
   "get": {
    "operationId": "listAuditPrunes",
    "summary": "Prune orders of the audit log with their approvals (records managers; audited).",
    "parameters": [qp("care_provider", "Care provider HSA-ID; may be left out when the caller manages records at exactly one.")],
    "responses": {"200": {"description": "Orders, oldest first.", "content": {"application/json": {"schema": {"type": "array", "items": ref("AuditPrune")}}}}, **errors}},
   "post": {
    "operationId": "registerAuditPrune",
    "summary": "Register an order to prune the audit events before a date at least [audit] retention_years (five or more) ago. A records manager of every care provider other than the registrant approves it; then it is executed. Pruned leaves keep index, hash, time and action, so every proof stays valid (audited as audit.prune-register).",
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": False, "required": ["before"], "properties": {
       "before": {"type": "string", "format": "date-time"}, "care_provider": {"type": "string"}}}}}},
    "responses": {"201": {"description": "Registered.", "content": {"application/json": {"schema": ref("AuditPrune")}}}, "409": resp("Conflict"), **errors}}},
  "/api/v1/records/audit-prunes/{id}/{step}": {"post": {
    "operationId": "auditPruneStep",
    "summary": "approve: approve the order for the caller's care provider (never by its registrant; audit.prune-approve). execute: once every care provider approved, prune below the order's minimum index, truncate the write-ahead log and sign a checkpoint (audit.prune).",
    "parameters": [{"name": "id", "in": "path", "required": True, "description": "Prune order id.", "schema": {"type": "string"}},
                   {"name": "step", "in": "path", "required": True, "description": "approve or execute.", "schema": {"type": "string", "enum": ["approve", "execute"]}},
                   qp("care_provider", "Care provider HSA-ID; may be left out when the caller manages records at exactly one.")],
    "responses": {"200": {"description": "The order after the step.", "content": {"application/json": {"schema": ref("AuditPrune")}}}, "404": resp("NotFound"), "409": resp("Conflict"), **errors}}},
  "/api/v1/records/protected-patients": {"post": {
    "operationId": "markProtectedPatient",
    "summary": "Mark a patient as having protected identity (skyddade personuppgifter), or lift the mark with protected=false; records managers (audited as patient.protect). Only the patient's blind index is stored.",
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": False, "required": ["care_provider", "patient", "reference"], "properties": {
       "care_provider": {"type": "string"}, "patient": {"type": "string", "description": "Personnummer, samordningsnummer or reserve number."},
       "protected": {"type": "boolean", "default": True}, "reference": {"type": "string", "maxLength": 200, "description": "Where the marking comes from (e.g. a population register reference)."}}}}}},
    "responses": {"200": {"description": "Recorded.", "content": {"application/json": {"schema": {"type": "object", "required": ["protected", "audit_leaf_index"], "properties": {"protected": {"type": "boolean"}, "audit_leaf_index": {"type": "integer"}}}}}}, "409": resp("Conflict"), **errors}}},
  "/api/v1/patients/access-log": {"post": {
    "operationId": "patientAccessLog",
    "summary": "Every access to one patient's records at a care provider (log reviewers; audited). The patient travels in the JSON body, never in the URL.",
    "parameters": [cp_param] + purpose_params[:1] + purpose_params[4:5],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": False, "required": ["patient"], "properties": {
       "patient": {"type": "string", "description": "Personnummer, samordningsnummer or reserve number."}}}}}},
    "responses": {"200": {"description": "Events, oldest first.", "content": {"application/json": {"schema": {"type": "array", "items": ref("AuditEventView")}}}}, **errors}}}
 },
 "components": {
  "securitySchemes": {"sithsClientCertificate": {"type": "mutualTLS", "description": "SITHS person or function certificate issued by a configured CA; HSA-ID in the subject serialNumber (2.5.4.5). Checked against the configured CRLs."}},
  "responses": {
   "BadRequest": {"description": "The request is malformed; the detail says what was wrong.", "content": {"application/problem+json": {"schema": ref("Problem")}}},
   "Forbidden": {"description": "The policy refused the request (and the refusal was audited).", "content": {"application/problem+json": {"schema": ref("Problem")}}},
   "NotFound": {"description": "No such resource; for a recording also one of a care provider the caller has no assignment at, answered exactly alike (the refusal is audited either way).", "content": {"application/problem+json": {"schema": ref("Problem")}}},
   "Conflict": {"description": "Not possible in the current state (already decided, already registered, holder not registered, …); nothing changed.", "content": {"application/problem+json": {"schema": ref("Problem")}}},
   "Internal": {"description": "Internal error; no data was returned.", "content": {"application/problem+json": {"schema": ref("Problem")}}}
  },
  "schemas": {
   "Purpose": {"type": "string", "enum": ["vard-och-behandling", "kvalitetssakring", "logguppfoljning", "administration"], "description": "vård och behandling (care), kvalitetssäkring (patient-safety investigation), logguppföljning (log review), administration."},
   "Problem": {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {"type": {"type": "string", "format": "uri"}, "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"}}},
   "UploadMetadata": {"type": "object", "additionalProperties": False, "required": ["care_provider", "care_unit", "call_id", "started_at"], "properties": {
     "care_provider": {"type": "string"}, "care_unit": {"type": "string", "description": "HSA-ID of a unit of the care provider."},
     "call_id": {"type": "string"}, "started_at": {"type": "string", "format": "date-time"},
     "patient_id": {"type": "string", "description": "Personnummer (check digit verified), samordningsnummer or reserve number. Leave out (or empty) for a call whose patient is not known yet: the nurse who took it links it later (POST /api/v1/recordings/{id}/patient)."},
     "caller_number": {"type": "string", "description": "E.164."}, "nurse_hsa_id": {"type": "string"},
     "incomplete": {"type": "string", "minLength": 1, "maxLength": 200, "description": "Why the recording is incomplete (a call cut off by a crash, a stream missing): it is stored although shorter than its WAV header says, flagged with this reason. Without it a short audio part is refused."}}},
   "UploadResult": {"type": "object", "required": ["id", "sha256", "size", "duration_ms", "sites", "retention_until", "audit_leaf_index", "existing"], "properties": {
     "id": {"type": "string", "format": "uuid"}, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "size": {"type": "integer"}, "duration_ms": {"type": "integer"},
     "sites": {"type": "array", "items": {"type": "string"}}, "retention_until": {"type": "string", "format": "date-time"},
     "audit_leaf_index": {"type": "integer"}, "existing": {"type": "boolean"}}},
   "SearchResult": {"type": "object", "required": ["recordings", "audit_leaf_index"], "properties": {
     "next_cursor": {"type": ["string", "null"], "description": "Pass as cursor for the next page; null on the last page."},
     "recordings": {"type": "array", "items": {"type": "object", "required": ["id", "care_unit", "started_at", "duration_ms", "linked"], "properties": {"id": {"type": "string", "format": "uuid"}, "care_unit": {"type": "string"}, "started_at": {"type": "string", "format": "date-time"}, "duration_ms": {"type": "integer"}, "linked": {"type": "boolean", "description": "Whether the recording is linked to a patient."}}}},
     "audit_leaf_index": {"type": "integer"}}},
   "RecordingMetadata": {"type": "object", "required": ["id", "care_provider", "care_unit", "call_id", "started_at", "ended_at", "duration_ms", "codec", "size", "sha256", "retention_until", "legal_hold", "links", "sites", "audit_leaf_index"], "properties": {
     "id": {"type": "string", "format": "uuid"}, "care_provider": {"type": "string"}, "care_unit": {"type": "string"}, "call_id": {"type": "string"},
     "started_at": {"type": "string", "format": "date-time"}, "ended_at": {"type": "string", "format": "date-time"}, "duration_ms": {"type": "integer"},
     "codec": {"type": "string"}, "size": {"type": "integer"}, "sha256": {"type": "string"},
     "patient_id": {"type": ["string", "null"]}, "caller_number": {"type": ["string", "null"]}, "nurse_hsa_id": {"type": ["string", "null"]},
     "retention_until": {"type": "string", "format": "date-time"}, "legal_hold": {"type": "boolean"},
     "incomplete": {"type": ["string", "null"], "description": "Why the recording is incomplete; null for a complete one."},
     "links": {"type": "array", "description": "Links to patients made after the call, oldest first: who and when, and whether the link corrected an earlier patient (never which patient an earlier link named).", "items": {"type": "object", "required": ["n", "linked_by", "linked_at", "correction"], "properties": {
       "n": {"type": "integer", "minimum": 1}, "linked_by": {"type": "string"}, "linked_at": {"type": "string", "format": "date-time"}, "correction": {"type": "boolean"}}}},
     "sites": {"type": "array", "items": {"type": "string"}}, "audit_leaf_index": {"type": "integer"}}},
   "AuditEventView": {"type": "object", "required": ["index", "time", "actor", "action", "outcome", "emergency_access", "details"], "properties": {
     "index": {"type": "integer"}, "time": {"type": "string", "format": "date-time"}, "actor": {"type": "string"},
     "actor_care_unit": {"type": ["string", "null"]}, "assignment": {"type": ["string", "null"]}, "action": {"type": "string"},
     "outcome": {"type": "string", "enum": ["granted", "denied", "failed"]}, "reason": {"type": ["string", "null"]},
     "recording": {"type": ["string", "null"]}, "care_provider": {"type": ["string", "null"]}, "purpose": {"type": ["string", "null"]},
     "emergency_access": {"type": "boolean"},
     "details": {"type": "array", "items": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "string"}], "minItems": 2, "maxItems": 2}}}},
   "AuditPrune": {"type": "object", "required": ["id", "before", "min_index", "state", "registered_by", "registered_at", "approvals", "awaiting"], "properties": {
     "id": {"type": "string"}, "before": {"type": "string", "format": "date-time"}, "min_index": {"type": "integer"},
     "state": {"type": "string", "enum": ["registered", "executed"]}, "registered_by": {"type": "string"}, "registered_at": {"type": "string", "format": "date-time"},
     "approvals": {"type": "array", "items": {"type": "object", "required": ["care_provider", "by", "at"], "properties": {"care_provider": {"type": "string"}, "by": {"type": "string"}, "at": {"type": "string"}}}},
     "awaiting": {"type": "array", "items": {"type": "string"}}, "executed_by": {"type": ["string", "null"]}, "executed_at": {"type": ["string", "null"]}, "pruned": {"type": ["integer", "null"]}}},
   "FollowUpSettings": {"type": "object", "additionalProperties": False, "description": "Rule settings; absent fields take their defaults. Emergency access is always listed.", "properties": {
     "outside_own_units": {"type": "boolean", "default": True}, "protected_identity": {"type": "boolean", "default": True}, "own_records": {"type": "boolean", "default": True},
     "max_patients_per_hour": {"type": "integer", "minimum": 0, "default": 20, "description": "0: off."},
     "working_hours": {"type": "string", "default": "07:00-18:00", "description": "Swedish local time HH:MM-HH:MM; empty: off."},
     "working_days": {"type": "array", "items": {"type": "string", "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}},
     "days_off": {"type": "array", "items": {"type": "string", "format": "date"}},
     "denied_burst": {"type": "integer", "minimum": 0, "default": 5}, "denied_window_minutes": {"type": "integer", "minimum": 1, "maximum": 1440, "default": 10},
     "spot_checks": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 10}}},
   "FollowUpRequest": {"type": "object", "additionalProperties": False, "required": ["from", "to"], "properties": {
     "from": {"type": "string", "format": "date-time"}, "to": {"type": "string", "format": "date-time", "description": "Exclusive; at most 366 days after from."},
     "settings": ref("FollowUpSettings"), "seed": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$", "description": "Repeat an earlier spot-check draw."}}},
   "FollowUpRun": {"type": "object", "required": ["id", "care_provider", "from", "to", "settings", "seed", "audit_size", "events_checked", "run_by", "run_at", "findings", "reviewed", "unjustified"], "properties": {
     "id": {"type": "string"}, "care_provider": {"type": "string"}, "from": {"type": "string", "format": "date-time"}, "to": {"type": "string", "format": "date-time"},
     "settings": ref("FollowUpSettings"), "seed": {"type": "string"}, "audit_size": {"type": "integer"}, "events_checked": {"type": "integer"},
     "run_by": {"type": "string"}, "run_at": {"type": "string", "format": "date-time"}, "findings": {"type": "integer"}, "reviewed": {"type": "integer"}, "unjustified": {"type": "integer"}}},
   "Finding": {"type": "object", "required": ["n", "rule", "rule_name", "leaf_index", "time", "local_time", "actor", "summary"], "properties": {
     "n": {"type": "integer"}, "rule": {"type": "string", "enum": ["emergency-access", "outside-own-units", "protected-identity", "own-records", "many-patients", "outside-working-hours", "denied-burst", "spot-check"]},
     "rule_name": {"type": "string"}, "leaf_index": {"type": "integer"}, "time": {"type": "string", "format": "date-time"}, "local_time": {"type": "string"},
     "actor": {"type": "string"}, "actor_name": {"type": ["string", "null"]}, "actor_title": {"type": ["string", "null"]}, "summary": {"type": "string"},
     "verdict": {"type": ["string", "null"], "enum": ["justified", "unjustified", None]}, "comment": {"type": ["string", "null"]},
     "reviewed_by": {"type": ["string", "null"]}, "reviewed_at": {"type": ["string", "null"]}}},
   "FollowUpReport": {"type": "object", "required": ["run", "findings"], "properties": {"run": ref("FollowUpRun"), "findings": {"type": "array", "items": ref("Finding")}}},
   "UserRegistration": {"type": "object", "additionalProperties": False, "required": ["hsa_id", "name", "title", "care_provider"], "properties": {
     "hsa_id": {"type": "string"}, "name": {"type": "string", "maxLength": 200}, "title": {"type": "string", "maxLength": 200}, "care_provider": {"type": "string", "description": "Employing care provider (the administrator's)."},
     "personal_id": {"type": "string", "description": "The employee's own personnummer, for the log follow-up rule on access to one's own records. Stored sealed and blind-indexed only; never returned."}}},
   "User": {"type": "object", "required": ["hsa_id", "name", "title", "care_provider", "registered_at", "registered_by"], "properties": {
     "hsa_id": {"type": "string"}, "name": {"type": "string"}, "title": {"type": "string"}, "care_provider": {"type": "string"},
     "registered_at": {"type": "string", "format": "date-time"}, "registered_by": {"type": "string"}}},
   "AssignmentRequest": {"type": "object", "additionalProperties": False, "required": ["holder", "care_provider", "purpose", "rights", "valid_from", "valid_until", "justification"], "properties": {
     "holder": {"type": "string", "description": "HSA-ID of a registered user."}, "care_provider": {"type": "string"},
     "care_units": {"type": "array", "items": {"type": "string"}, "description": "Own care units (required for vård och behandling)."},
     "purpose": ref("Purpose"),
     "rights": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": ["ingest", "search", "view-metadata", "play", "download", "read-audit", "read-access-log", "manage-privileges", "manage-records", "operate"]}},
     "valid_from": {"type": "string", "format": "date-time"}, "valid_until": {"type": "string", "format": "date-time", "description": "At most governance.max_assignment_days (default 366) after valid_from."},
     "justification": {"type": "string", "minLength": 1, "maxLength": 1000, "description": "Why the access is needed (never patient data). Kept in the catalog; the audit event carries its SHA-256."}}},
   "Decision": {"type": "object", "additionalProperties": False, "properties": {"comment": {"type": "string", "maxLength": 1000, "description": "Required for a rejection."}}},
   "Revocation": {"type": "object", "additionalProperties": False, "required": ["reason"], "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 1000}}},
   "GovernanceReceipt": {"type": "object", "required": ["audit_leaf_index"], "properties": {"assignment": {"type": "string"}, "audit_leaf_index": {"type": "integer"}}},
   "DecisionRecord": {"type": ["object", "null"], "required": ["by", "at"], "properties": {"by": {"type": "string"}, "at": {"type": "string", "format": "date-time"}, "comment": {"type": ["string", "null"]}}},
   "Assignment": {"type": "object", "required": ["id", "holder", "care_provider", "care_units", "purpose", "rights", "valid_from", "valid_until", "justification", "origin", "state", "requested_by", "requested_at"], "properties": {
     "id": {"type": "string"}, "holder": {"type": "string"}, "care_provider": {"type": "string"}, "care_units": {"type": "array", "items": {"type": "string"}},
     "purpose": {"type": "string"}, "rights": {"type": "array", "items": {"type": "string"}},
     "valid_from": {"type": "string", "format": "date-time"}, "valid_until": {"type": "string", "format": "date-time"},
     "justification": {"type": "string"}, "origin": {"type": "string", "description": "request, import:<sha256> or bootstrap."},
     "state": {"type": "string", "enum": ["requested", "approved", "rejected", "revoked"]},
     "requested_by": {"type": "string"}, "requested_at": {"type": "string", "format": "date-time"},
     "decision": ref("DecisionRecord"), "revocation": ref("DecisionRecord")}},
   "AccessReview": {"type": "object", "required": ["care_provider", "generated_at", "pending_requests", "assignments"], "properties": {
     "care_provider": {"type": "string"}, "generated_at": {"type": "string", "format": "date-time"}, "pending_requests": {"type": "integer"},
     "assignments": {"type": "array", "items": {"type": "object", "required": ["id", "holder", "holder_name", "holder_title", "purpose", "rights", "care_units", "requested_by", "approved_by", "approved_at", "valid_from", "valid_until", "age_days", "last_use", "expiring_soon", "unused", "origin"], "properties": {
       "id": {"type": "string"}, "holder": {"type": "string"}, "holder_name": {"type": "string"}, "holder_title": {"type": "string"},
       "purpose": {"type": "string"}, "rights": {"type": "array", "items": {"type": "string"}}, "care_units": {"type": "array", "items": {"type": "string"}},
       "requested_by": {"type": "string"}, "approved_by": {"type": "string"}, "approved_at": {"type": "string", "format": "date-time"},
       "valid_from": {"type": "string", "format": "date-time"}, "valid_until": {"type": "string", "format": "date-time"},
       "age_days": {"type": "integer"}, "last_use": {"type": ["string", "null"], "format": "date-time"},
       "expiring_soon": {"type": "boolean"}, "unused": {"type": "boolean", "description": "Not used for 90 days: a candidate to revoke."}, "origin": {"type": "string"}}}}}},
   "Scope": {"description": "Either recordings (ids), or patient with an optional period [from, to) of call start."},
   "LegalHoldRequest": {"type": "object", "additionalProperties": False, "required": ["care_provider", "reason", "case_reference"], "properties": {
     "care_provider": {"type": "string"}, "recordings": {"type": "array", "items": {"type": "string", "format": "uuid"}},
     "patient": {"type": "string", "description": "Personnummer, samordningsnummer or reserve number (never echoed)."},
     "from": {"type": "string", "format": "date-time"}, "to": {"type": "string", "format": "date-time"},
     "reason": {"type": "string", "minLength": 1, "maxLength": 1000, "description": "Stored sealed; the audit event carries its SHA-256."},
     "case_reference": {"type": "string", "minLength": 1, "maxLength": 200}}},
   "LegalHold": {"type": "object", "required": ["id", "case_reference", "reason", "recordings", "set_by", "set_at"], "properties": {
     "id": {"type": "string"}, "case_reference": {"type": "string"}, "reason": {"type": "string"}, "recordings": {"type": "integer"},
     "set_by": {"type": "string"}, "set_at": {"type": "string", "format": "date-time"},
     "released_by": {"type": ["string", "null"]}, "released_at": {"type": ["string", "null"], "format": "date-time"}, "release_reason": {"type": ["string", "null"]}}},
   "RecordsReceipt": {"type": "object", "required": ["id", "recordings", "audit_leaf_index"], "properties": {"id": {"type": "string"}, "recordings": {"type": "integer"}, "audit_leaf_index": {"type": "integer"}}},
   "RetentionReport": {"type": "object", "required": ["care_provider", "generated_at", "past_retention", "held", "recordings"], "properties": {
     "care_provider": {"type": "string"}, "generated_at": {"type": "string", "format": "date-time"}, "past_retention": {"type": "integer"}, "held": {"type": "integer"},
     "recordings": {"type": "array", "items": {"type": "object", "required": ["id", "care_unit", "started_at", "retention_until", "legal_hold"], "properties": {
       "id": {"type": "string", "format": "uuid"}, "care_unit": {"type": "string"}, "started_at": {"type": "string", "format": "date-time"},
       "retention_until": {"type": "string", "format": "date-time"}, "legal_hold": {"type": "boolean"}}}}}},
   "DeletionOrderRequest": {"type": "object", "additionalProperties": False, "required": ["kind", "care_provider"], "properties": {
     "kind": {"type": "string", "enum": ["ivo", "retention"]}, "care_provider": {"type": "string"},
     "case_number": {"type": "string", "description": "IVO case number (ivo)."}, "decision_date": {"type": "string", "format": "date", "description": "(ivo)"},
     "document_base64": {"type": "string", "contentEncoding": "base64", "description": "The decision document, at most 10 MiB (ivo)."},
     "reference": {"type": "string", "description": "The purge's reference (retention)."},
     "recordings": {"type": "array", "items": {"type": "string", "format": "uuid"}}, "patient": {"type": "string"},
     "from": {"type": "string", "format": "date-time"}, "to": {"type": "string", "format": "date-time"}}},
   "DeletionOrder": {"type": "object", "required": ["id", "kind", "care_provider", "reference", "scope", "state", "registered_by", "registered_at", "recordings", "destroyed"], "properties": {
     "id": {"type": "string"}, "kind": {"type": "string", "enum": ["ivo", "retention"]}, "care_provider": {"type": "string"}, "reference": {"type": "string"},
     "decision_date": {"type": ["string", "null"]}, "scope": {"type": "string"}, "document_sha256": {"type": ["string", "null"]},
     "state": {"type": "string", "enum": ["registered", "approved", "rejected", "executing", "executed"]},
     "registered_by": {"type": "string"}, "registered_at": {"type": "string", "format": "date-time"},
     "decided_by": {"type": ["string", "null"]}, "decided_at": {"type": ["string", "null"], "format": "date-time"},
     "recordings": {"type": "integer"}, "destroyed": {"type": "integer"}}},
   "DeletionCertificate": {"type": "object", "required": ["format", "statement", "checkpoint", "proofs"], "properties": {
     "format": {"type": "string", "const": "callvault-deletion-certificate-v1"},
     "statement": {"type": "string", "description": "C2SP signed note by the audit log's key listing every destroyed recording and its shred event's leaf index."},
     "checkpoint": {"type": "string", "description": "Signed checkpoint the proofs verify against."},
     "proofs": {"type": "array", "items": {"type": "object", "required": ["recording", "leaf_index", "event", "hashes"], "properties": {
       "recording": {"type": "string"}, "leaf_index": {"type": "integer"}, "event": {"type": "string", "contentEncoding": "base64"},
       "hashes": {"type": "array", "items": {"type": "string", "contentEncoding": "base64"}}}}}}},
   "Proof": {"type": "object", "required": ["kind", "tree_size", "hashes", "checkpoint"], "properties": {
     "kind": {"type": "string", "enum": ["inclusion", "consistency"]}, "index": {"type": ["integer", "null"]}, "leaf_hash": {"type": ["string", "null"], "contentEncoding": "base64"},
     "old_size": {"type": ["integer", "null"]}, "tree_size": {"type": "integer"},
     "hashes": {"type": "array", "items": {"type": "string", "contentEncoding": "base64"}},
     "checkpoint": {"type": "string"}, "old_checkpoint": {"type": ["string", "null"]}}}
  }
 }
}
print(json.dumps(doc, indent=2, ensure_ascii=False))
