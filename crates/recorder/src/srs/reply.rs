//! Responses and requests the SRS writes, printed with `ezk-sip-types` (status line and
//! headers): the dialog-identifying headers are copied from the request (RFC 3261 §8.2.6.2),
//! the SRS adds its tag, Contact with `+sip.srs` (RFC 7866 §6.1.2), `Supported`/`Require`,
//! and the body.

use bytesstr::BytesStr;
use ezk_sip_types::msg::StatusLine;
use ezk_sip_types::{Headers, Name, StatusCode};

use callvault_siprec::sip::SipMessage;

/// Methods the SRS accepts (`Allow`).
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE";

/// What the SRS says about itself in every message it writes.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The SRS's Contact URI (`sip:srs@192.0.2.5:5060;transport=tcp`).
    pub contact: String,
    /// `Server` / `User-Agent`.
    pub agent: String,
}

fn value(s: impl Into<String>) -> BytesStr {
    BytesStr::from(s.into())
}

/// A response to `req`. `to_tag` is added to `To` when the request's has none.
pub fn response(
    req: &SipMessage,
    status: u16,
    to_tag: Option<&str>,
    me: &Identity,
    extra: &[(Name, String)],
    body: Option<(&str, &[u8])>,
) -> Vec<u8> {
    let mut h = Headers::new();
    for name in [Name::VIA, Name::FROM] {
        for v in req.raw(&name) {
            h.insert(name.clone(), value(v));
        }
    }
    for v in req.raw(&Name::TO) {
        let has_tag = v
            .split(';')
            .skip(1)
            .any(|p| p.trim().to_ascii_lowercase().starts_with("tag="));
        match to_tag {
            Some(t) if !has_tag => h.insert(Name::TO, value(format!("{v};tag={t}"))),
            _ => h.insert(Name::TO, value(v)),
        }
    }
    for name in [Name::CALL_ID, Name::CSEQ] {
        for v in req.raw(&name) {
            h.insert(name.clone(), value(v));
        }
    }
    if (200..300).contains(&status) || status == 405 || status == 420 {
        h.insert(Name::ALLOW, value(ALLOW));
    }
    h.insert(Name::SERVER, value(me.agent.clone()));
    for (n, v) in extra {
        h.insert(n.clone(), value(v.clone()));
    }
    finish(
        format!(
            "{}",
            StatusLine {
                code: StatusCode::from(status),
                reason: StatusCode::from(status).text().map(BytesStr::from_static),
            }
        ),
        h,
        body,
    )
}

/// The Contact header value of the SRS (RFC 7866 §6.1.2: the `+sip.srs` feature tag).
pub fn contact(me: &Identity) -> String {
    format!("<{}>;+sip.srs", me.contact)
}

/// Head lines, headers, Content-Type/Length, body.
pub fn finish(start: String, mut h: Headers, body: Option<(&str, &[u8])>) -> Vec<u8> {
    if let Some((ct, _)) = body {
        h.insert(Name::CONTENT_TYPE, value(ct));
    }
    let len = body.map_or(0, |(_, b)| b.len());
    h.insert(Name::CONTENT_LENGTH, value(len.to_string()));
    let mut out = format!("{start}\r\n{h}\r\n").into_bytes();
    if let Some((_, b)) = body {
        out.extend_from_slice(b);
    }
    out
}

/// A `Warning` (RFC 3261 §20.43, code 399 "miscellaneous") carrying a refusal's reason.
pub fn warning(me: &Identity, reason: &str) -> (Name, String) {
    let host = me
        .contact
        .split('@')
        .nth(1)
        .unwrap_or(&me.contact)
        .split([';', ':', '>'])
        .next()
        .unwrap_or("callvault")
        .to_owned();
    let text: String = reason
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .take(200)
        .collect();
    (Name::WARNING, format!("399 {host} \"{text}\""))
}
