//! Ethernet II frames with at most one 802.1Q VLAN tag.

use core::fmt;

use crate::error::{Error, Result};
use crate::ip::{be16, put16};

/// An EtherType. A newtype: every value is valid and unknown ones are kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EtherType(pub u16);

impl EtherType {
    pub const IPV4: EtherType = EtherType(0x0800);
    pub const ARP: EtherType = EtherType(0x0806);
    /// 802.1Q customer VLAN tag.
    pub const VLAN: EtherType = EtherType(0x8100);
    pub const IPV6: EtherType = EtherType(0x86dd);
    /// 802.1ad service tag (QinQ): not unwrapped by this crate.
    pub const QINQ: EtherType = EtherType(0x88a8);
}

impl fmt::Debug for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EtherType::IPV4 => f.write_str("Ipv4"),
            EtherType::ARP => f.write_str("Arp"),
            EtherType::VLAN => f.write_str("Vlan"),
            EtherType::IPV6 => f.write_str("Ipv6"),
            EtherType::QINQ => f.write_str("QinQ"),
            _ => write!(f, "EtherType({:#06x})", self.0),
        }
    }
}

/// A MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The address in the first 6 bytes of `b` (which must have them).
    fn read(b: &[u8]) -> MacAddr {
        let mut a = [0u8; 6];
        a.copy_from_slice(&b[..6]);
        MacAddr(a)
    }

    pub fn is_broadcast(&self) -> bool {
        *self == MacAddr::BROADCAST
    }

    /// Group bit set (broadcast included).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 != 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            a[0], a[1], a[2], a[3], a[4], a[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Byte ranges of the Ethernet header.
pub mod field {
    use core::ops::Range;
    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    /// EtherType, or the TPID 0x8100 of a VLAN tag.
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// With a VLAN tag: the tag control information (PCP, DEI, VID).
    pub const VLAN_TCI: Range<usize> = 14..16;
    /// With a VLAN tag: the EtherType of the payload.
    pub const VLAN_ETHERTYPE: Range<usize> = 16..18;
}

/// Length of an untagged header.
pub const HEADER_LEN: usize = 14;
/// Length of a header with one 802.1Q tag.
pub const VLAN_HEADER_LEN: usize = 18;

/// A view of an Ethernet II frame, tagged or not.
#[derive(Debug, Clone, Copy)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wrap without checking; accessors may panic on a short buffer.
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wrap after checking the buffer holds the whole header (VLAN tag included).
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let f = Frame::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// The length check `new_checked` does.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.is_vlan_tagged() && b.len() < VLAN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn dst_addr(&self) -> MacAddr {
        MacAddr::read(&self.buffer.as_ref()[field::DESTINATION])
    }

    pub fn src_addr(&self) -> MacAddr {
        MacAddr::read(&self.buffer.as_ref()[field::SOURCE])
    }

    /// True when the frame carries an 802.1Q tag.
    pub fn is_vlan_tagged(&self) -> bool {
        EtherType(be16(self.buffer.as_ref(), field::ETHERTYPE.start)) == EtherType::VLAN
    }

    /// The tag control information (PCP 3 bits, DEI 1, VID 12) of a tagged frame.
    pub fn vlan_tci(&self) -> Option<u16> {
        self.is_vlan_tagged()
            .then(|| be16(self.buffer.as_ref(), field::VLAN_TCI.start))
    }

    /// The VLAN id (12 bits) of a tagged frame.
    pub fn vlan_id(&self) -> Option<u16> {
        self.vlan_tci().map(|t| t & 0x0fff)
    }

    /// The EtherType of the payload (after the VLAN tag, if any).
    pub fn ethertype(&self) -> EtherType {
        let at = if self.is_vlan_tagged() {
            field::VLAN_ETHERTYPE.start
        } else {
            field::ETHERTYPE.start
        };
        EtherType(be16(self.buffer.as_ref(), at))
    }

    /// Length of the header, VLAN tag included.
    pub fn header_len(&self) -> usize {
        if self.is_vlan_tagged() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// The payload (which may end with Ethernet padding).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&a.0);
    }

    pub fn set_src_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&a.0);
    }

    /// Set the payload EtherType (after the tag, if any).
    pub fn set_ethertype(&mut self, t: EtherType) {
        let at = if self.is_vlan_tagged() {
            field::VLAN_ETHERTYPE.start
        } else {
            field::ETHERTYPE.start
        };
        put16(self.buffer.as_mut(), at, t.0);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let h = self.header_len();
        &mut self.buffer.as_mut()[h..]
    }
}

/// An owned Ethernet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub src: MacAddr,
    pub dst: MacAddr,
    /// 802.1Q tag control information, if the frame is tagged.
    pub vlan_tci: Option<u16>,
    pub ethertype: EtherType,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Repr {
        Repr {
            src: frame.src_addr(),
            dst: frame.dst_addr(),
            vlan_tci: frame.vlan_tci(),
            ethertype: frame.ethertype(),
        }
    }

    pub fn header_len(&self) -> usize {
        if self.vlan_tci.is_some() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Write the header at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let n = self.header_len();
        let b = buf.get_mut(..n).ok_or(Error::NoRoom)?;
        b[field::DESTINATION].copy_from_slice(&self.dst.0);
        b[field::SOURCE].copy_from_slice(&self.src.0);
        match self.vlan_tci {
            Some(tci) => {
                put16(b, field::ETHERTYPE.start, EtherType::VLAN.0);
                put16(b, field::VLAN_TCI.start, tci);
                put16(b, field::VLAN_ETHERTYPE.start, self.ethertype.0);
            }
            None => put16(b, field::ETHERTYPE.start, self.ethertype.0),
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UNTAGGED: [u8; 16] = [
        0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00, 0x45, 0x00,
    ];

    #[test]
    fn parse_untagged() {
        let f = Frame::new_checked(&UNTAGGED[..]).unwrap();
        assert_eq!(f.dst_addr(), MacAddr([2, 0, 0, 0, 0, 2]));
        assert_eq!(f.src_addr(), MacAddr([2, 0, 0, 0, 0, 1]));
        assert_eq!(f.ethertype(), EtherType::IPV4);
        assert_eq!(f.vlan_id(), None);
        assert_eq!(f.payload(), &[0x45, 0x00]);
        assert_eq!(f.src_addr().to_string(), "02:00:00:00:00:01");
    }

    #[test]
    fn tagged_round_trip() {
        let r = Repr {
            src: MacAddr([1, 2, 3, 4, 5, 6]),
            dst: MacAddr::BROADCAST,
            vlan_tci: Some(0x2064),
            ethertype: EtherType::IPV6,
        };
        let mut buf = [0u8; 20];
        assert_eq!(r.emit(&mut buf), Ok(18));
        assert_eq!(&buf[12..18], &[0x81, 0x00, 0x20, 0x64, 0x86, 0xdd]);
        let f = Frame::new_checked(&buf[..]).unwrap();
        assert_eq!(f.vlan_id(), Some(0x064));
        assert_eq!(f.header_len(), 18);
        assert_eq!(Repr::parse(&f), r);
        assert_eq!(r.emit(&mut buf[..17]), Err(Error::NoRoom));
    }

    #[test]
    fn truncated_tag_is_refused() {
        let mut b = UNTAGGED;
        b[12] = 0x81;
        b[13] = 0x00;
        assert_eq!(Frame::new_checked(&b[..]).err(), Some(Error::Truncated));
        assert_eq!(Frame::new_checked(&b[..13]).err(), Some(Error::Truncated));
    }

    #[test]
    fn setters() {
        let mut b = UNTAGGED;
        let mut f = Frame::new_checked(&mut b[..]).unwrap();
        f.set_dst_addr(MacAddr([9; 6]));
        f.set_src_addr(MacAddr([8; 6]));
        f.set_ethertype(EtherType::ARP);
        assert_eq!(f.dst_addr(), MacAddr([9; 6]));
        assert_eq!(f.src_addr(), MacAddr([8; 6]));
        assert_eq!(f.ethertype(), EtherType::ARP);
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(f) = Frame::new_checked(&data[..]) {
                let r = Repr::parse(&f);
                prop_assert!(f.payload().len() + r.header_len() == data.len());
            }
        }
    }
}
