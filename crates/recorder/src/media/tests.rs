//! The media layer against scripted packet arrivals: order, loss, duplicates, wrap-around,
//! SSRC changes, timestamp jumps, comfort noise, telephone events, two channels.

use super::g711::Law;
use super::stereo::Stereo;
use super::track::{Gap, Track, TrackConfig};

const MS: u64 = 1000;

fn cfg(law: Law) -> TrackConfig {
    TrackConfig {
        law: Law::Mu,
        audio: vec![(if law == Law::Mu { 0 } else { 8 }, law)],
        telephone_event: Some(101),
        comfort_noise: Some(13),
    }
}

fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend(seq.to_be_bytes());
    p.extend(ts.to_be_bytes());
    p.extend(ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// 160 samples whose value names the packet (never µ-law silence 0xFF).
fn voice(n: u16) -> Vec<u8> {
    vec![(n % 200) as u8 + 1; 160]
}

struct Call {
    track: Track,
    seq0: u16,
    ts0: u32,
    ssrc: u32,
}

impl Call {
    fn new(seq0: u16, ts0: u32) -> Self {
        Self {
            track: Track::new(cfg(Law::Mu), 0),
            seq0,
            ts0,
            ssrc: 0x1234_5678,
        }
    }

    /// Packet `n` (20 ms each), arriving `late_ms` after its time (the first packet, which
    /// anchors the stream on the timeline, on time).
    fn send(&mut self, n: u16, late_ms: u64) {
        let late_ms = if n == 0 { 0 } else { late_ms };
        let p = packet(
            0,
            self.seq0.wrapping_add(n),
            self.ts0.wrapping_add(u32::from(n) * 160),
            self.ssrc,
            &voice(n),
        );
        self.track.push(&p, u64::from(n) * 20 * MS + late_ms * MS);
    }

    fn drain(&mut self, until: u64) -> Vec<u8> {
        let mut out = Vec::new();
        self.track.drain_into(until, &mut out);
        out
    }
}

fn expected(packets: impl Iterator<Item = u16>) -> Vec<u8> {
    packets.flat_map(voice).collect()
}

/// Compares audio without printing thousands of samples.
#[track_caller]
fn same(got: &[u8], want: &[u8]) {
    let first = got.iter().zip(want).position(|(a, b)| a != b);
    assert!(
        first.is_none() && got.len() == want.len(),
        "lengths {} / {}, first difference at sample {first:?}",
        got.len(),
        want.len()
    );
}

#[test]
fn packets_in_order_are_written_as_they_came() {
    let mut c = Call::new(100, 5000);
    for n in 0..50 {
        c.send(n, 1);
    }
    let out = c.drain(8000);
    same(&out, &expected(0..50));
    assert!(c.track.gaps().is_empty());
    let s = c.track.stats();
    assert_eq!((s.received, s.audio_samples, s.lost_samples), (50, 8000, 0));
}

#[test]
fn reordered_and_duplicated_packets_are_put_in_place_once() {
    let mut c = Call::new(7, 0);
    let order = [0, 2, 1, 3, 3, 5, 4, 6, 7, 7, 9, 8];
    for n in order {
        c.send(n, 10);
    }
    same(&c.drain(10 * 160), &expected(0..10));
    let s = c.track.stats();
    assert_eq!(s.duplicates, 2);
    assert_eq!(s.reordered, 3);
    assert!(c.track.gaps().is_empty());
}

#[test]
fn loss_becomes_silence_of_the_right_length_and_is_recorded() {
    let mut c = Call::new(0, 0);
    for n in (0..20).filter(|n| *n != 10 && *n != 11) {
        c.send(n, 1);
    }
    let out = c.drain(20 * 160);
    assert_eq!(out.len(), 20 * 160);
    assert!(
        out[10 * 160..12 * 160]
            .iter()
            .all(|s| *s == Law::Mu.silence())
    );
    assert_eq!(&out[12 * 160..13 * 160], &voice(12)[..]);
    assert_eq!(
        c.track.gaps(),
        [Gap {
            start: 1600,
            len: 320
        }]
    );
    assert_eq!(c.track.stats().lost_samples, 320);
}

#[test]
fn sequence_and_timestamp_wrap_around_is_seamless() {
    let mut c = Call::new(65_530, u32::MAX - 800);
    for n in 0..30 {
        c.send(n, 2);
    }
    same(&c.drain(30 * 160), &expected(0..30));
    let s = c.track.stats();
    assert_eq!((s.resyncs, s.duplicates, s.late), (0, 0, 0));
}

#[test]
fn a_packet_after_its_time_is_dropped_and_its_gap_stays() {
    let mut c = Call::new(0, 0);
    for n in [0, 1, 3] {
        c.send(n, 0);
    }
    let out = c.drain(4 * 160);
    c.send(2, 200);
    assert_eq!(c.track.stats().late, 1);
    assert_eq!(&out[2 * 160..3 * 160], &[Law::Mu.silence(); 160][..]);
    assert_eq!(
        c.track.gaps(),
        [Gap {
            start: 320,
            len: 160
        }]
    );
}

#[test]
fn a_new_ssrc_continues_where_it_arrives() {
    let mut c = Call::new(0, 0);
    for n in 0..10 {
        c.send(n, 0);
    }
    // The SBC switches source: new SSRC, sequence and timestamp bases.
    c.ssrc = 0x0BAD_CAFE;
    c.seq0 = 40_000;
    c.ts0 = 123_456_789;
    for n in 10..20 {
        c.send(n, 0);
    }
    let out = c.drain(20 * 160);
    same(&out, &expected(0..20));
    let s = c.track.stats();
    assert_eq!((s.ssrc_changes, s.duplicates, s.lost_samples), (1, 0, 0));
}

#[test]
fn a_timestamp_jump_re_anchors_instead_of_writing_minutes_of_silence() {
    let mut c = Call::new(0, 0);
    for n in 0..10 {
        c.send(n, 0);
    }
    c.ts0 = c.ts0.wrapping_add(3_000_000); // six minutes ahead, same SSRC
    for n in 10..20 {
        c.send(n, 0);
    }
    let out = c.drain(20 * 160);
    same(&out, &expected(0..20));
    assert_eq!(c.track.stats().resyncs, 1);
}

#[test]
fn silence_after_comfort_noise_is_not_loss() {
    let mut c = Call::new(0, 0);
    for n in 0..5 {
        c.send(n, 0);
    }
    let cn = packet(13, 5, 5 * 160, c.ssrc, &[40]);
    c.track.push(&cn, 100 * MS);
    // Nothing for 400 ms, then speech again.
    for n in 25..30 {
        c.send(n, 0);
    }
    let out = c.drain(30 * 160);
    assert_eq!(out.len(), 30 * 160);
    assert!(c.track.gaps().is_empty(), "{:?}", c.track.gaps());
    assert_eq!(&out[25 * 160..26 * 160], &voice(25)[..]);
}

#[test]
fn a_telephone_event_is_kept_once_and_covers_its_silence() {
    let mut c = Call::new(0, 0);
    for n in 0..5 {
        c.send(n, 0);
    }
    // '#' starting at timestamp 800, reported every 20 ms, its end three times.
    for (i, (dur, end)) in [
        (160u16, false),
        (320, false),
        (480, true),
        (480, true),
        (480, true),
    ]
    .into_iter()
    .enumerate()
    {
        let flags = if end { 0x80 | 10 } else { 10 };
        let d = dur.to_be_bytes();
        let p = packet(101, 5 + i as u16, 800, c.ssrc, &[11, flags, d[0], d[1]]);
        c.track.push(&p, (100 + 20 * i as u64) * MS);
    }
    c.seq0 = 10 - 8; // speech resumes after the event: seq 10 is packet 8
    for n in 8..12 {
        c.send(n, 0);
    }
    let out = c.drain(12 * 160);
    assert_eq!(out.len(), 12 * 160);
    let [e] = c.track.events() else {
        panic!("one event: {:?}", c.track.events())
    };
    assert_eq!((e.event, e.at, e.duration, e.ended), (11, 800, 480, true));
    assert!(c.track.gaps().is_empty(), "{:?}", c.track.gaps());
}

#[test]
fn rtcp_junk_and_foreign_payload_types_are_counted_and_dropped() {
    let mut c = Call::new(0, 0);
    c.send(0, 0);
    c.track
        .push(&[0x81, 200, 0, 6, 1, 2, 3, 4, 0, 0, 0, 0], 5 * MS);
    c.track.push(b"hello", 6 * MS);
    c.track.push(&packet(96, 1, 160, c.ssrc, &[0; 160]), 7 * MS);
    let s = c.track.stats();
    assert_eq!(
        (s.rtcp, s.invalid, s.bad_payload_type, s.received),
        (1, 1, 1, 1)
    );
}

#[test]
fn two_channels_stay_aligned_on_the_timeline() {
    let mut st = Stereo::new(cfg(Law::Mu), cfg(Law::A), 0, 60);
    // The caller from the start; the nurse 100 ms later, in A-law.
    for n in 0..20u16 {
        let p = packet(0, n, u32::from(n) * 160, 1, &voice(n));
        st.left.push(&p, u64::from(n) * 20 * MS);
    }
    for n in 0..15u16 {
        let p = packet(8, 500 + n, 9_000 + u32::from(n) * 160, 2, &[0xAA; 160]);
        st.right.push(&p, (100 + u64::from(n) * 20) * MS);
    }
    let due = st.due(400 * MS);
    assert_eq!(due, 3200 - 480);
    let mut out = st.drain(due);
    out.extend(st.finish());
    assert_eq!(out.len(), 2 * 20 * 160, "both channels to the later end");
    let right: Vec<u8> = out.iter().skip(1).step_by(2).copied().collect();
    let left: Vec<u8> = out.iter().step_by(2).copied().collect();
    same(&left, &expected(0..20));
    assert!(
        right[..800].iter().all(|s| *s == Law::Mu.silence()),
        "nurse not yet there"
    );
    // A-law 0xAA (+32256) converted to the track's µ-law.
    assert!(
        right[800..800 + 15 * 160]
            .iter()
            .all(|s| *s == Law::Mu.encode(32256))
    );
    assert!(st.left.gaps().is_empty() && st.right.gaps().is_empty());
}

#[test]
fn comfort_noise_and_empty_payloads_inside_audio_never_break_the_buffer() {
    // Found in review: a comfort-noise packet between two overlapping audio packets once made
    // the buffer hold overlapping chunks and panic when writing.
    let mut t = Track::new(cfg(Law::Mu), 0);
    t.push(&packet(0, 1, 0, 9, &[7; 160]), 0);
    t.push(&packet(13, 2, 80, 9, &[40]), 10 * MS);
    t.push(&packet(0, 3, 100, 9, &[8; 20]), 12 * MS);
    t.push(&packet(0, 4, 120, 9, &[]), 13 * MS);
    let mut out = Vec::new();
    t.drain_into(400, &mut out);
    assert_eq!(out.len(), 400);
    same(&out[..160], &[7; 160]);
    assert!(
        t.gaps().is_empty(),
        "silence after comfort noise: {:?}",
        t.gaps()
    );
}
