//! The sampler thread's scheduling slice (Linux 6.12+ EEVDF).
//!
//! A sampler that wakes on a CPU where the target is running must get the
//! CPU at once, or its sample shows the target later than the tick (or, for
//! work shorter than the delay, never: a 2 ms coroutine step every 20 ms on
//! the same CPU was never seen by 479 scans in a row here). The fair
//! scheduler lets the running task finish its slice (3 ms by default) before
//! a waking task of the same weight takes over, unless the waking task asks
//! for a shorter slice: `sched_setattr` with `sched_runtime` set, for
//! `SCHED_OTHER`, is that request (no privilege needed; the kernel clamps it
//! to 0.1-100 ms). Older kernels ignore the field or refuse the call; either
//! way nothing else changes.

use std::time::Duration;

/// The slice asked for: the kernel's smallest.
pub const SLICE: Duration = Duration::from_micros(100);

/// `struct sched_attr` (include/uapi/linux/sched/types.h, the first version
/// with the utilisation clamps: `SCHED_ATTR_SIZE_VER1`, 56 bytes).
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
    sched_util_min: u32,
    sched_util_max: u32,
}

/// Asks the kernel for a `slice`-long scheduling slice for the calling
/// thread, keeping its policy and nice value. Returns whether the kernel
/// took it (a kernel without custom slices accepts the call and ignores the
/// field: true then means only that nothing failed).
pub fn request(slice: Duration) -> bool {
    let Some(mut attr) = current() else {
        return false;
    };
    // Only the fair policies (SCHED_OTHER 0, SCHED_BATCH 3) have slices.
    if !matches!(attr.sched_policy, 0 | 3) {
        return false;
    }
    attr.size = std::mem::size_of::<SchedAttr>() as u32;
    attr.sched_flags = 0;
    attr.sched_runtime = u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX);
    // SAFETY: sched_setattr reads `size` bytes of `attr`, ours.
    let set = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    set == 0
}

/// The calling thread's scheduling attributes (`sched_getattr`).
fn current() -> Option<SchedAttr> {
    let mut attr = SchedAttr::default();
    // SAFETY: sched_getattr writes at most `size` bytes into `attr`, which
    // is ours and that large; pid 0 is the calling thread.
    let got = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &mut attr as *mut SchedAttr,
            std::mem::size_of::<SchedAttr>() as u32,
            0,
        )
    };
    (got == 0).then_some(attr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_the_kernels() {
        assert_eq!(std::mem::size_of::<SchedAttr>(), 56);
    }

    #[test]
    fn a_thread_asks_and_keeps_its_nice_value() {
        let t = std::thread::spawn(|| {
            // SAFETY: getpriority/setpriority on the calling thread.
            let tid = unsafe { libc::gettid() } as libc::id_t;
            unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, 5) };
            let ok = request(SLICE);
            let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, tid) };
            (ok, nice, current().map(|a| a.sched_runtime))
        });
        let (ok, nice, runtime) = t.join().unwrap();
        assert!(ok, "sched_setattr refused");
        assert_eq!(nice, 5, "the nice value changed");
        let runtime = runtime.expect("sched_getattr failed");
        // A kernel with custom slices (6.12+) reports the one asked for.
        eprintln!("slice now {runtime} ns");
    }
}
