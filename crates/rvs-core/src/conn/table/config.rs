//! Sizing, errors and counters of the connection table.

use crate::conn::entry::{Conn, ConnId};
use core::fmt;

/// How many slots a full shard scans for expired entries before refusing an insert.
pub const RECLAIM_SCAN: usize = 256;

/// Maximum number of shards.
pub const MAX_SHARDS: usize = 1024;

/// Sizing of a [`ConnTable`](super::ConnTable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnTableConfig {
    /// Upper bound on entries (connections and templates together).
    pub max_entries: usize,
    /// Number of shards, a power of two in 1..=[`MAX_SHARDS`].
    pub shards: usize,
}

impl Default for ConnTableConfig {
    fn default() -> Self {
        ConnTableConfig {
            max_entries: 1 << 20,
            shards: 64,
        }
    }
}

/// A sizing the table cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    ShardsNotPowerOfTwo(usize),
    TooManyShards(usize),
    /// `max_entries` is 0 or does not fit slot numbers (at most 2^31 entries).
    BadMaxEntries(usize),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ShardsNotPowerOfTwo(n) => {
                write!(f, "connection table shards must be a power of two, got {n}")
            }
            ConfigError::TooManyShards(n) => {
                write!(
                    f,
                    "connection table shards must be at most {MAX_SHARDS}, got {n}"
                )
            }
            ConfigError::BadMaxEntries(n) => {
                write!(
                    f,
                    "connection table size must be between 1 and 2^31 entries, got {n}"
                )
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why an entry was not created. Nothing changed in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertError {
    /// The shard is full of live entries (see the module documentation).
    Full,
    /// A live entry with the same in-key exists.
    Exists(ConnId),
    /// A FULLNAT connection without a local endpoint.
    MissingLocal,
    /// The FULLNAT local endpoint is not in the client's shard.
    LocalShardMismatch,
    /// Client and virtual addresses (or real server and local) of different families.
    FamilyMismatch,
}

impl fmt::Display for InsertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InsertError::Full => f.write_str("connection table full: new connection refused"),
            InsertError::Exists(_) => f.write_str("a connection with this key already exists"),
            InsertError::MissingLocal => f.write_str("FULLNAT connection without a local address"),
            InsertError::LocalShardMismatch => {
                f.write_str("FULLNAT local port is not in the client's connection-table shard")
            }
            InsertError::FamilyMismatch => f.write_str("addresses of different families"),
        }
    }
}

impl std::error::Error for InsertError {}

/// Event counters of the table, summed over shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableCounters {
    pub inserted: u64,
    /// Entries removed because their timer ran out (lazily, by reclaim or by sweep).
    pub expired: u64,
    /// New connections refused because their shard was full.
    pub refused_full: u64,
}

/// Called for every entry leaving the table, with the shard lock held: it must be quick
/// and must not call back into the table.
pub type ExpiryHook = Box<dyn Fn(&Conn) + Send + Sync>;
