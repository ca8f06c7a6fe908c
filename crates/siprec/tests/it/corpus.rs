//! Every message of the corpus: each real dialect reads into one normalised recording
//! session; the broken messages and the non-SIPREC Cisco modes are refused with a 4xx and a
//! reason. File kinds are described in `corpus/SOURCES.md`: `wire` messages are used as
//! they are (Content-Length recomputed: the Cisco capture's uploader truncated its
//! metadata), `sipp` templates get their keywords filled and CRLF line ends, and `body`
//! files are wrapped in an INVITE of our own.

use std::path::PathBuf;

use callvault_siprec::metadata::{self, Namespace};
use callvault_siprec::session::{self, Kind, RecordingSession};
use callvault_siprec::sip::{Framing, SipMessage};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/siprec/corpus")
}

fn read(name: &str) -> String {
    let path = corpus_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the corpus lives in ../shared/siprec)",
            path.display()
        )
    })
}

fn crlf(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// Head and body with the Content-Length header set to the body's length.
fn with_length(head: &str, body: &str) -> Vec<u8> {
    let mut out = String::new();
    let mut set = false;
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        if line.to_ascii_lowercase().starts_with("content-length") {
            out.push_str(&format!("Content-Length: {}\r\n", body.len()));
            set = true;
        } else {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    if !set {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

fn split_message(text: &str) -> (String, String) {
    let text = crlf(text);
    match text.split_once("\r\n\r\n") {
        Some((h, b)) => (h.to_owned(), b.to_owned()),
        None => (text, String::new()),
    }
}

/// A sipp template as the wire message sipp would send.
fn sipp(name: &str) -> Vec<u8> {
    let mut t = read(name);
    for (k, v) in [
        ("[remote_ip]", "127.0.0.1"),
        ("[remote_port]", "5060"),
        ("[local_ip]", "192.0.2.10"),
        ("[local_port]", "5070"),
        ("[transport]", "UDP"),
        ("[branch]", "z9hG4bK-corpus"),
        ("[pid]", "4711"),
        ("[call_number]", "1"),
        ("[cseq]", "2"),
        ("[auto_media_port]", "20000"),
        ("[auto_media_port+2]", "20002"),
        ("[media_port]", "20000"),
        ("[peer_tag_param]", ";tag=srs-1"),
    ] {
        t = t.replace(k, v);
    }
    t = t.replace("[call_id]", &format!("corpus-{name}"));
    let (head, body) = split_message(&t);
    with_length(&head.replace("[len]", "0"), &body)
}

/// A wire message, its Content-Length recomputed.
fn wire(name: &str) -> Vec<u8> {
    let (head, body) = split_message(&read(name));
    with_length(&head, &body)
}

/// A multipart body wrapped in an INVITE of our own.
fn body(name: &str) -> Vec<u8> {
    let b = crlf(&read(name));
    let boundary = b
        .lines()
        .find_map(|l| l.trim().strip_prefix("--"))
        .expect("a boundary line")
        .trim()
        .to_owned();
    let head = format!(
        "INVITE sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-corpus\r\n\
From: <sip:src@192.0.2.10>;tag=1\r\nTo: <sip:srs@127.0.0.1>\r\nCall-ID: corpus-{name}\r\n\
CSeq: 1 INVITE\r\nContact: <sip:src@192.0.2.10:5070>;+sip.src\r\nRequire: siprec\r\n\
Content-Type: multipart/mixed;boundary={boundary}\r\n"
    );
    with_length(&head, &b)
}

fn message(bytes: &[u8]) -> SipMessage {
    SipMessage::parse(bytes, Framing::Datagram).expect("the SIP message parses")
}

fn initial(bytes: &[u8]) -> RecordingSession {
    session::read(&message(bytes), Kind::Initial).expect("a recording session")
}

fn labels(s: &RecordingSession) -> Vec<&str> {
    s.streams
        .iter()
        .filter_map(|x| x.label.as_deref())
        .collect()
}

/// The AORs of the participant sending the stream with `label`.
fn sender(s: &RecordingSession, label: &str) -> Vec<String> {
    s.metadata
        .as_ref()
        .and_then(|m| m.sender_of_label(label))
        .map(|p| p.aors.clone())
        .unwrap_or_default()
}

fn namespace(s: &RecordingSession) -> Namespace {
    s.metadata.as_ref().expect("metadata").namespace
}

#[test]
fn cisco_cube_wire_and_bodies() {
    let s = initial(&wire("cisco-1.txt"));
    assert_eq!(s.call_id, "3089C795-74CB11E9-961DA422-D6FC9BE1@y.y.y.y");
    assert_eq!(labels(&s), ["1", "2"]);
    let m = s.metadata.as_ref().expect("metadata");
    assert_eq!(m.namespace, Namespace::Rfc7865);
    assert_eq!(m.sessions[0].sip_session_ids.len(), 1);
    let offer = s.offer.as_ref().expect("offer");
    assert!(
        offer
            .streams
            .iter()
            .all(|x| x.formats.iter().any(|f| f.encoding == "PCMU"))
    );

    let s = initial(&body("cisco-2.txt"));
    assert_eq!(labels(&s), ["1", "2"]);
    assert_eq!(sender(&s, "1"), ["sip:7301@35.162.237.204"]);
    assert_eq!(sender(&s, "2"), ["sip:7300@35.162.237.204"]);
    let m = s.metadata.as_ref().expect("metadata");
    assert_eq!(m.participants[1].names, ["7300"]);
    assert_eq!(m.sessions[0].id, "kQNhKFdEEeeJ9tD/VsPGWA==");

    // Both streams paused (a=inactive), no stream associations.
    let s = initial(&body("cisco-3-inactive.txt"));
    assert!(
        s.offer
            .as_ref()
            .expect("offer")
            .streams
            .iter()
            .all(|x| x.paused())
    );
}

#[test]
fn oracle_acme_pre_rfc_with_large_labels_and_participant_send() {
    let s = initial(&body("oracle-1.txt"));
    assert_eq!(labels(&s), ["16777227", "16777228"]);
    assert_eq!(namespace(&s), Namespace::PreRfc);
    assert_eq!(sender(&s, "16777227"), ["sip:9000@192.168.50.102"]);
    assert_eq!(sender(&s, "16777228"), ["sip:1002@192.168.50.10"]);
    let m = s.metadata.as_ref().expect("metadata");
    assert_eq!(m.extensions.len(), 2, "apkt:callingParty per participant");
    assert!(m.extensions[0].contains("<apkt:callingParty>true</apkt:callingParty>"));
    assert_eq!(
        s.streams[0].participant.as_deref(),
        Some("fSD3PFErSjNTHLDiXCELjw==")
    );
}

#[test]
fn avaya_sbce_one_line_then_participants_in_a_metadata_only_update() {
    let s = initial(&sipp("avaya-1.txt"));
    assert_eq!(s.streams.len(), 1);
    let u = session::read(
        &message(&sipp("avaya-1-update-metadata-only.txt")),
        Kind::InDialog,
    )
    .expect("a metadata-only UPDATE");
    assert!(u.offer.is_none());
    let mut m = s.metadata.clone().expect("metadata");
    let before = m.participants.len();
    m.merge(u.metadata.expect("metadata"));
    assert!(m.participants.len() >= before);
    assert!(m.participants.iter().any(|p| !p.aors.is_empty()));

    let s = initial(&body("avaya-2.txt"));
    assert_eq!(labels(&s), ["10", "20"]);
    assert!(s.streams.iter().all(|x| x.participant.is_some()), "{s:?}");
}

#[test]
fn broadworks_and_webex_old_draft_namespace() {
    let s = initial(&sipp("broadworks-1.txt"));
    assert_eq!(namespace(&s), Namespace::Draft);
    assert_eq!(labels(&s), ["1"]);
    assert_eq!(sender(&s, "1"), ["sip:8638254725"]);
    let m = s.metadata.as_ref().expect("metadata");
    assert_eq!(m.groups.len(), 1);
    assert!(
        m.extensions
            .iter()
            .any(|x| x.contains("broadWorksRecordingMetadata"))
    );
    assert!(
        m.extensions[0].contains("<acdName>Aralez</acdName>"),
        "kept whole"
    );

    // Hold: an SDP-only re-INVITE with c=0.0.0.0.
    let r = session::read(
        &message(&sipp("broadworks-1-reinvite-hold.txt")),
        Kind::InDialog,
    )
    .expect("re-INVITE");
    assert!(r.metadata.is_none());
    assert!(
        r.offer
            .as_ref()
            .expect("sdp")
            .streams
            .iter()
            .all(|x| x.paused())
    );

    // Metadata before the SDP.
    let s = initial(&sipp("webex-1.txt"));
    assert_eq!(namespace(&s), Namespace::Draft);
    assert!(!s.streams.is_empty());
    assert!(
        s.metadata
            .as_ref()
            .expect("m")
            .participants
            .iter()
            .all(|p| !p.aors.is_empty())
    );
}

#[test]
fn metaswitch_ribbon_audiocodes_opensips_sems() {
    let s = initial(&sipp("metaswitch-1.txt"));
    assert_eq!(s.streams.len(), 1);
    let d = s.offer.as_ref().expect("offer").streams[0].direction;
    assert_eq!(
        d,
        callvault_siprec::sdp::Direction::SendRecv,
        "no direction attribute"
    );
    assert!(
        s.metadata
            .as_ref()
            .expect("m")
            .extensions
            .iter()
            .any(|x| x.contains("metaswitch"))
    );
    let r = session::read(
        &message(&sipp("metaswitch-2-reinvite-hold.txt")),
        Kind::InDialog,
    )
    .expect("hold with metadata");
    assert!(r.metadata.is_some());
    assert!(
        r.offer
            .as_ref()
            .expect("sdp")
            .streams
            .iter()
            .all(|x| x.paused())
    );

    let s = initial(&body("ribbon-1.txt"));
    assert_eq!(namespace(&s), Namespace::PreRfc, "tns: prefixed");
    assert_eq!(sender(&s, "1"), ["2249888012@172.16.195.72"]);
    assert_eq!(sender(&s, "2"), ["2249888500@172.16.198.55"]);
    let m = s.metadata.as_ref().expect("m");
    assert_eq!(
        m.sessions[0].group.as_deref(),
        Some("MTQ3YzA3YzAtNjdkNy0xMA==")
    );
    assert!(m.extensions[0].starts_with("<callData"));
    // A blank name is dropped, the other kept.
    assert_eq!(m.participants[0].names, ["Extension 8500"]);
    assert!(m.participants[1].names.is_empty());

    let s = initial(&wire("audiocodes-1.txt"));
    assert_eq!(labels(&s), ["1", "2"]);
    assert!(s.streams.iter().all(|x| x.participant.is_some()), "{s:?}");

    // No t= and no c= in the SDP.
    let s = initial(&body("opensips-1.txt"));
    assert!(!s.streams.is_empty());

    // Labels a_leg/b_leg, rs-metadata without +xml, no closing delimiter.
    let s = initial(&body("sems-1.txt"));
    assert_eq!(labels(&s), ["a_leg", "b_leg"]);
    assert!(s.streams.iter().all(|x| x.participant.is_some()), "{s:?}");
}

#[test]
fn netsapiens_metadata_document() {
    let m = metadata::parse(read("netsapiens-1-metadata-only.xml").as_bytes()).expect("metadata");
    assert_eq!(m.namespace, Namespace::Rfc7865);
    assert_eq!(m.participants.len(), 2);
    assert_eq!(m.participants[0].names, ["Din Djarin"]);
    assert_eq!(
        m.sender_of_label("2").map(|p| p.aors.clone()),
        Some(vec!["sip:1002@dwang.netsapiens.com".to_owned()])
    );
    assert!(
        m.extensions
            .iter()
            .any(|x| x.contains("netsapiensExtension") && x.contains("<groupSeq>0</groupSeq>"))
    );
}

#[test]
fn broken_and_non_siprec_messages_are_refused_with_a_4xx_and_a_reason() {
    let cases = [
        ("oracle-2.txt", sipp("oracle-2.txt"), 400, "SDP: "),
        (
            "broadworks-3-mangled.txt",
            body("broadworks-3-mangled.txt"),
            400,
            "Content-Type is not a type/subtype",
        ),
        (
            "cisco-nonsiprec-cube-nbr-1.txt",
            sipp("cisco-nonsiprec-cube-nbr-1.txt"),
            488,
            "not a SIPREC session",
        ),
        (
            "cisco-nonsiprec-cucm-bib-1.txt",
            sipp("cisco-nonsiprec-cucm-bib-1.txt"),
            488,
            "not a SIPREC session",
        ),
    ];
    for (name, bytes, status, why) in cases {
        let refusal = match SipMessage::parse(&bytes, Framing::Datagram) {
            Err(e) => session::Refusal::from(e),
            Ok(m) => session::read(&m, Kind::Initial).expect_err(name),
        };
        assert_eq!(refusal.status, status, "{name}: {refusal:?}");
        assert!(refusal.reason.contains(why), "{name}: {refusal:?}");
    }
    // The CUCM ACK carrying the delayed SDP is a request of no recording session.
    let ack = message(&sipp("cisco-nonsiprec-cucm-bib-1-ack-with-sdp.txt"));
    assert_eq!(ack.method().map(|m| m.to_string()).as_deref(), Some("ACK"));
}
