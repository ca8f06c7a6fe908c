//! Audit events as IHE ATNA audit messages (DICOM PS3.15 A.5, the successor of RFC 3881),
//! the payload of syslog messages to an audit record repository (IHE ITI-20), written with
//! `quick-xml` on one line.
//!
//! ```text
//! AuditMessage
//!   EventIdentification   action code, time, outcome; EventID (DCM), EventTypeCode,
//!                         PurposeOfUse
//!   ActiveParticipant     the requestor (HSA-ID, name, assignment), Source Role ID
//!   ActiveParticipant     the client's certificate fingerprint / host, Source Role ID
//!   ActiveParticipant     callvault, Destination Role ID
//!   AuditSourceIdentification  the log's origin, type 4 (application server)
//!   ParticipantObjectIdentification  the patient (type 1, role 1), when there is one
//!   ParticipantObjectIdentification  the recording (type 2, role 4), when there is one
//!   ParticipantObjectIdentification  the audit log leaf (type 2, role 13 security
//!                                    resource) with the event's details
//! ```

use base64::Engine as _;
use callvault_audit::event::{Action as EventAction, ActionKind, Actor, AuditEvent, Outcome};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, Event};
use time::format_description::well_known::Rfc3339;

use crate::fhir::ExportContext;

/// DICOM's code system designator.
const DCM: &str = "DCM";

/// EventID (DICOM PS3.16 CID 400), action code (C, R, U, D, E).
fn event_id(a: EventAction) -> (&'static str, &'static str, &'static str) {
    match a.kind() {
        ActionKind::PatientQuery => ("110112", "Query", "E"),
        ActionKind::PatientRead => ("110110", "Patient Record", "R"),
        ActionKind::PatientExport | ActionKind::LogExport => ("110106", "Export", "R"),
        ActionKind::PatientCreate => ("110110", "Patient Record", "C"),
        ActionKind::PatientUpdate => ("110110", "Patient Record", "U"),
        ActionKind::PatientDelete | ActionKind::BlobsDeleted => ("110110", "Patient Record", "D"),
        ActionKind::SecurityRoles => ("110136", "Security Roles Changed", "E"),
        ActionKind::SecurityAlert => ("110113", "Security Alert", "E"),
        ActionKind::Operation => ("110100", "Application Activity", "E"),
    }
}

fn purpose_code(p: &str) -> Option<(&'static str, &'static str)> {
    Some(match p {
        "vård och behandling" => ("TREAT", "treatment"),
        "kvalitetssäkring" => ("PATSFTY", "patient safety"),
        "logguppföljning" => ("HOPERAT", "healthcare operations"),
        "administration" => ("HSYSADMIN", "health system administration"),
        _ => return None,
    })
}

type W = Writer<Vec<u8>>;

/// Control characters (line breaks included) become spaces: a syslog message is one line.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn code(w: &mut W, element: &str, c: &str, system: &str, text: &str) -> std::io::Result<()> {
    w.create_element(element)
        .with_attributes([
            ("csd-code", c),
            ("codeSystemName", system),
            ("originalText", text),
        ])
        .write_empty()?;
    Ok(())
}

/// One audit event (leaf `idx`) as a DICOM audit message (XML, one line, UTF-8).
pub fn to_atna(idx: u64, e: &AuditEvent, ctx: &ExportContext) -> String {
    let mut w = Writer::new(Vec::new());
    // Writing to a Vec cannot fail; an error here would be a bug in the writer.
    let _ = write(&mut w, idx, e, ctx);
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

fn write(w: &mut W, idx: u64, e: &AuditEvent, ctx: &ExportContext) -> std::io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let (id, id_text, action) = event_id(e.action);
    let (outcome, reason) = match &e.outcome {
        Outcome::Granted => ("0", None),
        Outcome::Denied(r) => ("4", Some(clean(r))),
        Outcome::Failed(r) => ("8", Some(clean(r))),
    };
    let time = e.time.format(&Rfc3339).unwrap_or_default();
    let emergency = e
        .details
        .iter()
        .any(|(k, v)| k == "emergency_access" && v == "true");
    w.create_element("AuditMessage").write_inner_content(|w| {
        let mut ev = w.create_element("EventIdentification").with_attributes([
            ("EventActionCode", action),
            ("EventDateTime", time.as_str()),
            ("EventOutcomeIndicator", outcome),
        ]);
        if let Some(r) = &reason {
            ev = ev.with_attribute(("EventOutcomeDescription", r.as_str()));
        }
        ev.write_inner_content(|w| {
            code(w, "EventID", id, DCM, id_text)?;
            code(
                w,
                "EventTypeCode",
                e.action.code(),
                "callvault",
                e.action.code(),
            )?;
            if emergency {
                code(
                    w,
                    "PurposeOfUse",
                    "ETREAT",
                    "v3-ActReason",
                    "Emergency Treatment",
                )?;
            }
            if let Some((c, text)) = e.purpose.as_deref().and_then(purpose_code) {
                code(w, "PurposeOfUse", c, "v3-ActReason", text)?;
            }
            Ok(())
        })?;

        // The requestor.
        let (user_id, user_name) = match &e.actor {
            Actor::Person(h) | Actor::System(h) => (
                h.as_str().to_owned(),
                ctx.actor_name
                    .as_ref()
                    .map(|(n, t)| clean(&format!("{n} ({t})")))
                    .unwrap_or_else(|| h.as_str().to_owned()),
            ),
            Actor::Operator(o) => (o.clone(), format!("operator {o}")),
            Actor::Vault => ("callvault".into(), "callvault".into()),
        };
        let mut user = w.create_element("ActiveParticipant").with_attributes([
            ("UserID", user_id.as_str()),
            ("UserName", user_name.as_str()),
            ("UserIsRequestor", "true"),
        ]);
        if let Some(a) = &e.assignment {
            user = user.with_attribute(("AlternativeUserID", a.as_str()));
        }
        user.write_inner_content(|w| {
            if let Some(u) = &e.actor_care_unit {
                code(w, "RoleIDCode", u.as_str(), "HSA-ID", "care unit")?;
            }
            Ok(())
        })?;
        let client = clean(&e.source);
        w.create_element("ActiveParticipant")
            .with_attributes([("UserID", client.as_str()), ("UserIsRequestor", "false")])
            .write_inner_content(|w| code(w, "RoleIDCode", "110153", DCM, "Source Role ID"))?;
        let server = format!("callvault {}", ctx.origin);
        w.create_element("ActiveParticipant")
            .with_attributes([("UserID", server.as_str()), ("UserIsRequestor", "false")])
            .write_inner_content(|w| code(w, "RoleIDCode", "110152", DCM, "Destination Role ID"))?;

        let site = e
            .care_provider
            .as_ref()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default();
        let mut source = w
            .create_element("AuditSourceIdentification")
            .with_attribute(("AuditSourceID", ctx.origin.as_str()));
        if !site.is_empty() {
            source = source.with_attribute(("AuditEnterpriseSiteID", site.as_str()));
        }
        source.write_inner_content(|w| {
            code(
                w,
                "AuditSourceTypeCode",
                "4",
                DCM,
                "Application Server Process",
            )
        })?;

        if let Some(p) = &ctx.patient {
            w.create_element("ParticipantObjectIdentification")
                .with_attributes([
                    ("ParticipantObjectID", p.value.as_str()),
                    ("ParticipantObjectTypeCode", "1"),
                    ("ParticipantObjectTypeCodeRole", "1"),
                ])
                .write_inner_content(|w| {
                    code(
                        w,
                        "ParticipantObjectIDTypeCode",
                        "2",
                        "RFC-3881",
                        "Patient Number",
                    )?;
                    detail(w, "identifier-system", &p.system)
                })?;
        }
        if let Some(r) = &e.recording {
            let id = r.id.to_string();
            w.create_element("ParticipantObjectIdentification")
                .with_attributes([
                    ("ParticipantObjectID", id.as_str()),
                    ("ParticipantObjectTypeCode", "2"),
                    ("ParticipantObjectTypeCodeRole", "4"),
                ])
                .write_inner_content(|w| {
                    code(
                        w,
                        "ParticipantObjectIDTypeCode",
                        "recording",
                        "callvault",
                        "recorded call",
                    )
                })?;
        }
        let leaf = idx.to_string();
        w.create_element("ParticipantObjectIdentification")
            .with_attributes([
                ("ParticipantObjectID", leaf.as_str()),
                ("ParticipantObjectTypeCode", "2"),
                ("ParticipantObjectTypeCodeRole", "13"),
            ])
            .write_inner_content(|w| {
                code(
                    w,
                    "ParticipantObjectIDTypeCode",
                    "audit-leaf",
                    "callvault",
                    "audit log leaf index",
                )?;
                for (k, v) in e.details.iter().filter(|(k, _)| !k.ends_with("_sealed")) {
                    detail(w, k, v)?;
                }
                Ok(())
            })?;
        Ok(())
    })?;
    Ok(())
}

/// A ParticipantObjectDetail: the value is base64 (xs:base64Binary in the schema).
fn detail(w: &mut W, key: &str, value: &str) -> std::io::Result<()> {
    let v = base64::engine::general_purpose::STANDARD.encode(value.as_bytes());
    let key = clean(key);
    w.create_element("ParticipantObjectDetail")
        .with_attributes([("type", key.as_str()), ("value", v.as_str())])
        .write_empty()?;
    Ok(())
}

/// One audit event ready for an audit record repository.
#[derive(Clone, Debug)]
pub struct AtnaMessage {
    /// Leaf index.
    pub index: u64,
    /// Event time.
    pub time: time::OffsetDateTime,
    /// The DICOM audit message (XML).
    pub xml: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use callvault_audit::event::Actor;
    use callvault_types::HsaId;

    #[test]
    fn markup_in_values_is_escaped_and_the_message_is_one_line() {
        let mut e = AuditEvent::new(
            Actor::Person(HsaId::parse("SE2321000016-N001").expect("hsa")),
            EventAction::View,
            "tls:sha256:ab",
        );
        e.outcome = Outcome::Denied("<script>\"x\" & 'y'\n".into());
        let ctx = ExportContext {
            origin: "audit.example".into(),
            patient: None,
            actor_name: Some(("Åsa <Öberg>".into(), "Sjuksköterska".into())),
        };
        let xml = to_atna(7, &e, &ctx);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><AuditMessage>"));
        assert!(!xml.contains('\n'), "{xml}");
        assert!(!xml.contains("<script>") && !xml.contains("<Öberg>"));
        assert!(xml.contains("Åsa &lt;Öberg&gt; (Sjuksköterska)"), "{xml}");
        assert!(xml.contains("EventOutcomeIndicator=\"4\""));
        assert!(xml.contains("csd-code=\"110110\""));
    }
}
