#!/usr/bin/env python3
"""Validates FHIR R4 AuditEvent resources (NDJSON files, or one JSON resource per file)
with an independent implementation: the `fhir.resources` models (FHIR 4.0.1), plus the
IHE BALP constraints callvault claims (profiles, restful interaction, agents, patient and
query entities).

    validate_fhir.py FILE...      exit 0 when every resource is valid, 1 otherwise

scripts/test installs the pinned validator into target/fhir-venv.
"""
import json
import sys

import fhir.resources
from fhir.resources.auditevent import AuditEvent

BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."
EXPECT = {
    "PatientRead": ("read", "R"), "Read": ("read", "R"),
    "PatientQuery": ("search-type", "E"), "Query": ("search-type", "E"),
    "PatientCreate": ("create", "C"), "Create": ("create", "C"),
    "PatientDelete": ("delete", "D"), "Delete": ("delete", "D"),
}


def codes(concept_or_coding):
    if concept_or_coding is None:
        return set()
    if "coding" in concept_or_coding:
        return {(c.get("system"), c.get("code")) for c in concept_or_coding["coding"]}
    return {(concept_or_coding.get("system"), concept_or_coding.get("code"))}


def balp(r):
    errors = []
    agents = r.get("agent", [])
    if not agents:
        errors.append("no agent")
    if sum(1 for a in agents if a.get("requestor")) != 1:
        errors.append("exactly one agent must be the requestor")
    if not r.get("recorded", "").endswith("Z"):
        errors.append("recorded must be an instant in UTC")
    for p in r.get("meta", {}).get("profile", []):
        if not p.startswith(BALP):
            errors.append(f"unknown profile {p}")
            continue
        name = p[len(BALP):]
        if name not in EXPECT:
            errors.append(f"unknown BALP profile {name}")
            continue
        interaction, action = EXPECT[name]
        if ("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest") not in codes(r["type"]):
            errors.append(f"{name}: type must be audit-event-type#rest")
        if not any(("http://hl7.org/fhir/restful-interaction", interaction) in codes(s) for s in r.get("subtype", [])):
            errors.append(f"{name}: subtype must include restful-interaction#{interaction}")
        if r.get("action") != action:
            errors.append(f"{name}: action must be {action}")
        roles = [codes(a.get("type")) for a in agents]
        for code in ("110153", "110152"):
            if not any(("http://dicom.nema.org/resources/ontology/DCM", code) in t for t in roles):
                errors.append(f"{name}: no agent of type DCM#{code}")
        patients = [e for e in r.get("entity", []) if ("http://terminology.hl7.org/CodeSystem/object-role", "1") in codes(e.get("role"))]
        if name.startswith("Patient"):
            if len(patients) != 1 or not patients[0].get("what", {}).get("identifier", {}).get("value"):
                errors.append(f"{name}: exactly one patient entity with an identifier")
        if name.endswith("Query"):
            if not any(("http://terminology.hl7.org/CodeSystem/object-role", "24") in codes(e.get("role")) and e.get("query") for e in r.get("entity", [])):
                errors.append(f"{name}: no query entity")
    return errors


def main(paths):
    count = 0
    bad = 0
    for path in paths:
        seen = set()  # ids are unique within one export
        with open(path, encoding="utf-8") as f:
            text = f.read()
        lines = [l for l in text.splitlines() if l.strip()] if path.endswith(".ndjson") else [text]
        for n, line in enumerate(lines, 1):
            where = f"{path}:{n}"
            try:
                raw = json.loads(line)
                AuditEvent.parse_obj(raw)
            except Exception as e:  # the validator's own message says what is wrong
                print(f"{where}: not a valid FHIR R4 AuditEvent: {e}")
                bad += 1
                continue
            errors = balp(raw)
            if raw.get("id") in seen:
                errors.append(f"duplicate id {raw.get('id')}")
            seen.add(raw.get("id"))
            for e in errors:
                print(f"{where}: {e}")
            bad += bool(errors)
            count += 1
    print(f"validated {count} AuditEvent resources with fhir.resources {fhir.resources.__version__} "
          f"(FHIR {fhir.resources.__fhir_version__}); {bad} invalid")
    return 1 if bad or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
