//! The Session Recording Server's SIP side (RFC 7866 on RFC 3261), without I/O: a request
//! and the time it came in, out go the bytes to send and what the media layer must do.
//!
//! * INVITE: read by `callvault_siprec::session`; refused with its 4xx, or answered `200`
//!   with SDP only (never multipart) — one `recvonly` line per offered label, a port of
//!   the configured range per recorded line, port 0 for a line it cannot record —, Contact
//!   `+sip.srs`, `Require: siprec`. When it cannot record (calls or ports exhausted) it says
//!   so with `503` and `Retry-After`: it never answers `200` and then drops the call.
//! * The `200` is retransmitted over UDP until the ACK (RFC 3261 §13.3.1.4: T1 doubling to
//!   T2); no ACK within 64·T1 ends the call.
//! * re-INVITE and UPDATE in the dialog: new metadata, pause/resume, changed ports; the
//!   answer keeps the SRS's ports.
//! * Session timers (RFC 4028): the SRS grants the offered interval (at least its
//!   `Min-SE`), the SRC refreshes; if no refresh comes in time the SRS sends BYE and ends
//!   the call.
//! * BYE ends the call; CANCEL of an answered INVITE is answered `200` and changes nothing
//!   (RFC 3261 §9.2); OPTIONS is answered; other methods `405`; requests of unknown dialogs
//!   `481`.

mod ports;
pub mod reply;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use callvault_siprec::metadata::Metadata;
use callvault_siprec::sdp::{self, AnswerLine, Crypto, Format, Offer, OfferedStream};
use callvault_siprec::session::{self, Kind, RecordingSession, Refusal};
use callvault_siprec::sip::{Framing, SipMessage};
use ezk_sip_types::msg::MessageLine;
use ezk_sip_types::{Method, Name};
use zeroize::Zeroizing;

pub use ports::PortPool;
use reply::Identity;

use crate::media::srtp::{MasterKey, Suite};

/// RFC 3261 §17.1.1.1 timer values, in milliseconds.
pub const T1_MS: u64 = 500;
/// T2.
pub const T2_MS: u64 = 4000;

/// How a request came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// UDP: responses are retransmitted until acknowledged.
    Udp,
    /// TCP or TLS: reliable.
    Stream,
}

/// The peer a message came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Its address.
    pub addr: SocketAddr,
    /// Its transport.
    pub transport: Transport,
}

/// The SRS's settings.
#[derive(Clone, Debug)]
pub struct SrsConfig {
    /// Who the SRS says it is.
    pub identity: Identity,
    /// The address RTP is sent to (the answer's `c=`).
    pub media_address: IpAddr,
    /// Most calls recorded at once.
    pub max_calls: usize,
    /// Session interval granted when the SRC asks none (RFC 4028 §4), seconds.
    pub session_expires: u32,
    /// Shortest session interval accepted (`Min-SE`), seconds (RFC 4028: at least 90).
    pub min_se: u32,
}

/// One stream the media layer records.
#[derive(Debug)]
pub struct PlannedStream {
    /// The offered line's position and label.
    pub index: usize,
    /// Its label.
    pub label: Option<String>,
    /// The participant who sends it (metadata id).
    pub participant: Option<String>,
    /// The SRS's RTP port (RTCP on the next).
    pub local_port: u16,
    /// Where the SRC sends from, if its SDP says (the media layer still checks the source).
    pub remote: Option<SocketAddr>,
    /// The audio format, telephone-event and comfort-noise formats.
    pub audio: Format,
    /// RFC 4733 format, if offered.
    pub telephone_event: Option<Format>,
    /// RFC 3389 format, if offered.
    pub comfort_noise: Option<Format>,
    /// The SRC's SRTP key, for SRTP lines.
    pub srtp: Option<MasterKey>,
    /// Whether the SRC has it paused.
    pub paused: bool,
}

/// A recorded line as a new offer in the dialog has it.
#[derive(Debug)]
pub struct UpdatedStream {
    /// The line's position.
    pub index: usize,
    /// Whether the SRC has it paused.
    pub paused: bool,
    /// Where the SRC sends from, if its SDP says.
    pub remote: Option<SocketAddr>,
    /// The audio format now.
    pub audio: Format,
    /// The SRC's SRTP key now, for SRTP lines.
    pub srtp: Option<MasterKey>,
}

/// What the SRS holds for a line it records.
#[derive(Debug, Clone)]
struct LineState {
    port: u16,
    /// The SRS's own crypto line of its answer (SRTP lines).
    own_crypto: Option<Crypto>,
}

/// Why a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The SRC sent BYE.
    Bye,
    /// No ACK came for the `200`.
    NoAck,
    /// The session timer ran out without a refresh.
    SessionExpired,
}

/// What the I/O layer must do.
#[derive(Debug)]
pub enum Action {
    /// Send bytes to a peer.
    Send {
        /// To whom.
        to: Peer,
        /// The message.
        bytes: Vec<u8>,
    },
    /// A call is answered: record these streams.
    Start {
        /// The recording dialog's Call-ID.
        call: String,
        /// Where it came from.
        peer: Peer,
        /// What the SRC said.
        session: Box<RecordingSession>,
        /// The streams to record.
        streams: Vec<PlannedStream>,
    },
    /// The SRC paused, resumed or moved streams, or sent metadata.
    Update {
        /// The call.
        call: String,
        /// The recorded lines as the new offer has them.
        streams: Vec<UpdatedStream>,
        /// New metadata, if any.
        metadata: Option<Box<Metadata>>,
    },
    /// The call ended; its ports are free again.
    End {
        /// The call.
        call: String,
        /// Why.
        why: EndReason,
    },
    /// A request was refused (for the log; the call, if any, never started).
    Refused {
        /// Its Call-ID, if it could be read.
        call: Option<String>,
        /// The status answered (0: nothing could be answered).
        status: u16,
        /// Why.
        reason: String,
    },
}

#[derive(Debug)]
struct Dialog {
    peer: Peer,
    local_tag: String,
    invite: SipMessage,
    /// The latest INVITE's CSeq and the response to it (for retransmissions).
    invite_cseq: u32,
    response: Vec<u8>,
    /// UDP retransmission: next time, interval, and when the response was first sent;
    /// `None` once acknowledged.
    retransmit: Option<(u64, u64, u64)>,
    answered_at: u64,
    /// Per offered line, in order: what the SRS records on it (`None`: refused).
    lines: Vec<Option<LineState>>,
    /// The SRS's SDP version (RFC 3264 §8: one up per new answer).
    sdp_version: u64,
    /// Session timer: interval in seconds and when it runs out.
    session_expires: Option<(u32, u64)>,
    local_cseq: u32,
    offer: Offer,
}

/// The SIP side of the SRS.
#[derive(Debug)]
pub struct Srs {
    cfg: SrsConfig,
    ports: PortPool,
    dialogs: HashMap<String, Dialog>,
}

fn tag() -> String {
    let mut b = [0u8; 8];
    // A dialog tag needs uniqueness, not secrecy; a failing RNG is a broken host.
    let _ = callvault_crypto::random_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The best recordable audio format of a line: G.711, in the offer's order.
fn audio_format(s: &OfferedStream) -> Option<Format> {
    s.formats
        .iter()
        .find(|f| matches!(f.encoding.as_str(), "PCMU" | "PCMA") && f.clock == 8000)
        .cloned()
}

fn named(s: &OfferedStream, name: &str) -> Option<Format> {
    s.formats.iter().find(|f| f.encoding == name).cloned()
}

/// The first offered crypto line the recorder supports, with the SRC's key.
fn srtp_choice(s: &OfferedStream) -> Option<(&Crypto, MasterKey)> {
    s.crypto.iter().find_map(|c| {
        Suite::parse(&c.suite)?;
        MasterKey::from_sdes(&c.suite, &c.key_params)
            .ok()
            .map(|k| (c, k))
    })
}

impl Srs {
    /// An SRS with its port range.
    pub fn new(cfg: SrsConfig, ports: PortPool) -> Self {
        Self {
            cfg,
            ports,
            dialogs: HashMap::new(),
        }
    }

    /// Calls in progress.
    pub fn calls(&self) -> usize {
        self.dialogs.len()
    }

    /// Takes one message from `peer` at `now_ms`.
    pub fn handle(&mut self, bytes: &[u8], peer: Peer, now_ms: u64) -> Vec<Action> {
        let framing = match peer.transport {
            Transport::Udp => Framing::Datagram,
            Transport::Stream => Framing::Stream,
        };
        let msg = match SipMessage::parse(bytes, framing) {
            Ok(m) => m,
            Err(e) => {
                // Without Via, Call-ID and CSeq there is nothing a response could go to.
                return vec![Action::Refused {
                    call: None,
                    status: 0,
                    reason: e.to_string(),
                }];
            }
        };
        let MessageLine::Request(line) = &msg.line else {
            // Responses to the SRS's own BYE: nothing to do.
            return Vec::new();
        };
        let method = line.method.clone();
        let Ok(call) = msg.call_id() else {
            return Vec::new();
        };
        if method == Method::INVITE {
            if self.dialogs.contains_key(&call) {
                self.reinvite(&call, msg, peer, now_ms)
            } else {
                self.invite(call, msg, peer, now_ms)
            }
        } else if method == Method::ACK {
            // Only the ACK of the INVITE being answered stops its retransmissions.
            let cseq = msg.cseq().map(|c| c.cseq).ok();
            if let Some(d) = self.dialogs.get_mut(&call)
                && cseq == Some(d.invite_cseq)
            {
                d.retransmit = None;
            }
            Vec::new()
        } else if method == Method::BYE {
            let Some(d) = self.dialogs.remove(&call) else {
                return self.no_dialog(&msg, peer, call);
            };
            self.free(&d);
            vec![
                self.send(peer, &msg, 200, Some(&d.local_tag), &[], None),
                Action::End {
                    call,
                    why: EndReason::Bye,
                },
            ]
        } else if method == Method::CANCEL {
            // The INVITE was answered at once: the CANCEL changes nothing (§9.2).
            match self.dialogs.get(&call) {
                Some(d) => {
                    let t = d.local_tag.clone();
                    vec![self.send(peer, &msg, 200, Some(&t), &[], None)]
                }
                None => self.no_dialog(&msg, peer, call),
            }
        } else if method == Method::UPDATE {
            if self.dialogs.contains_key(&call) {
                self.update(&call, msg, peer, now_ms)
            } else {
                self.no_dialog(&msg, peer, call)
            }
        } else if method == Method::OPTIONS {
            let supported = (Name::SUPPORTED, session::SUPPORTED.join(", "));
            let accept = (
                Name::ACCEPT,
                "application/sdp, application/rs-metadata+xml, multipart/mixed".to_owned(),
            );
            vec![self.send(peer, &msg, 200, Some(&tag()), &[supported, accept], None)]
        } else {
            vec![self.send(peer, &msg, 405, Some(&tag()), &[], None)]
        }
    }

    fn no_dialog(&self, msg: &SipMessage, peer: Peer, call: String) -> Vec<Action> {
        vec![
            self.send(peer, msg, 481, None, &[], None),
            Action::Refused {
                call: Some(call),
                status: 481,
                reason: "no such recording dialog".into(),
            },
        ]
    }

    fn send(
        &self,
        to: Peer,
        req: &SipMessage,
        status: u16,
        to_tag: Option<&str>,
        extra: &[(Name, String)],
        body: Option<(&str, &[u8])>,
    ) -> Action {
        Action::Send {
            to,
            bytes: reply::response(req, status, to_tag, &self.cfg.identity, extra, body),
        }
    }

    fn refuse(&self, msg: &SipMessage, peer: Peer, call: String, r: Refusal) -> Vec<Action> {
        let mut extra = vec![reply::warning(&self.cfg.identity, &r.reason)];
        if !r.unsupported.is_empty() {
            extra.push((Name::UNSUPPORTED, r.unsupported.join(", ")));
        }
        if r.status == 503 {
            extra.push((Name::RETRY_AFTER, "30".into()));
        }
        vec![
            self.send(peer, msg, r.status, Some(&tag()), &extra, None),
            Action::Refused {
                call: Some(call),
                status: r.status,
                reason: r.reason,
            },
        ]
    }

    /// The session interval granted (RFC 4028 §9), or a 422 refusal.
    fn session_interval(&self, msg: &SipMessage) -> Result<Option<u32>, Refusal> {
        let Some(v) = msg.raw(&Name::SESSION_EXPIRES).next() else {
            return Ok(None);
        };
        let secs: u32 = v
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .parse()
            .map_err(|_| Refusal {
                status: 400,
                reason: "Session-Expires is not a number".into(),
                unsupported: Vec::new(),
            })?;
        if secs < self.cfg.min_se {
            return Err(Refusal {
                status: 422,
                reason: format!("session interval below Min-SE {}", self.cfg.min_se),
                unsupported: Vec::new(),
            });
        }
        Ok(Some(secs))
    }

    fn invite(&mut self, call: String, msg: SipMessage, peer: Peer, now: u64) -> Vec<Action> {
        let rs = match session::read(&msg, Kind::Initial) {
            Ok(s) => s,
            Err(r) => return self.refuse(&msg, peer, call, r),
        };
        let interval = match self.session_interval(&msg) {
            Ok(i) => i,
            Err(r) => {
                let mut a = self.refuse(&msg, peer, call, r);
                if let Some(Action::Send { bytes, .. }) = a.first_mut() {
                    *bytes = reply::response(
                        &msg,
                        422,
                        Some(&tag()),
                        &self.cfg.identity,
                        &[(Name::MIN_SE, self.cfg.min_se.to_string())],
                        None,
                    );
                }
                return a;
            }
        };
        if self.dialogs.len() >= self.cfg.max_calls {
            return self.refuse(
                &msg,
                peer,
                call,
                Refusal {
                    status: 503,
                    reason: format!(
                        "the recorder is at its limit of {} calls",
                        self.cfg.max_calls
                    ),
                    unsupported: Vec::new(),
                },
            );
        }
        let offer = rs.offer.clone().expect("an initial INVITE has an offer");
        let mut lines = Vec::new();
        let mut line_states: Vec<Option<LineState>> = Vec::new();
        let mut streams = Vec::new();
        let mut keys = Vec::new();
        for s in &offer.streams {
            // A line offered with port 0 is not in use (RFC 3264 §6).
            let recordable = s.media == "audio" && audio_format(s).is_some() && s.port != 0;
            let srtp = if s.secure() { srtp_choice(s) } else { None };
            if !recordable || (s.secure() && srtp.is_none()) {
                lines.push(AnswerLine::Refuse);
                line_states.push(None);
                continue;
            }
            let Some(port) = self.ports.take() else {
                self.release(&streams);
                return self.refuse(
                    &msg,
                    peer,
                    call,
                    Refusal {
                        status: 503,
                        reason: "the recorder has no free media port".into(),
                        unsupported: Vec::new(),
                    },
                );
            };
            let (crypto_line, src_key) = match srtp {
                Some((c, k)) => {
                    let own = match MasterKey::generate(k.suite()) {
                        Ok(own) => own,
                        Err(e) => {
                            self.ports.give(port);
                            self.release(&streams);
                            return self.refuse(
                                &msg,
                                peer,
                                call,
                                Refusal {
                                    status: 500,
                                    reason: format!("no SRTP key: {e}"),
                                    unsupported: Vec::new(),
                                },
                            );
                        }
                    };
                    let line = Crypto {
                        tag: c.tag,
                        suite: c.suite.clone(),
                        key_params: Zeroizing::new(own.sdes().to_string()),
                    };
                    keys.push(own);
                    (Some(line), Some(k))
                }
                None => (None, None),
            };
            let audio = audio_format(s).expect("recordable");
            let te = named(s, "TELEPHONE-EVENT");
            let cn = named(s, "CN");
            line_states.push(Some(LineState {
                port,
                own_crypto: crypto_line.clone(),
            }));
            lines.push(AnswerLine::Record {
                port,
                format: audio.clone(),
                telephone_event: te.clone(),
                comfort_noise: cn.clone(),
                crypto: crypto_line,
            });
            let mapped = rs.streams.iter().find(|m| m.index == s.index);
            streams.push(PlannedStream {
                index: s.index,
                label: s.label.clone(),
                participant: mapped.and_then(|m| m.participant.clone()),
                local_port: port,
                remote: s.address.map(|a| SocketAddr::new(a, s.port)),
                audio,
                telephone_event: te,
                comfort_noise: cn,
                srtp: src_key,
                paused: s.paused(),
            });
        }
        if streams.is_empty() {
            return self.refuse(
                &msg,
                peer,
                call,
                Refusal {
                    status: 488,
                    reason: "no offered stream can be recorded (G.711 over RTP, or SRTP with AES_CM_128_HMAC_SHA1_80 or AEAD_AES_256_GCM)".into(),
                    unsupported: Vec::new(),
                },
            );
        }
        let local_tag = tag();
        let sdp = match sdp::answer(&offer, &lines, self.cfg.media_address, (now, 1)) {
            Ok(s) => s,
            Err(e) => {
                self.release(&streams);
                return self.refuse(
                    &msg,
                    peer,
                    call,
                    Refusal {
                        status: 500,
                        reason: e.to_string(),
                        unsupported: Vec::new(),
                    },
                );
            }
        };
        let mut extra = vec![
            (Name::CONTACT, reply::contact(&self.cfg.identity)),
            (Name::REQUIRE, "siprec".to_owned()),
        ];
        let session_expires = interval.or_else(|| {
            msg.tokens(&Name::SUPPORTED)
                .iter()
                .any(|t| t == "timer")
                .then_some(self.cfg.session_expires)
        });
        if let Some(secs) = session_expires {
            extra.push((Name::SESSION_EXPIRES, format!("{secs};refresher=uac")));
            extra[1].1.push_str(", timer");
        }
        let bytes = reply::response(
            &msg,
            200,
            Some(&local_tag),
            &self.cfg.identity,
            &extra,
            Some(("application/sdp", sdp.as_bytes())),
        );
        let invite_cseq = msg.cseq().map(|c| c.cseq).unwrap_or_default();
        drop(keys);
        self.dialogs.insert(
            call.clone(),
            Dialog {
                peer,
                local_tag,
                invite: msg,
                invite_cseq,
                response: bytes.clone(),
                // RFC 3261 §13.3.1.4: the 2xx is retransmitted until the ACK on every
                // transport (a reliable one only stops hop-by-hop retransmission).
                retransmit: Some((now + T1_MS, T1_MS, now)),
                answered_at: now,
                lines: line_states,
                sdp_version: 1,
                session_expires: session_expires.map(|s| (s, now + u64::from(s) * 1000)),
                local_cseq: 0,
                offer,
            },
        );
        vec![
            Action::Send { to: peer, bytes },
            Action::Start {
                call,
                peer,
                session: Box::new(rs),
                streams,
            },
        ]
    }

    /// A re-INVITE or UPDATE that carries SDP and/or metadata: answers with the SRS's
    /// ports, the line states updated.
    fn in_dialog(
        &mut self,
        call: &str,
        msg: &SipMessage,
        peer: Peer,
        now: u64,
    ) -> Result<(Option<Vec<u8>>, Action), Refusal> {
        let rs = session::read(msg, Kind::InDialog)?;
        let interval = self.session_interval(msg)?;
        // Everything is checked and built first; the dialog changes only if it is answered.
        let d = self.dialogs.get(call).expect("dialog");
        let mut states = Vec::new();
        let mut new_lines = d.lines.clone();
        let sdp_answer = match &rs.offer {
            None => None,
            Some(offer) => {
                if offer.streams.len() < d.lines.len() {
                    return Err(Refusal {
                        status: 488,
                        reason: "a new offer must keep every m= line (RFC 3264 §8)".into(),
                        unsupported: Vec::new(),
                    });
                }
                let mut lines = Vec::new();
                for (i, s) in offer.streams.iter().enumerate() {
                    let held = d.lines.get(i).and_then(|l| l.as_ref());
                    let srtp = if s.secure() { srtp_choice(s) } else { None };
                    let usable = s.port != 0 && (!s.secure() || srtp.is_some());
                    let (Some(line), Some(f), true) = (held, audio_format(s), usable) else {
                        lines.push(AnswerLine::Refuse);
                        continue;
                    };
                    let (crypto, src_key) = match srtp {
                        Some((c, k)) => {
                            // The SRS keeps its key while the suite stays; a new suite gets a
                            // new key.
                            let key_params = match &line.own_crypto {
                                Some(o) if o.suite == c.suite => o.key_params.clone(),
                                _ => {
                                    let key =
                                        MasterKey::generate(k.suite()).map_err(|e| Refusal {
                                            status: 500,
                                            reason: format!("no SRTP key: {e}"),
                                            unsupported: Vec::new(),
                                        })?;
                                    Zeroizing::new(key.sdes().to_string())
                                }
                            };
                            let own = Crypto {
                                tag: c.tag,
                                suite: c.suite.clone(),
                                key_params,
                            };
                            if let Some(Some(l)) = new_lines.get_mut(i) {
                                l.own_crypto = Some(own.clone());
                            }
                            (Some(own), Some(k))
                        }
                        None => (None, None),
                    };
                    lines.push(AnswerLine::Record {
                        port: line.port,
                        format: f.clone(),
                        telephone_event: named(s, "TELEPHONE-EVENT"),
                        comfort_noise: named(s, "CN"),
                        crypto,
                    });
                    states.push(UpdatedStream {
                        index: i,
                        paused: s.paused(),
                        remote: s.address.map(|a| SocketAddr::new(a, s.port)),
                        audio: f,
                        srtp: src_key,
                    });
                }
                Some(
                    sdp::answer(
                        offer,
                        &lines,
                        self.cfg.media_address,
                        (d.answered_at, d.sdp_version + 1),
                    )
                    .map_err(|e| Refusal {
                        status: 500,
                        reason: e.to_string(),
                        unsupported: Vec::new(),
                    })?
                    .into_bytes(),
                )
            }
        };
        let d = self.dialogs.get_mut(call).expect("dialog");
        if let Some(s) = interval.or(d.session_expires.map(|x| x.0)) {
            d.session_expires = Some((s, now + u64::from(s) * 1000));
        }
        d.peer = peer;
        if let Some(offer) = rs.offer {
            d.offer = offer;
            d.lines = new_lines;
            d.sdp_version += 1;
        }
        Ok((
            sdp_answer,
            Action::Update {
                call: call.to_owned(),
                streams: states,
                metadata: rs.metadata.map(Box::new),
            },
        ))
    }

    /// The session-timer headers of a 2xx in a dialog with a session interval.
    fn timer_headers(&self, call: &str) -> Vec<(Name, String)> {
        match self.dialogs.get(call).and_then(|d| d.session_expires) {
            Some((secs, _)) => vec![
                (Name::SESSION_EXPIRES, format!("{secs};refresher=uac")),
                (Name::REQUIRE, "timer".to_owned()),
            ],
            None => Vec::new(),
        }
    }

    fn reinvite(&mut self, call: &str, msg: SipMessage, peer: Peer, now: u64) -> Vec<Action> {
        let cseq = msg.cseq().map(|c| c.cseq).unwrap_or_default();
        let d = self.dialogs.get(call).expect("dialog");
        if cseq == d.invite_cseq {
            // A retransmitted INVITE: the same answer again.
            return vec![Action::Send {
                to: peer,
                bytes: d.response.clone(),
            }];
        }
        let tag = d.local_tag.clone();
        match self.in_dialog(call, &msg, peer, now) {
            Ok((sdp, update)) => {
                let mut extra = vec![(Name::CONTACT, reply::contact(&self.cfg.identity))];
                extra.extend(self.timer_headers(call));
                let body = sdp.as_deref().map(|b| ("application/sdp", b));
                let bytes =
                    reply::response(&msg, 200, Some(&tag), &self.cfg.identity, &extra, body);
                let d = self.dialogs.get_mut(call).expect("dialog");
                d.invite_cseq = cseq;
                d.response = bytes.clone();
                d.retransmit = Some((now + T1_MS, T1_MS, now));
                vec![Action::Send { to: peer, bytes }, update]
            }
            Err(r) => self.refuse(&msg, peer, call.to_owned(), r),
        }
    }

    fn update(&mut self, call: &str, msg: SipMessage, peer: Peer, now: u64) -> Vec<Action> {
        let tag = self.dialogs.get(call).expect("dialog").local_tag.clone();
        match self.in_dialog(call, &msg, peer, now) {
            Ok((sdp, update)) => {
                let body = sdp.as_deref().map(|b| ("application/sdp", b));
                let extra = self.timer_headers(call);
                vec![self.send(peer, &msg, 200, Some(&tag), &extra, body), update]
            }
            Err(r) => self.refuse(&msg, peer, call.to_owned(), r),
        }
    }

    /// Gives back the ports of streams planned for a call that is then refused.
    fn release(&mut self, streams: &[PlannedStream]) {
        for p in streams {
            self.ports.give(p.local_port);
        }
    }

    fn free(&mut self, d: &Dialog) {
        for l in d.lines.iter().flatten() {
            self.ports.give(l.port);
        }
    }

    /// Timers at `now_ms`: retransmissions of unacknowledged `200`s, calls without ACK,
    /// session intervals run out (the SRS then sends BYE).
    pub fn tick(&mut self, now_ms: u64) -> Vec<Action> {
        let mut out = Vec::new();
        let mut ended = Vec::new();
        for (call, d) in &mut self.dialogs {
            if let Some((_, _, first)) = d.retransmit
                && now_ms >= first + 64 * T1_MS
            {
                ended.push((call.clone(), EndReason::NoAck));
                continue;
            }
            if let Some((at, interval, first)) = d.retransmit
                && at <= now_ms
            {
                out.push(Action::Send {
                    to: d.peer,
                    bytes: d.response.clone(),
                });
                let next = (interval * 2).min(T2_MS);
                d.retransmit = Some((now_ms + next, next, first));
            }
            if let Some((_, at)) = d.session_expires
                && now_ms >= at
            {
                ended.push((call.clone(), EndReason::SessionExpired));
            }
        }
        for (call, why) in ended {
            let Some(mut d) = self.dialogs.remove(&call) else {
                continue;
            };
            self.free(&d);
            // RFC 3261 §13.3.1.4 (no ACK) and RFC 4028 §10 (no refresh): the SRS ends the
            // session with a BYE.
            {
                d.local_cseq += 1;
                out.push(Action::Send {
                    to: d.peer,
                    bytes: bye(
                        &d,
                        &self.cfg.identity,
                        match why {
                            EndReason::NoAck => "no ACK for the 2xx",
                            _ => "session timer expired",
                        },
                    ),
                });
            }
            out.push(Action::End { call, why });
        }
        out
    }
}

/// A BYE from the SRS in the dialog of `d` (RFC 3261 §15.1.1): To and From swapped, the
/// SRS's tag on From, the SRC's Contact as request URI.
fn bye(d: &Dialog, me: &Identity, why: &str) -> Vec<u8> {
    let inv = &d.invite;
    let target = inv
        .contact_target()
        .unwrap_or_else(|_| format!("sip:{}", d.peer.addr));
    let mut h = ezk_sip_types::Headers::new();
    let proto = match d.peer.transport {
        Transport::Udp => "UDP",
        Transport::Stream => "TCP",
    };
    let host = me.contact.split('@').nth(1).unwrap_or("callvault.invalid");
    let host = host.split([';', '>']).next().unwrap_or(host);
    h.insert(
        Name::VIA,
        bytesstr::BytesStr::from(format!("SIP/2.0/{proto} {host};branch=z9hG4bK{}", tag())),
    );
    h.insert(Name::MAX_FORWARDS, bytesstr::BytesStr::from_static("70"));
    let to_value = inv.raw(&Name::TO).next().unwrap_or_default();
    let from_value = inv.raw(&Name::FROM).next().unwrap_or_default();
    h.insert(
        Name::FROM,
        bytesstr::BytesStr::from(format!("{to_value};tag={}", d.local_tag)),
    );
    h.insert(Name::TO, bytesstr::BytesStr::from(from_value.to_owned()));
    for v in inv.raw(&Name::CALL_ID) {
        h.insert(Name::CALL_ID, bytesstr::BytesStr::from(v.to_owned()));
    }
    h.insert(
        Name::CSEQ,
        bytesstr::BytesStr::from(format!("{} BYE", d.local_cseq)),
    );
    h.insert(
        Name::from("Reason"),
        bytesstr::BytesStr::from(format!("SIP;cause=408;text=\"{why}\"")),
    );
    reply::finish(format!("BYE {target} SIP/2.0"), h, None)
}

#[cfg(test)]
mod tests;
