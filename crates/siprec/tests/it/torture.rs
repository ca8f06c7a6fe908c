//! Torture messages in the spirit of RFC 4475: odd but valid messages read, invalid ones
//! refused with a reason — never a panic, never a hang.

use callvault_siprec::sip::{Framing, SipMessage};

const VALID: &str = "OPTIONS sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:srs@127.0.0.1>\r\nCall-ID: t1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

#[test]
fn odd_but_valid_messages_are_read() {
    // §3.1.1.1-style: compact header names, folded lines, leading keep-alive CRLFs, case.
    let msg = "\r\n\r\nOPTIONS sip:srs@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nf: <sip:a@x>;tag=1\r\nt: <sip:srs@127.0.0.1>\r\ni: t2\r\nCSeq:   1\r\n   OPTIONS\r\nsUpPoRtEd: timer,\r\n siprec\r\nl: 0\r\n\r\n";
    let m = SipMessage::parse(msg.as_bytes(), Framing::Stream).expect("valid");
    assert_eq!(m.call_id().expect("call-id"), "t2");
    assert_eq!(m.cseq().expect("cseq").cseq, 1);
    assert_eq!(
        m.tokens(&ezk_sip_types::Name::SUPPORTED),
        ["timer", "siprec"]
    );
    assert_eq!(
        SipMessage::message_len(msg.as_bytes()).expect("len"),
        Some(msg.len())
    );
}

#[test]
fn invalid_messages_are_refused_with_a_reason() {
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        ("\r\n\r\n".into(), "empty"),
        (
            VALID.replace("SIP/2.0\r\nVia", "SIP/7.0\r\nVia"),
            "start line",
        ),
        (VALID.replace("Call-ID: t1\r\n", ""), "no Call-ID"),
        (VALID.replace("CSeq: 1 OPTIONS", "CSeq: x OPTIONS"), "CSeq"),
        (
            VALID.replace("Content-Length: 0", "Content-Length: 10"),
            "only 0 body bytes",
        ),
        (
            VALID.replace("Content-Length: 0", "Content-Length: -1"),
            "not a number",
        ),
        (
            VALID.replace(
                "Content-Length: 0\r\n",
                "Content-Length: 0\r\nContent-Length: 1\r\n",
            ),
            "two different",
        ),
        (VALID.replace("Via: ", "Via "), "no name and colon"),
        (VALID.replace("\r\n\r\n", "\r\n"), "incomplete"),
        (
            VALID.replace("Content-Length: 0\r\n", ""),
            "needs Content-Length",
        ),
        (format!("{}{}", VALID, "x".repeat(70_000)), "longer than"),
    ];
    for (msg, why) in cases {
        let e = SipMessage::parse(msg.as_bytes(), Framing::Stream)
            .expect_err(why)
            .to_string();
        assert!(e.contains(why), "{why}: {e}");
    }
    // Not UTF-8 in a header.
    let mut bytes = VALID.as_bytes().to_vec();
    let at = VALID.find("t1").expect("call-id");
    bytes[at] = 0xff;
    assert!(SipMessage::parse(&bytes, Framing::Datagram).is_err());
}

#[test]
fn a_stream_is_framed_by_content_length() {
    let two = format!("{VALID}{VALID}");
    assert_eq!(
        SipMessage::message_len(two.as_bytes()).expect("len"),
        Some(VALID.len())
    );
    assert_eq!(
        SipMessage::message_len(&VALID.as_bytes()[..20]).expect("partial"),
        None
    );
    // A Content-Length near u64::MAX is refused, never wrapped to a zero-length message.
    let huge = VALID.replace("Content-Length: 0", "Content-Length: 18446744073709551600");
    assert!(SipMessage::message_len(huge.as_bytes()).is_err());
    // A datagram with bytes after its body keeps only the body Content-Length names.
    let m = SipMessage::parse(
        VALID
            .replace("Content-Length: 0", "Content-Length: 2")
            .replace("\r\n\r\n", "\r\n\r\nokjunk")
            .as_bytes(),
        Framing::Datagram,
    )
    .expect("datagram");
    assert_eq!(&m.body[..], b"ok");
}
