//! The packet path: lookups in both directions and state changes, with lazy expiry.

use super::*;

impl ConnTable {
    /// Look up the connection of a client → virtual packet. Expired entries are removed
    /// and reported as misses.
    pub fn lookup_in(&self, key: &InKey, now: Instant) -> Option<Conn> {
        let k = RawInKey::new(key, false)?;
        self.lookup_raw(self.in_shard(&k), now, |t, inner| t.find_in(inner, &k))
    }

    /// Look up the connection of a real server → client reply (NAT, FULLNAT).
    pub fn lookup_out(&self, key: &OutKey, now: Instant) -> Option<Conn> {
        let k = RawOutKey::new(key);
        let shard = self.shard_of_raw(k.caddr, k.cv6, k.cport);
        self.lookup_raw(shard, now, |t, inner| t.find_out(inner, &k))
    }

    /// Look up a persistence template by its key ([`crate::persist::template_key`]).
    pub fn lookup_template(&self, key: &InKey, now: Instant) -> Option<Conn> {
        let k = RawInKey::new(key, true)?;
        self.lookup_raw(self.in_shard(&k), now, |t, inner| t.find_in(inner, &k))
    }

    fn lookup_raw(
        &self,
        shard: usize,
        now: Instant,
        find: impl Fn(&Self, &ShardInner) -> Option<u32>,
    ) -> Option<Conn> {
        let mut unlinks = PacketUnlinks::new();
        let found = {
            let mut inner = self.lock(shard);
            match find(self, &inner) {
                Some(local) => {
                    if self.expire_if_due(&mut inner, shard, local, now, &mut unlinks) {
                        None
                    } else {
                        let e = &inner.slab[local as usize];
                        Some(e.to_conn(self.id_of(shard, local, e.gen), self.hot(shard, local)))
                    }
                }
                None => None,
            }
        };
        self.run_unlinks(&unlinks);
        found
    }

    /// Look up and apply a packet in one step (the data path's usual call): finds the
    /// entry by `key`, moves its state, restarts its timer, and returns the entry as it
    /// is after the packet together with the transition.
    pub fn process_in(
        &self,
        key: &InKey,
        event: PacketEvent,
        now: Instant,
    ) -> Option<(Conn, Transition)> {
        self.process_in_with(key, event, now, |c, t| (c.to_conn(), *t))
    }

    /// Like [`ConnTable::process_in`], but hands the entry to `f` in place (under the
    /// shard's lock) instead of copying it out: the fast path for forwarding, which
    /// reads a few fields. `f` must not call back into the table (the lock is held).
    #[inline]
    pub fn process_in_with<R>(
        &self,
        key: &InKey,
        event: PacketEvent,
        now: Instant,
        f: impl FnOnce(ConnView<'_>, &Transition) -> R,
    ) -> Option<R> {
        let k = RawInKey::new(key, false)?;
        self.process_raw(
            self.in_shard(&k),
            Direction::In,
            event,
            now,
            |t, inner| t.find_in(inner, &k),
            f,
        )
    }

    /// Like [`ConnTable::process_in`] for a reply (NAT, FULLNAT).
    pub fn process_out(
        &self,
        key: &OutKey,
        event: PacketEvent,
        now: Instant,
    ) -> Option<(Conn, Transition)> {
        self.process_out_with(key, event, now, |c, t| (c.to_conn(), *t))
    }

    /// Like [`ConnTable::process_in_with`] for a reply (NAT, FULLNAT).
    #[inline]
    pub fn process_out_with<R>(
        &self,
        key: &OutKey,
        event: PacketEvent,
        now: Instant,
        f: impl FnOnce(ConnView<'_>, &Transition) -> R,
    ) -> Option<R> {
        let k = RawOutKey::new(key);
        let shard = self.shard_of_raw(k.caddr, k.cv6, k.cport);
        self.process_raw(
            shard,
            Direction::Out,
            event,
            now,
            |t, inner| t.find_out(inner, &k),
            f,
        )
    }

    /// Apply a packet to the entry `id` (e.g. the first packet of a connection just
    /// inserted). `None` if the entry is gone.
    pub fn on_packet(
        &self,
        id: ConnId,
        dir: Direction,
        event: PacketEvent,
        now: Instant,
    ) -> Option<(Conn, Transition)> {
        self.on_packet_with(id, dir, event, now, |c, t| (c.to_conn(), *t))
    }

    /// Like [`ConnTable::on_packet`], handing the entry to `f` in place (see
    /// [`ConnTable::process_in_with`]).
    pub fn on_packet_with<R>(
        &self,
        id: ConnId,
        dir: Direction,
        event: PacketEvent,
        now: Instant,
        f: impl FnOnce(ConnView<'_>, &Transition) -> R,
    ) -> Option<R> {
        let (shard, local) = self.split(id);
        self.process_raw(
            shard,
            dir,
            event,
            now,
            |_, inner| {
                let e = inner.slab.get(local as usize)?;
                (e.live & LIVE != 0 && e.gen == id.gen).then_some(local)
            },
            f,
        )
    }

    #[inline]
    fn process_raw<R>(
        &self,
        shard: usize,
        dir: Direction,
        event: PacketEvent,
        now: Instant,
        find: impl Fn(&Self, &ShardInner) -> Option<u32>,
        f: impl FnOnce(ConnView<'_>, &Transition) -> R,
    ) -> Option<R> {
        let mut unlinks = PacketUnlinks::new();
        let result = {
            let mut inner = self.lock(shard);
            match find(self, &inner) {
                Some(local) if !self.expire_if_due(&mut inner, shard, local, now, &mut unlinks) => {
                    let e = &mut inner.slab[local as usize];
                    let before = (e.state, e.flags, e.timeout_ms);
                    let t = state::apply_with(
                        self.secure_tcp.load(Ordering::Relaxed),
                        e.state(),
                        e.flags().no_output(),
                        e.flags().is_inactive(),
                        dir,
                        event,
                    );
                    if t.cleared_no_output {
                        e.flags &= !ConnFlags::NOOUTPUT;
                    }
                    if t.to != t.from {
                        e.state = t.to.to_raw() as u8;
                    }
                    if let Some(change) = t.activity {
                        match change {
                            state::Activity::BecameActive => e.flags &= !ConnFlags::INACTIVE,
                            state::Activity::BecameInactive => e.flags |= ConnFlags::INACTIVE,
                        }
                        if let Some(c) = &e.counters {
                            c.apply(change);
                        }
                    }
                    if !e.flags().is_template() {
                        // Each packet re-arms the timer with the (new) state's timeout.
                        e.timeout_ms = self.timeouts.millis(t.to);
                    }
                    e.expires = now.as_millis().saturating_add(e.timeout_ms as u64);
                    let hot = self.hot(shard, local);
                    // Only a change voids the tickets (publishing on every packet would
                    // void, in turn, the ticket of the other direction's worker).
                    if (e.state, e.flags, e.timeout_ms) != before {
                        hot.publish(e.steady_bits());
                    }
                    let view = ConnView {
                        e,
                        id: self.id_of(shard, local, e.gen),
                        hot,
                        shard: shard as u32,
                        local,
                    };
                    // `ip_vs_control_assure_ct`: a controlled connection that becomes
                    // established (TCP, SCTP), or a UDP reply, marks its template
                    // ASSURED (after the lock is released: the template may live in
                    // another shard). Later UDP replies may take the flow cache: the
                    // first one always takes this path.
                    let established = matches!(
                        t.to,
                        ConnState::Tcp(TcpState::Established)
                            | ConnState::Sctp(SctpState::Established)
                    );
                    let udp_reply = t.to == ConnState::Udp && dir == Direction::Out;
                    let assure = if (established && t.to != t.from) || udp_reply {
                        view.control()
                    } else {
                        None
                    };
                    Some((f(view, &t), assure))
                }
                _ => None,
            }
        };
        self.run_unlinks(&unlinks);
        let (r, assure) = result?;
        if let Some(ctl) = assure {
            self.with_entry(ctl, |tpl| {
                if tpl.flags & ConnFlags::TEMPLATE != 0 {
                    tpl.flags |= ConnFlags::TEMPLATE_ASSURED;
                }
            });
        }
        Some(r)
    }
}

impl ConnTable {
    /// The lock-free fast path: if the entry of `ticket` is unchanged since the ticket
    /// was taken (see [`ConnView::fast_ticket`]) and has not expired, restart its timer
    /// as a packet that changes nothing else would, and return true. On false the
    /// packet must take the locked path.
    #[inline]
    pub fn fast_touch(&self, ticket: &FastTicket, now: Instant) -> bool {
        self.shards
            .get(ticket.shard as usize)
            .and_then(|s| s.hot.get(ticket.local as usize))
            .is_some_and(|hot| hot.touch(ticket, now.as_millis()))
    }
}
