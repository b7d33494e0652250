//! Access to the target's memory: the [`Memory`] trait the direct reader
//! reads through, its implementation for a live process (remoteprocess for
//! single reads, one vectored `process_vm_readv` for batches), a fake
//! in-memory map for tests, and bounds-checked little-endian decoders.

use std::cell::Cell;
use std::fmt;

/// A failed read of the target's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemError(pub String);

impl fmt::Display for MemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MemError {}

/// Most ranges one batched read asks for (Linux `IOV_MAX` is 1024).
pub const MAX_BATCH: usize = 1024;

/// The target's memory, read only.
pub trait Memory {
    /// Fill `buf` from `addr`, entirely or fail.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError>;

    /// Fill several buffers, in order, as one operation where the platform
    /// allows (one system call). Returns how many leading requests were read
    /// completely; the rest must be treated as unread.
    fn read_batch(&self, reqs: &mut [(u64, &mut [u8])]) -> usize {
        for (i, (addr, buf)) in reqs.iter_mut().enumerate() {
            if self.read(*addr, buf).is_err() {
                return i;
            }
        }
        reqs.len()
    }

    /// How many read operations (system calls, for a live process) so far.
    fn ops(&self) -> u64 {
        0
    }
}

/// A live process: `read` goes through remoteprocess (`process_vm_readv`,
/// falling back to /proc/PID/mem), `read_batch` is one vectored
/// `process_vm_readv` (remoteprocess has no vectored call).
pub struct ProcessMem {
    process: remoteprocess::Process,
    pid: libc::pid_t,
    ops: Cell<u64>,
}

impl ProcessMem {
    pub fn new(pid: libc::pid_t) -> Result<ProcessMem, MemError> {
        let process = remoteprocess::Process::new(pid).map_err(|e| MemError(e.to_string()))?;
        Ok(ProcessMem {
            process,
            pid,
            ops: Cell::new(0),
        })
    }
}

impl Memory for ProcessMem {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        use remoteprocess::ProcessMemory;
        self.ops.set(self.ops.get() + 1);
        if buf.is_empty() {
            return Ok(());
        }
        let addr = usize::try_from(addr).map_err(|_| MemError("address too large".into()))?;
        self.process
            .read(addr, buf)
            .map_err(|e| MemError(format!("read {} bytes at {addr:#x}: {e}", buf.len())))
    }

    fn read_batch(&self, reqs: &mut [(u64, &mut [u8])]) -> usize {
        let mut done = 0;
        let count = reqs.len();
        while done < count {
            let part = &mut reqs[done..(done + MAX_BATCH).min(count)];
            let mut local = Vec::with_capacity(part.len());
            let mut remote = Vec::with_capacity(part.len());
            let mut total = 0usize;
            for (addr, buf) in part.iter_mut() {
                local.push(libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: buf.len(),
                });
                remote.push(libc::iovec {
                    iov_base: *addr as usize as *mut libc::c_void,
                    iov_len: buf.len(),
                });
                total += buf.len();
            }
            self.ops.set(self.ops.get() + 1);
            // SAFETY: every local iovec points into a live, exclusively
            // borrowed buffer of the stated length; the remote iovecs are
            // only addresses in the other process, which the kernel checks.
            let n = unsafe {
                libc::process_vm_readv(
                    self.pid,
                    local.as_ptr(),
                    local.len() as libc::c_ulong,
                    remote.as_ptr(),
                    remote.len() as libc::c_ulong,
                    0,
                )
            };
            if n < 0 {
                let errno = std::io::Error::last_os_error().raw_os_error();
                if matches!(errno, Some(libc::EPERM) | Some(libc::ENOSYS)) {
                    // No process_vm_readv here: one read at a time, through
                    // remoteprocess's /proc/PID/mem fallback.
                    let mut ok = 0;
                    for (addr, buf) in part.iter_mut() {
                        if self.read(*addr, buf).is_err() {
                            return done + ok;
                        }
                        ok += 1;
                    }
                    done += ok;
                    continue;
                }
                return done;
            }
            // Partial transfers stop at the first failing range.
            let mut left = n as usize;
            let mut full = 0;
            for (_, buf) in part.iter() {
                if left < buf.len() {
                    break;
                }
                left -= buf.len();
                full += 1;
            }
            done += full;
            if (n as usize) < total {
                return done;
            }
        }
        done
    }

    fn ops(&self) -> u64 {
        self.ops.get()
    }
}

/// Little-endian decoders over a byte slice; `None` when out of bounds.
pub fn rd_u64(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    Some(u64::from_le_bytes(s.try_into().ok()?))
}

pub fn rd_i64(b: &[u8], off: usize) -> Option<i64> {
    rd_u64(b, off).map(|v| v as i64)
}

pub fn rd_u32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

pub fn rd_i32(b: &[u8], off: usize) -> Option<i32> {
    rd_u32(b, off).map(|v| v as i32)
}

pub fn rd_u8(b: &[u8], off: usize) -> Option<u8> {
    b.get(off).copied()
}

/// An in-memory target for tests: a set of mapped regions. Reads that are
/// not entirely inside one region fail, like unmapped memory.
#[cfg(test)]
#[derive(Default)]
pub struct FakeMem {
    regions: Vec<(u64, Vec<u8>)>,
    ops: Cell<u64>,
}

#[cfg(test)]
impl FakeMem {
    pub fn new() -> FakeMem {
        FakeMem::default()
    }

    /// Map `bytes` at `addr` (replacing any region starting there).
    pub fn map(&mut self, addr: u64, bytes: Vec<u8>) {
        self.regions.retain(|(a, _)| *a != addr);
        self.regions.push((addr, bytes));
    }

    /// Write into an already mapped region.
    pub fn poke(&mut self, addr: u64, bytes: &[u8]) {
        for (a, r) in &mut self.regions {
            if addr >= *a && addr + bytes.len() as u64 <= *a + r.len() as u64 {
                let o = (addr - *a) as usize;
                r[o..o + bytes.len()].copy_from_slice(bytes);
                return;
            }
        }
        panic!("poke outside mapped memory at {addr:#x}");
    }

    pub fn poke_u64(&mut self, addr: u64, v: u64) {
        self.poke(addr, &v.to_le_bytes());
    }

    fn get(&self, addr: u64, buf: &mut [u8]) -> bool {
        for (a, r) in &self.regions {
            let Some(end) = addr.checked_add(buf.len() as u64) else {
                return false;
            };
            if addr >= *a && end <= *a + r.len() as u64 {
                let o = (addr - *a) as usize;
                buf.copy_from_slice(&r[o..o + buf.len()]);
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
impl Memory for FakeMem {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        self.ops.set(self.ops.get() + 1);
        if self.get(addr, buf) {
            Ok(())
        } else {
            Err(MemError(format!("unmapped {addr:#x}+{}", buf.len())))
        }
    }

    fn read_batch(&self, reqs: &mut [(u64, &mut [u8])]) -> usize {
        self.ops.set(self.ops.get() + 1);
        for (i, (addr, buf)) in reqs.iter_mut().enumerate() {
            if !self.get(*addr, buf) {
                return i;
            }
        }
        reqs.len()
    }

    fn ops(&self) -> u64 {
        self.ops.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoders_are_bounded() {
        let b = [1u8, 0, 0, 0, 0, 0, 0, 0, 9];
        assert_eq!(rd_u64(&b, 0), Some(1));
        assert_eq!(rd_u64(&b, 2), None);
        assert_eq!(rd_u64(&b, usize::MAX - 3), None);
        assert_eq!(rd_u8(&b, 8), Some(9));
        assert_eq!(rd_u32(&b, 6), None);
    }

    #[test]
    fn batch_stops_at_first_unmapped() {
        let mut m = FakeMem::new();
        m.map(0x1000, vec![7; 64]);
        let (mut a, mut b, mut c) = ([0u8; 8], [0u8; 8], [0u8; 8]);
        let mut reqs: Vec<(u64, &mut [u8])> =
            vec![(0x1000, &mut a), (0x9000, &mut b), (0x1008, &mut c)];
        assert_eq!(m.read_batch(&mut reqs), 1);
        assert_eq!(a, [7; 8]);
    }

    #[test]
    fn live_batch_reads_own_memory() {
        let data: Vec<u8> = (0..64).collect();
        let more = [5u8; 16];
        let mem = ProcessMem::new(std::process::id() as i32).unwrap();
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        let mut reqs: Vec<(u64, &mut [u8])> = vec![
            (data.as_ptr() as u64 + 8, &mut a),
            (more.as_ptr() as u64, &mut b),
        ];
        assert_eq!(mem.read_batch(&mut reqs), 2);
        assert_eq!(a[0], 8);
        assert_eq!(b, [5; 16]);
        let mut c = [0u8; 8];
        let mut reqs: Vec<(u64, &mut [u8])> = vec![(8, &mut c)];
        assert_eq!(mem.read_batch(&mut reqs), 0);
        assert_eq!(mem.ops(), 2);
    }
}
