//! Maps keyed by addresses in the target and ids derived from them (code
//! objects, frames, thread states, thread ids), with a cheap hasher: they
//! are looked up for every frame of every sample, by the reader and the
//! detector. Keys come from aelm's own reading, not from a party that could
//! pick them to collide, so a non-keyed hash is fine.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A fast hasher for keys that are target addresses or ids (SipHash would
/// cost more than the rest of a sample). Multiply-rotate, like FxHash.
#[derive(Default, Clone, Copy)]
pub struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by target addresses.
pub type AddrMap<K, V> = HashMap<K, V, BuildHasherDefault<AddrHasher>>;
