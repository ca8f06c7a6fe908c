//! The media offer of a recording session and the SRS's answer, read and written with
//! `sdp-types` (RFC 4566).
//!
//! RFC 7866 §8.1.1: the SRC offers one `m=` line per stream it records, each `sendonly`
//! (or `inactive` while paused) with an `a=label` (RFC 4574) the metadata refers to. The
//! SRS answers every offered line, in order, `recvonly` — a port of its own where it
//! records, port 0 where it refuses the line — and answers with SDP only, never a multipart
//! body (an SBC given a multipart 200 takes no SDP from it: loreste/siprec #36).

use std::net::IpAddr;

use sdp_types::{Attribute, Connection, Media, Origin, Session, Time};
use zeroize::Zeroizing;

use crate::SiprecError;

/// Most `m=` lines an offer may have.
pub const MAX_MEDIA: usize = 8;

/// The direction attribute of a media line (RFC 4566 §6; `sendrecv` when absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `a=sendonly`: what an SRC offers.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=sendrecv`, or no direction attribute.
    SendRecv,
    /// `a=inactive`: a paused stream (RFC 7866 §9.2.1).
    Inactive,
}

/// A payload format of a media line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    /// RTP payload type.
    pub pt: u8,
    /// Encoding name, upper-case (`PCMU`, `PCMA`, `TELEPHONE-EVENT`, `CN`).
    pub encoding: String,
    /// Clock rate.
    pub clock: u32,
}

/// An SDES crypto attribute (RFC 4568 §9.1). The key is secret: zeroized, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Crypto {
    /// The tag, echoed in the answer.
    pub tag: u32,
    /// The crypto suite (`AES_CM_128_HMAC_SHA1_80`, `AEAD_AES_256_GCM`, …).
    pub suite: String,
    /// The key parameters (`inline:…`), as offered.
    pub key_params: Zeroizing<String>,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crypto({} {} <key>)", self.tag, self.suite)
    }
}

/// One offered media line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferedStream {
    /// Position of the `m=` line (answers keep the order).
    pub index: usize,
    /// `a=label` (RFC 4574): any token — `1`, `16777227`, `a_leg`.
    pub label: Option<String>,
    /// Media type (`audio`).
    pub media: String,
    /// The SRC's port.
    pub port: u16,
    /// Transport (`RTP/AVP`, `RTP/SAVP`).
    pub proto: String,
    /// The SRC's address: the line's `c=`, else the session's.
    pub address: Option<IpAddr>,
    /// Its direction.
    pub direction: Direction,
    /// Payload formats in offer order.
    pub formats: Vec<Format>,
    /// SDES crypto attributes, in preference order.
    pub crypto: Vec<Crypto>,
    /// `a=ptime` in milliseconds.
    pub ptime: Option<u32>,
}

impl OfferedStream {
    /// Whether the SRC has paused this stream: `a=inactive` or a `0.0.0.0` connection
    /// (RFC 7866 §9.2.1, RFC 3264 §8.4).
    pub fn paused(&self) -> bool {
        self.direction == Direction::Inactive || self.address.is_some_and(|a| a.is_unspecified())
    }

    /// Whether the line is secured RTP (`RTP/SAVP`, `RTP/SAVPF`).
    pub fn secure(&self) -> bool {
        self.proto.to_ascii_uppercase().contains("SAVP")
    }
}

/// An SDP offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// `o=` session id and version (a re-offer with the same version changes nothing).
    pub origin: (String, u64),
    /// The media lines in order.
    pub streams: Vec<OfferedStream>,
}

fn bad(what: impl Into<String>) -> SiprecError {
    SiprecError::BadSdp(what.into())
}

fn static_format(pt: u8) -> Option<(&'static str, u32)> {
    // RFC 3551 §6, the static payload types a telephony SRC uses without rtpmap.
    match pt {
        0 => Some(("PCMU", 8000)),
        8 => Some(("PCMA", 8000)),
        9 => Some(("G722", 8000)),
        13 => Some(("CN", 8000)),
        18 => Some(("G729", 8000)),
        _ => None,
    }
}

/// The connection address if it is an IP address. RFC 4566 §5.7 also allows a host name
/// (and some captures mask it): the SRS then learns the source from the RTP it receives,
/// so a name is not refused, it is simply not an address to compare with.
fn address(c: &Connection) -> Option<IpAddr> {
    c.connection_address.parse::<IpAddr>().ok()
}

fn attr<'a>(m: &'a Media, name: &str) -> impl Iterator<Item = Option<&'a str>> {
    m.attributes
        .iter()
        .filter(move |a| a.attribute.eq_ignore_ascii_case(name))
        .map(|a| a.value.as_deref())
}

/// Reads an offer.
pub fn parse_offer(sdp: &[u8]) -> Result<Offer, SiprecError> {
    let s = Session::parse(sdp).map_err(|e| bad(e.to_string()))?;
    if s.medias.is_empty() {
        return Err(bad("the offer has no m= line"));
    }
    if s.medias.len() > MAX_MEDIA {
        return Err(bad(format!("more than {MAX_MEDIA} m= lines")));
    }
    let session_address = s.connection.as_ref().and_then(address);
    let mut streams = Vec::with_capacity(s.medias.len());
    for (index, m) in s.medias.iter().enumerate() {
        let address = match m.connections.first() {
            Some(c) => address(c),
            None => session_address,
        };
        let direction = if attr(m, "inactive").next().is_some() {
            Direction::Inactive
        } else if attr(m, "sendonly").next().is_some() {
            Direction::SendOnly
        } else if attr(m, "recvonly").next().is_some() {
            Direction::RecvOnly
        } else {
            Direction::SendRecv
        };
        let mut formats = Vec::new();
        for f in m.fmt.split_ascii_whitespace() {
            let Ok(pt) = f.parse::<u8>() else {
                if m.media.eq_ignore_ascii_case("audio") {
                    return Err(bad(format!(
                        "m= line {index}: a payload type is not a number"
                    )));
                }
                continue;
            };
            let mapped = attr(m, "rtpmap").flatten().find_map(|v| {
                let (p, enc) = v.split_once(' ')?;
                (p.trim().parse::<u8>().ok()? == pt).then_some(enc.trim())
            });
            let (encoding, clock) = match mapped {
                Some(enc) => {
                    let mut it = enc.split('/');
                    let name = it.next().unwrap_or_default().to_ascii_uppercase();
                    let clock = it
                        .next()
                        .and_then(|c| c.parse::<u32>().ok())
                        .ok_or_else(|| {
                            bad(format!("m= line {index}: rtpmap without a clock rate"))
                        })?;
                    (name, clock)
                }
                None => match static_format(pt) {
                    Some((n, c)) => (n.to_owned(), c),
                    None => (String::new(), 0),
                },
            };
            formats.push(Format {
                pt,
                encoding,
                clock,
            });
        }
        let mut crypto = Vec::new();
        for v in attr(m, "crypto").flatten() {
            let mut it = v.split_ascii_whitespace();
            let (Some(tag), Some(suite), Some(key)) = (it.next(), it.next(), it.next()) else {
                return Err(bad(format!(
                    "m= line {index}: a crypto attribute is incomplete"
                )));
            };
            let tag = tag
                .parse::<u32>()
                .map_err(|_| bad(format!("m= line {index}: a crypto tag is not a number")))?;
            crypto.push(Crypto {
                tag,
                suite: suite.to_owned(),
                key_params: Zeroizing::new(key.to_owned()),
            });
        }
        streams.push(OfferedStream {
            index,
            label: attr(m, "label")
                .flatten()
                .next()
                .map(|l| l.trim().to_owned()),
            media: m.media.to_ascii_lowercase(),
            port: m.port,
            proto: m.proto.clone(),
            address,
            direction,
            formats,
            crypto,
            ptime: attr(m, "ptime")
                .flatten()
                .next()
                .and_then(|p| p.trim().parse().ok()),
        });
    }
    Ok(Offer {
        origin: (s.origin.sess_id.clone(), s.origin.sess_version),
        streams,
    })
}

/// How the SRS answers one offered line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerLine {
    /// Recorded: RTP to `port`, in `format`, with telephone-events and comfort noise if
    /// offered, and the crypto attribute chosen (the SRS's own key) for SRTP.
    Record {
        /// The SRS's port.
        port: u16,
        /// The chosen audio format.
        format: Format,
        /// The telephone-event format, if offered (RFC 4733).
        telephone_event: Option<Format>,
        /// The comfort-noise format, if offered (RFC 3389).
        comfort_noise: Option<Format>,
        /// The crypto line of the answer (tag, suite, `inline:` key of the SRS).
        crypto: Option<Crypto>,
    },
    /// Refused: port 0 (RFC 3264 §6).
    Refuse,
}

/// Writes the SRS's answer: one `recvonly` line per offered line, in the offer's order,
/// with the offer's labels (RFC 7866 §8.1.1). `origin` is the SRS's session id and version.
pub fn answer(
    offer: &Offer,
    lines: &[AnswerLine],
    local: IpAddr,
    origin: (u64, u64),
) -> Result<String, SiprecError> {
    if lines.len() != offer.streams.len() {
        return Err(bad("the answer has another number of lines than the offer"));
    }
    let mut o = Origin::with_ip_addr(origin.0, origin.1, local);
    o.username = Some("callvault".into());
    let mut s = Session::new(o, "callvault SRS");
    s.connection = Some(Connection::from_ip_addr(local));
    s.times = vec![Time::new(0, 0)];
    for (o, line) in offer.streams.iter().zip(lines) {
        let mut m = match line {
            AnswerLine::Refuse => {
                let fmt = o
                    .formats
                    .first()
                    .map_or_else(|| "0".to_owned(), |f| f.pt.to_string());
                Media {
                    media: o.media.clone(),
                    port: 0,
                    num_ports: None,
                    proto: o.proto.clone(),
                    fmt,
                    media_title: None,
                    connections: Vec::new(),
                    bandwidths: Vec::new(),
                    key: None,
                    attributes: Vec::new(),
                }
            }
            AnswerLine::Record {
                port,
                format,
                telephone_event,
                comfort_noise,
                crypto,
            } => {
                let fmts: Vec<&Format> = [
                    Some(format),
                    telephone_event.as_ref(),
                    comfort_noise.as_ref(),
                ]
                .into_iter()
                .flatten()
                .collect();
                let mut attributes = Vec::new();
                for f in &fmts {
                    attributes.push(Attribute {
                        attribute: "rtpmap".into(),
                        value: Some(format!("{} {}/{}", f.pt, rtpmap_name(&f.encoding), f.clock)),
                    });
                }
                if let Some(te) = telephone_event {
                    attributes.push(Attribute {
                        attribute: "fmtp".into(),
                        value: Some(format!("{} 0-16", te.pt)),
                    });
                }
                if let Some(c) = crypto {
                    attributes.push(Attribute {
                        attribute: "crypto".into(),
                        value: Some(format!("{} {} {}", c.tag, c.suite, c.key_params.as_str())),
                    });
                }
                Media {
                    media: o.media.clone(),
                    port: *port,
                    num_ports: None,
                    proto: o.proto.clone(),
                    fmt: fmts
                        .iter()
                        .map(|f| f.pt.to_string())
                        .collect::<Vec<_>>()
                        .join(" "),
                    media_title: None,
                    connections: Vec::new(),
                    bandwidths: Vec::new(),
                    key: None,
                    attributes,
                }
            }
        };
        m.attributes.push(Attribute {
            attribute: "recvonly".into(),
            value: None,
        });
        if let Some(l) = &o.label {
            m.attributes.push(Attribute {
                attribute: "label".into(),
                value: Some(l.clone()),
            });
        }
        s.medias.push(m);
    }
    let mut out = Vec::new();
    s.write(&mut out).map_err(|e| bad(e.to_string()))?;
    String::from_utf8(out).map_err(|_| bad("the answer is not UTF-8"))
}

fn rtpmap_name(encoding: &str) -> &str {
    match encoding {
        "TELEPHONE-EVENT" => "telephone-event",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=SRC 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 10000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\na=label:1\r\n\
m=audio 10002 RTP/SAVP 8\r\nc=IN IP4 0.0.0.0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\na=label:a_leg\r\n";

    #[test]
    fn an_offer_is_read_with_labels_formats_pauses_and_keys() {
        let o = parse_offer(OFFER.as_bytes()).expect("offer");
        assert_eq!(o.origin, ("1".to_owned(), 2));
        let [a, b] = &o.streams[..] else {
            panic!("two lines")
        };
        assert_eq!(a.label.as_deref(), Some("1"));
        assert_eq!(a.direction, Direction::SendOnly);
        assert_eq!(a.formats[0].encoding, "PCMU");
        assert_eq!(a.formats[1].encoding, "TELEPHONE-EVENT");
        assert!(!a.paused() && !a.secure());
        assert_eq!(b.label.as_deref(), Some("a_leg"));
        assert_eq!(b.direction, Direction::SendRecv);
        assert!(b.paused() && b.secure());
        assert_eq!(b.crypto[0].suite, "AES_CM_128_HMAC_SHA1_80");
        assert!(!format!("{b:?}").contains("WVNf"), "the key is not printed");
    }

    #[test]
    fn the_answer_is_recvonly_per_offered_label_in_order() {
        let o = parse_offer(OFFER.as_bytes()).expect("offer");
        let sdp = answer(
            &o,
            &[
                AnswerLine::Record {
                    port: 40000,
                    format: o.streams[0].formats[0].clone(),
                    telephone_event: Some(o.streams[0].formats[1].clone()),
                    comfort_noise: None,
                    crypto: None,
                },
                AnswerLine::Refuse,
            ],
            "127.0.0.1".parse().expect("ip"),
            (7, 1),
        )
        .expect("answer");
        let back = parse_offer(sdp.as_bytes()).expect("our answer parses");
        assert_eq!(back.streams.len(), 2);
        assert_eq!(back.streams[0].port, 40000);
        assert_eq!(back.streams[0].direction, Direction::RecvOnly);
        assert_eq!(back.streams[0].label.as_deref(), Some("1"));
        assert_eq!(back.streams[1].port, 0);
        assert_eq!(back.streams[1].label.as_deref(), Some("a_leg"));
        assert!(sdp.contains("a=rtpmap:101 telephone-event/8000"), "{sdp}");
    }

    #[test]
    fn bad_offers_say_what_is_wrong() {
        for (sdp, why) in [
            (
                "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n",
                "no m= line",
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP x\r\n",
                "payload type is not a number",
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\na=crypto:x AES_CM_128_HMAC_SHA1_80 inline:k\r\n",
                "crypto tag",
            ),
        ] {
            let e = parse_offer(sdp.as_bytes()).expect_err(why).to_string();
            assert!(e.contains(why), "{e}");
        }
    }
}
