//! What makes re-runs incremental and concurrent runs safe: the manifest of finished outputs,
//! kernel locks (run, shard, per-output claims) and the shard split. All of it lives in
//! `OUT/.podclean/`, reached only through [`crate::fsutil::OutDir`] (never through a link).

pub mod lock;
pub mod manifest;
pub mod shard;

pub use lock::{Claim, Claims, LockError, RunLock};
pub use manifest::{Freshness, Manifest};
pub use shard::Shard;

/// Folder inside the output root holding podclean's state.
pub const STATE_DIR: &str = ".podclean";

/// FNV-1a, 64-bit: a hash that is stable across platforms, releases and runs (std's is not
/// promised to be), for shard assignment, state keys and settings fingerprints.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_hash_is_fnv1a() {
        assert_eq!(stable_hash(b""), 0xcbf29ce484222325);
        assert_eq!(stable_hash(b"a"), 0xaf63dc4c8601ec8c);
    }
}
