//! The data-path rule: a scheduling decision never allocates. A counting
//! global allocator (counting only on the thread under test) watches
//! `schedule` for every scheduler after `update` has built its tables.

use core::net::{IpAddr, Ipv4Addr};
use rvs_core::model::{SchedFlags, SchedulerKind};
use rvs_core::sched::{new_scheduler, DestLoad, SchedInput};
use rvs_core::time::Instant;

mod alloc_support;

#[global_allocator]
static GLOBAL: alloc_support::Counting = alloc_support::Counting;

fn dests(n: usize) -> Vec<DestLoad> {
    (0..n)
        .map(|i| DestLoad {
            id: i as u32 + 1,
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 2, 11 + i as u8)),
            port: 8000,
            weight: 1 + i as i32 % 3,
            last_weight: 1 + i as i32 % 3,
            active: 0,
            inactive: 0,
            overloaded: false,
        })
        .collect()
}

#[test]
fn no_scheduler_allocates_while_deciding() {
    for kind in SchedulerKind::ALL {
        for flags in [0, SchedFlags::FLAG1 | SchedFlags::FLAG2] {
            let mut d = dests(8);
            let mut s = new_scheduler(kind, SchedFlags(flags), 5);
            s.update(&d, Instant::ZERO);
            let ((), n) = alloc_support::allocations_in(|| {
                for j in 0..600u32 {
                    let input = SchedInput {
                        src: IpAddr::V4(Ipv4Addr::from(0x0a01_0000 + j)),
                        src_port: 20000 + j as u16,
                        // Up to 300 destination addresses for lblc/lblcr's caches.
                        dst: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + j % 300)),
                        dst_port: 80,
                    };
                    let now = Instant::from_millis(u64::from(j) * 10);
                    if let Some(i) = s.schedule(&d, &input, now) {
                        d[i].active += 1;
                        if d[i].active > 6 {
                            d[i].overloaded = true; // let lblcr's sets grow
                        }
                    }
                    if j % 97 == 0 {
                        d.iter_mut().for_each(|x| {
                            x.active /= 2;
                            x.overloaded = false;
                        });
                    }
                }
            });
            assert_eq!(
                n, 0,
                "{kind} flags {flags:#x} allocated {n} times while scheduling"
            );
        }
    }
}
