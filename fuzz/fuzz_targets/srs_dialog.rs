//! The SRS's SIP side fed a sequence of messages (separated by two NUL bytes) and timer
//! ticks: it never panics, every message it writes parses, and it never holds more calls
//! than its limit.
#![no_main]

use std::net::SocketAddr;

use callvault_recorder::srs::reply::Identity;
use callvault_recorder::srs::{Action, Peer, PortPool, Srs, SrsConfig, Transport};
use callvault_siprec::sip::{Framing, SipMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut srs = Srs::new(
        SrsConfig {
            identity: Identity {
                contact: "sip:srs@127.0.0.1:5060".into(),
                agent: "fuzz".into(),
            },
            media_address: "127.0.0.1".parse().expect("ip"),
            max_calls: 4,
            session_expires: 1800,
            min_se: 90,
        },
        PortPool::new(40000, 40015),
    );
    let peer = Peer {
        addr: SocketAddr::from(([192, 0, 2, 1], 5060)),
        transport: Transport::Udp,
    };
    let mut now = 0u64;
    let check = |actions: Vec<Action>| {
        for a in actions {
            if let Action::Send { bytes, .. } = a {
                SipMessage::parse(&bytes, Framing::Stream).expect("the SRS writes valid SIP");
            }
        }
    };
    for msg in data.split(|b| *b == 0).filter(|m| !m.is_empty()) {
        now += 700;
        check(srs.handle(msg, peer, now));
        check(srs.tick(now));
    }
    check(srs.tick(now + 10_000_000));
    assert!(srs.calls() <= 4, "at most max_calls");
});
