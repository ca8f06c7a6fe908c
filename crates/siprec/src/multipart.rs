//! The parts of a SIP body (RFC 2046 §5.1 `multipart/mixed`, RFC 5621 for SIP), split by
//! `mailparse`. SBCs differ: metadata before or after the SDP, a third part of a type
//! nobody asked for (`application/gtd`), and a missing closing delimiter — all read here.

use crate::SiprecError;

/// Most parts a body may have: SDP, metadata, and a few the recorder ignores.
pub const MAX_PARTS: usize = 8;

/// One body part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// Its media type, lower-case, without parameters (`application/sdp`).
    pub content_type: String,
    /// Its `Content-Disposition` type, lower-case (`session`, `recording-session`), if any.
    pub disposition: Option<String>,
    /// Whether its disposition says `handling=required` (RFC 3204 §5; the default for a
    /// `session` part, RFC 3261 §20.11): a part of a type the SRS cannot read then refuses
    /// the request (RFC 5621 §9.1).
    pub required: bool,
    /// Its bytes (transfer encodings undone).
    pub body: Vec<u8>,
}

fn bad(what: impl Into<String>) -> SiprecError {
    SiprecError::BadMultipart(what.into())
}

/// The parts of a body whose `Content-Type` header is `content_type`. A body that is not
/// multipart is one part.
pub fn split(content_type: &str, body: &[u8]) -> Result<Vec<Part>, SiprecError> {
    if content_type.contains(['\r', '\n']) {
        return Err(bad("Content-Type holds a line break"));
    }
    let mut raw = Vec::with_capacity(body.len() + content_type.len() + 20);
    raw.extend_from_slice(b"Content-Type: ");
    raw.extend_from_slice(content_type.as_bytes());
    raw.extend_from_slice(b"\r\n\r\n");
    raw.extend_from_slice(body);
    let mail = mailparse::parse_mail(&raw).map_err(|e| bad(e.to_string()))?;
    let is_multipart = mail.ctype.mimetype.starts_with("multipart/");
    if is_multipart && !mail.ctype.params.contains_key("boundary") {
        return Err(bad("a multipart Content-Type without a boundary"));
    }
    let parts: Vec<&mailparse::ParsedMail<'_>> = if is_multipart {
        mail.subparts.iter().collect()
    } else {
        vec![&mail]
    };
    if parts.is_empty() {
        return Err(bad("no part found behind the boundary"));
    }
    if parts.len() > MAX_PARTS {
        return Err(bad(format!("more than {MAX_PARTS} parts")));
    }
    parts
        .into_iter()
        .map(|p| {
            let header = p
                .headers
                .iter()
                .find(|h| h.get_key_ref().eq_ignore_ascii_case("content-disposition"))
                .map(|h| h.get_value().to_ascii_lowercase());
            let mut fields = header.as_deref().unwrap_or_default().split(';');
            let disposition = header
                .as_ref()
                .map(|_| fields.next().unwrap_or_default().trim().to_owned());
            let handling = fields
                .filter_map(|f| f.split_once('='))
                .find(|(k, _)| k.trim() == "handling")
                .map(|(_, v)| v.trim().to_owned());
            let required = match handling.as_deref() {
                Some(h) => h == "required",
                None => disposition.as_deref().is_none_or(|d| d == "session"),
            };
            let content_type = p.ctype.mimetype.trim().to_ascii_lowercase();
            if !is_media_type(&content_type) {
                return Err(bad("a part's Content-Type is not a type/subtype"));
            }
            Ok(Part {
                content_type,
                disposition,
                required,
                body: p.get_body_raw().map_err(|e| bad(e.to_string()))?,
            })
        })
        .collect()
}

/// `type "/" subtype`, both RFC 2045 §5.1 tokens.
fn is_media_type(s: &str) -> bool {
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
    };
    s.split_once('/')
        .is_some_and(|(t, st)| token(t) && token(st))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_split_with_or_without_the_closing_delimiter() {
        let body = b"--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\r\n--b\r\nContent-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session\r\n\r\n<recording/>\r\n--b--\r\n";
        let parts = split("multipart/mixed;boundary=b", body).expect("parts");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].content_type, "application/sdp");
        assert_eq!(parts[1].content_type, "application/rs-metadata+xml");
        assert_eq!(parts[1].disposition.as_deref(), Some("recording-session"));
        let open = &body[..body.len() - "--b--\r\n".len()];
        assert_eq!(
            split("multipart/mixed;boundary=b", open)
                .expect("open")
                .len(),
            2
        );
    }

    #[test]
    fn a_multipart_type_without_a_boundary_is_refused() {
        let e = split("multipart/mixed", b"x").expect_err("no boundary");
        assert!(e.to_string().contains("boundary"), "{e}");
        let e = split("multipart/mixed;boundary=b\r\nX: y", b"x").expect_err("crlf");
        assert!(e.to_string().contains("line break"), "{e}");
    }
}
