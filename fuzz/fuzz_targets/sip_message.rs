//! A SIP message off the wire, and the recording session read from it: parsed or refused
//! with a reason and a 4xx, never a panic; a stream's framing agrees with the parse.
#![no_main]

use callvault_siprec::session::{self, Kind};
use callvault_siprec::sip::{Framing, SipMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(len)) = SipMessage::message_len(data) {
        assert!(len <= data.len());
        if let Ok(m) = SipMessage::parse(&data[..len], Framing::Stream) {
            assert!(m.body.len() <= len);
        }
    }
    if let Ok(m) = SipMessage::parse(data, Framing::Datagram) {
        for kind in [Kind::Initial, Kind::InDialog] {
            if let Err(r) = session::read(&m, kind) {
                assert!((400..500).contains(&r.status), "{r:?}");
                assert!(!r.reason.is_empty());
            }
        }
    }
});
