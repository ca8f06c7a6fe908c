//! One recorded stream on the call's timeline: a jitter buffer that places each RTP packet
//! by its timestamp (RFC 3550 §5.1), reorders, drops duplicates and packets that come after
//! their time was written, and writes silence of the right length where nothing came —
//! recording the gap.
//!
//! The timeline counts 8 kHz samples from the call's origin (the moment the caller chooses,
//! e.g. the ACK). A source is anchored where its first packet arrived; after that its
//! packets are placed by RTP timestamp, not by arrival, so network jitter does not move the
//! audio. Sequence numbers and timestamps are extended past their wrap-around (RFC 3550
//! Appendix A.1). A new SSRC, or a timestamp that strays more than [`MAX_DRIFT_MS`] from
//! the wall clock, re-anchors the stream where its packet arrived.

use std::collections::{BTreeMap, BTreeSet};

use super::g711::Law;
use super::rtp::{Datagram, TelephoneEvent, classify};

/// Samples per second of the timeline (G.711).
pub const RATE: u64 = 8000;
/// How far a stream's RTP time may stray from the wall clock before it is re-anchored.
pub const MAX_DRIFT_MS: u64 = 2000;
/// Duplicates are recognised among this many recent sequence numbers.
const SEQ_WINDOW: i64 = 4096;
/// Longest audio payload accepted (samples): 1 s.
const MAX_PAYLOAD: usize = 8000;

/// What a track accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackConfig {
    /// The law the track is written in.
    pub law: Law,
    /// Audio payload types and their laws.
    pub audio: Vec<(u8, Law)>,
    /// The telephone-event payload type (RFC 4733), if negotiated.
    pub telephone_event: Option<u8>,
    /// The comfort-noise payload type (RFC 3389), if negotiated.
    pub comfort_noise: Option<u8>,
}

/// Samples where audio was due and none came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// First sample.
    pub start: u64,
    /// Samples.
    pub len: u64,
}

/// A telephone event (RFC 4733), kept as an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToneEvent {
    /// Where it starts on the timeline.
    pub at: u64,
    /// The event code.
    pub event: u8,
    /// Its duration in samples (the longest reported).
    pub duration: u64,
    /// Whether its end was seen.
    pub ended: bool,
}

/// Counts of what arrived.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrackStats {
    /// RTP packets accepted.
    pub received: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Packets dropped because their time had been written already.
    pub late: u64,
    /// Packets that arrived after a later one and were put in place.
    pub reordered: u64,
    /// Packets of a payload type not negotiated, dropped.
    pub bad_payload_type: u64,
    /// RTCP packets (ignored).
    pub rtcp: u64,
    /// Datagrams that are not RTP, dropped.
    pub invalid: u64,
    /// SSRC changes.
    pub ssrc_changes: u64,
    /// Re-anchorings after a timestamp jump.
    pub resyncs: u64,
    /// Samples of received audio written.
    pub audio_samples: u64,
    /// Samples written as silence because nothing came (the gaps).
    pub lost_samples: u64,
}

#[derive(Debug)]
struct Anchor {
    ssrc: u32,
    /// Timeline position of extended timestamp 0.
    base: i64,
    last_ts: u32,
    ext_ts: i64,
    highest_seq: i64,
    seen: BTreeSet<i64>,
}

/// One stream of a call.
#[derive(Debug)]
pub struct Track {
    cfg: TrackConfig,
    origin_us: u64,
    anchor: Option<Anchor>,
    /// Audio not yet written, by timeline position; chunks never overlap and are never empty.
    pending: BTreeMap<u64, Vec<u8>>,
    /// Where comfort-noise packets said silence starts (RFC 3389).
    comfort_marks: BTreeSet<u64>,
    written: u64,
    /// Nothing is counted lost before the first packet.
    started: bool,
    /// Silence after a comfort-noise packet is the sender's choice, not loss.
    comfort_noise: bool,
    /// Silence up to here is covered by a telephone event.
    covered_until: u64,
    gaps: Vec<Gap>,
    events: Vec<ToneEvent>,
    /// (SSRC, timestamp) of the event being reported.
    event_key: Option<(u32, u32)>,
    stats: TrackStats,
}

/// The timeline position of a monotonic time.
pub fn position(origin_us: u64, at_us: u64) -> u64 {
    at_us.saturating_sub(origin_us) * RATE / 1_000_000
}

impl Track {
    /// A track whose timeline starts at `origin_us` (monotonic microseconds).
    pub fn new(cfg: TrackConfig, origin_us: u64) -> Self {
        Self {
            cfg,
            origin_us,
            anchor: None,
            pending: BTreeMap::new(),
            comfort_marks: BTreeSet::new(),
            written: 0,
            started: false,
            comfort_noise: false,
            covered_until: 0,
            gaps: Vec::new(),
            events: Vec::new(),
            event_key: None,
            stats: TrackStats::default(),
        }
    }

    /// Takes one datagram that arrived at `at_us`.
    pub fn push(&mut self, data: &[u8], at_us: u64) {
        let p = match classify(data) {
            Datagram::Rtp(p) => p,
            Datagram::Rtcp => {
                self.stats.rtcp += 1;
                return;
            }
            Datagram::Invalid(_) => {
                self.stats.invalid += 1;
                return;
            }
        };
        let pt = p.payload_type();
        let audio_law = self
            .cfg
            .audio
            .iter()
            .find(|(t, _)| *t == pt)
            .map(|(_, l)| *l);
        let is_event = self.cfg.telephone_event == Some(pt);
        let is_cn = self.cfg.comfort_noise == Some(pt);
        if audio_law.is_none() && !is_event && !is_cn {
            self.stats.bad_payload_type += 1;
            return;
        }
        if p.payload().len() > MAX_PAYLOAD {
            self.stats.invalid += 1;
            return;
        }
        let wall = position(self.origin_us, at_us) as i64;
        let ssrc = p.ssrc();
        let (seq, ts) = (p.sequence_number(), p.timestamp());
        let anchor = match &mut self.anchor {
            Some(a) if a.ssrc == ssrc => a,
            other => {
                if other.is_some() {
                    self.stats.ssrc_changes += 1;
                }
                // A new source starts where it arrived, never over what is already kept.
                let free = self
                    .pending
                    .iter()
                    .next_back()
                    .map_or(self.written, |(pos, c)| pos + c.len() as u64);
                let start = wall.max(free as i64).max(self.written as i64);
                *other = Some(Anchor {
                    ssrc,
                    base: start,
                    last_ts: ts,
                    ext_ts: 0,
                    highest_seq: i64::from(seq),
                    seen: BTreeSet::new(),
                });
                other.as_mut().expect("just set")
            }
        };
        // RFC 3550 A.1: extend by the signed distance from the highest seen.
        let ext_seq =
            anchor.highest_seq + i64::from(seq.wrapping_sub(anchor.highest_seq as u16) as i16);
        if !anchor.seen.insert(ext_seq) {
            self.stats.duplicates += 1;
            return;
        }
        if ext_seq < anchor.highest_seq {
            self.stats.reordered += 1;
        } else {
            anchor.highest_seq = ext_seq;
        }
        while anchor
            .seen
            .first()
            .is_some_and(|s| *s < anchor.highest_seq - SEQ_WINDOW)
        {
            anchor.seen.pop_first();
        }
        let ext_ts = anchor.ext_ts + i64::from(ts.wrapping_sub(anchor.last_ts) as i32);
        if ext_ts > anchor.ext_ts {
            anchor.ext_ts = ext_ts;
            anchor.last_ts = ts;
        }
        let mut pos = anchor.base + ext_ts;
        let drift = MAX_DRIFT_MS as i64 * RATE as i64 / 1000;
        if (pos - wall).abs() > drift {
            // A timestamp jump: the stream goes on where the packet arrived.
            self.stats.resyncs += 1;
            let start = wall.max(self.written as i64);
            anchor.base = start - ext_ts;
            pos = start;
        }
        self.stats.received += 1;
        let pos = pos.max(0) as u64;
        if is_event {
            self.event(ssrc, ts, pos, p.payload());
            return;
        }
        if is_cn {
            if pos >= self.written {
                self.comfort_marks.insert(pos);
            }
            return;
        }
        let law = audio_law.expect("audio");
        if p.payload().is_empty() {
            return;
        }
        let mut samples = p.payload().to_vec();
        self.cfg.law.convert_from(law, &mut samples);
        let end = pos + samples.len() as u64;
        if end <= self.written {
            self.stats.late += 1;
            return;
        }
        let (pos, samples) = if pos < self.written {
            // Partly late: keep what is still to come.
            let skip = (self.written - pos) as usize;
            (self.written, samples[skip..].to_vec())
        } else {
            (pos, samples)
        };
        // Keep the first copy of any sample (an overlapping re-send or a re-anchored source
        // does not overwrite audio already placed).
        let overlaps = self
            .pending
            .range(..end)
            .next_back()
            .is_some_and(|(p, c)| p + c.len() as u64 > pos);
        if overlaps {
            self.insert_around(pos, samples);
        } else {
            self.pending.insert(pos, samples);
        }
    }

    fn insert_around(&mut self, pos: u64, samples: Vec<u8>) {
        let mut cursor = pos;
        let end = pos + samples.len() as u64;
        let taken: Vec<(u64, u64)> = self
            .pending
            .range(..end)
            .filter(|(p, c)| *p + c.len() as u64 > pos)
            .map(|(p, c)| (*p, *p + c.len() as u64))
            .collect();
        for (s, e) in taken {
            if s > cursor {
                let part = samples[(cursor - pos) as usize..(s - pos) as usize].to_vec();
                self.pending.insert(cursor, part);
            }
            cursor = cursor.max(e);
        }
        if cursor < end {
            let part = samples[(cursor - pos) as usize..].to_vec();
            self.pending.insert(cursor, part);
        }
    }

    fn event(&mut self, ssrc: u32, ts: u32, pos: u64, payload: &[u8]) {
        let Some(e) = TelephoneEvent::parse(payload) else {
            self.stats.invalid += 1;
            return;
        };
        let duration = u64::from(e.duration);
        match self.events.last_mut() {
            // RFC 4733 §2.5.1: one event's packets share its start timestamp; the end is sent
            // three times.
            Some(last) if self.event_key == Some((ssrc, ts)) => {
                last.duration = last.duration.max(duration);
                last.ended |= e.end;
            }
            _ => {
                self.event_key = Some((ssrc, ts));
                self.events.push(ToneEvent {
                    at: pos,
                    event: e.event,
                    duration,
                    ended: e.end,
                });
            }
        }
        self.covered_until = self.covered_until.max(pos + duration);
    }

    /// Writes the samples of `[written, until)` into `out`, silence where nothing came.
    pub fn drain_into(&mut self, until: u64, out: &mut Vec<u8>) {
        let silence = self.cfg.law.silence();
        while self.written < until {
            // Comfort noise from its mark on.
            while self
                .comfort_marks
                .first()
                .is_some_and(|m| *m <= self.written)
            {
                self.comfort_marks.pop_first();
                self.comfort_noise = true;
            }
            let next = self.pending.first_key_value().map(|(p, _)| *p);
            match next {
                Some(p) if p <= self.written => {
                    let (p, samples) = self.pending.pop_first().expect("first");
                    let skip = (self.written - p) as usize;
                    if skip >= samples.len() {
                        // Cannot happen (chunks never reach behind what is written); never
                        // trusted either.
                        continue;
                    }
                    self.started = true;
                    self.comfort_noise = false;
                    let want = (until - self.written) as usize;
                    let take = (samples.len() - skip).min(want);
                    out.extend_from_slice(&samples[skip..skip + take]);
                    self.written += take as u64;
                    self.stats.audio_samples += take as u64;
                    if skip + take < samples.len() {
                        self.pending
                            .insert(self.written, samples[skip + take..].to_vec());
                    }
                }
                other => {
                    let mark = self.comfort_marks.first().copied();
                    let stop = [other, mark, Some(until)]
                        .into_iter()
                        .flatten()
                        .filter(|x| *x > self.written)
                        .min()
                        .unwrap_or(until);
                    let n = stop - self.written;
                    out.resize(out.len() + n as usize, silence);
                    self.silent(self.written, n);
                    self.written = stop;
                }
            }
        }
    }

    /// Silence written over `[start, start + len)`: a gap, unless nothing has come yet, the
    /// sender chose comfort noise, or a telephone event covers it.
    fn silent(&mut self, start: u64, len: u64) {
        if !self.started || self.comfort_noise {
            return;
        }
        let uncovered_from = start.max(self.covered_until);
        let end = start + len;
        if uncovered_from >= end {
            return;
        }
        let len = end - uncovered_from;
        self.stats.lost_samples += len;
        match self.gaps.last_mut() {
            Some(g) if g.start + g.len == uncovered_from => g.len += len,
            _ => self.gaps.push(Gap {
                start: uncovered_from,
                len,
            }),
        }
    }

    /// Where the received audio ends (the last pending sample), or what was written.
    pub fn end(&self) -> u64 {
        self.pending
            .iter()
            .next_back()
            .map_or(self.written, |(p, c)| {
                (p + c.len() as u64).max(self.written)
            })
    }

    /// Samples written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Whether any audio has been received.
    pub fn heard(&self) -> bool {
        self.stats.audio_samples > 0 || !self.pending.is_empty()
    }

    /// The gaps so far.
    pub fn gaps(&self) -> &[Gap] {
        &self.gaps
    }

    /// The telephone events so far.
    pub fn events(&self) -> &[ToneEvent] {
        &self.events
    }

    /// The counts so far.
    pub fn stats(&self) -> TrackStats {
        self.stats
    }
}
