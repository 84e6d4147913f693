//! What a connection entry holds, as the table hands it out ([`Conn`]) and as the engine
//! or the sync daemon creates it ([`NewConn`]).

use super::key::Endpoint;
use super::load::DestCounters;
use super::state::ConnState;
use crate::model::ForwardMethod;
use crate::time::Instant;
use std::sync::Arc;

/// A handle on an entry: stable while the entry lives, never confused with a later
/// entry that reuses the same slot (the generation differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId {
    pub(crate) slot: u32,
    pub(crate) gen: u32,
}

/// Entry flags, with the kernel's `IP_VS_CONN_F_*` bit values so that the sync protocol
/// can carry them unchanged. The low three bits hold the forwarding method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ConnFlags(pub u32);

impl ConnFlags {
    pub const FWD_MASK: u32 = 0x0007;
    pub const MASQ: u32 = 0x0000;
    pub const LOCALNODE: u32 = 0x0001;
    pub const TUNNEL: u32 = 0x0002;
    pub const DROUTE: u32 = 0x0003;
    /// rvs extension (the kernel has no FULLNAT); 4 is the kernel's BYPASS, unused here.
    pub const FULLNAT: u32 = 0x0005;
    /// Created from a sync message.
    pub const SYNC: u32 = 0x0020;
    /// No reply seen yet and none expected (non-NAT): TCP/SCTP use the INPUT-ONLY table.
    pub const NOOUTPUT: u32 = 0x0080;
    /// Counted as inactive in its real server's figures.
    pub const INACTIVE: u32 = 0x0100;
    pub const NO_CPORT: u32 = 0x0800;
    /// A persistence template.
    pub const TEMPLATE: u32 = 0x1000;
    /// One-packet scheduling (`-o`).
    pub const ONE_PACKET: u32 = 0x2000;
    /// rvs-private (bits 16 and up are never synced): a template one of whose
    /// connections became established, the kernel's template state ASSURED (1).
    pub const TEMPLATE_ASSURED: u32 = 1 << 20;

    pub const fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }

    pub const fn is_template(self) -> bool {
        self.has(Self::TEMPLATE)
    }

    pub const fn is_inactive(self) -> bool {
        self.has(Self::INACTIVE)
    }

    pub const fn no_output(self) -> bool {
        self.has(Self::NOOUTPUT)
    }

    /// The forwarding bits of a method.
    pub const fn fwd_bits(method: ForwardMethod) -> u32 {
        match method {
            ForwardMethod::Masq => Self::MASQ,
            ForwardMethod::Local => Self::LOCALNODE,
            ForwardMethod::Tunnel(_) => Self::TUNNEL,
            ForwardMethod::Route => Self::DROUTE,
            ForwardMethod::FullNat => Self::FULLNAT,
        }
    }

    /// Whether replies of this method pass through the director (NAT and FULLNAT).
    pub const fn replies_through_director(method: ForwardMethod) -> bool {
        matches!(method, ForwardMethod::Masq | ForwardMethod::FullNat)
    }

    /// The flags a new entry starts with (the kernel's `dest->conn_flags`): the method,
    /// INACTIVE (every connection starts inactive), NOOUTPUT unless replies come back.
    pub const fn for_new(method: ForwardMethod, template: bool, one_packet: bool) -> ConnFlags {
        let mut f = Self::fwd_bits(method) | Self::INACTIVE;
        if !Self::replies_through_director(method) {
            f |= Self::NOOUTPUT;
        }
        if template {
            f |= Self::TEMPLATE;
        }
        if one_packet {
            f |= Self::ONE_PACKET;
        }
        ConnFlags(f)
    }
}

/// A copy of one entry, as lookups, listings and the sync daemon see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conn {
    pub id: ConnId,
    /// IP protocol number; 0 (IPPROTO_IP) for firewall-mark templates.
    pub proto: u8,
    pub client: Endpoint,
    /// Virtual address and port (for firewall-mark templates: the mark as an IPv4
    /// address, as the kernel keys them).
    pub virt: Endpoint,
    /// Real server address and port.
    pub dest: Endpoint,
    /// FULLNAT local address and port, `None` for other methods.
    pub local: Option<Endpoint>,
    pub fwmark: u32,
    /// The engine's identifiers of the service and the real server.
    pub service: u32,
    pub dest_id: u32,
    pub flags: ConnFlags,
    pub state: ConnState,
    /// Timeout of the current state (or the persistence timeout of a template), ms.
    pub timeout_ms: u32,
    /// When the entry expires unless a packet comes first.
    pub expires: Instant,
    /// The template controlling this connection (persistence), if any.
    pub control: Option<ConnId>,
    /// How many connections this entry controls (templates only).
    pub n_control: u32,
}

impl Conn {
    pub fn is_template(&self) -> bool {
        self.flags.is_template()
    }

    /// Milliseconds left before expiry at `now` (what `ipvsadm -Lc` shows).
    pub fn expires_in_ms(&self, now: Instant) -> u64 {
        self.expires.as_millis().saturating_sub(now.as_millis())
    }

    /// The state name `ipvsadm -Lc` shows: as [`ConnState::name`], except that a
    /// template is "ASSURED" once one of its connections was established.
    pub fn state_name(&self) -> &'static str {
        if self.is_template() && self.flags.has(ConnFlags::TEMPLATE_ASSURED) {
            "ASSURED"
        } else {
            self.state.name()
        }
    }

    /// The kernel's state number, as the sync protocol carries it (templates: 0 NONE,
    /// 1 ASSURED).
    pub fn raw_state(&self) -> u16 {
        if self.is_template() {
            u16::from(self.flags.has(ConnFlags::TEMPLATE_ASSURED))
        } else {
            self.state.to_raw()
        }
    }

    /// The row `ipvsadm -Lc` lists for this entry at `now`.
    pub fn to_status(&self, now: Instant) -> crate::status::ConnEntry {
        crate::status::ConnEntry {
            ip_proto: self.proto,
            client: self.client.addr,
            client_port: self.client.port,
            virt: self.virt.addr,
            virt_port: self.virt.port,
            dest: self.dest.addr,
            dest_port: self.dest.port,
            state: self.state_name().to_string(),
            expires_ms: self.expires_in_ms(now),
            pe_name: None,
            pe_data: None,
            template: self.is_template(),
            fwmark: self.fwmark,
        }
    }
}

/// Everything needed to create an entry.
#[derive(Debug, Clone)]
pub struct NewConn {
    /// IP protocol number; 0 for firewall-mark templates.
    pub proto: u8,
    pub client: Endpoint,
    pub virt: Endpoint,
    pub dest: Endpoint,
    /// FULLNAT local endpoint: required for [`ForwardMethod::FullNat`], ignored otherwise.
    /// Its shard must be the client's ([`super::ConnTable::shard_of`]).
    pub local: Option<Endpoint>,
    pub fwmark: u32,
    pub service: u32,
    pub dest_id: u32,
    pub method: ForwardMethod,
    /// A persistence template: indexed by its in-key only, counted as persistent.
    pub template: bool,
    /// The real server's counters; the entry is bound to them for its whole life.
    /// `None` for an entry without a real server (rare: sync of a removed server).
    pub counters: Option<Arc<DestCounters>>,
    /// Template controlling this connection.
    pub control: Option<ConnId>,
    /// Timeout override in ms: the persistence timeout for templates, the sync message's
    /// timeout for imported entries. `None`: the state's timeout.
    pub timeout_ms: Option<u32>,
    /// State and flags from a sync message (`None` for a locally scheduled connection,
    /// which starts in state 0 and INACTIVE).
    pub synced: Option<SyncedState>,
}

/// State carried by a sync message for an imported entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncedState {
    pub state: ConnState,
    /// Kernel flag bits from the message: INACTIVE is taken from it (the forwarding
    /// method and NOOUTPUT come from the local real server). For a template whose
    /// message state is 1 (ASSURED), set [`ConnFlags::TEMPLATE_ASSURED`].
    pub flags: ConnFlags,
}

impl NewConn {
    /// A connection scheduled locally to `dest` for a client → virtual packet.
    pub fn scheduled(
        proto: u8,
        client: Endpoint,
        virt: Endpoint,
        dest: Endpoint,
        method: ForwardMethod,
    ) -> NewConn {
        NewConn {
            proto,
            client,
            virt,
            dest,
            local: None,
            fwmark: 0,
            service: 0,
            dest_id: 0,
            method,
            template: false,
            counters: None,
            control: None,
            timeout_ms: None,
            synced: None,
        }
    }
}
