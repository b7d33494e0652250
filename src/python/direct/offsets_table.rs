//! Offsets of CPython's structures per minor version, generated from each
//! version's own headers by scripts/gen-offsets/gen-offsets.sh (offsetof and
//! sizeof in scripts/gen-offsets/offsets.c). Do not edit: rerun the script.
//! Each value's comment is its provenance: the C expression and the header.

use super::offsets::HeaderOffsets;

/// (minor version, headers the entry was generated from, offsets).
pub const TABLE: &[(u32, &str, HeaderOffsets)] = &[
    (
        8,
        "CPython 3.8.18 headers: ~/.pyenv/versions/3.8.18/include/python3.8",
        HeaderOffsets {
            version_hex: 0x030812f0,             // PY_VERSION_HEX  [patchlevel.h]
            ob_type: 8,                          // offsetof(PyObject, ob_type)  [object.h]
            var_ob_size: 16,                     // offsetof(PyVarObject, ob_size)  [object.h]
            bytes_ob_sval: 32, // offsetof(PyBytesObject, ob_sval)  [cpython/bytesobject.h]
            unicode_length: 16, // offsetof(PyASCIIObject, length)  [cpython/unicodeobject.h]
            unicode_state: 32, // offsetof(PyASCIIObject, state)  [cpython/unicodeobject.h]
            unicode_state_size: 4, // sizeof(((PyASCIIObject *)0)->state)  [cpython/unicodeobject.h]
            unicode_ascii_size: 48, // sizeof(PyASCIIObject)  [cpython/unicodeobject.h]
            unicode_compact_size: 72, // sizeof(PyCompactUnicodeObject)  [cpython/unicodeobject.h]
            unicode_kind_mask: 28, // PyASCIIObject.state.kind bits (set to all ones in a zeroed object)  [unicodeobject.h]
            unicode_compact_mask: 32, // PyASCIIObject.state.compact bits (set to all ones in a zeroed object)  [unicodeobject.h]
            unicode_ascii_mask: 64, // PyASCIIObject.state.ascii bits (set to all ones in a zeroed object)  [unicodeobject.h]
            interp_threads_head: 8, // offsetof(PyInterpreterState, tstate_head)  [internal/pycore_pystate.h]
            runtime_interpreters_head: 32, // offsetof(_PyRuntimeState, interpreters.head)  [internal/pycore_pystate.h]
            runtime_interpreters_main: 40, // offsetof(_PyRuntimeState, interpreters.main)  [internal/pycore_pystate.h]
            ts_size: 264,                  // sizeof(PyThreadState)  [cpython/pystate.h]
            ts_next: 8,                    // offsetof(PyThreadState, next)  [cpython/pystate.h]
            ts_interp: 16,                 // offsetof(PyThreadState, interp)  [cpython/pystate.h]
            ts_thread_id: 176, // offsetof(PyThreadState, thread_id)  [cpython/pystate.h]
            ts_context_ver: 248, // offsetof(PyThreadState, context_ver)  [cpython/pystate.h]
            ts_context: 240,   // offsetof(PyThreadState, context)  [cpython/pystate.h]
            context_prev: 16,  // offsetof(PyContext, ctx_prev)  [internal/pycore_context.h]
            context_entered: 40, // offsetof(PyContext, ctx_entered)  [internal/pycore_context.h]
            ts_frame: Some(24), // offsetof(PyThreadState, frame)  [cpython/pystate.h]
            ts_native_thread_id: None, // absent before 3.11
            ts_cframe: None,   // absent before 3.11
            cframe_current_frame: None, // absent before 3.11
            ts_current_frame: None, // absent before 3.13
            ts_datastack_chunk: None, // absent before 3.11
            ts_datastack_top: None, // absent before 3.11
            tsi_asyncio_running_loop: None, // before 3.13 the running loop is an entry of the thread's dict
            chunk_previous: None,           // absent before 3.11
            chunk_size: None,               // absent before 3.11
            chunk_data: None,               // absent before 3.11
            frame_back: Some(24),           // offsetof(PyFrameObject, f_back)  [frameobject.h]
            frame_code: Some(32),           // offsetof(PyFrameObject, f_code)  [frameobject.h]
            frame_globals: Some(48),        // offsetof(PyFrameObject, f_globals)  [frameobject.h]
            frame_lasti: Some(104),         // offsetof(PyFrameObject, f_lasti)  [frameobject.h]
            frame_localsplus: Some(360), // offsetof(PyFrameObject, f_localsplus)  [frameobject.h]
            iframe_size: None,           // no _PyInterpreterFrame before 3.11
            iframe_code: None,           // no _PyInterpreterFrame before 3.11
            iframe_previous: None,       // no _PyInterpreterFrame before 3.11
            iframe_globals: None,        // no _PyInterpreterFrame before 3.11
            iframe_instr: None,          // no _PyInterpreterFrame before 3.11
            iframe_owner: None,          // no _PyInterpreterFrame before 3.11
            iframe_localsplus: None,     // no _PyInterpreterFrame before 3.11
            owned_by_generator: None,    // no frame owners before 3.11
            owned_by_cstack: None,       // FRAME_OWNED_BY_CSTACK exists in 3.12-3.14 only
            owned_by_interpreter: None,  // FRAME_OWNED_BY_INTERPRETER from 3.14
            code_size: 176,              // sizeof(PyCodeObject)  [cpython/code.h]
            co_flags: 36,                // offsetof(PyCodeObject, co_flags)  [cpython/code.h]
            co_firstlineno: 40,          // offsetof(PyCodeObject, co_firstlineno)  [cpython/code.h]
            co_name: 112,                // offsetof(PyCodeObject, co_name)  [cpython/code.h]
            co_filename: 104,            // offsetof(PyCodeObject, co_filename)  [cpython/code.h]
            co_qualname: None,           // co_qualname from 3.11
            co_code_adaptive: None,      // co_code_adaptive from 3.11
            co_version: None,            // co_version from 3.12
            co_linetable: 120, // offsetof(PyCodeObject, co_lnotab)  [cpython/code.h (co_lnotab)]
            dict_ma_keys: 32,  // offsetof(PyDictObject, ma_keys)  [cpython/dictobject.h]
            dict_ma_values: 40, // offsetof(PyDictObject, ma_values)  [cpython/dictobject.h]
            dk_log2_size: None, // see dict_keys_pre311()
            dk_log2_index_bytes: None, // see dict_keys_pre311()
            dk_kind: None,     // see dict_keys_pre311()
            dk_nentries: None, // see dict_keys_pre311()
            dk_indices: None,  // see dict_keys_pre311()
            dict_entry_size: None, // see dict_keys_pre311()
            dict_unicode_entry_size: None, // see dict_keys_pre311()
            dict_keys_general: None, // see dict_keys_pre311()
            dbg_size: None,    // _Py_DebugOffsets from 3.13
            dbg_version: None, // _Py_DebugOffsets from 3.13
            dbg_free_threaded: None, // _Py_DebugOffsets from 3.13
            dbg_runtime_interpreters_head: None, // _Py_DebugOffsets from 3.13
            dbg_interp_threads_head: None, // _Py_DebugOffsets from 3.13
            dbg_ts_size: None, // _Py_DebugOffsets from 3.13
            dbg_ts_next: None, // _Py_DebugOffsets from 3.13
            dbg_ts_interp: None, // _Py_DebugOffsets from 3.13
            dbg_ts_current_frame: None, // _Py_DebugOffsets from 3.13
            dbg_ts_thread_id: None, // _Py_DebugOffsets from 3.13
            dbg_ts_native_thread_id: None, // _Py_DebugOffsets from 3.13
            dbg_ts_datastack_chunk: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_size: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_previous: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_executable: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_instr_ptr: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_localsplus: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_owner: None, // _Py_DebugOffsets from 3.13
            dbg_code_size: None, // _Py_DebugOffsets from 3.13
            dbg_co_filename: None, // _Py_DebugOffsets from 3.13
            dbg_co_name: None, // _Py_DebugOffsets from 3.13
            dbg_co_qualname: None, // _Py_DebugOffsets from 3.13
            dbg_co_linetable: None, // _Py_DebugOffsets from 3.13
            dbg_co_firstlineno: None, // _Py_DebugOffsets from 3.13
            dbg_co_argcount: None, // _Py_DebugOffsets from 3.13
            dbg_co_code_adaptive: None, // _Py_DebugOffsets from 3.13
            dbg_ob_type: None, // _Py_DebugOffsets from 3.13
            dbg_dict_ma_keys: None, // _Py_DebugOffsets from 3.13
            dbg_dict_ma_values: None, // _Py_DebugOffsets from 3.13
            dbg_bytes_ob_size: None, // _Py_DebugOffsets from 3.13
            dbg_bytes_ob_sval: None, // _Py_DebugOffsets from 3.13
            dbg_unicode_state: None, // _Py_DebugOffsets from 3.13
            dbg_unicode_length: None, // _Py_DebugOffsets from 3.13
            dbg_unicode_ascii_size: None, // _Py_DebugOffsets from 3.13
            co_argcount: None, // only needed to rebase co_flags on _Py_DebugOffsets (3.13+)
        },
    ),
    (
        9,
        "CPython 3.9.18 headers: ~/.pyenv/versions/3.9.18/include/python3.9",
        HeaderOffsets {
            version_hex: 0x030912f0,             // PY_VERSION_HEX  [patchlevel.h]
            ob_type: 8,                          // offsetof(PyObject, ob_type)  [object.h]
            var_ob_size: 16,                     // offsetof(PyVarObject, ob_size)  [object.h]
            bytes_ob_sval: 32, // offsetof(PyBytesObject, ob_sval)  [cpython/bytesobject.h]
            unicode_length: 16, // offsetof(PyASCIIObject, length)  [cpython/unicodeobject.h]
            unicode_state: 32, // offsetof(PyASCIIObject, state)  [cpython/unicodeobject.h]
            unicode_state_size: 4, // sizeof(((PyASCIIObject *)0)->state)  [cpython/unicodeobject.h]
            unicode_ascii_size: 48, // sizeof(PyASCIIObject)  [cpython/unicodeobject.h]
            unicode_compact_size: 72, // sizeof(PyCompactUnicodeObject)  [cpython/unicodeobject.h]
            unicode_kind_mask: 28, // PyASCIIObject.state.kind bits (set to all ones in a zeroed object)  [unicodeobject.h]
            unicode_compact_mask: 32, // PyASCIIObject.state.compact bits (set to all ones in a zeroed object)  [unicodeobject.h]
            unicode_ascii_mask: 64, // PyASCIIObject.state.ascii bits (set to all ones in a zeroed object)  [unicodeobject.h]
            interp_threads_head: 8, // offsetof(PyInterpreterState, tstate_head)  [internal/pycore_interp.h]
            runtime_interpreters_head: 32, // offsetof(_PyRuntimeState, interpreters.head)  [internal/pycore_runtime.h]
            runtime_interpreters_main: 40, // offsetof(_PyRuntimeState, interpreters.main)  [internal/pycore_runtime.h]
            ts_size: 264,                  // sizeof(PyThreadState)  [cpython/pystate.h]
            ts_next: 8,                    // offsetof(PyThreadState, next)  [cpython/pystate.h]
            ts_interp: 16,                 // offsetof(PyThreadState, interp)  [cpython/pystate.h]
            ts_thread_id: 176, // offsetof(PyThreadState, thread_id)  [cpython/pystate.h]
            ts_context_ver: 248, // offsetof(PyThreadState, context_ver)  [cpython/pystate.h]
            ts_context: 240,   // offsetof(PyThreadState, context)  [cpython/pystate.h]
            context_prev: 16,  // offsetof(PyContext, ctx_prev)  [internal/pycore_context.h]
            context_entered: 40, // offsetof(PyContext, ctx_entered)  [internal/pycore_context.h]
            ts_frame: Some(24), // offsetof(PyThreadState, frame)  [cpython/pystate.h]
            ts_native_thread_id: None, // absent before 3.11
            ts_cframe: None,   // absent before 3.11
            cframe_current_frame: None, // absent before 3.11
            ts_current_frame: None, // absent before 3.13
            ts_datastack_chunk: None, // absent before 3.11
            ts_datastack_top: None, // absent before 3.11
            tsi_asyncio_running_loop: None, // before 3.13 the running loop is an entry of the thread's dict
            chunk_previous: None,           // absent before 3.11
            chunk_size: None,               // absent before 3.11
            chunk_data: None,               // absent before 3.11
            frame_back: Some(24),           // offsetof(PyFrameObject, f_back)  [frameobject.h]
            frame_code: Some(32),           // offsetof(PyFrameObject, f_code)  [frameobject.h]
            frame_globals: Some(48),        // offsetof(PyFrameObject, f_globals)  [frameobject.h]
            frame_lasti: Some(104),         // offsetof(PyFrameObject, f_lasti)  [frameobject.h]
            frame_localsplus: Some(360), // offsetof(PyFrameObject, f_localsplus)  [frameobject.h]
            iframe_size: None,           // no _PyInterpreterFrame before 3.11
            iframe_code: None,           // no _PyInterpreterFrame before 3.11
            iframe_previous: None,       // no _PyInterpreterFrame before 3.11
            iframe_globals: None,        // no _PyInterpreterFrame before 3.11
            iframe_instr: None,          // no _PyInterpreterFrame before 3.11
            iframe_owner: None,          // no _PyInterpreterFrame before 3.11
            iframe_localsplus: None,     // no _PyInterpreterFrame before 3.11
            owned_by_generator: None,    // no frame owners before 3.11
            owned_by_cstack: None,       // FRAME_OWNED_BY_CSTACK exists in 3.12-3.14 only
            owned_by_interpreter: None,  // FRAME_OWNED_BY_INTERPRETER from 3.14
            code_size: 176,              // sizeof(PyCodeObject)  [cpython/code.h]
            co_flags: 36,                // offsetof(PyCodeObject, co_flags)  [cpython/code.h]
            co_firstlineno: 40,          // offsetof(PyCodeObject, co_firstlineno)  [cpython/code.h]
            co_name: 112,                // offsetof(PyCodeObject, co_name)  [cpython/code.h]
            co_filename: 104,            // offsetof(PyCodeObject, co_filename)  [cpython/code.h]
            co_qualname: None,           // co_qualname from 3.11
            co_code_adaptive: None,      // co_code_adaptive from 3.11
            co_version: None,            // co_version from 3.12
            co_linetable: 120, // offsetof(PyCodeObject, co_lnotab)  [cpython/code.h (co_lnotab)]
            dict_ma_keys: 32,  // offsetof(PyDictObject, ma_keys)  [cpython/dictobject.h]
            dict_ma_values: 40, // offsetof(PyDictObject, ma_values)  [cpython/dictobject.h]
            dk_log2_size: None, // see dict_keys_pre311()
            dk_log2_index_bytes: None, // see dict_keys_pre311()
            dk_kind: None,     // see dict_keys_pre311()
            dk_nentries: None, // see dict_keys_pre311()
            dk_indices: None,  // see dict_keys_pre311()
            dict_entry_size: None, // see dict_keys_pre311()
            dict_unicode_entry_size: None, // see dict_keys_pre311()
            dict_keys_general: None, // see dict_keys_pre311()
            dbg_size: None,    // _Py_DebugOffsets from 3.13
            dbg_version: None, // _Py_DebugOffsets from 3.13
            dbg_free_threaded: None, // _Py_DebugOffsets from 3.13
            dbg_runtime_interpreters_head: None, // _Py_DebugOffsets from 3.13
            dbg_interp_threads_head: None, // _Py_DebugOffsets from 3.13
            dbg_ts_size: None, // _Py_DebugOffsets from 3.13
            dbg_ts_next: None, // _Py_DebugOffsets from 3.13
            dbg_ts_interp: None, // _Py_DebugOffsets from 3.13
            dbg_ts_current_frame: None, // _Py_DebugOffsets from 3.13
            dbg_ts_thread_id: None, // _Py_DebugOffsets from 3.13
            dbg_ts_native_thread_id: None, // _Py_DebugOffsets from 3.13
            dbg_ts_datastack_chunk: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_size: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_previous: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_executable: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_instr_ptr: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_localsplus: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_owner: None, // _Py_DebugOffsets from 3.13
            dbg_code_size: None, // _Py_DebugOffsets from 3.13
            dbg_co_filename: None, // _Py_DebugOffsets from 3.13
            dbg_co_name: None, // _Py_DebugOffsets from 3.13
            dbg_co_qualname: None, // _Py_DebugOffsets from 3.13
            dbg_co_linetable: None, // _Py_DebugOffsets from 3.13
            dbg_co_firstlineno: None, // _Py_DebugOffsets from 3.13
            dbg_co_argcount: None, // _Py_DebugOffsets from 3.13
            dbg_co_code_adaptive: None, // _Py_DebugOffsets from 3.13
            dbg_ob_type: None, // _Py_DebugOffsets from 3.13
            dbg_dict_ma_keys: None, // _Py_DebugOffsets from 3.13
            dbg_dict_ma_values: None, // _Py_DebugOffsets from 3.13
            dbg_bytes_ob_size: None, // _Py_DebugOffsets from 3.13
            dbg_bytes_ob_sval: None, // _Py_DebugOffsets from 3.13
            dbg_unicode_state: None, // _Py_DebugOffsets from 3.13
            dbg_unicode_length: None, // _Py_DebugOffsets from 3.13
            dbg_unicode_ascii_size: None, // _Py_DebugOffsets from 3.13
            co_argcount: None, // only needed to rebase co_flags on _Py_DebugOffsets (3.13+)
        },
    ),
    (
        10,
        "CPython 3.10.13 headers: ~/.pyenv/versions/3.10.13/include/python3.10",
        HeaderOffsets {
            version_hex: 0x030a0df0,             // PY_VERSION_HEX  [patchlevel.h]
            ob_type: 8,                          // offsetof(PyObject, ob_type)  [object.h]
            var_ob_size: 16,                     // offsetof(PyVarObject, ob_size)  [object.h]
            bytes_ob_sval: 32, // offsetof(PyBytesObject, ob_sval)  [cpython/bytesobject.h]
            unicode_length: 16, // offsetof(PyASCIIObject, length)  [cpython/unicodeobject.h]
            unicode_state: 32, // offsetof(PyASCIIObject, state)  [cpython/unicodeobject.h]
            unicode_state_size: 4, // sizeof(((PyASCIIObject *)0)->state)  [cpython/unicodeobject.h]
            unicode_ascii_size: 48, // sizeof(PyASCIIObject)  [cpython/unicodeobject.h]
            unicode_compact_size: 72, // sizeof(PyCompactUnicodeObject)  [cpython/unicodeobject.h]
            unicode_kind_mask: 28, // PyASCIIObject.state.kind bits (set to all ones in a zeroed object)  [unicodeobject.h]
            unicode_compact_mask: 32, // PyASCIIObject.state.compact bits (set to all ones in a zeroed object)  [unicodeobject.h]
            unicode_ascii_mask: 64, // PyASCIIObject.state.ascii bits (set to all ones in a zeroed object)  [unicodeobject.h]
            interp_threads_head: 8, // offsetof(PyInterpreterState, tstate_head)  [internal/pycore_interp.h]
            runtime_interpreters_head: 32, // offsetof(_PyRuntimeState, interpreters.head)  [internal/pycore_runtime.h]
            runtime_interpreters_main: 40, // offsetof(_PyRuntimeState, interpreters.main)  [internal/pycore_runtime.h]
            ts_size: 280,                  // sizeof(PyThreadState)  [cpython/pystate.h]
            ts_next: 8,                    // offsetof(PyThreadState, next)  [cpython/pystate.h]
            ts_interp: 16,                 // offsetof(PyThreadState, interp)  [cpython/pystate.h]
            ts_thread_id: 176, // offsetof(PyThreadState, thread_id)  [cpython/pystate.h]
            ts_context_ver: 248, // offsetof(PyThreadState, context_ver)  [cpython/pystate.h]
            ts_context: 240,   // offsetof(PyThreadState, context)  [cpython/pystate.h]
            context_prev: 16,  // offsetof(PyContext, ctx_prev)  [internal/pycore_context.h]
            context_entered: 40, // offsetof(PyContext, ctx_entered)  [internal/pycore_context.h]
            ts_frame: Some(24), // offsetof(PyThreadState, frame)  [cpython/pystate.h]
            ts_native_thread_id: None, // absent before 3.11
            ts_cframe: None,   // absent before 3.11
            cframe_current_frame: None, // absent before 3.11
            ts_current_frame: None, // absent before 3.13
            ts_datastack_chunk: None, // absent before 3.11
            ts_datastack_top: None, // absent before 3.11
            tsi_asyncio_running_loop: None, // before 3.13 the running loop is an entry of the thread's dict
            chunk_previous: None,           // absent before 3.11
            chunk_size: None,               // absent before 3.11
            chunk_data: None,               // absent before 3.11
            frame_back: Some(24),           // offsetof(PyFrameObject, f_back)  [frameobject.h]
            frame_code: Some(32),           // offsetof(PyFrameObject, f_code)  [frameobject.h]
            frame_globals: Some(48),        // offsetof(PyFrameObject, f_globals)  [frameobject.h]
            frame_lasti: Some(96),          // offsetof(PyFrameObject, f_lasti)  [frameobject.h]
            frame_localsplus: Some(352), // offsetof(PyFrameObject, f_localsplus)  [frameobject.h]
            iframe_size: None,           // no _PyInterpreterFrame before 3.11
            iframe_code: None,           // no _PyInterpreterFrame before 3.11
            iframe_previous: None,       // no _PyInterpreterFrame before 3.11
            iframe_globals: None,        // no _PyInterpreterFrame before 3.11
            iframe_instr: None,          // no _PyInterpreterFrame before 3.11
            iframe_owner: None,          // no _PyInterpreterFrame before 3.11
            iframe_localsplus: None,     // no _PyInterpreterFrame before 3.11
            owned_by_generator: None,    // no frame owners before 3.11
            owned_by_cstack: None,       // FRAME_OWNED_BY_CSTACK exists in 3.12-3.14 only
            owned_by_interpreter: None,  // FRAME_OWNED_BY_INTERPRETER from 3.14
            code_size: 176,              // sizeof(PyCodeObject)  [cpython/code.h]
            co_flags: 36,                // offsetof(PyCodeObject, co_flags)  [cpython/code.h]
            co_firstlineno: 40,          // offsetof(PyCodeObject, co_firstlineno)  [cpython/code.h]
            co_name: 112,                // offsetof(PyCodeObject, co_name)  [cpython/code.h]
            co_filename: 104,            // offsetof(PyCodeObject, co_filename)  [cpython/code.h]
            co_qualname: None,           // co_qualname from 3.11
            co_code_adaptive: None,      // co_code_adaptive from 3.11
            co_version: None,            // co_version from 3.12
            co_linetable: 120,           // offsetof(PyCodeObject, co_linetable)  [cpython/code.h]
            dict_ma_keys: 32,            // offsetof(PyDictObject, ma_keys)  [cpython/dictobject.h]
            dict_ma_values: 40, // offsetof(PyDictObject, ma_values)  [cpython/dictobject.h]
            dk_log2_size: None, // see dict_keys_pre311()
            dk_log2_index_bytes: None, // see dict_keys_pre311()
            dk_kind: None,      // see dict_keys_pre311()
            dk_nentries: None,  // see dict_keys_pre311()
            dk_indices: None,   // see dict_keys_pre311()
            dict_entry_size: None, // see dict_keys_pre311()
            dict_unicode_entry_size: None, // see dict_keys_pre311()
            dict_keys_general: None, // see dict_keys_pre311()
            dbg_size: None,     // _Py_DebugOffsets from 3.13
            dbg_version: None,  // _Py_DebugOffsets from 3.13
            dbg_free_threaded: None, // _Py_DebugOffsets from 3.13
            dbg_runtime_interpreters_head: None, // _Py_DebugOffsets from 3.13
            dbg_interp_threads_head: None, // _Py_DebugOffsets from 3.13
            dbg_ts_size: None,  // _Py_DebugOffsets from 3.13
            dbg_ts_next: None,  // _Py_DebugOffsets from 3.13
            dbg_ts_interp: None, // _Py_DebugOffsets from 3.13
            dbg_ts_current_frame: None, // _Py_DebugOffsets from 3.13
            dbg_ts_thread_id: None, // _Py_DebugOffsets from 3.13
            dbg_ts_native_thread_id: None, // _Py_DebugOffsets from 3.13
            dbg_ts_datastack_chunk: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_size: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_previous: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_executable: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_instr_ptr: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_localsplus: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_owner: None, // _Py_DebugOffsets from 3.13
            dbg_code_size: None, // _Py_DebugOffsets from 3.13
            dbg_co_filename: None, // _Py_DebugOffsets from 3.13
            dbg_co_name: None,  // _Py_DebugOffsets from 3.13
            dbg_co_qualname: None, // _Py_DebugOffsets from 3.13
            dbg_co_linetable: None, // _Py_DebugOffsets from 3.13
            dbg_co_firstlineno: None, // _Py_DebugOffsets from 3.13
            dbg_co_argcount: None, // _Py_DebugOffsets from 3.13
            dbg_co_code_adaptive: None, // _Py_DebugOffsets from 3.13
            dbg_ob_type: None,  // _Py_DebugOffsets from 3.13
            dbg_dict_ma_keys: None, // _Py_DebugOffsets from 3.13
            dbg_dict_ma_values: None, // _Py_DebugOffsets from 3.13
            dbg_bytes_ob_size: None, // _Py_DebugOffsets from 3.13
            dbg_bytes_ob_sval: None, // _Py_DebugOffsets from 3.13
            dbg_unicode_state: None, // _Py_DebugOffsets from 3.13
            dbg_unicode_length: None, // _Py_DebugOffsets from 3.13
            dbg_unicode_ascii_size: None, // _Py_DebugOffsets from 3.13
            co_argcount: None,  // only needed to rebase co_flags on _Py_DebugOffsets (3.13+)
        },
    ),
    (
        11,
        "CPython 3.11.7 headers: ~/.pyenv/versions/3.11.7/include/python3.11",
        HeaderOffsets {
            version_hex: 0x030b07f0,             // PY_VERSION_HEX  [patchlevel.h]
            ob_type: 8,                          // offsetof(PyObject, ob_type)  [object.h]
            var_ob_size: 16,                     // offsetof(PyVarObject, ob_size)  [object.h]
            bytes_ob_sval: 32, // offsetof(PyBytesObject, ob_sval)  [cpython/bytesobject.h]
            unicode_length: 16, // offsetof(PyASCIIObject, length)  [cpython/unicodeobject.h]
            unicode_state: 32, // offsetof(PyASCIIObject, state)  [cpython/unicodeobject.h]
            unicode_state_size: 4, // sizeof(((PyASCIIObject *)0)->state)  [cpython/unicodeobject.h]
            unicode_ascii_size: 48, // sizeof(PyASCIIObject)  [cpython/unicodeobject.h]
            unicode_compact_size: 72, // sizeof(PyCompactUnicodeObject)  [cpython/unicodeobject.h]
            unicode_kind_mask: 28, // PyASCIIObject.state.kind bits (set to all ones in a zeroed object)  [unicodeobject.h]
            unicode_compact_mask: 32, // PyASCIIObject.state.compact bits (set to all ones in a zeroed object)  [unicodeobject.h]
            unicode_ascii_mask: 64, // PyASCIIObject.state.ascii bits (set to all ones in a zeroed object)  [unicodeobject.h]
            interp_threads_head: 16, // offsetof(PyInterpreterState, threads.head)  [internal/pycore_interp.h]
            runtime_interpreters_head: 40, // offsetof(_PyRuntimeState, interpreters.head)  [internal/pycore_runtime.h]
            runtime_interpreters_main: 48, // offsetof(_PyRuntimeState, interpreters.main)  [internal/pycore_runtime.h]
            ts_size: 360,                  // sizeof(PyThreadState)  [cpython/pystate.h]
            ts_next: 8,                    // offsetof(PyThreadState, next)  [cpython/pystate.h]
            ts_interp: 16,                 // offsetof(PyThreadState, interp)  [cpython/pystate.h]
            ts_thread_id: 152, // offsetof(PyThreadState, thread_id)  [cpython/pystate.h]
            ts_context_ver: 232, // offsetof(PyThreadState, context_ver)  [cpython/pystate.h]
            ts_context: 224,   // offsetof(PyThreadState, context)  [cpython/pystate.h]
            context_prev: 16,  // offsetof(PyContext, ctx_prev)  [internal/pycore_context.h]
            context_entered: 40, // offsetof(PyContext, ctx_entered)  [internal/pycore_context.h]
            ts_frame: None,    // replaced by _PyInterpreterFrame from 3.11
            ts_native_thread_id: Some(160), // offsetof(PyThreadState, native_thread_id)  [cpython/pystate.h]
            ts_cframe: Some(56),            // offsetof(PyThreadState, cframe)  [cpython/pystate.h]
            cframe_current_frame: Some(8), // offsetof(_PyCFrame, current_frame)  [cpython/pystate.h]
            ts_current_frame: None,        // through cframe before 3.13
            ts_datastack_chunk: Some(296), // offsetof(PyThreadState, datastack_chunk)  [cpython/pystate.h]
            ts_datastack_top: Some(304), // offsetof(PyThreadState, datastack_top)  [cpython/pystate.h]
            tsi_asyncio_running_loop: None, // before 3.13 the running loop is an entry of the thread's dict
            chunk_previous: Some(0), // offsetof(_PyStackChunk, previous)  [cpython/pystate.h]
            chunk_size: Some(8),     // offsetof(_PyStackChunk, size)  [cpython/pystate.h]
            chunk_data: Some(24),    // offsetof(_PyStackChunk, data)  [cpython/pystate.h]
            frame_back: None,        // frames are _PyInterpreterFrame from 3.11
            frame_code: None,        // frames are _PyInterpreterFrame from 3.11
            frame_globals: None,     // frames are _PyInterpreterFrame from 3.11
            frame_lasti: None,       // frames are _PyInterpreterFrame from 3.11
            frame_localsplus: None,  // frames are _PyInterpreterFrame from 3.11
            iframe_size: Some(80),   // sizeof(_PyInterpreterFrame)  [internal/pycore_frame.h]
            iframe_code: Some(32), // offsetof(_PyInterpreterFrame, f_code)  [internal/pycore_frame.h]
            iframe_previous: Some(48), // offsetof(_PyInterpreterFrame, previous)  [internal/pycore_frame.h]
            iframe_globals: Some(8), // offsetof(_PyInterpreterFrame, f_globals)  [internal/pycore_frame.h]
            iframe_instr: Some(56), // offsetof(_PyInterpreterFrame, prev_instr)  [internal/pycore_frame.h]
            iframe_owner: Some(69), // offsetof(_PyInterpreterFrame, owner)  [internal/pycore_frame.h]
            iframe_localsplus: Some(72), // offsetof(_PyInterpreterFrame, localsplus)  [internal/pycore_frame.h]
            owned_by_generator: Some(1), // FRAME_OWNED_BY_GENERATOR  [internal/pycore_frame.h enum _frameowner]
            owned_by_cstack: None,       // FRAME_OWNED_BY_CSTACK exists in 3.12-3.14 only
            owned_by_interpreter: None,  // FRAME_OWNED_BY_INTERPRETER from 3.14
            code_size: 192,              // sizeof(PyCodeObject)  [cpython/code.h]
            co_flags: 48,                // offsetof(PyCodeObject, co_flags)  [cpython/code.h]
            co_firstlineno: 72,          // offsetof(PyCodeObject, co_firstlineno)  [cpython/code.h]
            co_name: 120,                // offsetof(PyCodeObject, co_name)  [cpython/code.h]
            co_filename: 112,            // offsetof(PyCodeObject, co_filename)  [cpython/code.h]
            co_qualname: Some(128),      // offsetof(PyCodeObject, co_qualname)  [cpython/code.h]
            co_code_adaptive: Some(184), // offsetof(PyCodeObject, co_code_adaptive)  [cpython/code.h]
            co_version: None,            // co_version from 3.12
            co_linetable: 136,           // offsetof(PyCodeObject, co_linetable)  [cpython/code.h]
            dict_ma_keys: 32,            // offsetof(PyDictObject, ma_keys)  [cpython/dictobject.h]
            dict_ma_values: 40, // offsetof(PyDictObject, ma_values)  [cpython/dictobject.h]
            dk_log2_size: Some(8), // offsetof(struct _dictkeysobject, dk_log2_size)  [internal/pycore_dict.h]
            dk_log2_index_bytes: Some(9), // offsetof(struct _dictkeysobject, dk_log2_index_bytes)  [internal/pycore_dict.h]
            dk_kind: Some(10), // offsetof(struct _dictkeysobject, dk_kind)  [internal/pycore_dict.h]
            dk_nentries: Some(24), // offsetof(struct _dictkeysobject, dk_nentries)  [internal/pycore_dict.h]
            dk_indices: Some(32), // offsetof(struct _dictkeysobject, dk_indices)  [internal/pycore_dict.h]
            dict_entry_size: Some(24), // sizeof(PyDictKeyEntry)  [internal/pycore_dict.h]
            dict_unicode_entry_size: Some(16), // sizeof(PyDictUnicodeEntry)  [internal/pycore_dict.h]
            dict_keys_general: Some(0), // DICT_KEYS_GENERAL  [internal/pycore_dict.h DictKeysKind]
            dbg_size: None,             // _Py_DebugOffsets from 3.13
            dbg_version: None,          // _Py_DebugOffsets from 3.13
            dbg_free_threaded: None,    // _Py_DebugOffsets from 3.13
            dbg_runtime_interpreters_head: None, // _Py_DebugOffsets from 3.13
            dbg_interp_threads_head: None, // _Py_DebugOffsets from 3.13
            dbg_ts_size: None,          // _Py_DebugOffsets from 3.13
            dbg_ts_next: None,          // _Py_DebugOffsets from 3.13
            dbg_ts_interp: None,        // _Py_DebugOffsets from 3.13
            dbg_ts_current_frame: None, // _Py_DebugOffsets from 3.13
            dbg_ts_thread_id: None,     // _Py_DebugOffsets from 3.13
            dbg_ts_native_thread_id: None, // _Py_DebugOffsets from 3.13
            dbg_ts_datastack_chunk: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_size: None,      // _Py_DebugOffsets from 3.13
            dbg_iframe_previous: None,  // _Py_DebugOffsets from 3.13
            dbg_iframe_executable: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_instr_ptr: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_localsplus: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_owner: None,     // _Py_DebugOffsets from 3.13
            dbg_code_size: None,        // _Py_DebugOffsets from 3.13
            dbg_co_filename: None,      // _Py_DebugOffsets from 3.13
            dbg_co_name: None,          // _Py_DebugOffsets from 3.13
            dbg_co_qualname: None,      // _Py_DebugOffsets from 3.13
            dbg_co_linetable: None,     // _Py_DebugOffsets from 3.13
            dbg_co_firstlineno: None,   // _Py_DebugOffsets from 3.13
            dbg_co_argcount: None,      // _Py_DebugOffsets from 3.13
            dbg_co_code_adaptive: None, // _Py_DebugOffsets from 3.13
            dbg_ob_type: None,          // _Py_DebugOffsets from 3.13
            dbg_dict_ma_keys: None,     // _Py_DebugOffsets from 3.13
            dbg_dict_ma_values: None,   // _Py_DebugOffsets from 3.13
            dbg_bytes_ob_size: None,    // _Py_DebugOffsets from 3.13
            dbg_bytes_ob_sval: None,    // _Py_DebugOffsets from 3.13
            dbg_unicode_state: None,    // _Py_DebugOffsets from 3.13
            dbg_unicode_length: None,   // _Py_DebugOffsets from 3.13
            dbg_unicode_ascii_size: None, // _Py_DebugOffsets from 3.13
            co_argcount: None, // only needed to rebase co_flags on _Py_DebugOffsets (3.13+)
        },
    ),
    (
        12,
        "CPython 3.12.1 headers: ~/.pyenv/versions/3.12.1/include/python3.12",
        HeaderOffsets {
            version_hex: 0x030c01f0,             // PY_VERSION_HEX  [patchlevel.h]
            ob_type: 8,                          // offsetof(PyObject, ob_type)  [object.h]
            var_ob_size: 16,                     // offsetof(PyVarObject, ob_size)  [object.h]
            bytes_ob_sval: 32, // offsetof(PyBytesObject, ob_sval)  [cpython/bytesobject.h]
            unicode_length: 16, // offsetof(PyASCIIObject, length)  [cpython/unicodeobject.h]
            unicode_state: 32, // offsetof(PyASCIIObject, state)  [cpython/unicodeobject.h]
            unicode_state_size: 4, // sizeof(((PyASCIIObject *)0)->state)  [cpython/unicodeobject.h]
            unicode_ascii_size: 40, // sizeof(PyASCIIObject)  [cpython/unicodeobject.h]
            unicode_compact_size: 56, // sizeof(PyCompactUnicodeObject)  [cpython/unicodeobject.h]
            unicode_kind_mask: 28, // PyASCIIObject.state.kind bits (set to all ones in a zeroed object)  [unicodeobject.h]
            unicode_compact_mask: 32, // PyASCIIObject.state.compact bits (set to all ones in a zeroed object)  [unicodeobject.h]
            unicode_ascii_mask: 64, // PyASCIIObject.state.ascii bits (set to all ones in a zeroed object)  [unicodeobject.h]
            interp_threads_head: 72, // offsetof(PyInterpreterState, threads.head)  [internal/pycore_interp.h]
            runtime_interpreters_head: 40, // offsetof(_PyRuntimeState, interpreters.head)  [internal/pycore_runtime.h]
            runtime_interpreters_main: 48, // offsetof(_PyRuntimeState, interpreters.main)  [internal/pycore_runtime.h]
            ts_size: 288,                  // sizeof(PyThreadState)  [cpython/pystate.h]
            ts_next: 8,                    // offsetof(PyThreadState, next)  [cpython/pystate.h]
            ts_interp: 16,                 // offsetof(PyThreadState, interp)  [cpython/pystate.h]
            ts_thread_id: 136, // offsetof(PyThreadState, thread_id)  [cpython/pystate.h]
            ts_context_ver: 216, // offsetof(PyThreadState, context_ver)  [cpython/pystate.h]
            ts_context: 208,   // offsetof(PyThreadState, context)  [cpython/pystate.h]
            context_prev: 16,  // offsetof(PyContext, ctx_prev)  [internal/pycore_context.h]
            context_entered: 40, // offsetof(PyContext, ctx_entered)  [internal/pycore_context.h]
            ts_frame: None,    // replaced by _PyInterpreterFrame from 3.11
            ts_native_thread_id: Some(144), // offsetof(PyThreadState, native_thread_id)  [cpython/pystate.h]
            ts_cframe: Some(56),            // offsetof(PyThreadState, cframe)  [cpython/pystate.h]
            cframe_current_frame: Some(0), // offsetof(_PyCFrame, current_frame)  [cpython/pystate.h]
            ts_current_frame: None,        // through cframe before 3.13
            ts_datastack_chunk: Some(232), // offsetof(PyThreadState, datastack_chunk)  [cpython/pystate.h]
            ts_datastack_top: Some(240), // offsetof(PyThreadState, datastack_top)  [cpython/pystate.h]
            tsi_asyncio_running_loop: None, // before 3.13 the running loop is an entry of the thread's dict
            chunk_previous: Some(0), // offsetof(_PyStackChunk, previous)  [cpython/pystate.h]
            chunk_size: Some(8),     // offsetof(_PyStackChunk, size)  [cpython/pystate.h]
            chunk_data: Some(24),    // offsetof(_PyStackChunk, data)  [cpython/pystate.h]
            frame_back: None,        // frames are _PyInterpreterFrame from 3.11
            frame_code: None,        // frames are _PyInterpreterFrame from 3.11
            frame_globals: None,     // frames are _PyInterpreterFrame from 3.11
            frame_lasti: None,       // frames are _PyInterpreterFrame from 3.11
            frame_localsplus: None,  // frames are _PyInterpreterFrame from 3.11
            iframe_size: Some(80),   // sizeof(_PyInterpreterFrame)  [internal/pycore_frame.h]
            iframe_code: Some(0), // offsetof(_PyInterpreterFrame, f_code)  [internal/pycore_frame.h]
            iframe_previous: Some(8), // offsetof(_PyInterpreterFrame, previous)  [internal/pycore_frame.h]
            iframe_globals: Some(24), // offsetof(_PyInterpreterFrame, f_globals)  [internal/pycore_frame.h]
            iframe_instr: Some(56), // offsetof(_PyInterpreterFrame, prev_instr)  [internal/pycore_frame.h]
            iframe_owner: Some(70), // offsetof(_PyInterpreterFrame, owner)  [internal/pycore_frame.h]
            iframe_localsplus: Some(72), // offsetof(_PyInterpreterFrame, localsplus)  [internal/pycore_frame.h]
            owned_by_generator: Some(1), // FRAME_OWNED_BY_GENERATOR  [internal/pycore_frame.h enum _frameowner]
            owned_by_cstack: Some(3), // FRAME_OWNED_BY_CSTACK  [internal/pycore_frame.h enum _frameowner]
            owned_by_interpreter: None, // FRAME_OWNED_BY_INTERPRETER from 3.14
            code_size: 200,           // sizeof(PyCodeObject)  [cpython/code.h]
            co_flags: 48,             // offsetof(PyCodeObject, co_flags)  [cpython/code.h]
            co_firstlineno: 68,       // offsetof(PyCodeObject, co_firstlineno)  [cpython/code.h]
            co_name: 120,             // offsetof(PyCodeObject, co_name)  [cpython/code.h]
            co_filename: 112,         // offsetof(PyCodeObject, co_filename)  [cpython/code.h]
            co_qualname: Some(128),   // offsetof(PyCodeObject, co_qualname)  [cpython/code.h]
            co_code_adaptive: Some(192), // offsetof(PyCodeObject, co_code_adaptive)  [cpython/code.h]
            co_version: Some(92), // offsetof(PyCodeObject, co_version)  [cpython/code.h (uint32, numbered as each code object is made)]
            co_linetable: 136,    // offsetof(PyCodeObject, co_linetable)  [cpython/code.h]
            dict_ma_keys: 32,     // offsetof(PyDictObject, ma_keys)  [cpython/dictobject.h]
            dict_ma_values: 40,   // offsetof(PyDictObject, ma_values)  [cpython/dictobject.h]
            dk_log2_size: Some(8), // offsetof(struct _dictkeysobject, dk_log2_size)  [internal/pycore_dict.h]
            dk_log2_index_bytes: Some(9), // offsetof(struct _dictkeysobject, dk_log2_index_bytes)  [internal/pycore_dict.h]
            dk_kind: Some(10), // offsetof(struct _dictkeysobject, dk_kind)  [internal/pycore_dict.h]
            dk_nentries: Some(24), // offsetof(struct _dictkeysobject, dk_nentries)  [internal/pycore_dict.h]
            dk_indices: Some(32), // offsetof(struct _dictkeysobject, dk_indices)  [internal/pycore_dict.h]
            dict_entry_size: Some(24), // sizeof(PyDictKeyEntry)  [internal/pycore_dict.h]
            dict_unicode_entry_size: Some(16), // sizeof(PyDictUnicodeEntry)  [internal/pycore_dict.h]
            dict_keys_general: Some(0), // DICT_KEYS_GENERAL  [internal/pycore_dict.h DictKeysKind]
            dbg_size: None,             // _Py_DebugOffsets from 3.13
            dbg_version: None,          // _Py_DebugOffsets from 3.13
            dbg_free_threaded: None,    // _Py_DebugOffsets from 3.13
            dbg_runtime_interpreters_head: None, // _Py_DebugOffsets from 3.13
            dbg_interp_threads_head: None, // _Py_DebugOffsets from 3.13
            dbg_ts_size: None,          // _Py_DebugOffsets from 3.13
            dbg_ts_next: None,          // _Py_DebugOffsets from 3.13
            dbg_ts_interp: None,        // _Py_DebugOffsets from 3.13
            dbg_ts_current_frame: None, // _Py_DebugOffsets from 3.13
            dbg_ts_thread_id: None,     // _Py_DebugOffsets from 3.13
            dbg_ts_native_thread_id: None, // _Py_DebugOffsets from 3.13
            dbg_ts_datastack_chunk: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_size: None,      // _Py_DebugOffsets from 3.13
            dbg_iframe_previous: None,  // _Py_DebugOffsets from 3.13
            dbg_iframe_executable: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_instr_ptr: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_localsplus: None, // _Py_DebugOffsets from 3.13
            dbg_iframe_owner: None,     // _Py_DebugOffsets from 3.13
            dbg_code_size: None,        // _Py_DebugOffsets from 3.13
            dbg_co_filename: None,      // _Py_DebugOffsets from 3.13
            dbg_co_name: None,          // _Py_DebugOffsets from 3.13
            dbg_co_qualname: None,      // _Py_DebugOffsets from 3.13
            dbg_co_linetable: None,     // _Py_DebugOffsets from 3.13
            dbg_co_firstlineno: None,   // _Py_DebugOffsets from 3.13
            dbg_co_argcount: None,      // _Py_DebugOffsets from 3.13
            dbg_co_code_adaptive: None, // _Py_DebugOffsets from 3.13
            dbg_ob_type: None,          // _Py_DebugOffsets from 3.13
            dbg_dict_ma_keys: None,     // _Py_DebugOffsets from 3.13
            dbg_dict_ma_values: None,   // _Py_DebugOffsets from 3.13
            dbg_bytes_ob_size: None,    // _Py_DebugOffsets from 3.13
            dbg_bytes_ob_sval: None,    // _Py_DebugOffsets from 3.13
            dbg_unicode_state: None,    // _Py_DebugOffsets from 3.13
            dbg_unicode_length: None,   // _Py_DebugOffsets from 3.13
            dbg_unicode_ascii_size: None, // _Py_DebugOffsets from 3.13
            co_argcount: None, // only needed to rebase co_flags on _Py_DebugOffsets (3.13+)
        },
    ),
    (
        13,
        "CPython 3.13.0 headers: ~/.pyenv/versions/3.13.0/include/python3.13",
        HeaderOffsets {
            version_hex: 0x030d00f0,                 // PY_VERSION_HEX  [patchlevel.h]
            ob_type: 8,                              // offsetof(PyObject, ob_type)  [object.h]
            var_ob_size: 16,                         // offsetof(PyVarObject, ob_size)  [object.h]
            bytes_ob_sval: 32, // offsetof(PyBytesObject, ob_sval)  [cpython/bytesobject.h]
            unicode_length: 16, // offsetof(PyASCIIObject, length)  [cpython/unicodeobject.h]
            unicode_state: 32, // offsetof(PyASCIIObject, state)  [cpython/unicodeobject.h]
            unicode_state_size: 4, // sizeof(((PyASCIIObject *)0)->state)  [cpython/unicodeobject.h]
            unicode_ascii_size: 40, // sizeof(PyASCIIObject)  [cpython/unicodeobject.h]
            unicode_compact_size: 56, // sizeof(PyCompactUnicodeObject)  [cpython/unicodeobject.h]
            unicode_kind_mask: 28, // PyASCIIObject.state.kind bits (set to all ones in a zeroed object)  [unicodeobject.h]
            unicode_compact_mask: 32, // PyASCIIObject.state.compact bits (set to all ones in a zeroed object)  [unicodeobject.h]
            unicode_ascii_mask: 64, // PyASCIIObject.state.ascii bits (set to all ones in a zeroed object)  [unicodeobject.h]
            interp_threads_head: 7344, // offsetof(PyInterpreterState, threads.head)  [internal/pycore_interp.h]
            runtime_interpreters_head: 632, // offsetof(_PyRuntimeState, interpreters.head)  [internal/pycore_runtime.h]
            runtime_interpreters_main: 640, // offsetof(_PyRuntimeState, interpreters.main)  [internal/pycore_runtime.h]
            ts_size: 304,                   // sizeof(PyThreadState)  [cpython/pystate.h]
            ts_next: 8,                     // offsetof(PyThreadState, next)  [cpython/pystate.h]
            ts_interp: 16,                  // offsetof(PyThreadState, interp)  [cpython/pystate.h]
            ts_thread_id: 152, // offsetof(PyThreadState, thread_id)  [cpython/pystate.h]
            ts_context_ver: 216, // offsetof(PyThreadState, context_ver)  [cpython/pystate.h]
            ts_context: 208,   // offsetof(PyThreadState, context)  [cpython/pystate.h]
            context_prev: 16,  // offsetof(PyContext, ctx_prev)  [internal/pycore_context.h]
            context_entered: 40, // offsetof(PyContext, ctx_entered)  [internal/pycore_context.h]
            ts_frame: None,    // replaced by _PyInterpreterFrame from 3.11
            ts_native_thread_id: Some(160), // offsetof(PyThreadState, native_thread_id)  [cpython/pystate.h]
            ts_cframe: None,                // _PyCFrame removed in 3.13
            cframe_current_frame: None,     // _PyCFrame removed in 3.13
            ts_current_frame: Some(72), // offsetof(PyThreadState, current_frame)  [cpython/pystate.h]
            ts_datastack_chunk: Some(232), // offsetof(PyThreadState, datastack_chunk)  [cpython/pystate.h]
            ts_datastack_top: Some(240), // offsetof(PyThreadState, datastack_top)  [cpython/pystate.h]
            tsi_asyncio_running_loop: Some(304), // offsetof(_PyThreadStateImpl, asyncio_running_loop)  [internal/pycore_tstate.h]
            chunk_previous: Some(0), // offsetof(_PyStackChunk, previous)  [cpython/pystate.h]
            chunk_size: Some(8),     // offsetof(_PyStackChunk, size)  [cpython/pystate.h]
            chunk_data: Some(24),    // offsetof(_PyStackChunk, data)  [cpython/pystate.h]
            frame_back: None,        // frames are _PyInterpreterFrame from 3.11
            frame_code: None,        // frames are _PyInterpreterFrame from 3.11
            frame_globals: None,     // frames are _PyInterpreterFrame from 3.11
            frame_lasti: None,       // frames are _PyInterpreterFrame from 3.11
            frame_localsplus: None,  // frames are _PyInterpreterFrame from 3.11
            iframe_size: Some(80),   // sizeof(_PyInterpreterFrame)  [internal/pycore_frame.h]
            iframe_code: Some(0), // offsetof(_PyInterpreterFrame, f_executable)  [internal/pycore_frame.h]
            iframe_previous: Some(8), // offsetof(_PyInterpreterFrame, previous)  [internal/pycore_frame.h]
            iframe_globals: Some(24), // offsetof(_PyInterpreterFrame, f_globals)  [internal/pycore_frame.h]
            iframe_instr: Some(56), // offsetof(_PyInterpreterFrame, instr_ptr)  [internal/pycore_frame.h]
            iframe_owner: Some(70), // offsetof(_PyInterpreterFrame, owner)  [internal/pycore_frame.h]
            iframe_localsplus: Some(72), // offsetof(_PyInterpreterFrame, localsplus)  [internal/pycore_frame.h]
            owned_by_generator: Some(1), // FRAME_OWNED_BY_GENERATOR  [internal/pycore_frame.h enum _frameowner]
            owned_by_cstack: Some(3), // FRAME_OWNED_BY_CSTACK  [internal/pycore_frame.h enum _frameowner]
            owned_by_interpreter: None, // FRAME_OWNED_BY_INTERPRETER from 3.14
            code_size: 208,           // sizeof(PyCodeObject)  [cpython/code.h]
            co_flags: 48,             // offsetof(PyCodeObject, co_flags)  [cpython/code.h]
            co_firstlineno: 68,       // offsetof(PyCodeObject, co_firstlineno)  [cpython/code.h]
            co_name: 120,             // offsetof(PyCodeObject, co_name)  [cpython/code.h]
            co_filename: 112,         // offsetof(PyCodeObject, co_filename)  [cpython/code.h]
            co_qualname: Some(128),   // offsetof(PyCodeObject, co_qualname)  [cpython/code.h]
            co_code_adaptive: Some(200), // offsetof(PyCodeObject, co_code_adaptive)  [cpython/code.h]
            co_version: Some(92), // offsetof(PyCodeObject, co_version)  [cpython/code.h (uint32, numbered as each code object is made)]
            co_linetable: 136,    // offsetof(PyCodeObject, co_linetable)  [cpython/code.h]
            dict_ma_keys: 32,     // offsetof(PyDictObject, ma_keys)  [cpython/dictobject.h]
            dict_ma_values: 40,   // offsetof(PyDictObject, ma_values)  [cpython/dictobject.h]
            dk_log2_size: Some(8), // offsetof(struct _dictkeysobject, dk_log2_size)  [internal/pycore_dict.h]
            dk_log2_index_bytes: Some(9), // offsetof(struct _dictkeysobject, dk_log2_index_bytes)  [internal/pycore_dict.h]
            dk_kind: Some(10), // offsetof(struct _dictkeysobject, dk_kind)  [internal/pycore_dict.h]
            dk_nentries: Some(24), // offsetof(struct _dictkeysobject, dk_nentries)  [internal/pycore_dict.h]
            dk_indices: Some(32), // offsetof(struct _dictkeysobject, dk_indices)  [internal/pycore_dict.h]
            dict_entry_size: Some(24), // sizeof(PyDictKeyEntry)  [internal/pycore_dict.h]
            dict_unicode_entry_size: Some(16), // sizeof(PyDictUnicodeEntry)  [internal/pycore_dict.h]
            dict_keys_general: Some(0), // DICT_KEYS_GENERAL  [internal/pycore_dict.h DictKeysKind]
            dbg_size: Some(584),        // sizeof(_Py_DebugOffsets)  [internal/pycore_runtime.h]
            dbg_version: Some(8), // offsetof(_Py_DebugOffsets, version)  [internal/pycore_runtime.h]
            dbg_free_threaded: Some(16), // offsetof(_Py_DebugOffsets, free_threaded)  [internal/pycore_runtime.h]
            dbg_runtime_interpreters_head: Some(40), // offsetof(_Py_DebugOffsets, runtime_state.interpreters_head)  [internal/pycore_runtime.h]
            dbg_interp_threads_head: Some(72), // offsetof(_Py_DebugOffsets, interpreter_state.threads_head)  [internal/pycore_runtime.h]
            dbg_ts_size: Some(152), // offsetof(_Py_DebugOffsets, thread_state.size)  [internal/pycore_runtime.h]
            dbg_ts_next: Some(168), // offsetof(_Py_DebugOffsets, thread_state.next)  [internal/pycore_runtime.h]
            dbg_ts_interp: Some(176), // offsetof(_Py_DebugOffsets, thread_state.interp)  [internal/pycore_runtime.h]
            dbg_ts_current_frame: Some(184), // offsetof(_Py_DebugOffsets, thread_state.current_frame)  [internal/pycore_runtime.h]
            dbg_ts_thread_id: Some(192), // offsetof(_Py_DebugOffsets, thread_state.thread_id)  [internal/pycore_runtime.h]
            dbg_ts_native_thread_id: Some(200), // offsetof(_Py_DebugOffsets, thread_state.native_thread_id)  [internal/pycore_runtime.h]
            dbg_ts_datastack_chunk: Some(208), // offsetof(_Py_DebugOffsets, thread_state.datastack_chunk)  [internal/pycore_runtime.h]
            dbg_iframe_size: Some(224), // offsetof(_Py_DebugOffsets, interpreter_frame.size)  [internal/pycore_runtime.h]
            dbg_iframe_previous: Some(232), // offsetof(_Py_DebugOffsets, interpreter_frame.previous)  [internal/pycore_runtime.h]
            dbg_iframe_executable: Some(240), // offsetof(_Py_DebugOffsets, interpreter_frame.executable)  [internal/pycore_runtime.h]
            dbg_iframe_instr_ptr: Some(248), // offsetof(_Py_DebugOffsets, interpreter_frame.instr_ptr)  [internal/pycore_runtime.h]
            dbg_iframe_localsplus: Some(256), // offsetof(_Py_DebugOffsets, interpreter_frame.localsplus)  [internal/pycore_runtime.h]
            dbg_iframe_owner: Some(264), // offsetof(_Py_DebugOffsets, interpreter_frame.owner)  [internal/pycore_runtime.h]
            dbg_code_size: Some(272), // offsetof(_Py_DebugOffsets, code_object.size)  [internal/pycore_runtime.h]
            dbg_co_filename: Some(280), // offsetof(_Py_DebugOffsets, code_object.filename)  [internal/pycore_runtime.h]
            dbg_co_name: Some(288), // offsetof(_Py_DebugOffsets, code_object.name)  [internal/pycore_runtime.h]
            dbg_co_qualname: Some(296), // offsetof(_Py_DebugOffsets, code_object.qualname)  [internal/pycore_runtime.h]
            dbg_co_linetable: Some(304), // offsetof(_Py_DebugOffsets, code_object.linetable)  [internal/pycore_runtime.h]
            dbg_co_firstlineno: Some(312), // offsetof(_Py_DebugOffsets, code_object.firstlineno)  [internal/pycore_runtime.h]
            dbg_co_argcount: Some(320), // offsetof(_Py_DebugOffsets, code_object.argcount)  [internal/pycore_runtime.h]
            dbg_co_code_adaptive: Some(344), // offsetof(_Py_DebugOffsets, code_object.co_code_adaptive)  [internal/pycore_runtime.h]
            dbg_ob_type: Some(360), // offsetof(_Py_DebugOffsets, pyobject.ob_type)  [internal/pycore_runtime.h]
            dbg_dict_ma_keys: Some(456), // offsetof(_Py_DebugOffsets, dict_object.ma_keys)  [internal/pycore_runtime.h]
            dbg_dict_ma_values: Some(464), // offsetof(_Py_DebugOffsets, dict_object.ma_values)  [internal/pycore_runtime.h]
            dbg_bytes_ob_size: Some(520), // offsetof(_Py_DebugOffsets, bytes_object.ob_size)  [internal/pycore_runtime.h]
            dbg_bytes_ob_sval: Some(528), // offsetof(_Py_DebugOffsets, bytes_object.ob_sval)  [internal/pycore_runtime.h]
            dbg_unicode_state: Some(544), // offsetof(_Py_DebugOffsets, unicode_object.state)  [internal/pycore_runtime.h]
            dbg_unicode_length: Some(552), // offsetof(_Py_DebugOffsets, unicode_object.length)  [internal/pycore_runtime.h]
            dbg_unicode_ascii_size: Some(560), // offsetof(_Py_DebugOffsets, unicode_object.asciiobject_size)  [internal/pycore_runtime.h]
            co_argcount: Some(52), // offsetof(PyCodeObject, co_argcount)  [cpython/code.h]
        },
    ),
    (
        14,
        "CPython 3.14.10 headers: ~/.cache/aelm/python3.14/usr/include/python3.14",
        HeaderOffsets {
            version_hex: 0x030e0af0,                 // PY_VERSION_HEX  [patchlevel.h]
            ob_type: 8,                              // offsetof(PyObject, ob_type)  [object.h]
            var_ob_size: 16,                         // offsetof(PyVarObject, ob_size)  [object.h]
            bytes_ob_sval: 32, // offsetof(PyBytesObject, ob_sval)  [cpython/bytesobject.h]
            unicode_length: 16, // offsetof(PyASCIIObject, length)  [cpython/unicodeobject.h]
            unicode_state: 32, // offsetof(PyASCIIObject, state)  [cpython/unicodeobject.h]
            unicode_state_size: 4, // sizeof(((PyASCIIObject *)0)->state)  [cpython/unicodeobject.h]
            unicode_ascii_size: 40, // sizeof(PyASCIIObject)  [cpython/unicodeobject.h]
            unicode_compact_size: 56, // sizeof(PyCompactUnicodeObject)  [cpython/unicodeobject.h]
            unicode_kind_mask: 28, // PyASCIIObject.state.kind bits (set to all ones in a zeroed object)  [unicodeobject.h]
            unicode_compact_mask: 32, // PyASCIIObject.state.compact bits (set to all ones in a zeroed object)  [unicodeobject.h]
            unicode_ascii_mask: 64, // PyASCIIObject.state.ascii bits (set to all ones in a zeroed object)  [unicodeobject.h]
            interp_threads_head: 7344, // offsetof(PyInterpreterState, threads.head)  [internal/pycore_interp.h]
            runtime_interpreters_head: 808, // offsetof(_PyRuntimeState, interpreters.head)  [internal/pycore_runtime.h]
            runtime_interpreters_main: 816, // offsetof(_PyRuntimeState, interpreters.main)  [internal/pycore_runtime.h]
            ts_size: 832,                   // sizeof(PyThreadState)  [cpython/pystate.h]
            ts_next: 8,                     // offsetof(PyThreadState, next)  [cpython/pystate.h]
            ts_interp: 16,                  // offsetof(PyThreadState, interp)  [cpython/pystate.h]
            ts_thread_id: 152, // offsetof(PyThreadState, thread_id)  [cpython/pystate.h]
            ts_context_ver: 216, // offsetof(PyThreadState, context_ver)  [cpython/pystate.h]
            ts_context: 208,   // offsetof(PyThreadState, context)  [cpython/pystate.h]
            context_prev: 16,  // offsetof(PyContext, ctx_prev)  [internal/pycore_context.h]
            context_entered: 40, // offsetof(PyContext, ctx_entered)  [internal/pycore_context.h]
            ts_frame: None,    // replaced by _PyInterpreterFrame from 3.11
            ts_native_thread_id: Some(160), // offsetof(PyThreadState, native_thread_id)  [cpython/pystate.h]
            ts_cframe: None,                // _PyCFrame removed in 3.13
            cframe_current_frame: None,     // _PyCFrame removed in 3.13
            ts_current_frame: Some(72), // offsetof(PyThreadState, current_frame)  [cpython/pystate.h]
            ts_datastack_chunk: Some(232), // offsetof(PyThreadState, datastack_chunk)  [cpython/pystate.h]
            ts_datastack_top: Some(240), // offsetof(PyThreadState, datastack_top)  [cpython/pystate.h]
            tsi_asyncio_running_loop: Some(864), // offsetof(_PyThreadStateImpl, asyncio_running_loop)  [internal/pycore_tstate.h]
            chunk_previous: Some(0), // offsetof(_PyStackChunk, previous)  [cpython/pystate.h]
            chunk_size: Some(8),     // offsetof(_PyStackChunk, size)  [cpython/pystate.h]
            chunk_data: Some(24),    // offsetof(_PyStackChunk, data)  [cpython/pystate.h]
            frame_back: None,        // frames are _PyInterpreterFrame from 3.11
            frame_code: None,        // frames are _PyInterpreterFrame from 3.11
            frame_globals: None,     // frames are _PyInterpreterFrame from 3.11
            frame_lasti: None,       // frames are _PyInterpreterFrame from 3.11
            frame_localsplus: None,  // frames are _PyInterpreterFrame from 3.11
            iframe_size: Some(88),   // sizeof(_PyInterpreterFrame)  [internal/pycore_frame.h]
            iframe_code: Some(0), // offsetof(_PyInterpreterFrame, f_executable)  [internal/pycore_frame.h]
            iframe_previous: Some(8), // offsetof(_PyInterpreterFrame, previous)  [internal/pycore_frame.h]
            iframe_globals: Some(24), // offsetof(_PyInterpreterFrame, f_globals)  [internal/pycore_frame.h]
            iframe_instr: Some(56), // offsetof(_PyInterpreterFrame, instr_ptr)  [internal/pycore_frame.h]
            iframe_owner: Some(74), // offsetof(_PyInterpreterFrame, owner)  [internal/pycore_frame.h]
            iframe_localsplus: Some(80), // offsetof(_PyInterpreterFrame, localsplus)  [internal/pycore_frame.h]
            owned_by_generator: Some(1), // FRAME_OWNED_BY_GENERATOR  [internal/pycore_frame.h enum _frameowner]
            owned_by_cstack: Some(4), // FRAME_OWNED_BY_CSTACK  [internal/pycore_frame.h enum _frameowner]
            owned_by_interpreter: Some(3), // FRAME_OWNED_BY_INTERPRETER  [internal/pycore_interpframe_structs.h enum _frameowner]
            code_size: 216,                // sizeof(PyCodeObject)  [cpython/code.h]
            co_flags: 48,                  // offsetof(PyCodeObject, co_flags)  [cpython/code.h]
            co_firstlineno: 68, // offsetof(PyCodeObject, co_firstlineno)  [cpython/code.h]
            co_name: 120,       // offsetof(PyCodeObject, co_name)  [cpython/code.h]
            co_filename: 112,   // offsetof(PyCodeObject, co_filename)  [cpython/code.h]
            co_qualname: Some(128), // offsetof(PyCodeObject, co_qualname)  [cpython/code.h]
            co_code_adaptive: Some(208), // offsetof(PyCodeObject, co_code_adaptive)  [cpython/code.h]
            co_version: Some(92), // offsetof(PyCodeObject, co_version)  [cpython/code.h (uint32, numbered as each code object is made)]
            co_linetable: 136,    // offsetof(PyCodeObject, co_linetable)  [cpython/code.h]
            dict_ma_keys: 32,     // offsetof(PyDictObject, ma_keys)  [cpython/dictobject.h]
            dict_ma_values: 40,   // offsetof(PyDictObject, ma_values)  [cpython/dictobject.h]
            dk_log2_size: Some(8), // offsetof(struct _dictkeysobject, dk_log2_size)  [internal/pycore_dict.h]
            dk_log2_index_bytes: Some(9), // offsetof(struct _dictkeysobject, dk_log2_index_bytes)  [internal/pycore_dict.h]
            dk_kind: Some(10), // offsetof(struct _dictkeysobject, dk_kind)  [internal/pycore_dict.h]
            dk_nentries: Some(24), // offsetof(struct _dictkeysobject, dk_nentries)  [internal/pycore_dict.h]
            dk_indices: Some(32), // offsetof(struct _dictkeysobject, dk_indices)  [internal/pycore_dict.h]
            dict_entry_size: Some(24), // sizeof(PyDictKeyEntry)  [internal/pycore_dict.h]
            dict_unicode_entry_size: Some(16), // sizeof(PyDictUnicodeEntry)  [internal/pycore_dict.h]
            dict_keys_general: Some(0), // DICT_KEYS_GENERAL  [internal/pycore_dict.h DictKeysKind]
            dbg_size: Some(760), // sizeof(_Py_DebugOffsets)  [internal/pycore_debug_offsets.h]
            dbg_version: Some(8), // offsetof(_Py_DebugOffsets, version)  [internal/pycore_debug_offsets.h]
            dbg_free_threaded: Some(16), // offsetof(_Py_DebugOffsets, free_threaded)  [internal/pycore_debug_offsets.h]
            dbg_runtime_interpreters_head: Some(40), // offsetof(_Py_DebugOffsets, runtime_state.interpreters_head)  [internal/pycore_debug_offsets.h]
            dbg_interp_threads_head: Some(72), // offsetof(_Py_DebugOffsets, interpreter_state.threads_head)  [internal/pycore_debug_offsets.h]
            dbg_ts_size: Some(176), // offsetof(_Py_DebugOffsets, thread_state.size)  [internal/pycore_debug_offsets.h]
            dbg_ts_next: Some(192), // offsetof(_Py_DebugOffsets, thread_state.next)  [internal/pycore_debug_offsets.h]
            dbg_ts_interp: Some(200), // offsetof(_Py_DebugOffsets, thread_state.interp)  [internal/pycore_debug_offsets.h]
            dbg_ts_current_frame: Some(208), // offsetof(_Py_DebugOffsets, thread_state.current_frame)  [internal/pycore_debug_offsets.h]
            dbg_ts_thread_id: Some(216), // offsetof(_Py_DebugOffsets, thread_state.thread_id)  [internal/pycore_debug_offsets.h]
            dbg_ts_native_thread_id: Some(224), // offsetof(_Py_DebugOffsets, thread_state.native_thread_id)  [internal/pycore_debug_offsets.h]
            dbg_ts_datastack_chunk: Some(232), // offsetof(_Py_DebugOffsets, thread_state.datastack_chunk)  [internal/pycore_debug_offsets.h]
            dbg_iframe_size: Some(248), // offsetof(_Py_DebugOffsets, interpreter_frame.size)  [internal/pycore_debug_offsets.h]
            dbg_iframe_previous: Some(256), // offsetof(_Py_DebugOffsets, interpreter_frame.previous)  [internal/pycore_debug_offsets.h]
            dbg_iframe_executable: Some(264), // offsetof(_Py_DebugOffsets, interpreter_frame.executable)  [internal/pycore_debug_offsets.h]
            dbg_iframe_instr_ptr: Some(272), // offsetof(_Py_DebugOffsets, interpreter_frame.instr_ptr)  [internal/pycore_debug_offsets.h]
            dbg_iframe_localsplus: Some(280), // offsetof(_Py_DebugOffsets, interpreter_frame.localsplus)  [internal/pycore_debug_offsets.h]
            dbg_iframe_owner: Some(288), // offsetof(_Py_DebugOffsets, interpreter_frame.owner)  [internal/pycore_debug_offsets.h]
            dbg_code_size: Some(312), // offsetof(_Py_DebugOffsets, code_object.size)  [internal/pycore_debug_offsets.h]
            dbg_co_filename: Some(320), // offsetof(_Py_DebugOffsets, code_object.filename)  [internal/pycore_debug_offsets.h]
            dbg_co_name: Some(328), // offsetof(_Py_DebugOffsets, code_object.name)  [internal/pycore_debug_offsets.h]
            dbg_co_qualname: Some(336), // offsetof(_Py_DebugOffsets, code_object.qualname)  [internal/pycore_debug_offsets.h]
            dbg_co_linetable: Some(344), // offsetof(_Py_DebugOffsets, code_object.linetable)  [internal/pycore_debug_offsets.h]
            dbg_co_firstlineno: Some(352), // offsetof(_Py_DebugOffsets, code_object.firstlineno)  [internal/pycore_debug_offsets.h]
            dbg_co_argcount: Some(360), // offsetof(_Py_DebugOffsets, code_object.argcount)  [internal/pycore_debug_offsets.h]
            dbg_co_code_adaptive: Some(384), // offsetof(_Py_DebugOffsets, code_object.co_code_adaptive)  [internal/pycore_debug_offsets.h]
            dbg_ob_type: Some(408), // offsetof(_Py_DebugOffsets, pyobject.ob_type)  [internal/pycore_debug_offsets.h]
            dbg_dict_ma_keys: Some(536), // offsetof(_Py_DebugOffsets, dict_object.ma_keys)  [internal/pycore_debug_offsets.h]
            dbg_dict_ma_values: Some(544), // offsetof(_Py_DebugOffsets, dict_object.ma_values)  [internal/pycore_debug_offsets.h]
            dbg_bytes_ob_size: Some(600), // offsetof(_Py_DebugOffsets, bytes_object.ob_size)  [internal/pycore_debug_offsets.h]
            dbg_bytes_ob_sval: Some(608), // offsetof(_Py_DebugOffsets, bytes_object.ob_sval)  [internal/pycore_debug_offsets.h]
            dbg_unicode_state: Some(624), // offsetof(_Py_DebugOffsets, unicode_object.state)  [internal/pycore_debug_offsets.h]
            dbg_unicode_length: Some(632), // offsetof(_Py_DebugOffsets, unicode_object.length)  [internal/pycore_debug_offsets.h]
            dbg_unicode_ascii_size: Some(640), // offsetof(_Py_DebugOffsets, unicode_object.asciiobject_size)  [internal/pycore_debug_offsets.h]
            co_argcount: Some(52), // offsetof(PyCodeObject, co_argcount)  [cpython/code.h]
        },
    ),
    (
        15,
        "CPython 3.15.2 headers: ~/.cache/aelm/python3.15/usr/include/python3.15",
        HeaderOffsets {
            version_hex: 0x030f02f0,                 // PY_VERSION_HEX  [patchlevel.h]
            ob_type: 8,                              // offsetof(PyObject, ob_type)  [object.h]
            var_ob_size: 16,                         // offsetof(PyVarObject, ob_size)  [object.h]
            bytes_ob_sval: 32, // offsetof(PyBytesObject, ob_sval)  [cpython/bytesobject.h]
            unicode_length: 16, // offsetof(PyASCIIObject, length)  [cpython/unicodeobject.h]
            unicode_state: 32, // offsetof(PyASCIIObject, state)  [cpython/unicodeobject.h]
            unicode_state_size: 4, // sizeof(((PyASCIIObject *)0)->state)  [cpython/unicodeobject.h]
            unicode_ascii_size: 40, // sizeof(PyASCIIObject)  [cpython/unicodeobject.h]
            unicode_compact_size: 56, // sizeof(PyCompactUnicodeObject)  [cpython/unicodeobject.h]
            unicode_kind_mask: 28, // PyASCIIObject.state.kind bits (set to all ones in a zeroed object)  [unicodeobject.h]
            unicode_compact_mask: 32, // PyASCIIObject.state.compact bits (set to all ones in a zeroed object)  [unicodeobject.h]
            unicode_ascii_mask: 64, // PyASCIIObject.state.ascii bits (set to all ones in a zeroed object)  [unicodeobject.h]
            interp_threads_head: 7336, // offsetof(PyInterpreterState, threads.head)  [internal/pycore_interp.h]
            runtime_interpreters_head: 936, // offsetof(_PyRuntimeState, interpreters.head)  [internal/pycore_runtime.h]
            runtime_interpreters_main: 944, // offsetof(_PyRuntimeState, interpreters.main)  [internal/pycore_runtime.h]
            ts_size: 888,                   // sizeof(PyThreadState)  [cpython/pystate.h]
            ts_next: 8,                     // offsetof(PyThreadState, next)  [cpython/pystate.h]
            ts_interp: 16,                  // offsetof(PyThreadState, interp)  [cpython/pystate.h]
            ts_thread_id: 176, // offsetof(PyThreadState, thread_id)  [cpython/pystate.h]
            ts_context_ver: 240, // offsetof(PyThreadState, context_ver)  [cpython/pystate.h]
            ts_context: 232,   // offsetof(PyThreadState, context)  [cpython/pystate.h]
            context_prev: 16,  // offsetof(PyContext, ctx_prev)  [internal/pycore_context.h]
            context_entered: 40, // offsetof(PyContext, ctx_entered)  [internal/pycore_context.h]
            ts_frame: None,    // replaced by _PyInterpreterFrame from 3.11
            ts_native_thread_id: Some(184), // offsetof(PyThreadState, native_thread_id)  [cpython/pystate.h]
            ts_cframe: None,                // _PyCFrame removed in 3.13
            cframe_current_frame: None,     // _PyCFrame removed in 3.13
            ts_current_frame: Some(72), // offsetof(PyThreadState, current_frame)  [cpython/pystate.h]
            ts_datastack_chunk: Some(256), // offsetof(PyThreadState, datastack_chunk)  [cpython/pystate.h]
            ts_datastack_top: Some(264), // offsetof(PyThreadState, datastack_top)  [cpython/pystate.h]
            tsi_asyncio_running_loop: Some(1024), // offsetof(_PyThreadStateImpl, asyncio_running_loop)  [internal/pycore_tstate.h]
            chunk_previous: Some(0), // offsetof(_PyStackChunk, previous)  [cpython/pystate.h]
            chunk_size: Some(8),     // offsetof(_PyStackChunk, size)  [cpython/pystate.h]
            chunk_data: Some(24),    // offsetof(_PyStackChunk, data)  [cpython/pystate.h]
            frame_back: None,        // frames are _PyInterpreterFrame from 3.11
            frame_code: None,        // frames are _PyInterpreterFrame from 3.11
            frame_globals: None,     // frames are _PyInterpreterFrame from 3.11
            frame_lasti: None,       // frames are _PyInterpreterFrame from 3.11
            frame_localsplus: None,  // frames are _PyInterpreterFrame from 3.11
            iframe_size: Some(88),   // sizeof(_PyInterpreterFrame)  [internal/pycore_frame.h]
            iframe_code: Some(0), // offsetof(_PyInterpreterFrame, f_executable)  [internal/pycore_frame.h]
            iframe_previous: Some(8), // offsetof(_PyInterpreterFrame, previous)  [internal/pycore_frame.h]
            iframe_globals: Some(24), // offsetof(_PyInterpreterFrame, f_globals)  [internal/pycore_frame.h]
            iframe_instr: Some(56), // offsetof(_PyInterpreterFrame, instr_ptr)  [internal/pycore_frame.h]
            iframe_owner: Some(74), // offsetof(_PyInterpreterFrame, owner)  [internal/pycore_frame.h]
            iframe_localsplus: Some(80), // offsetof(_PyInterpreterFrame, localsplus)  [internal/pycore_frame.h]
            owned_by_generator: Some(1), // FRAME_OWNED_BY_GENERATOR  [internal/pycore_frame.h enum _frameowner]
            owned_by_cstack: None,       // FRAME_OWNED_BY_CSTACK exists in 3.12-3.14 only
            owned_by_interpreter: Some(3), // FRAME_OWNED_BY_INTERPRETER  [internal/pycore_interpframe_structs.h enum _frameowner]
            code_size: 216,                // sizeof(PyCodeObject)  [cpython/code.h]
            co_flags: 48,                  // offsetof(PyCodeObject, co_flags)  [cpython/code.h]
            co_firstlineno: 68, // offsetof(PyCodeObject, co_firstlineno)  [cpython/code.h]
            co_name: 120,       // offsetof(PyCodeObject, co_name)  [cpython/code.h]
            co_filename: 112,   // offsetof(PyCodeObject, co_filename)  [cpython/code.h]
            co_qualname: Some(128), // offsetof(PyCodeObject, co_qualname)  [cpython/code.h]
            co_code_adaptive: Some(208), // offsetof(PyCodeObject, co_code_adaptive)  [cpython/code.h]
            co_version: Some(92), // offsetof(PyCodeObject, co_version)  [cpython/code.h (uint32, numbered as each code object is made)]
            co_linetable: 136,    // offsetof(PyCodeObject, co_linetable)  [cpython/code.h]
            dict_ma_keys: 32,     // offsetof(PyDictObject, ma_keys)  [cpython/dictobject.h]
            dict_ma_values: 40,   // offsetof(PyDictObject, ma_values)  [cpython/dictobject.h]
            dk_log2_size: Some(8), // offsetof(struct _dictkeysobject, dk_log2_size)  [internal/pycore_dict.h]
            dk_log2_index_bytes: Some(9), // offsetof(struct _dictkeysobject, dk_log2_index_bytes)  [internal/pycore_dict.h]
            dk_kind: Some(10), // offsetof(struct _dictkeysobject, dk_kind)  [internal/pycore_dict.h]
            dk_nentries: Some(24), // offsetof(struct _dictkeysobject, dk_nentries)  [internal/pycore_dict.h]
            dk_indices: Some(32), // offsetof(struct _dictkeysobject, dk_indices)  [internal/pycore_dict.h]
            dict_entry_size: Some(24), // sizeof(PyDictKeyEntry)  [internal/pycore_dict.h]
            dict_unicode_entry_size: Some(16), // sizeof(PyDictUnicodeEntry)  [internal/pycore_dict.h]
            dict_keys_general: Some(0), // DICT_KEYS_GENERAL  [internal/pycore_dict.h DictKeysKind]
            dbg_size: Some(888), // sizeof(_Py_DebugOffsets)  [internal/pycore_debug_offsets.h]
            dbg_version: Some(8), // offsetof(_Py_DebugOffsets, version)  [internal/pycore_debug_offsets.h]
            dbg_free_threaded: Some(16), // offsetof(_Py_DebugOffsets, free_threaded)  [internal/pycore_debug_offsets.h]
            dbg_runtime_interpreters_head: Some(40), // offsetof(_Py_DebugOffsets, runtime_state.interpreters_head)  [internal/pycore_debug_offsets.h]
            dbg_interp_threads_head: Some(72), // offsetof(_Py_DebugOffsets, interpreter_state.threads_head)  [internal/pycore_debug_offsets.h]
            dbg_ts_size: Some(176), // offsetof(_Py_DebugOffsets, thread_state.size)  [internal/pycore_debug_offsets.h]
            dbg_ts_next: Some(192), // offsetof(_Py_DebugOffsets, thread_state.next)  [internal/pycore_debug_offsets.h]
            dbg_ts_interp: Some(200), // offsetof(_Py_DebugOffsets, thread_state.interp)  [internal/pycore_debug_offsets.h]
            dbg_ts_current_frame: Some(208), // offsetof(_Py_DebugOffsets, thread_state.current_frame)  [internal/pycore_debug_offsets.h]
            dbg_ts_thread_id: Some(240), // offsetof(_Py_DebugOffsets, thread_state.thread_id)  [internal/pycore_debug_offsets.h]
            dbg_ts_native_thread_id: Some(248), // offsetof(_Py_DebugOffsets, thread_state.native_thread_id)  [internal/pycore_debug_offsets.h]
            dbg_ts_datastack_chunk: Some(256), // offsetof(_Py_DebugOffsets, thread_state.datastack_chunk)  [internal/pycore_debug_offsets.h]
            dbg_iframe_size: Some(312), // offsetof(_Py_DebugOffsets, interpreter_frame.size)  [internal/pycore_debug_offsets.h]
            dbg_iframe_previous: Some(320), // offsetof(_Py_DebugOffsets, interpreter_frame.previous)  [internal/pycore_debug_offsets.h]
            dbg_iframe_executable: Some(328), // offsetof(_Py_DebugOffsets, interpreter_frame.executable)  [internal/pycore_debug_offsets.h]
            dbg_iframe_instr_ptr: Some(336), // offsetof(_Py_DebugOffsets, interpreter_frame.instr_ptr)  [internal/pycore_debug_offsets.h]
            dbg_iframe_localsplus: Some(344), // offsetof(_Py_DebugOffsets, interpreter_frame.localsplus)  [internal/pycore_debug_offsets.h]
            dbg_iframe_owner: Some(352), // offsetof(_Py_DebugOffsets, interpreter_frame.owner)  [internal/pycore_debug_offsets.h]
            dbg_code_size: Some(376), // offsetof(_Py_DebugOffsets, code_object.size)  [internal/pycore_debug_offsets.h]
            dbg_co_filename: Some(384), // offsetof(_Py_DebugOffsets, code_object.filename)  [internal/pycore_debug_offsets.h]
            dbg_co_name: Some(392), // offsetof(_Py_DebugOffsets, code_object.name)  [internal/pycore_debug_offsets.h]
            dbg_co_qualname: Some(400), // offsetof(_Py_DebugOffsets, code_object.qualname)  [internal/pycore_debug_offsets.h]
            dbg_co_linetable: Some(408), // offsetof(_Py_DebugOffsets, code_object.linetable)  [internal/pycore_debug_offsets.h]
            dbg_co_firstlineno: Some(416), // offsetof(_Py_DebugOffsets, code_object.firstlineno)  [internal/pycore_debug_offsets.h]
            dbg_co_argcount: Some(424), // offsetof(_Py_DebugOffsets, code_object.argcount)  [internal/pycore_debug_offsets.h]
            dbg_co_code_adaptive: Some(448), // offsetof(_Py_DebugOffsets, code_object.co_code_adaptive)  [internal/pycore_debug_offsets.h]
            dbg_ob_type: Some(472), // offsetof(_Py_DebugOffsets, pyobject.ob_type)  [internal/pycore_debug_offsets.h]
            dbg_dict_ma_keys: Some(632), // offsetof(_Py_DebugOffsets, dict_object.ma_keys)  [internal/pycore_debug_offsets.h]
            dbg_dict_ma_values: Some(640), // offsetof(_Py_DebugOffsets, dict_object.ma_values)  [internal/pycore_debug_offsets.h]
            dbg_bytes_ob_size: Some(696), // offsetof(_Py_DebugOffsets, bytes_object.ob_size)  [internal/pycore_debug_offsets.h]
            dbg_bytes_ob_sval: Some(704), // offsetof(_Py_DebugOffsets, bytes_object.ob_sval)  [internal/pycore_debug_offsets.h]
            dbg_unicode_state: Some(720), // offsetof(_Py_DebugOffsets, unicode_object.state)  [internal/pycore_debug_offsets.h]
            dbg_unicode_length: Some(728), // offsetof(_Py_DebugOffsets, unicode_object.length)  [internal/pycore_debug_offsets.h]
            dbg_unicode_ascii_size: Some(736), // offsetof(_Py_DebugOffsets, unicode_object.asciiobject_size)  [internal/pycore_debug_offsets.h]
            co_argcount: Some(52), // offsetof(PyCodeObject, co_argcount)  [cpython/code.h]
        },
    ),
];
