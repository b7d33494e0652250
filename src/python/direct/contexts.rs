//! The chain of contexts entered on a thread: `PyThreadState.context` is
//! the innermost entered context, each `PyContext.ctx_prev` the one it was
//! entered from, down to the thread's base context (not entered) or NULL.
//!
//! asyncio and uvloop enter a context to run each callback; a callback that
//! enters more (`Context.run` of its own, an eager task's first step) bumps
//! the thread's context version as it enters and leaves them, which alone
//! would look like the loop moving to another callback. The outermost entered
//! context and the depth let the detector tell the two apart (see
//! `detector.rs`, `still_entered`).
//!
//! Read only when the thread's context version changed since its previous
//! sample (nothing was entered or left otherwise): one more `process_vm_readv`
//! then, of the innermost context and, speculatively, the outermost one and
//! the base under it as last seen; a chain that differs costs a read per
//! context past those.

use smallvec::SmallVec;

use super::memory::{Memory, rd_i32, rd_u64};
use super::{DirectReader, ThreadCache};
use crate::sample::Entered;

/// Deepest chain followed; deeper reads as not known.
const MAX_ENTERED: u8 = 8;

impl<M: Memory> DirectReader<M> {
    /// The contexts entered on the thread whose state says `innermost` is
    /// its current context at context version `ver`.
    pub(super) fn read_entered(
        &mut self,
        tc: &mut ThreadCache,
        innermost: u64,
        ver: u64,
    ) -> Entered {
        if innermost == 0 {
            // No context at all on the thread: none entered.
            tc.entered = Entered::default();
            tc.entered_ver = ver;
            return tc.entered;
        }
        if ver == tc.entered_ver && tc.entered_ver != 0 {
            return tc.entered;
        }
        let l = &self.layout;
        let len = (l.ctx_prev.max(l.ctx_entered) + 8) as usize;
        if len > 64 {
            return Entered::default();
        }
        // The innermost context, and speculatively the outermost entered one
        // and the base context under it as last seen (a callback's chain
        // most often ends the way the last one did).
        let mut want = [innermost, tc.entered.outer, tc.entered_base];
        for i in 1..want.len() {
            if want[..i].contains(&want[i]) {
                want[i] = 0;
            }
        }
        let mut bufs = [[0u8; 64]; 3];
        let mut have = [false; 3];
        {
            let mut reqs: SmallVec<[(u64, &mut [u8]); 3]> = SmallVec::new();
            let mut asked: SmallVec<[usize; 3]> = SmallVec::new();
            for (i, b) in bufs.iter_mut().enumerate() {
                if want[i] != 0 {
                    reqs.push((want[i], &mut b[..len]));
                    asked.push(i);
                }
            }
            // A range that fails ends the batch: the ranges after it are
            // read one by one below, if the chain needs them.
            let got = self.mem.read_batch(&mut reqs);
            for &i in &asked[..got] {
                have[i] = true;
            }
        }

        let mut found = Entered::default();
        let mut base = 0;
        let mut at = innermost;
        let mut one = [0u8; 64];
        while at != 0 {
            if found.depth >= MAX_ENTERED {
                found = Entered::default();
                break;
            }
            let obj: &[u8] = match (0..3).find(|&i| have[i] && want[i] == at) {
                Some(i) => &bufs[i][..len],
                None => {
                    if self.mem.read(at, &mut one[..len]).is_err() {
                        found = Entered::default();
                        break;
                    }
                    &one[..len]
                }
            };
            // `ctx_entered` is a C int, 0 or 1: anything else is not a
            // context (a torn or stale read): not known.
            match rd_i32(obj, l.ctx_entered as usize) {
                Some(1) => {}
                Some(0) => {
                    base = at;
                    break;
                }
                _ => {
                    found = Entered::default();
                    break;
                }
            }
            found.depth += 1;
            found.outer = at;
            at = rd_u64(obj, l.ctx_prev as usize).unwrap_or(0);
        }
        tc.entered_base = base;
        tc.entered = found;
        tc.entered_ver = ver;
        found
    }
}
