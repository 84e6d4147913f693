//! Creating entries: flags and timeouts as the kernel sets them, binding to the real
//! server, the full-shard policy, linking to a controlling template.

use super::*;

impl ConnTable {
    /// Create an entry. Binds it to its real server's counters (as inactive, or as
    /// persistent for a template) and links it to its controlling template, whose
    /// timer restarts.
    pub fn insert(&self, new: NewConn, now: Instant) -> Result<Conn, InsertError> {
        let c = RawAddr::from_ip(new.client.addr);
        let v = RawAddr::from_ip(new.virt.addr);
        let d = RawAddr::from_ip(new.dest.addr);
        if c.v6 != v.v6 {
            return Err(InsertError::FamilyMismatch);
        }
        let fullnat = matches!(new.method, ForwardMethod::FullNat) && !new.template;
        let l = if fullnat {
            let local = new.local.ok_or(InsertError::MissingLocal)?;
            let l = RawAddr::from_ip(local.addr);
            if l.v6 != d.v6 {
                return Err(InsertError::FamilyMismatch);
            }
            Some((l, local.port))
        } else {
            None
        };
        let kin = RawInKey {
            template: new.template,
            proto: new.proto,
            v6: c.v6,
            caddr: c.bytes,
            cport: new.client.port,
            vaddr: v.bytes,
            vport: new.virt.port,
        };
        let shard = self.in_shard(&kin);
        if let Some((l, lport)) = l {
            if self.shard_of_raw(l.bytes, l.v6, lport) != shard {
                return Err(InsertError::LocalShardMismatch);
            }
        }

        // The kernel's `dest->conn_flags`: method, NOOUTPUT unless replies come back,
        // INACTIVE. A synced connection keeps the activity of its message instead.
        let mut flags = ConnFlags::for_new(new.method, new.template, false).0;
        let mut st = ConnState::initial(new.proto, new.template);
        if let Some(s) = new.synced {
            flags |= ConnFlags::SYNC;
            if new.template {
                flags |= s.flags.0 & ConnFlags::TEMPLATE_ASSURED;
            } else {
                flags = (flags & !ConnFlags::INACTIVE) | (s.flags.0 & ConnFlags::INACTIVE);
                st = s.state;
            }
        }
        let timeout_ms = new.timeout_ms.unwrap_or(match (st, new.synced) {
            // A new entry waits 3 s for its first packet to set a real state (kernel).
            (_, None) if !new.template => 3000,
            // Synced without a timeout (sync v0): the state's, 3 min for templates.
            (ConnState::Template, _) => SYNC_TEMPLATE_TIMEOUT_MS,
            (s, _) => self.timeouts.millis(s),
        });

        // Link to the template first, so that the connection never exists without the
        // template counting it (another worker may remove it at any time). A template
        // that is gone is simply not linked.
        let control = new.control.filter(|&ctl| self.link(ctl, now));

        let mut unlinks = SweepUnlinks::new();
        let result = 'locked: {
            let mut inner = self.lock(shard);
            if let Some(local) = self.find_in(&inner, &kin) {
                if !self.expire_if_due(&mut inner, shard, local, now, &mut unlinks) {
                    let gen = inner.slab[local as usize].gen;
                    break 'locked Err(InsertError::Exists(self.id_of(shard, local, gen)));
                }
            }
            if inner.len >= self.per_shard {
                self.reclaim(&mut inner, shard, now, RECLAIM_SCAN, &mut unlinks);
            }
            if inner.len >= self.per_shard {
                inner.refused_full += 1;
                Err(InsertError::Full)
            } else {
                let local = match inner.free.pop() {
                    Some(s) => s,
                    None => {
                        inner.slab.push(Entry::default());
                        (inner.slab.len() - 1) as u32
                    }
                };
                let e = &mut inner.slab[local as usize];
                let gen = e.gen;
                let (laddr, lport) = l.map(|(a, p)| (a.bytes, p)).unwrap_or(([0; 16], 0));
                *e = Entry {
                    caddr: c.bytes,
                    vaddr: v.bytes,
                    daddr: d.bytes,
                    laddr,
                    expires: now.as_millis().saturating_add(timeout_ms as u64),
                    counters: new.counters.clone(),
                    control_slot: control.map_or(NO_SLOT, |c| c.slot),
                    control_gen: control.map_or(0, |c| c.gen),
                    gen,
                    timeout_ms,
                    fwmark: new.fwmark,
                    service: new.service,
                    dest_id: new.dest_id,
                    n_control: 0,
                    flags,
                    cport: new.client.port,
                    vport: new.virt.port,
                    dport: new.dest.port,
                    lport,
                    proto: new.proto,
                    state: st.to_raw() as u8,
                    fam: (if c.v6 { AF_V6 } else { 0 }) | (if d.v6 { DAF_V6 } else { 0 }),
                    live: LIVE | IN_HASHED,
                };
                let replies =
                    !new.template && (fullnat || ConnFlags::replies_through_director(new.method));
                if replies {
                    e.live |= OUT_HASHED;
                }
                if let Some(cnt) = &e.counters {
                    cnt.bind(e.load_kind());
                }
                let hot = self.hot(shard, local);
                hot.reset(e.steady_bits());
                let conn = e.to_conn(self.id_of(shard, local, gen), hot);
                let hin = self.hasher.hash_one(kin);
                let hout = replies.then(|| self.hasher.hash_one(e.out_key()));
                // Cannot fail: a shard holds at most `per_shard` entries of two keys each.
                let indexed = inner.index.insert(hin, local << 1)
                    && hout.is_none_or(|h| inner.index.insert(h, (local << 1) | OUT_BIT));
                debug_assert!(indexed, "index sized for two keys per entry");
                inner.len += 1;
                inner.inserted += 1;
                self.len.fetch_add(1, Ordering::Relaxed);
                Ok(conn)
            }
        };
        self.run_unlinks(&unlinks);
        if let (Err(_), Some(ctl)) = (&result, control) {
            // Nothing was created: undo the link (the template keeps its restarted
            // timer, as in the kernel).
            self.with_entry(ctl, |t| t.n_control = t.n_control.saturating_sub(1));
        }
        result
    }
}
