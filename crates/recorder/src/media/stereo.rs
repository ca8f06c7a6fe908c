//! Two tracks of one call — caller and nurse — written as one two-channel stream, sample by
//! sample on the same timeline, so that what one said and the other answered keep their
//! order and spacing.

use super::track::{Track, TrackConfig, position};

/// Caller (left) and nurse (right).
#[derive(Debug)]
pub struct Stereo {
    /// The caller's track (left channel).
    pub left: Track,
    /// The nurse's track (right channel).
    pub right: Track,
    origin_us: u64,
    delay: u64,
}

impl Stereo {
    /// Two tracks on a timeline starting at `origin_us`, written `jitter_ms` behind the
    /// wall clock (the jitter buffer's depth).
    pub fn new(left: TrackConfig, right: TrackConfig, origin_us: u64, jitter_ms: u64) -> Self {
        Self {
            left: Track::new(left, origin_us),
            right: Track::new(right, origin_us),
            origin_us,
            delay: jitter_ms * super::track::RATE / 1000,
        }
    }

    /// The position up to which audio is due at `now_us`.
    pub fn due(&self, now_us: u64) -> u64 {
        position(self.origin_us, now_us).saturating_sub(self.delay)
    }

    /// Interleaved samples (left, right) from what is written up to `until`.
    pub fn drain(&mut self, until: u64) -> Vec<u8> {
        let from = self.left.written().min(self.right.written());
        let until = until.max(from);
        let mut l = Vec::with_capacity((until - self.left.written().min(until)) as usize);
        let mut r = Vec::with_capacity((until - self.right.written().min(until)) as usize);
        self.left.drain_into(until, &mut l);
        self.right.drain_into(until, &mut r);
        debug_assert_eq!(l.len(), r.len());
        let mut out = Vec::with_capacity(l.len() * 2);
        for (a, b) in l.into_iter().zip(r) {
            out.push(a);
            out.push(b);
        }
        out
    }

    /// Everything still held, to the end of the later track (the call has ended).
    pub fn finish(&mut self) -> Vec<u8> {
        let end = self.left.end().max(self.right.end());
        self.drain(end)
    }
}
