//! One datagram from a media port: RTP (RFC 3550 §5.1, parsed by `rtp-types`), RTCP sent to
//! the same port (told apart by payload type, RFC 5761 §4, and ignored), or something to
//! count and drop.

use rtp_types::RtpPacket;

/// What arrived.
#[derive(Debug)]
pub enum Datagram<'a> {
    /// An RTP packet.
    Rtp(RtpPacket<'a>),
    /// An RTCP packet (the recorder reads no RTCP; it is counted).
    Rtcp,
    /// Not RTP: why.
    Invalid(&'static str),
}

/// Classifies a datagram.
pub fn classify(data: &[u8]) -> Datagram<'_> {
    if data.len() < 12 {
        return Datagram::Invalid("shorter than an RTP header");
    }
    if data[0] >> 6 != 2 {
        return Datagram::Invalid("not RTP version 2");
    }
    // RFC 5761 §4: the second octet of RTCP (packet type 192..=223) falls where RTP has its
    // marker bit and payload type; RTP payload types 64..=95 are avoided for this reason.
    if (192..=223).contains(&data[1]) {
        return Datagram::Rtcp;
    }
    match RtpPacket::parse(data) {
        Ok(p) => Datagram::Rtp(p),
        Err(_) => Datagram::Invalid("a malformed RTP packet"),
    }
}

/// An RFC 4733 §2.3 telephone-event payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The event (0–9, 10 `*`, 11 `#`, 12–15 A–D, 16 flash, …).
    pub event: u8,
    /// The E bit: the last packets of the event.
    pub end: bool,
    /// Its power level, in −dBm0.
    pub volume: u8,
    /// Its duration so far, in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the first event of a payload.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let [event, flags, d0, d1, ..] = *payload else {
            return None;
        };
        Some(Self {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The DTMF symbol of the event, if it is one.
    pub fn symbol(&self) -> Option<char> {
        match self.event {
            0..=9 => Some(char::from(b'0' + self.event)),
            10 => Some('*'),
            11 => Some('#'),
            12..=15 => Some(char::from(b'A' + self.event - 12)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_rtcp_and_junk_are_told_apart() {
        let mut rtp = vec![0x80, 0x00, 0x00, 0x01, 0, 0, 0, 160, 0, 0, 0, 7];
        rtp.extend([0xFF; 160]);
        assert!(matches!(classify(&rtp), Datagram::Rtp(p) if p.payload().len() == 160));
        let rtcp_rr = [0x81, 201, 0x00, 0x07, 0, 0, 0, 7, 0, 0, 0, 0];
        assert!(matches!(classify(&rtcp_rr), Datagram::Rtcp));
        assert!(matches!(classify(&[0x80; 5]), Datagram::Invalid(_)));
        assert!(matches!(classify(&[0x40; 20]), Datagram::Invalid(_)));
        // A CSRC count larger than the packet.
        let mut bad = rtp[..12].to_vec();
        bad[0] = 0x8F;
        assert!(matches!(classify(&bad), Datagram::Invalid(_)));
    }

    #[test]
    fn a_telephone_event_is_read() {
        let e = TelephoneEvent::parse(&[11, 0x8A, 0x03, 0x20]).expect("event");
        assert_eq!(e.symbol(), Some('#'));
        assert!(e.end);
        assert_eq!(e.volume, 10);
        assert_eq!(e.duration, 800);
        assert_eq!(TelephoneEvent::parse(&[1, 2, 3]), None);
    }
}
