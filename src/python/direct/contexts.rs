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
//! sample (nothing was entered or left otherwise), and, from 3.12, the stack
//! has a frame called from C past the thread's first and the callback's
//! (nothing can be nested otherwise): one more `process_vm_readv`
//! then, of the innermost context and, speculatively, the outermost one and
//! the base under it as last seen, and the thread state's context version
//! again (a version moved since the stack was read makes the sample torn);
//! a chain that differs costs a read per context past those, and the
//! version is read once more after them.

use std::sync::Arc;

use smallvec::SmallVec;

use super::memory::{Memory, rd_i32, rd_u64};
use super::{DirectReader, ThreadCache};
use crate::sample::{Entered, Frame};

/// Deepest chain followed; deeper reads as not known.
const MAX_ENTERED: u8 = 8;

impl<M: Memory> DirectReader<M> {
    /// The contexts entered on the thread whose state (at `tstate`) said,
    /// when `stack` was read, that `innermost` was its current context at
    /// context version `ver`. `None`: the thread entered or left a context
    /// since (its version moved before the chain was read), so the chain
    /// read does not go with the stack: the sample is torn.
    pub(super) fn read_entered(
        &mut self,
        tc: &mut ThreadCache,
        tstate: u64,
        innermost: u64,
        ver: u64,
        stack: &[Frame],
    ) -> Option<Entered> {
        if innermost == 0 {
            // No context at all on the thread: none entered.
            tc.entered = Entered::default();
            tc.entered_ver = ver;
            return Some(tc.entered);
        }
        if ver == tc.entered_ver && tc.entered_ver != 0 {
            return Some(tc.entered);
        }
        // 3.12+ marks the frames called from C. A context entered from
        // Python runs its callee from C (`Context.run`, an eager task's
        // first step): a stack with at most two such frames (the thread's
        // first one and the callback) has nothing nested, and the innermost
        // context is the one the loop entered. Nothing to read then (a loop
        // switching between many short callbacks moves the version at
        // almost every sample). Except right after a nested sample, unless
        // the thread is back in the same outermost context: the thread
        // state was read a moment before the frames, and may name a nested
        // context the frames have already left (read, the chain shows it,
        // and the version check below catches the move).
        let from_c = stack
            .iter()
            .try_fold(0usize, |n, f| f.from_c.map(|c| n + usize::from(c)));
        let was_nested = tc.entered.depth >= 2 && innermost != tc.entered.outer;
        if from_c.is_some_and(|n| n <= 2) && !was_nested {
            tc.entered = Entered {
                outer: innermost,
                depth: 1,
            };
            tc.entered_ver = ver;
            return Some(tc.entered);
        }
        let l = Arc::clone(&self.layout);
        let len = (l.ctx_prev.max(l.ctx_entered) + 8) as usize;
        // The thread state's context and version, read again after the
        // chain: the same version means nothing was entered or left since
        // the stack was read.
        let (Some(c_off), Some(v_off)) = (l.ts_context, l.ts_context_ver) else {
            return Some(Entered::default());
        };
        let (lo, hi) = (c_off.min(v_off), c_off.max(v_off) + 8);
        if len > 64 || hi - lo > 64 {
            return Some(Entered::default());
        }
        let check_at = tstate.wrapping_add(lo);
        let check_len = (hi - lo) as usize;
        let mut check = [0u8; 64];
        let same_version =
            |check: &[u8]| rd_u64(check, (v_off - lo) as usize).is_some_and(|v| v == ver);
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
        let checked;
        {
            let mut reqs: SmallVec<[(u64, &mut [u8]); 4]> = SmallVec::new();
            let mut asked: SmallVec<[usize; 3]> = SmallVec::new();
            for (i, b) in bufs.iter_mut().enumerate() {
                if want[i] != 0 {
                    reqs.push((want[i], &mut b[..len]));
                    asked.push(i);
                }
            }
            let n = reqs.len();
            reqs.push((check_at, &mut check[..check_len]));
            // A range that fails ends the batch: the ranges after it are
            // read one by one below, if the chain needs them.
            let got = self.mem.read_batch(&mut reqs);
            for &i in &asked[..got.min(n)] {
                have[i] = true;
            }
            checked = got == n + 1;
        }
        if checked && !same_version(&check[..check_len]) {
            return moved_meanwhile(tc, innermost, ver);
        }
        let mut read_more = !checked;

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
                    read_more = true;
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
        if read_more {
            // Contexts read after the check: check again.
            let ok = self.mem.read(check_at, &mut check[..check_len]).is_ok();
            if !ok || !same_version(&check[..check_len]) {
                return moved_meanwhile(tc, innermost, ver);
            }
        }
        tc.entered_base = base;
        tc.entered = found;
        tc.entered_ver = ver;
        Some(found)
    }
}

/// The thread entered or left a context between the stack's read and the
/// chain's, so the chain does not go with the stack. After a nested
/// sample that tears the sample: the pairing is what tells a nested run
/// from the next callback. Otherwise the thread was most likely between
/// two callbacks (a loop running many short ones moves the version all the
/// time; tearing every such sample lost 4-25 % of them on 3.8-3.11, where
/// the chain is read at every move): the stack goes with the context the
/// thread state named with it, taken as the one the loop entered.
fn moved_meanwhile(tc: &mut ThreadCache, innermost: u64, ver: u64) -> Option<Entered> {
    if tc.entered.depth >= 2 {
        return None;
    }
    tc.entered = Entered {
        outer: innermost,
        depth: 1,
    };
    tc.entered_ver = ver;
    Some(tc.entered)
}
