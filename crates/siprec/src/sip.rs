//! One SIP message off the wire (RFC 3261 §7): the start line and headers parsed with
//! `ezk-sip-types`, the body cut by `Content-Length` (§18.3, §20.14).
//!
//! This module frames and reads; it does not decide. Header values are kept as the peer
//! sent them and typed on demand (`Call-ID`, `CSeq`, `Content-Type`, …).

use bytes::Bytes;
use ezk_sip_types::header::typed::{CSeq, CallID, Contact, ContentType};
use ezk_sip_types::msg::{Line, MessageLine, PullParser};
use ezk_sip_types::parse::Parse;
use ezk_sip_types::print::{AppendCtx, PrintCtx, UriContext};
use ezk_sip_types::{Headers, Method, Name};

use crate::SiprecError;

/// Longest SIP message accepted (head and body). RFC 3261 §18.1.1 bounds UDP at the path
/// MTU unless the message is larger; SIPREC INVITEs with metadata run to a few KiB. A
/// larger message is refused, not buffered.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// A parsed SIP request or response.
#[derive(Debug, Clone)]
pub struct SipMessage {
    /// The start line.
    pub line: MessageLine,
    /// The headers in the order sent (names normalised, compact forms expanded).
    pub headers: Headers,
    /// The body (`Content-Length` bytes; the rest of the datagram when it is absent).
    pub body: Bytes,
}

/// How a message came: a datagram is one message; on a stream, a message without
/// `Content-Length` is an error (RFC 3261 §18.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// One UDP datagram.
    Datagram,
    /// TCP or TLS: the length must be given.
    Stream,
}

fn bad(what: impl Into<String>) -> SiprecError {
    SiprecError::BadMessage(what.into())
}

impl SipMessage {
    /// Parses one complete message. On a stream, `input` must hold at least the whole
    /// message; [`SipMessage::message_len`] says how long it is. Bytes after the body of a
    /// datagram are refused (§18.3: a datagram holds one message).
    pub fn parse(input: &[u8], framing: Framing) -> Result<Self, SiprecError> {
        if input.len() > MAX_MESSAGE {
            return Err(bad(format!(
                "the message is longer than {MAX_MESSAGE} bytes"
            )));
        }
        let src = Bytes::copy_from_slice(input);
        // RFC 3261 §7.5: leading CRLFs before the start line are ignored (keep-alives).
        let start = src
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n'))
            .ok_or_else(|| bad("the message is empty"))?;
        let mut lines = PullParser::new(&src, start);
        let first = match lines.next() {
            Some(Ok(l)) => l,
            _ => return Err(bad("the message head is incomplete")),
        };
        let first = std::str::from_utf8(first).map_err(|_| bad("the start line is not UTF-8"))?;
        let line = match MessageLine::parse(&src)(first) {
            Ok((rest, line)) if rest.trim().is_empty() => line,
            _ => return Err(bad("the start line is neither a request nor a response")),
        };
        let mut headers = Headers::new();
        let mut count = 0usize;
        for l in &mut lines {
            let l = l.map_err(|_| bad("the message head is incomplete"))?;
            count += 1;
            if count > 200 {
                return Err(bad("more than 200 header lines"));
            }
            let text = std::str::from_utf8(l).map_err(|_| bad("a header line is not UTF-8"))?;
            let Ok((_, h)) = Line::parse(&src, text) else {
                return Err(bad("a header line has no name and colon"));
            };
            if h.name.as_print_str().is_empty() {
                return Err(bad("a header line has no name"));
            }
            headers.insert(h.name, h.value);
        }
        let head_end = lines.head_end();
        let available = src.len().saturating_sub(head_end);
        let mut length = None;
        for v in headers.get_raw(&Name::CONTENT_LENGTH) {
            let n = v
                .trim()
                .parse::<usize>()
                .map_err(|_| bad("Content-Length is not a number"))?;
            if length.is_some_and(|l| l != n) {
                return Err(bad("two different Content-Length values"));
            }
            length = Some(n);
        }
        let body_len = match (length, framing) {
            (Some(n), _) if n > available => {
                return Err(bad(format!(
                    "Content-Length is {n} but only {available} body bytes arrived"
                )));
            }
            (Some(n), Framing::Datagram) if n < available => {
                // §18.3: extra bytes after the body of a datagram are discarded.
                n
            }
            (Some(n), _) => n,
            (None, Framing::Datagram) => available,
            (None, Framing::Stream) => {
                return Err(bad("a message on a stream needs Content-Length"));
            }
        };
        let body = src.slice(head_end..head_end + body_len);
        let msg = SipMessage {
            line,
            headers,
            body,
        };
        // The headers every request needs to be answered at all (§8.1.1).
        msg.call_id()?;
        msg.cseq()?;
        for name in [Name::VIA, Name::FROM, Name::TO] {
            if !msg.headers.contains(&name) {
                return Err(bad(format!(
                    "the message has no {} header",
                    name.as_print_str()
                )));
            }
        }
        Ok(msg)
    }

    /// The length of the first message on a stream, once its head and body are all in
    /// `input`; `Ok(None)` while more bytes are needed. Leading CRLF keep-alives count.
    pub fn message_len(input: &[u8]) -> Result<Option<usize>, SiprecError> {
        let start = match input.iter().position(|b| !matches!(b, b'\r' | b'\n')) {
            Some(s) => s,
            None => return Ok(None),
        };
        let mut lines = PullParser::new(input, start);
        let mut length = None;
        for l in &mut lines {
            let Ok(l) = l else {
                return if input.len() > MAX_MESSAGE {
                    Err(bad(format!(
                        "the message head is longer than {MAX_MESSAGE} bytes"
                    )))
                } else {
                    Ok(None)
                };
            };
            let Ok(text) = std::str::from_utf8(l) else {
                return Err(bad("a header line is not UTF-8"));
            };
            if let Some((name, value)) = text.split_once(':') {
                let name = name.trim();
                if name.eq_ignore_ascii_case("content-length") || name == "l" {
                    length = Some(
                        value
                            .trim()
                            .parse::<usize>()
                            .map_err(|_| bad("Content-Length is not a number"))?,
                    );
                }
            }
        }
        let Some(length) = length else {
            return Err(bad("a message on a stream needs Content-Length"));
        };
        // Checked before adding: a huge Content-Length must not wrap the sum.
        if length > MAX_MESSAGE {
            return Err(bad(format!(
                "the message is longer than {MAX_MESSAGE} bytes"
            )));
        }
        let total = lines.head_end() + length;
        if total > MAX_MESSAGE {
            return Err(bad(format!(
                "the message is longer than {MAX_MESSAGE} bytes"
            )));
        }
        Ok((input.len() >= total).then_some(total))
    }

    /// The request method, if this is a request.
    pub fn method(&self) -> Option<&Method> {
        self.line.request_method()
    }

    /// `Call-ID`.
    pub fn call_id(&self) -> Result<String, SiprecError> {
        match self.headers.try_get_named::<CallID>() {
            Some(Ok(c)) if !c.0.is_empty() => Ok(c.0.as_str().to_owned()),
            Some(Ok(_)) => Err(bad("Call-ID is empty")),
            Some(Err(_)) => Err(bad("Call-ID cannot be read")),
            None => Err(bad("the message has no Call-ID header")),
        }
    }

    /// `CSeq`.
    pub fn cseq(&self) -> Result<CSeq, SiprecError> {
        match self.headers.try_get_named::<CSeq>() {
            Some(Ok(c)) => Ok(c),
            Some(Err(_)) => Err(bad("CSeq is not a number and a method")),
            None => Err(bad("the message has no CSeq header")),
        }
    }

    /// `Content-Type`, lower-cased, parameters included (`None` without a body type).
    pub fn content_type(&self) -> Option<String> {
        match self.headers.try_get_named::<ContentType>() {
            Some(Ok(c)) => Some(c.0.as_str().trim().to_owned()),
            _ => None,
        }
    }

    /// Every raw value of a header (comma lists are not split; see [`SipMessage::tokens`]).
    pub fn raw(&self, name: &Name) -> impl Iterator<Item = &str> {
        self.headers.get_raw(name).map(|v| v.as_str())
    }

    /// The comma-separated tokens of a header such as `Require` or `Supported`, lower-cased.
    pub fn tokens(&self, name: &Name) -> Vec<String> {
        self.raw(name)
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// The Contact's URI: the remote target requests in the dialog go to (RFC 3261
    /// §12.1.1), printed as a request URI and read back to be sure it is one.
    pub fn contact_target(&self) -> Result<String, SiprecError> {
        let c = match self.headers.try_get_named::<Contact>() {
            Some(Ok(c)) => c,
            Some(Err(_)) => return Err(bad("the Contact is not a SIP URI")),
            None => return Err(bad("the request has no Contact")),
        };
        let ctx = PrintCtx {
            method: None,
            uri: Some(UriContext::ReqUri),
        };
        let target = c.uri.uri.print_ctx(ctx).to_string();
        // The parser reads slices of its source: the text must come from the same bytes.
        let src = Bytes::from(format!("BYE {target} SIP/2.0"));
        let line = std::str::from_utf8(&src).map_err(|_| bad("the Contact is not UTF-8"))?;
        match MessageLine::parse(&src)(line) {
            Ok(("", _)) => Ok(target),
            _ => Err(bad("the Contact is not a SIP URI")),
        }
    }

    /// Whether the Contact carries the SIPREC feature tag of a recording client (`+sip.src`,
    /// RFC 7866 §6.1.1).
    pub fn contact_is_src(&self) -> bool {
        self.raw(&Name::CONTACT).any(|c| {
            c.split(';')
                .skip(1)
                .any(|p| p.trim().eq_ignore_ascii_case("+sip.src"))
        })
    }
}
