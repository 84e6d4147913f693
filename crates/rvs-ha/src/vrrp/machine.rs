//! One VRRP instance as an I/O-free state machine (RFC 5798 section 6.4, with
//! keepalived's behaviour where it differs), in the quinn-proto manner: the runtime
//! feeds it received advertisements and timer expiries with the current time, and
//! polls it for what to do (send, set or remove the VIPs, gratuitous ARP, notify)
//! and for when to wake it next.

use super::packet::{Advert, Auth, Version};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The settings of one `vrrp_instance` that the state machine needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    pub name: String,
    pub vrid: u8,
    /// Base priority 1..=255 (255: the address owner, master at once).
    pub priority: u8,
    pub version: Version,
    /// `advert_int`, in centiseconds.
    pub interval_cs: u16,
    pub auth: Auth,
    /// The addresses advertised and held while master.
    pub vips: Vec<IpAddr>,
    /// `nopreempt` clears this.
    pub preempt: bool,
    /// `preempt_delay`: after start-up, or after first seeing a lower-priority master,
    /// wait this long before preempting it.
    pub preempt_delay: Duration,
    /// `down_timer_adverts` (keepalived's default 3).
    pub down_timer_adverts: u32,
    /// Delay of the second burst of gratuitous ARPs after becoming master
    /// (`vrrp_garp_master_delay`, default 5 s; zero disables the second burst).
    pub garp_delay: Duration,
}

impl InstanceConfig {
    /// keepalived's defaults for an instance with this id, priority and addresses.
    pub fn new(name: &str, vrid: u8, priority: u8, vips: Vec<IpAddr>) -> InstanceConfig {
        InstanceConfig {
            name: name.to_string(),
            vrid,
            priority,
            version: Version::V2,
            interval_cs: 100,
            auth: Auth::None,
            vips,
            preempt: true,
            preempt_delay: Duration::ZERO,
            down_timer_adverts: 3,
            garp_delay: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Init,
    Backup,
    Master,
    Fault,
    Stopped,
}

impl State {
    /// keepalived's spelling, as notify scripts receive it.
    pub fn name(self) -> &'static str {
        match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
            State::Stopped => "STOP",
        }
    }
}

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send an advertisement with this priority (0 = "I am leaving").
    SendAdvert(Advert),
    /// Add (true) or remove (false) the virtual addresses on the interface.
    SetVips(bool),
    /// Send a burst of gratuitous ARPs / unsolicited neighbour advertisements.
    Garp,
    /// The instance entered this state (run notify scripts, log).
    Entered(State),
}

/// Why a received advertisement was ignored (the runtime logs it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    OtherRouter,
    Ttl(u8),
    Version,
    Auth,
    Interval { ours_cs: u16, theirs_cs: u16 },
    OwnPacket,
    NotRunning,
}

#[derive(Debug)]
pub struct Instance {
    cfg: InstanceConfig,
    local: IpAddr,
    state: State,
    /// Sum of the tracked scripts' weights.
    priority_delta: i32,
    /// The master's advertisement interval as learned (v3), in centiseconds.
    master_interval_cs: u16,
    /// Master: next advertisement; Backup: master-down deadline.
    deadline: Option<Instant>,
    garp_deadline: Option<Instant>,
    preempt_after: Option<Instant>,
    actions: VecDeque<Action>,
}

impl Instance {
    /// An instance whose advertisements come from `local` (the interface's primary
    /// address, used to break priority ties).
    pub fn new(cfg: InstanceConfig, local: IpAddr) -> Instance {
        let master_interval_cs = cfg.interval_cs;
        Instance {
            cfg,
            local,
            state: State::Init,
            priority_delta: 0,
            master_interval_cs,
            deadline: None,
            garp_deadline: None,
            preempt_after: None,
            actions: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &InstanceConfig {
        &self.cfg
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The address advertisements come from.
    pub fn local(&self) -> IpAddr {
        self.local
    }

    /// A sync-group peer became master: follow it (unless faulty).
    pub fn force_master(&mut self, now: Instant) {
        if self.state == State::Backup {
            self.become_master(now);
        }
    }

    /// A sync-group peer became backup: follow it.
    pub fn force_backup(&mut self, now: Instant) {
        if self.state == State::Master {
            self.actions.push_back(Action::SetVips(false));
            self.garp_deadline = None;
            self.become_backup(now);
        }
    }

    /// Start as keepalived does: the address owner becomes master at once, every
    /// other instance (whatever its configured `state`) starts as backup and takes
    /// over when the master-down timer expires.
    pub fn start(&mut self, now: Instant) {
        if self.state != State::Init {
            return;
        }
        if !self.cfg.preempt_delay.is_zero() {
            self.preempt_after = Some(now + self.cfg.preempt_delay);
        }
        if self.cfg.priority == 255 {
            self.become_master(now);
        } else {
            self.actions.push_back(Action::SetVips(false));
            self.become_backup(now);
        }
    }

    /// The priority carried in advertisements: base plus tracked weights, kept in
    /// 1..=254 (the owner's 255 is never changed by tracking).
    pub fn priority(&self) -> u8 {
        if self.cfg.priority == 255 {
            return 255;
        }
        (self.cfg.priority as i32 + self.priority_delta).clamp(1, 254) as u8
    }

    /// Tracked scripts changed the priority by `delta` in total.
    pub fn set_priority_delta(&mut self, delta: i32) {
        self.priority_delta = delta;
    }

    /// A tracked interface went down (or a weight-0 script failed): FAULT; cleared,
    /// back to backup.
    pub fn set_fault(&mut self, fault: bool, now: Instant) {
        match (fault, self.state) {
            (true, State::Master) => {
                self.leave_master();
                self.enter(State::Fault);
                self.deadline = None;
            }
            (true, State::Backup | State::Init) => {
                self.enter(State::Fault);
                self.deadline = None;
            }
            (false, State::Fault) => self.become_backup(now),
            _ => {}
        }
    }

    /// Stop: a master says goodbye with priority 0 and gives up the addresses.
    pub fn shutdown(&mut self) {
        if self.state == State::Master {
            self.leave_master();
        }
        self.deadline = None;
        self.garp_deadline = None;
        self.enter(State::Stopped);
    }

    /// A received advertisement with its IP source and TTL (hop limit).
    pub fn handle_advert(
        &mut self,
        src: IpAddr,
        ttl: u8,
        adv: &Advert,
        now: Instant,
    ) -> Result<(), Rejected> {
        if adv.vrid != self.cfg.vrid {
            return Err(Rejected::OtherRouter);
        }
        if src == self.local {
            return Err(Rejected::OwnPacket);
        }
        if ttl != super::packet::REQUIRED_TTL {
            return Err(Rejected::Ttl(ttl));
        }
        if adv.version != self.cfg.version {
            return Err(Rejected::Version);
        }
        if self.cfg.version == Version::V2 {
            if adv.auth != self.cfg.auth {
                return Err(Rejected::Auth);
            }
            if adv.interval_cs != self.cfg.interval_cs {
                return Err(Rejected::Interval {
                    ours_cs: self.cfg.interval_cs,
                    theirs_cs: adv.interval_cs,
                });
            }
        }
        match self.state {
            State::Backup => self.backup_rx(adv, now),
            State::Master => self.master_rx(src, adv, now),
            State::Init | State::Fault | State::Stopped => return Err(Rejected::NotRunning),
        }
        Ok(())
    }

    fn backup_rx(&mut self, adv: &Advert, now: Instant) {
        if adv.priority == 0 {
            // The master is leaving: take over after the skew time only.
            self.deadline = Some(now + self.skew());
            return;
        }
        let lower = adv.priority < self.priority();
        if lower && self.cfg.preempt {
            match self.preempt_after {
                Some(t) if now < t => {}
                None if !self.cfg.preempt_delay.is_zero() => {
                    self.preempt_after = Some(now + self.cfg.preempt_delay);
                }
                // Preempt: ignore the weaker master and let the down timer expire.
                _ => return,
            }
        }
        if self.cfg.version == Version::V3 {
            self.master_interval_cs = adv.interval_cs.max(1);
        }
        self.deadline = Some(now + self.master_down_interval());
    }

    fn master_rx(&mut self, src: IpAddr, adv: &Advert, now: Instant) {
        if adv.priority == 0 {
            // Someone left: assert ourselves at once.
            self.send_advert(self.priority());
            self.deadline = Some(now + self.interval());
            return;
        }
        let ours = self.priority();
        let yields = adv.priority > ours || (adv.priority == ours && ip_greater(src, self.local));
        if yields {
            if self.cfg.version == Version::V3 {
                self.master_interval_cs = adv.interval_cs.max(1);
            }
            self.actions.push_back(Action::SetVips(false));
            self.garp_deadline = None;
            self.enter(State::Backup);
            self.deadline = Some(now + self.master_down_interval());
        } else {
            // keepalived answers a weaker master at once to force a quick election.
            self.send_advert(ours);
            self.deadline = Some(now + self.interval());
        }
    }

    /// The next instant at which [`Instance::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.deadline, self.garp_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.garp_deadline.is_some_and(|t| t <= now) {
            self.garp_deadline = None;
            if self.state == State::Master {
                self.actions.push_back(Action::Garp);
            }
        }
        if self.deadline.is_none_or(|t| t > now) {
            return;
        }
        match self.state {
            State::Backup => self.become_master(now),
            State::Master => {
                self.send_advert(self.priority());
                self.deadline = Some(now + self.interval());
            }
            _ => self.deadline = None,
        }
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    fn become_master(&mut self, now: Instant) {
        self.send_advert(self.priority());
        self.actions.push_back(Action::SetVips(true));
        self.actions.push_back(Action::Garp);
        self.enter(State::Master);
        self.deadline = Some(now + self.interval());
        self.garp_deadline = (!self.cfg.garp_delay.is_zero()).then(|| now + self.cfg.garp_delay);
        self.preempt_after = None;
        self.master_interval_cs = self.cfg.interval_cs;
    }

    fn become_backup(&mut self, now: Instant) {
        self.enter(State::Backup);
        self.master_interval_cs = self.cfg.interval_cs;
        self.deadline = Some(now + self.master_down_interval());
    }

    fn leave_master(&mut self) {
        self.send_advert(0);
        self.actions.push_back(Action::SetVips(false));
        self.garp_deadline = None;
    }

    fn enter(&mut self, s: State) {
        if self.state != s {
            self.state = s;
            self.actions.push_back(Action::Entered(s));
        }
    }

    fn send_advert(&mut self, priority: u8) {
        self.actions.push_back(Action::SendAdvert(Advert {
            version: self.cfg.version,
            vrid: self.cfg.vrid,
            priority,
            interval_cs: self.cfg.interval_cs,
            auth: self.cfg.auth,
            addrs: self.cfg.vips.clone(),
        }));
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(self.cfg.interval_cs as u64 * 10)
    }

    /// Skew time: v2 (256 − priority)/256 s; v3 scaled by the master's interval.
    fn skew(&self) -> Duration {
        let p = 256 - self.priority() as u64;
        match self.cfg.version {
            Version::V2 => Duration::from_micros(p * 1_000_000 / 256),
            Version::V3 => Duration::from_micros(p * self.master_interval_cs as u64 * 10_000 / 256),
        }
    }

    /// down_timer_adverts × the master's interval + skew.
    fn master_down_interval(&self) -> Duration {
        let interval_cs = match self.cfg.version {
            Version::V2 => self.cfg.interval_cs,
            Version::V3 => self.master_interval_cs,
        };
        Duration::from_millis(interval_cs as u64 * 10) * self.cfg.down_timer_adverts + self.skew()
    }
}

/// Tie-break of equal priorities: the higher primary address wins (RFC 5798 6.4.3).
fn ip_greater(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a.octets() > b.octets(),
        (IpAddr::V6(a), IpAddr::V6(b)) => a.octets() > b.octets(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn instance(prio: u8, local: &str) -> Instance {
        Instance::new(
            InstanceConfig::new("VI_1", 51, prio, vec![ip("10.0.0.200")]),
            ip(local),
        )
    }

    fn drain(i: &mut Instance) -> Vec<Action> {
        std::iter::from_fn(|| i.poll_action()).collect()
    }

    fn advert(prio: u8) -> Advert {
        Advert {
            version: Version::V2,
            vrid: 51,
            priority: prio,
            interval_cs: 100,
            auth: Auth::None,
            addrs: vec![ip("10.0.0.200")],
        }
    }

    #[test]
    fn starts_as_backup_and_takes_over_after_master_down_interval() {
        let t0 = Instant::now();
        let mut i = instance(150, "10.0.0.1");
        i.start(t0);
        assert_eq!(i.state(), State::Backup);
        // 3 x 1 s + (256 - 150)/256 s = 3.414 s
        let down = i.poll_timeout().unwrap() - t0;
        assert_eq!(down.as_millis(), 3414);
        i.handle_timeout(t0 + Duration::from_millis(3000));
        assert_eq!(i.state(), State::Backup);
        drain(&mut i);
        i.handle_timeout(t0 + down);
        assert_eq!(i.state(), State::Master);
        let acts = drain(&mut i);
        assert!(matches!(&acts[0], Action::SendAdvert(a) if a.priority == 150));
        assert!(acts.contains(&Action::SetVips(true)));
        assert!(acts.contains(&Action::Garp));
        assert!(acts.contains(&Action::Entered(State::Master)));
    }

    #[test]
    fn owner_is_master_at_once() {
        let t0 = Instant::now();
        let mut i = instance(255, "10.0.0.1");
        i.start(t0);
        assert_eq!(i.state(), State::Master);
    }

    #[test]
    fn adverts_from_a_stronger_master_keep_a_backup_down() {
        let t0 = Instant::now();
        let mut i = instance(100, "10.0.0.3");
        i.start(t0);
        for k in 1..10 {
            let now = t0 + Duration::from_secs(k);
            i.handle_advert(ip("10.0.0.1"), 255, &advert(150), now)
                .unwrap();
            i.handle_timeout(now);
            assert_eq!(i.state(), State::Backup);
        }
    }

    #[test]
    fn preempting_backup_ignores_a_weaker_master_and_takes_over() {
        let t0 = Instant::now();
        let mut i = instance(200, "10.0.0.3");
        i.start(t0);
        for k in 1..=4 {
            let now = t0 + Duration::from_secs(k);
            i.handle_advert(ip("10.0.0.1"), 255, &advert(100), now)
                .unwrap();
            i.handle_timeout(now);
        }
        assert_eq!(i.state(), State::Master);
    }

    #[test]
    fn nopreempt_backup_leaves_a_weaker_master_alone() {
        let t0 = Instant::now();
        let mut cfg = InstanceConfig::new("VI_1", 51, 200, vec![ip("10.0.0.200")]);
        cfg.preempt = false;
        let mut i = Instance::new(cfg, ip("10.0.0.3"));
        i.start(t0);
        for k in 1..=10 {
            let now = t0 + Duration::from_secs(k);
            i.handle_advert(ip("10.0.0.1"), 255, &advert(100), now)
                .unwrap();
            i.handle_timeout(now);
        }
        assert_eq!(i.state(), State::Backup);
    }

    #[test]
    fn preempt_delay_postpones_the_takeover() {
        let t0 = Instant::now();
        let mut cfg = InstanceConfig::new("VI_1", 51, 200, vec![ip("10.0.0.200")]);
        cfg.preempt_delay = Duration::from_secs(10);
        let mut i = Instance::new(cfg, ip("10.0.0.3"));
        i.start(t0);
        let mut took_over = None;
        for k in 1..=20 {
            let now = t0 + Duration::from_secs(k);
            if i.state() == State::Backup {
                i.handle_advert(ip("10.0.0.1"), 255, &advert(100), now)
                    .unwrap();
            }
            i.handle_timeout(now);
            if i.state() == State::Master && took_over.is_none() {
                took_over = Some(k);
            }
        }
        let k = took_over.expect("preempts eventually");
        assert!((13..=15).contains(&k), "took over after {k} s");
    }

    #[test]
    fn master_yields_to_higher_priority_and_to_higher_address_on_ties() {
        let t0 = Instant::now();
        let mut i = instance(255, "10.0.0.5");
        i.start(t0);
        drain(&mut i);
        // Equal priority from a lower address: stays master and asserts itself.
        i.handle_advert(ip("10.0.0.4"), 255, &advert(255), t0)
            .unwrap();
        assert_eq!(i.state(), State::Master);
        assert!(matches!(drain(&mut i)[0], Action::SendAdvert(_)));
        // Equal priority from a higher address: yields.
        i.handle_advert(ip("10.0.0.6"), 255, &advert(255), t0)
            .unwrap();
        assert_eq!(i.state(), State::Backup);
        assert!(drain(&mut i).contains(&Action::SetVips(false)));
    }

    #[test]
    fn priority_zero_from_master_shortens_the_wait_to_skew() {
        let t0 = Instant::now();
        let mut i = instance(100, "10.0.0.3");
        i.start(t0);
        i.handle_advert(ip("10.0.0.1"), 255, &advert(0), t0)
            .unwrap();
        let wait = i.poll_timeout().unwrap() - t0;
        assert_eq!(wait.as_millis(), 609); // (256 - 100) / 256 s
    }

    #[test]
    fn shutdown_of_master_sends_priority_zero_and_drops_vips() {
        let t0 = Instant::now();
        let mut i = instance(255, "10.0.0.1");
        i.start(t0);
        drain(&mut i);
        i.shutdown();
        let acts = drain(&mut i);
        assert!(matches!(&acts[0], Action::SendAdvert(a) if a.priority == 0));
        assert!(acts.contains(&Action::SetVips(false)));
        assert_eq!(i.state(), State::Stopped);
    }

    #[test]
    fn wrong_ttl_auth_or_interval_are_rejected() {
        let t0 = Instant::now();
        let mut i = instance(100, "10.0.0.3");
        i.start(t0);
        let a = advert(150);
        assert_eq!(
            i.handle_advert(ip("10.0.0.1"), 64, &a, t0),
            Err(Rejected::Ttl(64))
        );
        let mut b = a.clone();
        b.auth = Auth::pass("x");
        assert_eq!(
            i.handle_advert(ip("10.0.0.1"), 255, &b, t0),
            Err(Rejected::Auth)
        );
        let mut c = a.clone();
        c.interval_cs = 200;
        assert!(matches!(
            i.handle_advert(ip("10.0.0.1"), 255, &c, t0),
            Err(Rejected::Interval { .. })
        ));
        let mut d = a;
        d.vrid = 52;
        assert_eq!(
            i.handle_advert(ip("10.0.0.1"), 255, &d, t0),
            Err(Rejected::OtherRouter)
        );
    }

    #[test]
    fn second_garp_burst_follows_after_the_delay() {
        let t0 = Instant::now();
        let mut i = instance(255, "10.0.0.1");
        i.start(t0);
        drain(&mut i);
        let mut garps = 0;
        for ms in (0..=6000).step_by(100) {
            i.handle_timeout(t0 + Duration::from_millis(ms));
            garps += drain(&mut i).iter().filter(|a| **a == Action::Garp).count();
        }
        assert_eq!(garps, 1);
    }

    #[test]
    fn fault_drops_mastership_and_recovery_returns_to_backup() {
        let t0 = Instant::now();
        let mut i = instance(255, "10.0.0.1");
        i.start(t0);
        drain(&mut i);
        i.set_fault(true, t0);
        assert_eq!(i.state(), State::Fault);
        let acts = drain(&mut i);
        assert!(matches!(&acts[0], Action::SendAdvert(a) if a.priority == 0));
        i.set_fault(false, t0);
        assert_eq!(i.state(), State::Backup);
    }

    #[test]
    fn tracked_weights_change_the_advertised_priority_within_bounds() {
        let mut i = instance(100, "10.0.0.1");
        i.set_priority_delta(-30);
        assert_eq!(i.priority(), 70);
        i.set_priority_delta(-500);
        assert_eq!(i.priority(), 1);
        i.set_priority_delta(500);
        assert_eq!(i.priority(), 254);
    }
}
