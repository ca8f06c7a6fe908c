//! The media ports of the configured range: one even RTP port per stream, RTCP on the odd
//! one after it (RFC 3550 §11), handed out least recently used first so that a port is not
//! reused while late packets of its last call may still arrive.

use std::collections::VecDeque;

/// Free RTP ports.
#[derive(Debug)]
pub struct PortPool {
    free: VecDeque<u16>,
    size: usize,
}

impl PortPool {
    /// The even ports of `first..=last` whose RTCP port is also in range.
    pub fn new(first: u16, last: u16) -> Self {
        let start = first + (first % 2);
        let free: VecDeque<u16> = (start..last).step_by(2).collect();
        let size = free.len();
        Self { free, size }
    }

    /// A port, if one is free.
    pub fn take(&mut self) -> Option<u16> {
        self.free.pop_front()
    }

    /// A port back.
    pub fn give(&mut self, port: u16) {
        if !self.free.contains(&port) {
            self.free.push_back(port);
        }
    }

    /// Ports in all.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Ports free.
    pub fn available(&self) -> usize {
        self.free.len()
    }
}
