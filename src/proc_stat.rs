//! `/proc/PID/stat`: the fields after the parenthesised command name (which
//! may itself hold spaces and parentheses), for the few that aelm uses.
//! Owns nothing else.

use std::fs;

/// Field `n` after the command name (0: state, 1: parent pid, 19: start
/// time in clock ticks since boot; proc(5) numbers them from 3, 4 and 22).
pub fn field(pid: i32, n: usize) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(
        stat.rsplit(')')
            .next()?
            .split_whitespace()
            .nth(n)?
            .to_string(),
    )
}

/// The process state letter (`R`, `S`, `Z` for a zombie...).
pub fn state(pid: i32) -> Option<String> {
    field(pid, 0)
}

/// The parent's pid.
pub fn parent(pid: i32) -> Option<i32> {
    field(pid, 1)?.parse().ok()
}

/// When the process started (clock ticks since boot): with the pid, it names
/// one process even when pids are reused.
pub fn start_time(pid: i32) -> Option<u64> {
    field(pid, 19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let me = std::process::id() as i32;
        // The test harness's main thread waits for this one: R or S.
        assert!(
            super::state(me).is_some_and(|s| s.len() == 1),
            "{:?}",
            super::state(me)
        );
        assert_eq!(
            super::parent(me),
            Some(std::os::unix::process::parent_id() as i32)
        );
        assert!(super::start_time(me).is_some_and(|t| t > 0));
        assert_eq!(super::field(-1, 0), None);
    }
}
