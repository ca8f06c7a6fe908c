//! The SRS's SIP side against scripted requests: answers, retransmissions, dialogs, limits,
//! session timers, SRTP keying.

use std::net::SocketAddr;

use callvault_siprec::sdp::{Direction, parse_offer};
use callvault_siprec::sip::{Framing, SipMessage};
use ezk_sip_types::Name;
use ezk_sip_types::msg::MessageLine;

use super::reply::Identity;
use super::*;

const META: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>complete</datamode>
<session session_id="S"/><participant participant_id="caller"><nameID aor="tel:+46701234567"/></participant>
<participant participant_id="nurse"><nameID aor="sip:4711@pbx.example"><name>Sjuksköterska</name></nameID></participant>
<stream stream_id="s1" session_id="S"><label>1</label></stream><stream stream_id="s2" session_id="S"><label>2</label></stream>
<participantstreamassoc participant_id="caller"><send>s1</send></participantstreamassoc>
<participantstreamassoc participant_id="nurse"><send>s2</send></participantstreamassoc></recording>"#;

fn sdp(proto: &str, extra: &str, direction: &str) -> String {
    format!(
        "v=0\r\no=SBC 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 30000 {proto} 0 101\r\na=rtpmap:101 telephone-event/8000\r\n{extra}a={direction}\r\na=label:1\r\n\
m=audio 30002 {proto} 0 101\r\na=rtpmap:101 telephone-event/8000\r\n{extra}a={direction}\r\na=label:2\r\n"
    )
}

fn request(method: &str, call: &str, cseq: u32, headers: &str, ct: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} sip:srs@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{call}{cseq}\r\n\
Max-Forwards: 70\r\nFrom: <sip:src@192.0.2.1>;tag=src1\r\nTo: <sip:srs@127.0.0.1>\r\nCall-ID: {call}\r\n\
CSeq: {cseq} {method}\r\nContact: <sip:src@192.0.2.1:5060>;+sip.src\r\n{headers}{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn invite(call: &str, headers: &str, sdp_body: &str) -> Vec<u8> {
    let body = format!(
        "--b\r\nContent-Type: application/sdp\r\n\r\n{sdp_body}\r\n--b\r\nContent-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session\r\n\r\n{META}\r\n--b--\r\n"
    );
    request(
        "INVITE",
        call,
        1,
        &format!("Require: siprec\r\n{headers}"),
        "Content-Type: multipart/mixed;boundary=b\r\n",
        &body,
    )
}

fn srs(max_calls: usize, ports: (u16, u16)) -> Srs {
    Srs::new(
        SrsConfig {
            identity: Identity {
                contact: "sip:srs@127.0.0.1:5060".into(),
                agent: "callvault-test".into(),
            },
            media_address: "127.0.0.1".parse().expect("ip"),
            max_calls,
            session_expires: 1800,
            min_se: 90,
        },
        PortPool::new(ports.0, ports.1),
    )
}

fn udp() -> Peer {
    Peer {
        addr: SocketAddr::from(([192, 0, 2, 1], 5060)),
        transport: Transport::Udp,
    }
}

fn sent(actions: &[Action]) -> Vec<SipMessage> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { bytes, .. } => {
                Some(SipMessage::parse(bytes, Framing::Stream).expect("our message parses"))
            }
            _ => None,
        })
        .collect()
}

fn status(m: &SipMessage) -> u16 {
    match &m.line {
        MessageLine::Response(s) => s.code.into_u16(),
        MessageLine::Request(_) => 0,
    }
}

fn header(m: &SipMessage, name: Name) -> String {
    m.raw(&name).collect::<Vec<_>>().join(",")
}

#[test]
fn an_invite_is_answered_with_sdp_only_one_recvonly_line_per_label() {
    let mut s = srs(10, (40000, 40009));
    let a = s.handle(&invite("c1", "", &sdp("RTP/AVP", "", "sendonly")), udp(), 0);
    let [ok] = &sent(&a)[..] else { panic!("{a:?}") };
    assert_eq!(status(ok), 200);
    assert_eq!(
        ok.content_type().as_deref(),
        Some("application/sdp"),
        "never multipart"
    );
    assert!(header(ok, Name::CONTACT).contains("+sip.srs"));
    assert_eq!(header(ok, Name::REQUIRE), "siprec");
    assert!(header(ok, Name::TO).contains(";tag="));
    let answer = parse_offer(&ok.body).expect("answer");
    assert_eq!(answer.streams.len(), 2);
    for (s, (label, port)) in answer.streams.iter().zip([("1", 40000), ("2", 40002)]) {
        assert_eq!(s.direction, Direction::RecvOnly);
        assert_eq!(s.label.as_deref(), Some(label));
        assert_eq!(s.port, port);
    }
    let Some(Action::Start {
        streams, session, ..
    }) = a.iter().find(|x| matches!(x, Action::Start { .. }))
    else {
        panic!("start")
    };
    assert_eq!(streams.len(), 2);
    assert_eq!(streams[0].participant.as_deref(), Some("caller"));
    assert_eq!(streams[1].participant.as_deref(), Some("nurse"));
    assert_eq!(streams[0].audio.encoding, "PCMU");
    assert!(streams[0].telephone_event.is_some());
    assert!(session.metadata.is_some());
    assert_eq!(s.calls(), 1);
}

#[test]
fn the_200_is_retransmitted_until_the_ack_and_a_call_without_ack_ends() {
    let mut s = srs(10, (40000, 40009));
    let inv = invite("c2", "", &sdp("RTP/AVP", "", "sendonly"));
    let first = s.handle(&inv, udp(), 0);
    let ok = sent(&first).remove(0);
    assert!(s.tick(T1_MS - 1).is_empty());
    assert_eq!(sent(&s.tick(T1_MS)).len(), 1, "after T1");
    assert_eq!(sent(&s.tick(T1_MS + 2 * T1_MS)).len(), 1, "after 2·T1 more");
    // A retransmitted INVITE gets the same answer.
    let again = s.handle(&inv, udp(), 1600);
    assert_eq!(sent(&again)[0].body, ok.body);
    // The ACK stops the retransmissions.
    s.handle(&request("ACK", "c2", 1, "", "", ""), udp(), 1700);
    assert!(s.tick(10_000).is_empty());

    let mut s = srs(10, (40000, 40009));
    s.handle(&invite("c3", "", &sdp("RTP/AVP", "", "sendonly")), udp(), 0);
    let mut ended = Vec::new();
    let mut t = 0;
    while t <= 64 * T1_MS {
        t += 250;
        let a = s.tick(t);
        if a.iter().any(|a| {
            matches!(
                a,
                Action::End {
                    why: EndReason::NoAck,
                    ..
                }
            )
        }) {
            ended = sent(&a);
        }
    }
    let bye = ended.last().expect("no ACK within 64·T1 ends the call");
    assert!(matches!(&bye.line, MessageLine::Request(l) if l.method == Method::BYE));
    assert_eq!(s.calls(), 0);
}

#[test]
fn bye_ends_the_call_and_frees_its_ports_unknown_dialogs_get_481() {
    let mut s = srs(10, (40000, 40003));
    s.handle(&invite("c4", "", &sdp("RTP/AVP", "", "sendonly")), udp(), 0);
    // Two ports in the range: a second call finds none.
    let busy = s.handle(
        &invite("c5", "", &sdp("RTP/AVP", "", "sendonly")),
        udp(),
        10,
    );
    let r = sent(&busy).remove(0);
    assert_eq!(status(&r), 503);
    assert_eq!(header(&r, Name::RETRY_AFTER), "30");
    assert!(header(&r, Name::WARNING).contains("no free media port"));
    let bye = s.handle(&request("BYE", "c4", 2, "", "", ""), udp(), 100);
    assert_eq!(status(&sent(&bye)[0]), 200);
    assert!(bye.iter().any(|a| matches!(
        a,
        Action::End {
            why: EndReason::Bye,
            ..
        }
    )));
    let again = s.handle(
        &invite("c5", "", &sdp("RTP/AVP", "", "sendonly")),
        udp(),
        200,
    );
    assert_eq!(status(&sent(&again)[0]), 200, "the ports are free again");
    let unknown = s.handle(&request("BYE", "nope", 2, "", "", ""), udp(), 300);
    assert_eq!(status(&sent(&unknown)[0]), 481);
}

#[test]
fn limits_options_other_methods_and_non_siprec_invites() {
    let mut s = srs(1, (40000, 40099));
    s.handle(&invite("c6", "", &sdp("RTP/AVP", "", "sendonly")), udp(), 0);
    let full = s.handle(&invite("c7", "", &sdp("RTP/AVP", "", "sendonly")), udp(), 1);
    let r = sent(&full).remove(0);
    assert_eq!(status(&r), 503);
    assert!(
        full.iter()
            .any(|a| matches!(a, Action::Refused { status: 503, .. }))
    );
    let o = sent(&s.handle(&request("OPTIONS", "o1", 1, "", "", ""), udp(), 2)).remove(0);
    assert_eq!(status(&o), 200);
    assert!(header(&o, Name::ALLOW).contains("UPDATE"));
    assert!(header(&o, Name::SUPPORTED).contains("siprec"));
    let m = sent(&s.handle(&request("MESSAGE", "m1", 1, "", "", ""), udp(), 3)).remove(0);
    assert_eq!(status(&m), 405);
    let plain = request(
        "INVITE",
        "p1",
        1,
        "",
        "Content-Type: application/sdp\r\n",
        &sdp("RTP/AVP", "", "sendonly"),
    );
    let plain = String::from_utf8(plain)
        .expect("utf8")
        .replace(";+sip.src", "");
    let mut s = srs(5, (40000, 40099));
    let r = sent(&s.handle(plain.as_bytes(), udp(), 4)).remove(0);
    assert_eq!(status(&r), 488);
    assert!(header(&r, Name::WARNING).contains("not a SIPREC session"));
    let r = sent(&s.handle(
        &invite("u1", "Require: 100rel\r\n", &sdp("RTP/AVP", "", "sendonly")),
        udp(),
        5,
    ))
    .remove(0);
    assert_eq!(status(&r), 420);
    assert_eq!(header(&r, Name::UNSUPPORTED), "100rel");
    // A Contact that is no SIP URI: the SRS could never send its BYE there.
    let bad_contact = String::from_utf8(invite("k1", "", &sdp("RTP/AVP", "", "sendonly")))
        .expect("utf8")
        .replace("<sip:src@192.0.2.1:5060>", "<sip:src@1902..2.1:5060>");
    let r = sent(&s.handle(bad_contact.as_bytes(), udp(), 5)).remove(0);
    assert_eq!(status(&r), 400);
    assert!(header(&r, Name::WARNING).contains("Contact is not a SIP URI"));
    // Garbage is logged, never answered.
    assert!(matches!(
        &s.handle(b"\x00\x01garbage", udp(), 6)[..],
        [Action::Refused { status: 0, .. }]
    ));
}

#[test]
fn pause_resume_and_metadata_in_the_dialog_keep_the_srs_ports() {
    let mut s = srs(10, (40000, 40099));
    s.handle(&invite("c8", "", &sdp("RTP/AVP", "", "sendonly")), udp(), 0);
    s.handle(&request("ACK", "c8", 1, "", "", ""), udp(), 10);
    let hold = s.handle(
        &request(
            "INVITE",
            "c8",
            2,
            "",
            "Content-Type: application/sdp\r\n",
            &sdp("RTP/AVP", "", "inactive"),
        ),
        udp(),
        1000,
    );
    let ok = sent(&hold).remove(0);
    assert_eq!(status(&ok), 200);
    let answer = parse_offer(&ok.body).expect("answer");
    assert_eq!(
        (answer.streams[0].port, answer.streams[1].port),
        (40000, 40002)
    );
    let Some(Action::Update {
        streams, metadata, ..
    }) = hold.iter().find(|a| matches!(a, Action::Update { .. }))
    else {
        panic!("update")
    };
    assert!(streams.iter().all(|u| u.paused));
    assert!(metadata.is_none());
    let meta_only = s.handle(
        &request(
            "UPDATE",
            "c8",
            3,
            "",
            "Content-Type: application/rs-metadata+xml\r\n",
            META,
        ),
        udp(),
        2000,
    );
    let ok = sent(&meta_only).remove(0);
    assert_eq!(status(&ok), 200);
    assert!(ok.body.is_empty());
    assert!(meta_only.iter().any(|a| matches!(
        a,
        Action::Update {
            metadata: Some(_),
            ..
        }
    )));
    // The re-INVITE's 200 is acknowledged; much later the call is still there.
    s.handle(&request("ACK", "c8", 2, "", "", ""), udp(), 2100);
    assert!(
        s.tick(600_000)
            .iter()
            .all(|a| !matches!(a, Action::End { .. }))
    );
    assert_eq!(s.calls(), 1);
}

#[test]
fn session_timers_are_granted_refreshed_and_enforced_with_a_bye() {
    let mut s = srs(10, (40000, 40099));
    let a = s.handle(
        &invite(
            "t1",
            "Supported: timer\r\nSession-Expires: 90\r\n",
            &sdp("RTP/AVP", "", "sendonly"),
        ),
        udp(),
        0,
    );
    let ok = sent(&a).remove(0);
    assert_eq!(header(&ok, Name::SESSION_EXPIRES), "90;refresher=uac");
    assert_eq!(header(&ok, Name::REQUIRE), "siprec, timer");
    s.handle(&request("ACK", "t1", 1, "", "", ""), udp(), 10);
    // Refreshed by an UPDATE at 60 s: still alive at 100 s.
    let refresh = s.handle(
        &request(
            "UPDATE",
            "t1",
            2,
            "Session-Expires: 90\r\n",
            "Content-Type: application/rs-metadata+xml\r\n",
            META,
        ),
        udp(),
        60_000,
    );
    assert_eq!(status(&sent(&refresh)[0]), 200);
    assert!(s.tick(100_000).is_empty());
    let end = s.tick(150_000);
    let [bye] = &sent(&end)[..] else {
        panic!("{end:?}")
    };
    assert!(matches!(&bye.line, MessageLine::Request(l) if l.method == Method::BYE));
    assert!(header(bye, Name::FROM).contains(";tag="));
    assert_eq!(bye.call_id().expect("call-id"), "t1");
    assert!(end.iter().any(|a| matches!(
        a,
        Action::End {
            why: EndReason::SessionExpired,
            ..
        }
    )));

    let short = s.handle(
        &invite(
            "t2",
            "Session-Expires: 30\r\n",
            &sdp("RTP/AVP", "", "sendonly"),
        ),
        udp(),
        0,
    );
    let r = sent(&short).remove(0);
    assert_eq!(status(&r), 422);
    assert_eq!(header(&r, Name::MIN_SE), "90");
}

#[test]
fn srtp_lines_are_answered_with_the_srss_own_key_and_unsupported_suites_refused() {
    let mut s = srs(10, (40000, 40099));
    let offer = sdp(
        "RTP/SAVP",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n",
        "sendonly",
    );
    let a = s.handle(&invite("s1", "", &offer), udp(), 0);
    let ok = sent(&a).remove(0);
    assert_eq!(status(&ok), 200);
    let answer = parse_offer(&ok.body).expect("answer");
    let c = &answer.streams[0].crypto[0];
    assert_eq!((c.tag, c.suite.as_str()), (2, "AES_CM_128_HMAC_SHA1_80"));
    assert_ne!(
        c.key_params.as_str(),
        "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
    );
    let Some(Action::Start { streams, .. }) = a.iter().find(|x| matches!(x, Action::Start { .. }))
    else {
        panic!("start")
    };
    assert!(streams.iter().all(|p| p.srtp.is_some()));
    let only_32 = sdp(
        "RTP/SAVP",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n",
        "sendonly",
    );
    let r = sent(&s.handle(&invite("s2", "", &only_32), udp(), 1)).remove(0);
    assert_eq!(status(&r), 488);
}

/// Found in review: ports were matched to re-offered lines by count, a refused re-INVITE
/// still refreshed the timer, a bodiless UPDATE (the RFC 4028 refresh) was refused, and any
/// ACK stopped the retransmissions of a later 200.
#[test]
fn re_offers_keep_each_lines_port_refusals_change_nothing_and_refreshes_work() {
    let mut s = srs(10, (40000, 40099));
    s.handle(
        &invite(
            "r1",
            "Supported: timer\r\nSession-Expires: 90\r\n",
            &sdp("RTP/AVP", "", "sendonly"),
        ),
        udp(),
        0,
    );
    s.handle(&request("ACK", "r1", 1, "", "", ""), udp(), 10);
    // Line 0 re-offered with G.722 only: it is refused, line 1 keeps its own port.
    let g722 = sdp("RTP/AVP", "", "sendonly").replacen(
        "m=audio 30000 RTP/AVP 0 101",
        "m=audio 30000 RTP/AVP 9 101",
        1,
    );
    let a = s.handle(
        &request(
            "INVITE",
            "r1",
            2,
            "",
            "Content-Type: application/sdp\r\n",
            &g722,
        ),
        udp(),
        1000,
    );
    let ok = sent(&a).remove(0);
    assert_eq!(status(&ok), 200);
    assert_eq!(header(&ok, Name::SESSION_EXPIRES), "90;refresher=uac");
    let answer = parse_offer(&ok.body).expect("answer");
    assert_eq!((answer.streams[0].port, answer.streams[1].port), (0, 40002));
    // An ACK of the first INVITE does not stop the re-INVITE's 200.
    s.handle(&request("ACK", "r1", 1, "", "", ""), udp(), 1100);
    assert_eq!(sent(&s.tick(1600)).len(), 1);
    s.handle(&request("ACK", "r1", 2, "", "", ""), udp(), 1700);
    assert!(s.tick(5000).is_empty());
    // A refused re-INVITE (a line dropped) changes nothing, not even the timer.
    let one_line = "v=0\r\no=SBC 1 3 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=sendonly\r\na=label:1\r\n";
    let r = s.handle(
        &request(
            "INVITE",
            "r1",
            3,
            "",
            "Content-Type: application/sdp\r\n",
            one_line,
        ),
        udp(),
        80_000,
    );
    assert_eq!(status(&sent(&r)[0]), 488);
    // A bodiless UPDATE refreshes the session.
    let u = s.handle(
        &request("UPDATE", "r1", 4, "Session-Expires: 90\r\n", "", ""),
        udp(),
        85_000,
    );
    let ok = sent(&u).remove(0);
    assert_eq!(status(&ok), 200);
    assert_eq!(header(&ok, Name::SESSION_EXPIRES), "90;refresher=uac");
    assert!(
        s.tick(120_000)
            .iter()
            .all(|a| !matches!(a, Action::End { .. }))
    );
    assert!(s.tick(176_000).iter().any(|a| matches!(
        a,
        Action::End {
            why: EndReason::SessionExpired,
            ..
        }
    )));
}
