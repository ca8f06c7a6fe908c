//! An SDP offer, and the SRS's answer to it: the answer always parses back with one line
//! per offered line, `recvonly`, labels kept.
#![no_main]

use callvault_siprec::sdp::{self, AnswerLine, Direction};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = sdp::parse_offer(data) else {
        return;
    };
    let lines: Vec<AnswerLine> = offer
        .streams
        .iter()
        .map(|s| match s.formats.first() {
            Some(f) if s.media == "audio" => AnswerLine::Record {
                port: 40000,
                format: f.clone(),
                telephone_event: None,
                comfort_noise: None,
                crypto: None,
            },
            _ => AnswerLine::Refuse,
        })
        .collect();
    let Ok(answer) = sdp::answer(&offer, &lines, "127.0.0.1".parse().expect("ip"), (1, 1)) else {
        return;
    };
    let back = sdp::parse_offer(answer.as_bytes()).expect("our own answer parses");
    assert_eq!(back.streams.len(), offer.streams.len());
    for (a, o) in back.streams.iter().zip(&offer.streams) {
        assert_eq!(a.direction, Direction::RecvOnly);
        assert_eq!(a.label, o.label);
    }
});
