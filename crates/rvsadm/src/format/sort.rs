//! ipvsadm's sort order for services and real servers. libipvs compares with
//! `int` differences of unsigned values, which wrap (192.168.x.x sorts before
//! 10.x.x.x, fwmark 4294967295 before every service), and glibc's qsort is a
//! merge sort; both are reproduced so that listings come out in the same order.

use core::net::IpAddr;
use rvs_core::model::{DestConfig, Family, ServiceKey};

/// The 32-bit words of an address as libipvs holds it (IPv4 in the first word).
fn words(addr: IpAddr) -> [u32; 4] {
    match addr {
        IpAddr::V4(a) => [u32::from(a), 0, 0, 0],
        IpAddr::V6(a) => {
            let o = a.octets();
            let w = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            [w(0), w(4), w(8), w(12)]
        }
    }
}

/// `(int)(a - b)` on unsigned 32-bit values.
fn wrapping_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

fn af(f: Family) -> i32 {
    match f {
        Family::V4 => 2,
        Family::V6 => 10,
    }
}

fn addr_diff(v6: bool, a: IpAddr, b: IpAddr) -> i32 {
    let (wa, wb) = (words(a), words(b));
    if v6 {
        for i in 0..4 {
            let r = wrapping_diff(wa[i], wb[i]);
            if r != 0 {
                return r;
            }
        }
        0
    } else {
        wrapping_diff(wa[0], wb[0])
    }
}

/// libipvs `ipvs_cmp_services`, as a sign.
pub fn ipvs_cmp_services(a: &ServiceKey, b: &ServiceKey) -> i32 {
    // (fwmark, af, protocol, address, port) as libipvs sees each service.
    let parts = |k: &ServiceKey| match *k {
        ServiceKey::Fwmark { mark, family } => {
            (mark, af(family), 0i32, IpAddr::from([0u8; 4]), 0i32)
        }
        ServiceKey::Addr { proto, addr, port } => (
            0,
            af(Family::of(&addr)),
            i32::from(proto.ip_proto()),
            addr,
            i32::from(port),
        ),
    };
    let (fa, afa, pa, aa, porta) = parts(a);
    let (fb, afb, pb, ab, portb) = parts(b);
    let r = wrapping_diff(fa, fb);
    if r != 0 {
        return r;
    }
    if afa != afb {
        return afa - afb;
    }
    if pa != pb {
        return pa - pb;
    }
    let r = addr_diff(afa == 10, aa, ab);
    if r != 0 {
        return r;
    }
    porta - portb
}

/// libipvs `ipvs_cmp_dests`, as a sign: the first server's family decides how
/// much of the addresses is compared.
pub fn ipvs_cmp_dests(a: &DestConfig, b: &DestConfig) -> i32 {
    let r = addr_diff(a.addr.is_ipv6(), a.addr, b.addr);
    if r != 0 {
        return r;
    }
    i32::from(a.port) - i32::from(b.port)
}

/// glibc's `qsort` (a top-down merge sort, left half first, ties to the left),
/// so that a comparison that is not a total order still gives glibc's result.
pub fn glibc_msort<T: Clone>(items: &mut [T], cmp: &dyn Fn(&T, &T) -> i32) {
    let n = items.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    {
        let (left, right) = items.split_at_mut(n1);
        glibc_msort(left, cmp);
        glibc_msort(right, cmp);
    }
    let mut merged = Vec::with_capacity(n);
    let (mut i, mut j) = (0, n1);
    while i < n1 && j < n {
        if cmp(&items[i], &items[j]) <= 0 {
            merged.push(items[i].clone());
            i += 1;
        } else {
            merged.push(items[j].clone());
            j += 1;
        }
    }
    merged.extend_from_slice(&items[i..n1]);
    merged.extend_from_slice(&items[j..n]);
    items.clone_from_slice(&merged);
}
