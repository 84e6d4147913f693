//! ipvsadm's option vocabulary: commands, options, the command×option validity
//! table and the tunnel-type×option table, with ipvsadm's names for each (they
//! appear in its error messages).

/// The commands, in ipvsadm's table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Add,
    Edit,
    Del,
    Flush,
    List,
    AddDest,
    DelDest,
    EditDest,
    Timeout,
    StartDaemon,
    StopDaemon,
    Restore,
    Save,
    Zero,
    /// rvs extension: `--add-mark`.
    AddMark,
    /// rvs extension: `--del-mark`.
    DelMark,
}

impl Cmd {
    pub fn name(self) -> &'static str {
        match self {
            Cmd::Add => "add-service",
            Cmd::Edit => "edit-service",
            Cmd::Del => "delete-service",
            Cmd::Flush => "flush",
            Cmd::List => "list",
            Cmd::AddDest => "add-server",
            Cmd::DelDest => "delete-server",
            Cmd::EditDest => "edit-server",
            Cmd::Timeout => "set",
            Cmd::StartDaemon => "start-daemon",
            Cmd::StopDaemon => "stop-daemon",
            Cmd::Restore => "restore",
            Cmd::Save => "save",
            Cmd::Zero => "zero",
            Cmd::AddMark => "add-mark",
            Cmd::DelMark => "del-mark",
        }
    }

    /// This command's row of the validity table: one character per [`Opt`], in
    /// `Opt::ALL` order. '+' required, 'x' refused, '1' at most one of the '1's,
    /// ' ' optional.
    fn row(self) -> &'static [u8; Opt::COUNT] {
        match self {
            Cmd::Add | Cmd::Edit => b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
            Cmd::Del => b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::List => b" 11xxxxxxxxx11       xxxxxxx xxxxx",
            Cmd::AddDest | Cmd::EditDest => b"xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
            Cmd::DelDest => b"xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::StartDaemon => b"xxxxxxxxxxx xxxxxxx xxxx    xxxxxx",
            Cmd::StopDaemon => b"xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx",
            Cmd::Save => b" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::Zero => b"xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            // The mark commands check their own options (cli/mark.rs).
            Cmd::Flush | Cmd::Timeout | Cmd::Restore | Cmd::AddMark | Cmd::DelMark => {
                b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            }
        }
    }

    /// ipvsadm's generic option check: the first offending option (in table order)
    /// gives the message.
    pub fn check(self, given: OptSet) -> Result<(), String> {
        let row = self.row();
        let mut exclusive: Option<Opt> = None;
        for opt in Opt::ALL {
            let rule = row[opt as usize];
            if !given.has(opt) {
                if rule == b'+' {
                    return Err(format!(
                        "You need to supply the '{}' option for the '{}' command",
                        opt.name(),
                        self.name()
                    ));
                }
                continue;
            }
            if rule == b'x' {
                return Err(format!(
                    "Illegal '{}' option with the '{}' command",
                    opt.name(),
                    self.name()
                ));
            }
            if rule == b'1' {
                if let Some(first) = exclusive {
                    return Err(format!(
                        "The option '{}' conflicts with the '{}' option in the '{}' command",
                        opt.name(),
                        first.name(),
                        self.name()
                    ));
                }
                exclusive = Some(opt);
            }
        }
        Ok(())
    }
}

/// The options that ipvsadm tracks, in its table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opt {
    Numeric,
    Connection,
    Service,
    Scheduler,
    Persistent,
    Netmask,
    Server,
    Forward,
    Weight,
    UThreshold,
    LThreshold,
    McastInterface,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    SyncId,
    Exact,
    OnePacket,
    PersistenceEngine,
    SchedFlags,
    McastGroup,
    McastPort,
    McastTtl,
    SyncMaxlen,
    TunInfo,
    TunType,
    TunPort,
    TunNoCsum,
    TunCsum,
    TunRemCsum,
}

impl Opt {
    pub const COUNT: usize = 34;
    pub const ALL: [Opt; Opt::COUNT] = [
        Opt::Numeric,
        Opt::Connection,
        Opt::Service,
        Opt::Scheduler,
        Opt::Persistent,
        Opt::Netmask,
        Opt::Server,
        Opt::Forward,
        Opt::Weight,
        Opt::UThreshold,
        Opt::LThreshold,
        Opt::McastInterface,
        Opt::Timeout,
        Opt::Daemon,
        Opt::Stats,
        Opt::Rate,
        Opt::Thresholds,
        Opt::PersistentConn,
        Opt::NoSort,
        Opt::SyncId,
        Opt::Exact,
        Opt::OnePacket,
        Opt::PersistenceEngine,
        Opt::SchedFlags,
        Opt::McastGroup,
        Opt::McastPort,
        Opt::McastTtl,
        Opt::SyncMaxlen,
        Opt::TunInfo,
        Opt::TunType,
        Opt::TunPort,
        Opt::TunNoCsum,
        Opt::TunCsum,
        Opt::TunRemCsum,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Opt::Numeric => "numeric",
            Opt::Connection => "connection",
            Opt::Service => "service-address",
            Opt::Scheduler => "scheduler",
            Opt::Persistent => "persistent",
            Opt::Netmask => "netmask",
            Opt::Server => "real-server",
            Opt::Forward => "forwarding-method",
            Opt::Weight => "weight",
            Opt::UThreshold => "u-threshold",
            Opt::LThreshold => "l-threshold",
            Opt::McastInterface => "mcast-interface",
            Opt::Timeout => "timeout",
            Opt::Daemon => "daemon",
            Opt::Stats => "stats",
            Opt::Rate => "rate",
            Opt::Thresholds => "thresholds",
            Opt::PersistentConn => "persistent-conn",
            Opt::NoSort => "nosort",
            Opt::SyncId => "syncid",
            Opt::Exact => "exact",
            Opt::OnePacket => "ops",
            Opt::PersistenceEngine => "pe",
            Opt::SchedFlags => "sched-flags",
            Opt::McastGroup => "mcast-group",
            Opt::McastPort => "mcast-port",
            Opt::McastTtl => "mcast-ttl",
            Opt::SyncMaxlen => "sync-maxlen",
            Opt::TunInfo => "tun-info",
            Opt::TunType => "tun-type",
            Opt::TunPort => "tun-port",
            Opt::TunNoCsum => "tun-nocsum",
            Opt::TunCsum => "tun-csum",
            Opt::TunRemCsum => "tun-remcsum",
        }
    }
}

/// A set of [`Opt`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OptSet(u64);

impl OptSet {
    pub fn has(self, opt: Opt) -> bool {
        self.0 & (1 << opt as u64) != 0
    }

    /// Adds `opt`; ipvsadm refuses an option given twice.
    pub fn set(&mut self, opt: Opt) -> Result<(), String> {
        if self.has(opt) {
            return Err(format!("multiple '{}' options specified", opt.name()));
        }
        self.0 |= 1 << opt as u64;
        Ok(())
    }

    /// The set of `opt` alone.
    pub fn only(opt: Opt) -> OptSet {
        OptSet(1 << opt as u64)
    }

    pub fn any(self, opts: &[Opt]) -> bool {
        opts.iter().any(|o| self.has(*o))
    }
}

/// Tunnel types, in ipvsadm's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunKind {
    Ipip,
    Gue,
    Gre,
}

impl TunKind {
    pub fn name(self) -> &'static str {
        match self {
            TunKind::Ipip => "ipip",
            TunKind::Gue => "gue",
            TunKind::Gre => "gre",
        }
    }

    /// The tunnel-type×option check, over tun-port, tun-nocsum, tun-csum,
    /// tun-remcsum (same rule letters as [`Cmd::check`]).
    pub fn check(self, given: OptSet) -> Result<(), String> {
        const OPTS: [Opt; 4] = [Opt::TunPort, Opt::TunNoCsum, Opt::TunCsum, Opt::TunRemCsum];
        let row: &[u8; 4] = match self {
            TunKind::Ipip => b"xxxx",
            TunKind::Gue => b"+111",
            TunKind::Gre => b"x11x",
        };
        let mut exclusive: Option<Opt> = None;
        for (opt, rule) in OPTS.into_iter().zip(row.iter().copied()) {
            if !given.has(opt) {
                if rule == b'+' {
                    return Err(format!(
                        "You need to supply the '{}' option for the '{}' tunnel type",
                        opt.name(),
                        self.name()
                    ));
                }
                continue;
            }
            if rule == b'x' {
                return Err(format!(
                    "Illegal '{}' option with the '{}' tunnel type",
                    opt.name(),
                    self.name()
                ));
            }
            if rule == b'1' {
                if let Some(first) = exclusive {
                    return Err(format!(
                        "The option '{}' conflicts with the '{}' option in the '{}' tunnel type",
                        opt.name(),
                        first.name(),
                        self.name()
                    ));
                }
                exclusive = Some(opt);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_have_one_rule_per_option() {
        for cmd in [
            Cmd::Add,
            Cmd::Edit,
            Cmd::Del,
            Cmd::Flush,
            Cmd::List,
            Cmd::AddDest,
            Cmd::DelDest,
            Cmd::EditDest,
            Cmd::Timeout,
            Cmd::StartDaemon,
            Cmd::StopDaemon,
            Cmd::Restore,
            Cmd::Save,
            Cmd::Zero,
            Cmd::AddMark,
            Cmd::DelMark,
        ] {
            assert!(cmd.row().iter().all(|c| b"+x1 ".contains(c)), "{cmd:?}");
        }
    }

    #[test]
    fn messages_follow_table_order() {
        let mut s = OptSet::default();
        s.set(Opt::Weight).unwrap();
        assert_eq!(
            Cmd::Add.check(s).unwrap_err(),
            "You need to supply the 'service-address' option for the 'add-service' command"
        );
        s.set(Opt::Service).unwrap();
        assert_eq!(
            Cmd::Add.check(s).unwrap_err(),
            "Illegal 'weight' option with the 'add-service' command"
        );
        let mut l = OptSet::default();
        l.set(Opt::Connection).unwrap();
        l.set(Opt::Timeout).unwrap();
        assert_eq!(
            Cmd::List.check(l).unwrap_err(),
            "The option 'timeout' conflicts with the 'connection' option in the 'list' command"
        );
        assert_eq!(
            s.set(Opt::Weight).unwrap_err(),
            "multiple 'weight' options specified"
        );
    }

    #[test]
    fn gue_needs_a_port_and_one_checksum_option() {
        let mut s = OptSet::default();
        assert!(TunKind::Gue.check(s).is_err());
        s.set(Opt::TunPort).unwrap();
        assert!(TunKind::Gue.check(s).is_ok());
        assert!(TunKind::Gre.check(s).is_err());
        s.set(Opt::TunCsum).unwrap();
        s.set(Opt::TunRemCsum).unwrap();
        assert_eq!(
            TunKind::Gue.check(s).unwrap_err(),
            "The option 'tun-remcsum' conflicts with the 'tun-csum' option in the 'gue' tunnel type"
        );
    }
}
