//! Recording metadata (RFC 7865), read with `quick-xml` into one normalised form.
//!
//! SBCs write three namespaces: RFC 7865's `urn:ietf:params:xml:ns:recording:1`, the
//! pre-RFC `urn:ietf:params:xml:ns:recording` (Oracle/Acme, Ribbon), and the old draft's
//! `urn:ietf:params:xml:ns:siprec` with root `recording_metadata` (BroadWorks, Webex). They
//! prefix it (`tns:`) or not, and name identifiers `participant_id=` (RFC) or `id=`
//! (drafts). Elements are therefore matched on their local name inside a recording
//! namespace; anything in another namespace, and every `extensiondata`, is vendor
//! extension data, kept whole as written (RFC 7865 §6.1.1: an SRS must not drop it).
//!
//! The metadata names participants (their AORs and names), streams (their labels) and which
//! participant sends which stream (`participantstreamassoc`, or `send` inside the
//! participant in the drafts).

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

use crate::SiprecError;

/// Longest metadata document accepted.
pub const MAX_METADATA: usize = 48 * 1024;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 32;
/// Most participants, streams or sessions of one kind.
pub const MAX_ITEMS: usize = 64;

/// Which namespace the document uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespace {
    /// `urn:ietf:params:xml:ns:recording:1` (RFC 7865).
    Rfc7865,
    /// `urn:ietf:params:xml:ns:recording` (pre-RFC drafts).
    PreRfc,
    /// `urn:ietf:params:xml:ns:siprec` (early drafts, root `recording_metadata`).
    Draft,
}

impl Namespace {
    fn of(uri: &str) -> Option<Self> {
        match uri {
            "urn:ietf:params:xml:ns:recording:1" => Some(Self::Rfc7865),
            "urn:ietf:params:xml:ns:recording" => Some(Self::PreRfc),
            "urn:ietf:params:xml:ns:siprec" => Some(Self::Draft),
            _ => None,
        }
    }
}

/// A communication session group (RFC 7865 §6.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    /// `group_id` / `id`.
    pub id: String,
}

/// A communication session (RFC 7865 §6.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Session {
    /// `session_id` / `id`.
    pub id: String,
    /// Its group (`group-ref`, or the drafts' `group=`).
    pub group: Option<String>,
    /// `sipSessionID` values (RFC 7989 Session-IDs of the recorded call).
    pub sip_session_ids: Vec<String>,
    /// `start-time`, as written.
    pub start_time: Option<String>,
}

/// A participant (RFC 7865 §6.5).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Participant {
    /// `participant_id` / `id`.
    pub id: String,
    /// Its addresses of record (`nameID aor=`, or the drafts' `aor` element).
    pub aors: Vec<String>,
    /// Its display names (`name`), blanks dropped.
    pub names: Vec<String>,
    /// Streams it sends (ids).
    pub send: Vec<String>,
    /// Streams it receives (ids).
    pub recv: Vec<String>,
}

/// A media stream (RFC 7865 §6.4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stream {
    /// `stream_id` / `id`.
    pub id: String,
    /// Its SDP label (`a=label`).
    pub label: Option<String>,
    /// Its session.
    pub session: Option<String>,
}

/// A recording metadata document, normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// The namespace it was written in.
    pub namespace: Namespace,
    /// `datamode` (`complete`, `partial`).
    pub data_mode: Option<String>,
    /// Groups.
    pub groups: Vec<Group>,
    /// Sessions.
    pub sessions: Vec<Session>,
    /// Participants, with `participantstreamassoc` folded in.
    pub participants: Vec<Participant>,
    /// Streams.
    pub streams: Vec<Stream>,
    /// Vendor extension data, each element as written (XML).
    pub extensions: Vec<String>,
}

impl Metadata {
    /// The participant that sends the stream with this label, if the metadata says.
    pub fn sender_of_label(&self, label: &str) -> Option<&Participant> {
        let stream = self
            .streams
            .iter()
            .find(|s| s.label.as_deref() == Some(label))?;
        self.participants
            .iter()
            .find(|p| p.send.contains(&stream.id))
    }

    /// Merges a later document of the same recording session (an UPDATE or re-INVITE
    /// carrying metadata, RFC 7866 §9.2.2): items are replaced by id, new ones added.
    pub fn merge(&mut self, later: Metadata) {
        fn upsert<T>(into: &mut Vec<T>, items: Vec<T>, id: impl Fn(&T) -> &str) {
            for item in items {
                match into.iter_mut().find(|x| id(x) == id(&item)) {
                    Some(x) => *x = item,
                    None => into.push(item),
                }
            }
        }
        if later.data_mode.is_some() {
            self.data_mode = later.data_mode;
        }
        upsert(&mut self.groups, later.groups, |g| &g.id);
        upsert(&mut self.sessions, later.sessions, |s| &s.id);
        upsert(&mut self.participants, later.participants, |p| &p.id);
        upsert(&mut self.streams, later.streams, |s| &s.id);
        for x in later.extensions {
            if !self.extensions.contains(&x) {
                self.extensions.push(x);
            }
        }
    }
}

fn bad(what: impl Into<String>) -> SiprecError {
    SiprecError::BadMetadata(what.into())
}

/// The value of the first attribute among `names` (local names).
fn attribute(e: &BytesStart<'_>, names: &[&str]) -> Result<Option<String>, SiprecError> {
    for a in e.attributes() {
        let a = a.map_err(|e| bad(format!("an attribute is malformed: {e}")))?;
        let key = a.key.local_name();
        let key: &str = key.as_ref();
        if names.contains(&key) {
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| bad(format!("an attribute value is malformed: {e}")))?;
            return Ok(Some(v.trim().to_owned()));
        }
    }
    Ok(None)
}

/// The id attribute of an item; it must be present. An empty id is kept (Avaya SBCE
/// sends one for its placeholder stream): nothing can refer to it.
fn required_id(e: &BytesStart<'_>, names: &[&str], what: &str) -> Result<String, SiprecError> {
    attribute(e, names)?.ok_or_else(|| bad(format!("a {what} has no id")))
}

fn push_limited<T>(v: &mut Vec<T>, item: T, what: &str) -> Result<(), SiprecError> {
    if v.len() >= MAX_ITEMS {
        return Err(bad(format!("more than {MAX_ITEMS} {what}")));
    }
    v.push(item);
    Ok(())
}

/// What an open element is, for the text and children it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Open {
    Root,
    DataMode,
    Group,
    Session,
    SessionGroupRef,
    SipSessionId,
    StartTime,
    Participant,
    NameId,
    Name,
    Aor,
    Send,
    Recv,
    SendRecvId,
    Stream,
    Label,
    StreamAssoc,
    Other,
}

/// Reads a metadata document.
pub fn parse(xml: &[u8]) -> Result<Metadata, SiprecError> {
    if xml.len() > MAX_METADATA {
        return Err(bad(format!("longer than {MAX_METADATA} bytes")));
    }
    let text = std::str::from_utf8(xml).map_err(|_| bad("not UTF-8"))?;
    let mut reader = NsReader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut out: Option<Metadata> = None;
    let mut stack: Vec<Open> = Vec::new();
    let mut text_acc = String::new();
    // The participant a `participantstreamassoc` is about.
    let mut assoc: Option<String> = None;
    loop {
        let before = reader.buffer_position() as usize;
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| bad(format!("not well-formed XML: {e}")))?;
        let recording_ns = match &ns {
            ResolveResult::Bound(n) => Namespace::of(n.0),
            _ => None,
        };
        let unbound = matches!(ns, ResolveResult::Unbound);
        match event {
            Event::Start(ref e) | Event::Empty(ref e) if stack.is_empty() => {
                let is_empty = matches!(event, Event::Empty(_));
                let local = e.local_name();
                let local: &str = local.as_ref();
                let Some(namespace) = recording_ns else {
                    return Err(bad(
                        "the root element is not in a recording metadata namespace",
                    ));
                };
                if local != "recording" && local != "recording_metadata" {
                    return Err(bad("the root element is not recording"));
                }
                out = Some(Metadata {
                    namespace,
                    data_mode: None,
                    groups: Vec::new(),
                    sessions: Vec::new(),
                    participants: Vec::new(),
                    streams: Vec::new(),
                    extensions: Vec::new(),
                });
                if is_empty {
                    break;
                }
                stack.push(Open::Root);
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                let Some(md) = out.as_mut() else {
                    return Err(bad("content before the root element"));
                };
                if stack.len() >= MAX_DEPTH {
                    return Err(bad(format!("nested deeper than {MAX_DEPTH}")));
                }
                let local = e.local_name();
                let local: String = AsRef::<str>::as_ref(&local).to_owned();
                // Extension data: another namespace (an unprefixed child of a document whose
                // default namespace is a recording one resolves to it), or `extensiondata`.
                if (recording_ns.is_none() && !unbound) || local == "extensiondata" {
                    let end = if is_empty {
                        reader.buffer_position() as usize
                    } else {
                        let name: String = AsRef::<str>::as_ref(&e.name()).to_owned();
                        reader
                            .read_to_end(quick_xml::name::QName(name.as_str()))
                            .map_err(|e| bad(format!("not well-formed XML: {e}")))?;
                        reader.buffer_position() as usize
                    };
                    let raw = text[before..end].trim();
                    if md.extensions.len() >= MAX_ITEMS {
                        return Err(bad(format!("more than {MAX_ITEMS} extensions")));
                    }
                    md.extensions.push(raw.to_owned());
                    continue;
                }
                let parent = stack.last().copied().unwrap_or(Open::Root);
                let open = match (parent, local.as_str()) {
                    (Open::Root, "datamode" | "dataMode") => Open::DataMode,
                    (Open::Root, "group") => {
                        let id = required_id(e, &["group_id", "id"], "group")?;
                        push_limited(&mut md.groups, Group { id }, "groups")?;
                        Open::Group
                    }
                    (Open::Root, "session") => {
                        let id = required_id(e, &["session_id", "id"], "session")?;
                        let group = attribute(e, &["group"])?;
                        push_limited(
                            &mut md.sessions,
                            Session {
                                id,
                                group,
                                ..Session::default()
                            },
                            "sessions",
                        )?;
                        Open::Session
                    }
                    (Open::Session, "group-ref") => Open::SessionGroupRef,
                    (Open::Session, "sipSessionID") => Open::SipSessionId,
                    (Open::Session, "start-time") => Open::StartTime,
                    (Open::Root, "participant") => {
                        let id = required_id(e, &["participant_id", "id"], "participant")?;
                        push_limited(
                            &mut md.participants,
                            Participant {
                                id,
                                ..Participant::default()
                            },
                            "participants",
                        )?;
                        Open::Participant
                    }
                    (Open::Participant, "nameID") => {
                        if let Some(aor) = attribute(e, &["aor"])?.filter(|a| !a.is_empty())
                            && let Some(p) = md.participants.last_mut()
                        {
                            p.aors.push(aor);
                        }
                        Open::NameId
                    }
                    (Open::Participant | Open::NameId, "name") => Open::Name,
                    (Open::Participant, "aor") => Open::Aor,
                    (Open::Participant | Open::StreamAssoc, "send") => Open::Send,
                    (Open::Participant | Open::StreamAssoc, "recv") => Open::Recv,
                    (Open::Send | Open::Recv, "id") => Open::SendRecvId,
                    (Open::Root, "stream") => {
                        let id = required_id(e, &["stream_id", "id"], "stream")?;
                        let session = attribute(e, &["session_id", "session"])?;
                        push_limited(
                            &mut md.streams,
                            Stream {
                                id,
                                session,
                                label: None,
                            },
                            "streams",
                        )?;
                        Open::Stream
                    }
                    (Open::Stream, "label") => Open::Label,
                    (Open::Root, "participantstreamassoc") => {
                        assoc = Some(required_id(
                            e,
                            &["participant_id", "id"],
                            "participantstreamassoc",
                        )?);
                        Open::StreamAssoc
                    }
                    _ => Open::Other,
                };
                text_acc.clear();
                if !is_empty {
                    stack.push(open);
                }
            }
            Event::Text(t) => {
                text_acc.push_str(&t.xml_content(quick_xml::XmlVersion::Implicit1_0));
            }
            Event::CData(t) => {
                text_acc.push_str(&t.xml_content(quick_xml::XmlVersion::Implicit1_0));
            }
            Event::GeneralRef(r) => {
                let name = r.xml_content(quick_xml::XmlVersion::Implicit1_0);
                if let Some(c) = r
                    .resolve_char_ref()
                    .map_err(|e| bad(format!("a character reference is malformed: {e}")))?
                {
                    text_acc.push(c);
                } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(&name) {
                    text_acc.push_str(s);
                } else {
                    return Err(bad("an entity reference that XML does not predefine"));
                }
            }
            Event::End(_) => {
                let Some(open) = stack.pop() else {
                    return Err(bad("an end tag without a start"));
                };
                let Some(md) = out.as_mut() else {
                    return Err(bad("content before the root element"));
                };
                let value = text_acc.trim().to_owned();
                text_acc.clear();
                let parent = stack.last().copied();
                match open {
                    Open::Root => break,
                    Open::DataMode => md.data_mode = Some(value),
                    Open::SessionGroupRef => {
                        if let Some(s) = md.sessions.last_mut() {
                            s.group = Some(value);
                        }
                    }
                    Open::SipSessionId => {
                        if let Some(s) = md.sessions.last_mut() {
                            s.sip_session_ids.push(value);
                        }
                    }
                    Open::StartTime => {
                        if let Some(s) = md.sessions.last_mut() {
                            s.start_time = Some(value);
                        }
                    }
                    Open::Name if !value.is_empty() => {
                        if let Some(p) = md.participants.last_mut() {
                            p.names.push(value);
                        }
                    }
                    Open::Aor if !value.is_empty() => {
                        if let Some(p) = md.participants.last_mut() {
                            p.aors.push(value);
                        }
                    }
                    Open::Label => {
                        if let Some(s) = md.streams.last_mut() {
                            s.label = Some(value);
                        }
                    }
                    Open::Send | Open::Recv | Open::SendRecvId if !value.is_empty() => {
                        let send = match open {
                            Open::SendRecvId => parent == Some(Open::Send),
                            _ => open == Open::Send,
                        };
                        let in_assoc = stack.contains(&Open::StreamAssoc);
                        let who = if in_assoc {
                            assoc.clone()
                        } else {
                            md.participants.last().map(|p| p.id.clone())
                        };
                        if let Some(id) = who {
                            let p = match md.participants.iter_mut().find(|p| p.id == id) {
                                Some(p) => p,
                                None => {
                                    // An association may come before its participant.
                                    push_limited(
                                        &mut md.participants,
                                        Participant {
                                            id,
                                            ..Participant::default()
                                        },
                                        "participants",
                                    )?;
                                    md.participants.last_mut().ok_or_else(|| bad("internal"))?
                                }
                            };
                            let list = if send { &mut p.send } else { &mut p.recv };
                            if !list.contains(&value) {
                                push_limited(list, value, "streams of a participant")?;
                            }
                        }
                    }
                    Open::StreamAssoc => assoc = None,
                    _ => {}
                }
            }
            Event::DocType(_) => return Err(bad("a DOCTYPE is not accepted")),
            Event::Eof => {
                return Err(bad(if out.is_some() {
                    "the document ends inside the root element"
                } else {
                    "no root element"
                }));
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
        }
    }
    out.ok_or_else(|| bad("no root element"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_namespaces_and_both_id_styles_read_alike() {
        let rfc = r#"<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>complete</datamode>
<session session_id="S"><sipSessionID>abc</sipSessionID></session>
<participant participant_id="P"><nameID aor="sip:a@x"><name>Anna</name></nameID></participant>
<stream stream_id="T" session_id="S"><label>1</label></stream>
<participantstreamassoc participant_id="P"><send>T</send></participantstreamassoc></recording>"#;
        let pre = r#"<tns:recording xmlns:tns="urn:ietf:params:xml:ns:recording"><tns:datamode>complete</tns:datamode>
<tns:session session_id="S"/><tns:participant participant_id="P"><tns:nameID aor="sip:a@x"><tns:name>Anna</tns:name></tns:nameID></tns:participant>
<tns:stream stream_id="T" session_id="S"><tns:label>1</tns:label></tns:stream>
<tns:participantstreamassoc participant_id="P"><tns:send>T</tns:send></tns:participantstreamassoc></tns:recording>"#;
        let draft = r#"<recording_metadata xmlns="urn:ietf:params:xml:ns:siprec"><dataMode>complete</dataMode>
<session id="S"/><participant id="P" session="S"><aor>sip:a@x</aor><name>Anna</name><send><id>T</id></send></participant>
<stream id="T" session="S"><label>1</label></stream></recording_metadata>"#;
        for (doc, ns) in [
            (rfc, Namespace::Rfc7865),
            (pre, Namespace::PreRfc),
            (draft, Namespace::Draft),
        ] {
            let m = parse(doc.as_bytes()).expect("metadata");
            assert_eq!(m.namespace, ns);
            assert_eq!(m.data_mode.as_deref(), Some("complete"));
            let p = m.sender_of_label("1").expect("sender");
            assert_eq!(p.id, "P");
            assert_eq!(p.aors, ["sip:a@x"]);
            assert_eq!(p.names, ["Anna"]);
        }
    }

    #[test]
    fn extension_data_is_kept_whole() {
        let doc = r#"<recording xmlns="urn:ietf:params:xml:ns:recording:1">
<group group_id="G"><callData xmlns="urn:x"><callid>c&amp;1</callid></callData></group>
<participant participant_id="P"><extensiondata xmlns:v="urn:v"><v:calling>true</v:calling></extensiondata></participant>
<vendor xmlns="urn:y" a="1"/></recording>"#;
        let m = parse(doc.as_bytes()).expect("metadata");
        assert_eq!(
            m.extensions,
            [
                r#"<callData xmlns="urn:x"><callid>c&amp;1</callid></callData>"#,
                r#"<extensiondata xmlns:v="urn:v"><v:calling>true</v:calling></extensiondata>"#,
                r#"<vendor xmlns="urn:y" a="1"/>"#,
            ]
        );
    }

    #[test]
    fn bad_documents_say_what_is_wrong() {
        for (doc, why) in [
            ("<recording/>", "not in a recording metadata namespace"),
            (
                "<x xmlns=\"urn:ietf:params:xml:ns:recording:1\"/>",
                "not recording",
            ),
            (
                "<recording xmlns=\"urn:ietf:params:xml:ns:recording:1\"><participant/></recording>",
                "participant has no id",
            ),
            (
                "<recording xmlns=\"urn:ietf:params:xml:ns:recording:1\"><stream stream_id=\"x\">",
                "ends inside the root element",
            ),
            (
                "<!DOCTYPE r [<!ENTITY e \"x\">]><recording xmlns=\"urn:ietf:params:xml:ns:recording:1\"/>",
                "DOCTYPE",
            ),
            ("", "no root element"),
            (
                "<recording xmlns=\"urn:ietf:params:xml:ns:recording:1\"><a></b></recording>",
                "not well-formed",
            ),
        ] {
            let e = parse(doc.as_bytes()).expect_err(why).to_string();
            assert!(e.contains(why), "{doc}: {e}");
        }
    }
}
