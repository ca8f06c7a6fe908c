//! RTP datagrams into a track: whatever arrives, in whatever order and timing, the track
//! writes exactly the samples asked for, its gaps lie inside what it wrote, and it never
//! panics. Input: records of [length u16][arrival step ms u8][datagram].
#![no_main]

use callvault_recorder::media::g711::Law;
use callvault_recorder::media::track::{Track, TrackConfig, position};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = TrackConfig {
        law: Law::Mu,
        audio: vec![(0, Law::Mu), (8, Law::A)],
        telephone_event: Some(101),
        comfort_noise: Some(13),
    };
    let mut track = Track::new(cfg, 0);
    let mut at_us = 0u64;
    let mut rest = data;
    let mut out = Vec::new();
    while let [l0, l1, step, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*l0, *l1])).min(tail.len());
        let (datagram, next) = tail.split_at(len);
        at_us += u64::from(*step) * 1000;
        track.push(datagram, at_us);
        // Drain now and then, 60 ms behind, as the recorder does.
        if step % 4 == 0 {
            let until = position(0, at_us).saturating_sub(480).max(track.written());
            let before = out.len() as u64;
            let from = track.written();
            track.drain_into(until, &mut out);
            assert_eq!(out.len() as u64 - before, until - from);
        }
        rest = next;
    }
    let end = track.end();
    track.drain_into(end, &mut out);
    assert_eq!(out.len() as u64, track.written());
    for g in track.gaps() {
        assert!(g.len > 0 && g.start + g.len <= track.written(), "{g:?}");
    }
    let s = track.stats();
    assert!(s.audio_samples + s.lost_samples <= track.written());
});
