//! The persistence-engine options of a synced template (PE_NAME, PE_DATA).

use crate::persist::PE_DATA_MAX;

/// The kernel's `IP_VS_PENAME_MAXLEN`.
pub const PE_NAME_MAX: usize = 16;

/// A template's persistence-engine name and data as the sync protocol carries them
/// (the kernel's PE_NAME and PE_DATA options): inline and bounded, so that queueing a
/// template on the master allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SyncPe {
    name_len: u8,
    data_len: u8,
    name: [u8; PE_NAME_MAX],
    data: [u8; PE_DATA_MAX],
}

impl SyncPe {
    /// No persistence-engine data (connections, and templates of services without
    /// `--pe`).
    pub const NONE: SyncPe = SyncPe {
        name_len: 0,
        data_len: 0,
        name: [0; PE_NAME_MAX],
        data: [0; PE_DATA_MAX],
    };

    /// `name` and `data` as received or to send; `None` when either is longer than
    /// the protocol allows (16 and 255 bytes).
    pub fn new(name: &[u8], data: &[u8]) -> Option<SyncPe> {
        if name.len() > PE_NAME_MAX || data.len() > PE_DATA_MAX {
            return None;
        }
        let mut pe = SyncPe::NONE;
        pe.name[..name.len()].copy_from_slice(name);
        pe.data[..data.len()].copy_from_slice(data);
        pe.name_len = name.len() as u8;
        pe.data_len = data.len() as u8;
        Some(pe)
    }

    /// The engine's name (`sip`), empty when absent.
    pub fn name(&self) -> &[u8] {
        &self.name[..usize::from(self.name_len)]
    }

    /// The engine's data (the Call-ID), empty when absent.
    pub fn data(&self) -> &[u8] {
        &self.data[..usize::from(self.data_len)]
    }

    /// Neither a name nor data.
    pub fn is_empty(&self) -> bool {
        self.name_len == 0 && self.data_len == 0
    }
}

impl Default for SyncPe {
    fn default() -> Self {
        SyncPe::NONE
    }
}

impl core::fmt::Debug for SyncPe {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SyncPe")
            .field("name", &String::from_utf8_lossy(self.name()))
            .field("data", &String::from_utf8_lossy(self.data()))
            .finish()
    }
}
