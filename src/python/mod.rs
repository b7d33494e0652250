//! Everything that knows CPython: attaching, versions, offsets, reading frames.
//!
//! The rest of aelm sees only [`StackSource`]: something that lists the
//! target's Python threads and reads their stacks as [`crate::sample`] types.

pub mod attach;
pub mod direct;
pub mod direct_source;
pub mod pyspy;

use crate::sample::{Frame, SampleError, Spares, ThreadSample};

/// A Python thread of the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadInfo {
    /// Native (kernel) thread id.
    pub tid: u64,
    /// `threading` name, when known.
    pub name: Option<String>,
}

/// One thread's stack, read during a full scan.
#[derive(Debug, Clone)]
pub struct ScannedThread {
    pub info: ThreadInfo,
    pub stack: Result<Vec<Frame>, SampleError>,
    /// As [`ThreadSample::running_loop`](crate::sample::ThreadSample).
    pub running_loop: Option<u64>,
}

/// A reader of the target's Python stacks.
pub trait StackSource: Send {
    /// The target's Python version, e.g. "3.11.7".
    fn version(&self) -> String;
    /// Reads every Python thread (used to find loop threads and names; may
    /// be slow).
    fn scan(&mut self) -> anyhow::Result<Vec<ScannedThread>>;
    /// Like [`Self::scan`], but reads only the stacks of threads that the
    /// last `scan` did not list (the others come with an error): for looking
    /// at threads that just started without reading every stack again.
    fn scan_new(&mut self) -> anyhow::Result<Vec<ScannedThread>> {
        self.scan()
    }
    /// Reads the stacks of the given threads (the per-sample path: must be
    /// cheap), into vectors from `spares` where it can. A thread that is
    /// gone gives `Err(SampleError::Gone)`.
    fn sample(&mut self, tids: &[u64], spares: &mut Spares) -> anyhow::Result<Vec<ThreadSample>>;
    /// Names of the given threads (by tid, as the last scan gave them), looked
    /// up now if the last scan left them unnamed: for loop threads as they are
    /// found, so the lines about them carry their names. Threads still
    /// without a name are left out.
    fn name_now(&mut self, _tids: &[u64]) -> Vec<(u64, String)> {
        Vec::new()
    }
    /// Have the next [`Self::sample`] also look, cheaply, whether the
    /// target's set of threads changed (a reader that cannot does nothing).
    fn probe_threads(&mut self) {}
    /// Whether the last probe saw threads start or end since the last
    /// [`Self::scan`].
    fn threads_moved(&mut self) -> bool {
        false
    }
    /// Memory reads (system calls) the reader made so far, if it counts them.
    fn reads(&self) -> Option<u64> {
        None
    }
    /// Where the reader's knowledge of the target's layout came from.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}
