//! All of the direct reader's CPython version knowledge: the per-version
//! header table (generated, `offsets_table.rs`), the layout of
//! `_Py_DebugOffsets` read from the target for 3.13+, and the resolved
//! [`Layout`] the walker uses. Every constant here names its source.

use anyhow::{Context, Result, bail};

use super::memory::{Memory, rd_i64, rd_u64};
use super::offsets_table::TABLE;

/// One version's offsets, computed by `scripts/gen-offsets/offsets.c` with
/// `offsetof`/`sizeof` against that version's headers. `None`: the field does
/// not exist in that version. Field names follow the C members.
// The generated table records every member the generator measures; not all
// are used by the reader (some are for cross-checks and future fields).
#[allow(dead_code)]
#[derive(Debug, Clone, Copy)]
pub struct HeaderOffsets {
    pub version_hex: u64,
    pub ob_type: u64,
    pub var_ob_size: u64,
    pub bytes_ob_sval: u64,
    pub unicode_length: u64,
    pub unicode_state: u64,
    pub unicode_state_size: u64,
    pub unicode_ascii_size: u64,
    pub unicode_compact_size: u64,
    pub unicode_kind_mask: u64,
    pub unicode_compact_mask: u64,
    pub unicode_ascii_mask: u64,
    pub interp_threads_head: u64,
    pub runtime_interpreters_head: u64,
    pub runtime_interpreters_main: u64,
    pub ts_size: u64,
    pub ts_next: u64,
    pub ts_interp: u64,
    pub ts_thread_id: u64,
    pub ts_context_ver: u64,
    pub ts_context: u64,
    pub context_prev: u64,
    pub context_entered: u64,
    pub ts_frame: Option<u64>,
    pub ts_native_thread_id: Option<u64>,
    pub ts_cframe: Option<u64>,
    pub cframe_current_frame: Option<u64>,
    pub ts_current_frame: Option<u64>,
    pub ts_datastack_chunk: Option<u64>,
    pub ts_datastack_top: Option<u64>,
    pub tsi_asyncio_running_loop: Option<u64>,
    pub chunk_previous: Option<u64>,
    pub chunk_size: Option<u64>,
    pub chunk_data: Option<u64>,
    pub frame_back: Option<u64>,
    pub frame_code: Option<u64>,
    pub frame_globals: Option<u64>,
    pub frame_lasti: Option<u64>,
    pub frame_localsplus: Option<u64>,
    pub iframe_size: Option<u64>,
    pub iframe_code: Option<u64>,
    pub iframe_previous: Option<u64>,
    pub iframe_globals: Option<u64>,
    pub iframe_instr: Option<u64>,
    pub iframe_owner: Option<u64>,
    pub iframe_localsplus: Option<u64>,
    pub owned_by_generator: Option<u64>,
    pub owned_by_cstack: Option<u64>,
    pub owned_by_interpreter: Option<u64>,
    pub code_size: u64,
    pub co_flags: u64,
    pub co_firstlineno: u64,
    pub co_name: u64,
    pub co_filename: u64,
    pub co_qualname: Option<u64>,
    pub co_code_adaptive: Option<u64>,
    pub co_version: Option<u64>,
    pub co_linetable: u64,
    pub dict_ma_keys: u64,
    pub dict_ma_values: u64,
    pub dk_log2_size: Option<u64>,
    pub dk_log2_index_bytes: Option<u64>,
    pub dk_kind: Option<u64>,
    pub dk_nentries: Option<u64>,
    pub dk_indices: Option<u64>,
    pub dict_entry_size: Option<u64>,
    pub dict_unicode_entry_size: Option<u64>,
    pub dict_keys_general: Option<u64>,
    pub dbg_size: Option<u64>,
    pub dbg_version: Option<u64>,
    pub dbg_free_threaded: Option<u64>,
    pub dbg_runtime_interpreters_head: Option<u64>,
    pub dbg_interp_threads_head: Option<u64>,
    pub dbg_ts_size: Option<u64>,
    pub dbg_ts_next: Option<u64>,
    pub dbg_ts_interp: Option<u64>,
    pub dbg_ts_current_frame: Option<u64>,
    pub dbg_ts_thread_id: Option<u64>,
    pub dbg_ts_native_thread_id: Option<u64>,
    pub dbg_ts_datastack_chunk: Option<u64>,
    pub dbg_iframe_size: Option<u64>,
    pub dbg_iframe_previous: Option<u64>,
    pub dbg_iframe_executable: Option<u64>,
    pub dbg_iframe_instr_ptr: Option<u64>,
    pub dbg_iframe_localsplus: Option<u64>,
    pub dbg_iframe_owner: Option<u64>,
    pub dbg_code_size: Option<u64>,
    pub dbg_co_filename: Option<u64>,
    pub dbg_co_name: Option<u64>,
    pub dbg_co_qualname: Option<u64>,
    pub dbg_co_linetable: Option<u64>,
    pub dbg_co_firstlineno: Option<u64>,
    pub dbg_co_argcount: Option<u64>,
    pub dbg_co_code_adaptive: Option<u64>,
    pub dbg_ob_type: Option<u64>,
    pub dbg_dict_ma_keys: Option<u64>,
    pub dbg_dict_ma_values: Option<u64>,
    pub dbg_bytes_ob_size: Option<u64>,
    pub dbg_bytes_ob_sval: Option<u64>,
    pub dbg_unicode_state: Option<u64>,
    pub dbg_unicode_length: Option<u64>,
    pub dbg_unicode_ascii_size: Option<u64>,
    pub co_argcount: Option<u64>,
}

/// How a frame records where it is in its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lasti {
    /// 3.8, 3.9: `PyFrameObject.f_lasti`, a byte offset (-1 before start).
    Bytes,
    /// 3.10: `f_lasti` counts `_Py_CODEUNIT`s (frameobject.h: "Last instruction
    /// if called"; `PyFrame_GetLineNumber` multiplies it by 2).
    Units,
    /// 3.11, 3.12: `_PyInterpreterFrame.prev_instr`, a pointer to the code unit
    /// before the next instruction (`_PyInterpreterFrame_LASTI`).
    PrevInstr,
    /// 3.13+: `_PyInterpreterFrame.instr_ptr`, the instruction executing or
    /// about to begin (`_PyInterpreterFrame_LASTI`).
    InstrPtr,
}

/// The line table's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineTable {
    /// 3.8, 3.9 `co_lnotab` (Objects/lnotab_notes.txt).
    Lnotab,
    /// 3.10 `co_linetable` (Objects/lnotab_notes.txt of 3.10).
    Linetable310,
    /// 3.11+ `co_linetable` location table (InternalDocs/code_objects.md,
    /// Objects/locations.md in 3.11).
    Locations,
}

/// Layout of the dict keys object, to find a module's `__name__`.
#[derive(Debug, Clone, Copy)]
pub enum DictKeys {
    /// Before 3.11 the keys object is private to `Objects/dict-common.h`
    /// (v3.8.0..v3.10.x, unchanged): `{ Py_ssize_t dk_refcnt; Py_ssize_t
    /// dk_size; dict_lookup_func dk_lookup; Py_ssize_t dk_usable; Py_ssize_t
    /// dk_nentries; char dk_indices[]; }`, entries `PyDictKeyEntry { Py_hash_t
    /// me_hash; PyObject *me_key; PyObject *me_value; }` after `dk_size`
    /// indices of 1/2/4/8 bytes (size <= 0xff / 0xffff / 0xffffffff / more).
    Pre311,
    /// 3.11+: `struct _dictkeysobject` of `internal/pycore_dict.h` (table).
    Log2 {
        log2_size: u64,
        log2_index_bytes: u64,
        kind: u64,
        nentries: u64,
        indices: u64,
        entry_size: u64,
        unicode_entry_size: u64,
        general: u64,
    },
}

/// Offsets of `Objects/dict-common.h` (v3.8..v3.10), see [`DictKeys::Pre311`].
pub const PRE311_DK_SIZE: u64 = 8;
pub const PRE311_DK_NENTRIES: u64 = 32;
pub const PRE311_DK_INDICES: u64 = 40;
pub const PRE311_ENTRY_SIZE: u64 = 24;

/// The resolved offsets the walker uses for the attached target.
#[derive(Debug, Clone)]
pub struct Layout {
    pub minor: u32,
    /// True for 3.11+ (`_PyInterpreterFrame` in data-stack chunks).
    pub interp_frames: bool,
    pub lasti: Lasti,
    pub line_table: LineTable,
    /// Mask applied to `_PyStackRef` values (3.13+: `f_executable`,
    /// `localsplus`): `Py_TAG_BITS` is 1 (3.13, pycore_stackref.h
    /// `Py_TAG_DEFERRED`) or 3 (3.14+ `Py_TAG_BITS`); objects are at least
    /// 8-aligned, so clearing the low 3 bits is safe for all. `!0` before.
    pub ref_mask: u64,

    pub ob_type: u64,
    pub var_ob_size: u64,
    pub bytes_ob_sval: u64,
    pub unicode_length: u64,
    pub unicode_state: u64,
    pub unicode_state_size: u64,
    pub unicode_ascii_size: u64,
    pub unicode_compact_size: u64,
    pub unicode_kind_mask: u64,
    pub unicode_compact_mask: u64,
    pub unicode_ascii_mask: u64,

    /// `_PyRuntime.interpreters.head`: the newest interpreter, for aelm's
    /// own discovery when py-spy's fails.
    pub runtime_interpreters_head: u64,
    /// `_PyRuntime.interpreters.main`: the main interpreter.
    pub runtime_interpreters_main: u64,
    pub interp_threads_head: u64,
    pub ts_next: u64,
    pub ts_thread_id: u64,
    /// `PyThreadState.context_ver`: bumped by every `Context.run`, which is how
    /// asyncio (and uvloop) run each callback; tells back-to-back callbacks
    /// apart even when their frames and handles reuse memory.
    pub ts_context_ver: Option<u64>,
    /// `PyThreadState.context`: the innermost entered context, whose
    /// `PyContext.ctx_prev` (`ctx_prev`) links to the one it was entered
    /// from; `ctx_entered` tells an entered context from the thread's base.
    pub ts_context: Option<u64>,
    pub ctx_prev: u64,
    pub ctx_entered: u64,
    pub ts_native_thread_id: Option<u64>,
    /// 3.8-3.10 `frame`, 3.13+ `current_frame`; `None` on 3.11/3.12.
    pub ts_frame: Option<u64>,
    /// 3.11/3.12: `cframe`, and `_PyCFrame.current_frame`.
    pub ts_cframe: Option<(u64, u64)>,
    pub ts_datastack_chunk: Option<u64>,
    pub ts_datastack_top: Option<u64>,
    /// 3.13+: `_PyThreadStateImpl.asyncio_running_loop`, the loop running on
    /// the thread (NULL when none), which asyncio's C accelerator keeps for
    /// `asyncio.get_running_loop()`: set by the stdlib loops and by uvloop
    /// alike. Before 3.13 it lives in the thread's dict: `None`.
    pub ts_running_loop: Option<u64>,
    pub chunk_size: u64,
    /// `offsetof(_PyStackChunk, data)`: the reader walks from
    /// `datastack_top` down; the fake target of the tests lays chunks out.
    #[cfg_attr(not(test), allow(dead_code))]
    pub chunk_data: u64,

    /// Frame fields, for `PyFrameObject` (3.8-3.10) or `_PyInterpreterFrame`.
    pub f_code: u64,
    pub f_previous: u64,
    pub f_globals: u64,
    pub f_instr: u64,
    pub f_owner: Option<u64>,
    pub f_localsplus: u64,
    /// Owners whose frames are not Python code (C-stack shims / entry
    /// frames), as a bit set: bit `o` for owner `o`.
    pub skip_owners: u64,
    /// `FRAME_OWNED_BY_GENERATOR` (3.11+): the owner of a frame that runs
    /// outside the data stack, in its generator or coroutine object.
    pub gen_owner: Option<u64>,

    pub co_flags: u64,
    pub co_firstlineno: u64,
    pub co_name: u64,
    pub co_qualname: Option<u64>,
    pub co_filename: u64,
    pub co_linetable: u64,
    pub co_code_adaptive: Option<u64>,
    /// 3.12+: `co_version`, a number CPython gives each code object as it
    /// is made: two code objects built one after the other at the same
    /// address differ in it even when everything else is alike.
    pub co_version: Option<u64>,

    pub dict_ma_keys: u64,
    pub dict_ma_values: u64,
    pub dict_keys: DictKeys,

    /// Where the offsets came from, for diagnostics.
    pub notes: Vec<String>,
}

impl Layout {
    /// Whether frames of this owner are not Python code (see `skip_owners`).
    pub fn skips_owner(&self, owner: u64) -> bool {
        u32::try_from(owner)
            .ok()
            .and_then(|o| 1u64.checked_shl(o))
            .is_some_and(|b| self.skip_owners & b != 0)
    }

    /// Bytes of a frame the walker reads: up to and including `localsplus[0]`.
    pub fn frame_len(&self) -> usize {
        let mut end = self.f_localsplus + 8;
        for o in [self.f_code, self.f_previous, self.f_globals, self.f_instr] {
            end = end.max(o + 8);
        }
        if let Some(o) = self.f_owner {
            end = end.max(o + 1);
        }
        end as usize
    }

    /// The `[lo, hi)` range of the thread state the sampler reads each time
    /// (the running loop's word, past the public `PyThreadState`, is read
    /// with it only where that adds no page: see `walk.rs`).
    pub fn ts_range(&self) -> (u64, u64) {
        // Called every sample: no allocation.
        let fields = [
            Some(self.ts_thread_id),
            self.ts_native_thread_id,
            self.ts_frame,
            self.ts_cframe.map(|c| c.0),
            self.ts_datastack_chunk,
            self.ts_datastack_top,
            self.ts_context_ver,
            self.ts_context,
        ];
        let (lo, hi) = fields
            .into_iter()
            .flatten()
            .fold((u64::MAX, 0), |(lo, hi), o| (lo.min(o), hi.max(o)));
        (lo, hi + 8)
    }

    /// Bytes of a code object the reader needs.
    pub fn code_len(&self) -> usize {
        let mut end = self.var_ob_size + 8;
        for o in [
            self.co_flags,
            self.co_firstlineno,
            self.co_name,
            self.co_filename,
            self.co_linetable,
        ] {
            end = end.max(o + 8);
        }
        end = end.max(self.co_qualname.map_or(0, |o| o + 8));
        end = end.max(self.co_code_adaptive.unwrap_or(0));
        end = end.max(self.co_version.map_or(0, |o| o + 4));
        end as usize
    }
}

/// The header table entry for a minor version.
pub fn table_for(minor: u32) -> Option<(&'static str, &'static HeaderOffsets)> {
    TABLE
        .iter()
        .find(|(m, _, _)| *m == minor)
        .map(|(_, src, h)| (*src, h))
}

fn need(v: Option<u64>, what: &str) -> Result<u64> {
    v.with_context(|| format!("offset table lacks {what}"))
}

/// Resolve the layout for `3.minor` from the header table alone.
pub fn from_table(minor: u32) -> Result<Layout> {
    let (src, h) = table_for(minor).with_context(|| format!("no offsets for Python 3.{minor}"))?;
    let interp = minor >= 11;
    let lasti = match minor {
        8 | 9 => Lasti::Bytes,
        10 => Lasti::Units,
        11 | 12 => Lasti::PrevInstr,
        _ => Lasti::InstrPtr,
    };
    let line_table = match minor {
        8 | 9 => LineTable::Lnotab,
        10 => LineTable::Linetable310,
        _ => LineTable::Locations,
    };
    let (f_code, f_previous, f_globals, f_instr, f_owner, f_localsplus) = if interp {
        (
            need(h.iframe_code, "iframe_code")?,
            need(h.iframe_previous, "iframe_previous")?,
            need(h.iframe_globals, "iframe_globals")?,
            need(h.iframe_instr, "iframe_instr")?,
            Some(need(h.iframe_owner, "iframe_owner")?),
            need(h.iframe_localsplus, "iframe_localsplus")?,
        )
    } else {
        (
            need(h.frame_code, "frame_code")?,
            need(h.frame_back, "frame_back")?,
            need(h.frame_globals, "frame_globals")?,
            need(h.frame_lasti, "frame_lasti")?,
            None,
            need(h.frame_localsplus, "frame_localsplus")?,
        )
    };
    let mut skip_owners = 0u64;
    for o in [h.owned_by_cstack, h.owned_by_interpreter]
        .into_iter()
        .flatten()
    {
        skip_owners |= 1u64.checked_shl(o as u32).unwrap_or(0);
    }
    let ts_frame = if interp {
        h.ts_current_frame
    } else {
        h.ts_frame
    };
    let ts_cframe = match (h.ts_cframe, h.cframe_current_frame) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => None,
    };
    if ts_frame.is_none() && ts_cframe.is_none() {
        bail!("offset table has no current-frame field for 3.{minor}");
    }
    let dict_keys = if minor >= 11 {
        DictKeys::Log2 {
            log2_size: need(h.dk_log2_size, "dk_log2_size")?,
            log2_index_bytes: need(h.dk_log2_index_bytes, "dk_log2_index_bytes")?,
            kind: need(h.dk_kind, "dk_kind")?,
            nentries: need(h.dk_nentries, "dk_nentries")?,
            indices: need(h.dk_indices, "dk_indices")?,
            entry_size: need(h.dict_entry_size, "dict_entry_size")?,
            unicode_entry_size: need(h.dict_unicode_entry_size, "dict_unicode_entry_size")?,
            general: need(h.dict_keys_general, "dict_keys_general")?,
        }
    } else {
        DictKeys::Pre311
    };
    Ok(Layout {
        minor,
        interp_frames: interp,
        lasti,
        line_table,
        ref_mask: if minor >= 13 { !7 } else { !0 },
        ob_type: h.ob_type,
        var_ob_size: h.var_ob_size,
        bytes_ob_sval: h.bytes_ob_sval,
        unicode_length: h.unicode_length,
        unicode_state: h.unicode_state,
        unicode_state_size: h.unicode_state_size,
        unicode_ascii_size: h.unicode_ascii_size,
        unicode_compact_size: h.unicode_compact_size,
        unicode_kind_mask: h.unicode_kind_mask,
        unicode_compact_mask: h.unicode_compact_mask,
        unicode_ascii_mask: h.unicode_ascii_mask,
        interp_threads_head: h.interp_threads_head,
        runtime_interpreters_head: h.runtime_interpreters_head,
        runtime_interpreters_main: h.runtime_interpreters_main,
        ts_next: h.ts_next,
        ts_thread_id: h.ts_thread_id,
        // From the headers on every version: _Py_DebugOffsets does not carry it.
        ts_context_ver: Some(h.ts_context_ver),
        ts_context: Some(h.ts_context),
        ctx_prev: h.context_prev,
        ctx_entered: h.context_entered,
        ts_native_thread_id: h.ts_native_thread_id,
        ts_frame,
        ts_cframe,
        ts_datastack_chunk: h.ts_datastack_chunk,
        ts_datastack_top: h.ts_datastack_top,
        ts_running_loop: h.tsi_asyncio_running_loop,
        chunk_data: h.chunk_data.unwrap_or(24),
        chunk_size: h.chunk_size.unwrap_or(8),
        f_code,
        f_previous,
        f_globals,
        f_instr,
        f_owner,
        f_localsplus,
        skip_owners,
        gen_owner: h.owned_by_generator,
        co_flags: h.co_flags,
        co_firstlineno: h.co_firstlineno,
        co_name: h.co_name,
        co_qualname: h.co_qualname,
        co_filename: h.co_filename,
        co_linetable: h.co_linetable,
        co_code_adaptive: h.co_code_adaptive,
        co_version: h.co_version,
        dict_ma_keys: h.dict_ma_keys,
        dict_ma_values: h.dict_ma_values,
        dict_keys,
        notes: vec![format!("offsets: header table from {src}")],
    })
}

/// Cookie at the start of `_Py_DebugOffsets` (`_Py_Debug_Cookie`).
pub const DEBUG_COOKIE: &[u8; 8] = b"xdebugpy";
/// Upper bound on any offset read from `_Py_DebugOffsets`: the structures
/// are a few KiB at most (PyInterpreterState is the largest, ~100 KiB in
/// 3.13+ because of embedded caches); anything beyond is garbage.
const MAX_DEBUG_OFFSET: u64 = 1 << 20;

/// For 3.13+: read `_Py_DebugOffsets` at `runtime` (`_PyRuntime.debug_offsets`
/// is the first member of `_PyRuntimeState`) and override the table with it.
/// Fields `_Py_DebugOffsets` lacks are kept from the table, rebased on a
/// neighbour it has (so a build whose layout moved both still gets them
/// right); each such field is listed in `notes`.
pub fn apply_debug_offsets<M: Memory + ?Sized>(
    layout: &mut Layout,
    mem: &M,
    runtime: u64,
) -> Result<()> {
    let (_, h) = table_for(layout.minor).context("no table entry")?;
    let size = need(h.dbg_size, "dbg_size")? as usize;
    let mut buf = vec![0u8; size];
    mem.read(runtime, &mut buf)
        .map_err(|e| anyhow::anyhow!("reading _Py_DebugOffsets at {runtime:#x}: {e}"))?;
    if &buf[..8] != DEBUG_COOKIE {
        bail!("no _Py_DebugOffsets cookie at _PyRuntime ({runtime:#x})");
    }
    let get = |field: Option<u64>, what: &str| -> Result<u64> {
        let off = need(field, what)? as usize;
        let v =
            rd_u64(&buf, off).with_context(|| format!("_Py_DebugOffsets.{what} out of range"))?;
        if v > MAX_DEBUG_OFFSET {
            bail!("_Py_DebugOffsets.{what} = {v:#x} is implausible");
        }
        Ok(v)
    };
    let version = rd_u64(&buf, need(h.dbg_version, "version")? as usize).unwrap_or(0);
    if (version >> 16) & 0xffff != (0x0300 | layout.minor as u64) {
        bail!(
            "_Py_DebugOffsets.version {version:#x} does not match Python 3.{}",
            layout.minor
        );
    }
    let free_threaded = rd_i64(&buf, need(h.dbg_free_threaded, "free_threaded")? as usize);
    if free_threaded != Some(0) {
        bail!("free-threaded CPython builds are not supported by the direct reader");
    }
    let tbl = |v: Option<u64>, what: &str| need(v, what);
    // Rebase a table-only field on a neighbour the debug offsets have.
    // A garbage anchor must not give a negative or huge offset.
    let rebase = |field: u64, anchor_tbl: u64, anchor_dbg: u64| -> Result<u64> {
        let v = field as i64 - anchor_tbl as i64 + anchor_dbg as i64;
        if !(0..=MAX_DEBUG_OFFSET as i64).contains(&v) {
            bail!("_Py_DebugOffsets give an implausible rebased offset {v}");
        }
        Ok(v as u64)
    };

    layout.interp_threads_head = get(h.dbg_interp_threads_head, "interpreter_state.threads_head")?;
    layout.runtime_interpreters_head = get(
        h.dbg_runtime_interpreters_head,
        "runtime_state.interpreters_head",
    )?;
    // Not published: right after `head` in `struct pyinterpreters`.
    layout.runtime_interpreters_main = rebase(
        h.runtime_interpreters_main,
        h.runtime_interpreters_head,
        layout.runtime_interpreters_head,
    )?;
    layout.ts_next = get(h.dbg_ts_next, "thread_state.next")?;
    let cur = get(h.dbg_ts_current_frame, "thread_state.current_frame")?;
    layout.ts_frame = Some(cur);
    layout.ts_cframe = None;
    layout.ts_thread_id = get(h.dbg_ts_thread_id, "thread_state.thread_id")?;
    layout.ts_native_thread_id = Some(get(
        h.dbg_ts_native_thread_id,
        "thread_state.native_thread_id",
    )?);
    let chunk = get(h.dbg_ts_datastack_chunk, "thread_state.datastack_chunk")?;
    layout.ts_datastack_chunk = Some(chunk);
    let t_chunk = tbl(h.ts_datastack_chunk, "ts_datastack_chunk")?;
    layout.ts_datastack_top = Some(rebase(
        tbl(h.ts_datastack_top, "ts_datastack_top")?,
        t_chunk,
        chunk,
    )?);

    // Not published: `_PyThreadStateImpl` begins with the `PyThreadState`
    // whose size the debug offsets give; kept from the table, rebased on it.
    let ts_size = get(h.dbg_ts_size, "thread_state.size")?;
    layout.ts_running_loop = match h.tsi_asyncio_running_loop {
        Some(v) => Some(rebase(v, h.ts_size, ts_size)?),
        None => None,
    };

    let prev = get(h.dbg_iframe_previous, "interpreter_frame.previous")?;
    layout.f_previous = prev;
    layout.f_code = get(h.dbg_iframe_executable, "interpreter_frame.executable")?;
    layout.f_instr = get(h.dbg_iframe_instr_ptr, "interpreter_frame.instr_ptr")?;
    layout.f_localsplus = get(h.dbg_iframe_localsplus, "interpreter_frame.localsplus")?;
    layout.f_owner = Some(get(h.dbg_iframe_owner, "interpreter_frame.owner")?);
    layout.f_globals = rebase(
        tbl(h.iframe_globals, "iframe_globals")?,
        tbl(h.iframe_previous, "iframe_previous")?,
        prev,
    )?;

    layout.co_filename = get(h.dbg_co_filename, "code_object.filename")?;
    // Not published: kept from the table, next to co_filename there.
    layout.co_version = match h.co_version {
        Some(v) => Some(rebase(v, h.co_filename, layout.co_filename)?),
        None => None,
    };
    layout.co_name = get(h.dbg_co_name, "code_object.name")?;
    layout.co_qualname = Some(get(h.dbg_co_qualname, "code_object.qualname")?);
    layout.co_linetable = get(h.dbg_co_linetable, "code_object.linetable")?;
    layout.co_firstlineno = get(h.dbg_co_firstlineno, "code_object.firstlineno")?;
    layout.co_code_adaptive = Some(get(h.dbg_co_code_adaptive, "code_object.co_code_adaptive")?);
    let argc = get(h.dbg_co_argcount, "code_object.argcount")?;
    layout.co_flags = rebase(h.co_flags, tbl(h.co_argcount, "co_argcount")?, argc)?;

    layout.ob_type = get(h.dbg_ob_type, "pyobject.ob_type")?;
    layout.dict_ma_keys = get(h.dbg_dict_ma_keys, "dict_object.ma_keys")?;
    layout.dict_ma_values = get(h.dbg_dict_ma_values, "dict_object.ma_values")?;
    let sval = get(h.dbg_bytes_ob_sval, "bytes_object.ob_sval")?;
    layout.bytes_ob_sval = sval;
    layout.var_ob_size = get(h.dbg_bytes_ob_size, "bytes_object.ob_size")?;
    let state = get(h.dbg_unicode_state, "unicode_object.state")?;
    layout.unicode_state = state;
    layout.unicode_length = get(h.dbg_unicode_length, "unicode_object.length")?;
    let ascii = get(h.dbg_unicode_ascii_size, "unicode_object.asciiobject_size")?;
    layout.unicode_compact_size = rebase(h.unicode_compact_size, h.unicode_ascii_size, ascii)?;
    layout.unicode_ascii_size = ascii;

    layout.notes.push(format!(
        "offsets: _Py_DebugOffsets read from _PyRuntime at {runtime:#x} (version {version:#x}); \
         from the header table (rebased): interpreters.main (on interpreters.head), \
         datastack_top (on datastack_chunk), \
         asyncio_running_loop (on thread_state.size), \
         f_globals (on previous), co_flags (on argcount), PyCompactUnicodeObject size \
         (on asciiobject_size); from the table as is: _PyStackChunk, frame owners, \
         dict keys, str state bits"
    ));
    let differs = [
        (h.ts_datastack_chunk, chunk),
        (h.iframe_previous, prev),
        (h.iframe_localsplus, layout.f_localsplus),
        (h.co_argcount, argc),
        (Some(h.ts_size), ts_size),
    ]
    .iter()
    .any(|(t, d)| *t != Some(*d));
    if differs {
        layout.notes.push(
            "offsets: the target's _Py_DebugOffsets differ from the header table: \
             its build is not the one the table was generated from"
                .to_string(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_resolves() {
        for minor in 8..=15 {
            let l = from_table(minor).unwrap();
            assert_eq!(l.interp_frames, minor >= 11);
            assert!(l.frame_len() < 512);
            let (lo, hi) = l.ts_range();
            assert!(hi > lo && hi - lo < 512, "3.{minor} ts range {lo}..{hi}");
            assert_eq!(l.ts_running_loop.is_some(), minor >= 13);
        }
    }

    #[test]
    fn table_versions_match() {
        for (minor, _, h) in TABLE {
            assert_eq!((h.version_hex >> 16) & 0xff, u64::from(*minor));
        }
    }
}
