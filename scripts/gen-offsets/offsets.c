/*
 * Prints, as a Rust struct literal, the offsets of the CPython structures
 * aelm's direct reader needs, computed with offsetof/sizeof against the
 * headers of ONE CPython version (the include dir given to the compiler).
 * Driven by gen-offsets.sh, which compiles it once per version.
 *
 * Every line printed carries, as a comment, the C expression it came from
 * and the header that declares it: that is the provenance of the offset.
 */
#define Py_BUILD_CORE 1
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "Python.h"
#include "frameobject.h"

#if PY_VERSION_HEX < 0x03090000
#include "internal/pycore_pystate.h"
#else
#include "internal/pycore_interp.h"
#include "internal/pycore_runtime.h"
#endif
#include "internal/pycore_context.h"
#if PY_VERSION_HEX >= 0x030b0000
#include "internal/pycore_frame.h"
#include "internal/pycore_dict.h"
#endif
#if PY_VERSION_HEX >= 0x030d0000
#include "internal/pycore_tstate.h"
#endif
#if PY_VERSION_HEX >= 0x030e0000
#include "internal/pycore_debug_offsets.h"
#include "internal/pycore_interpframe_structs.h"
#endif

#define SOME(field, expr, where)                                              \
    printf("    %s: Some(%llu), // %s  [%s]\n", #field,                      \
           (unsigned long long)(expr), #expr, where)
#define NONE(field, why) printf("    %s: None, // %s\n", #field, why)
#define VAL(field, expr, where)                                               \
    printf("    %s: %llu, // %s  [%s]\n", #field, (unsigned long long)(expr),   \
           #expr, where)

/* The bit mask of one bitfield of PyASCIIObject.state, found by setting the
 * field to all ones in a zeroed object and looking at the bytes. */
#define STATE_MASK(member, ones)                                              \
    do {                                                                      \
        PyASCIIObject o;                                                      \
        uint64_t m = 0;                                                       \
        memset(&o, 0, sizeof o);                                              \
        o.state.member = ones;                                                \
        memcpy(&m, (char *)&o + offsetof(PyASCIIObject, state),              \
               sizeof o.state < 8 ? sizeof o.state : 8);                      \
        printf("    unicode_%s_mask: %llu, // PyASCIIObject.state.%s bits "   \
               "(set to all ones in a zeroed object)  [unicodeobject.h]\n",   \
               #member, (unsigned long long)m, #member);                      \
    } while (0)

int main(void) {
    printf("HeaderOffsets {\n");
    printf("    version_hex: 0x%08lx, // PY_VERSION_HEX  [patchlevel.h]\n", (unsigned long)PY_VERSION_HEX);

    /* object.h */
    VAL(ob_type, offsetof(PyObject, ob_type), "object.h");
    VAL(var_ob_size, offsetof(PyVarObject, ob_size), "object.h");

    /* bytesobject.h / cpython/bytesobject.h */
    VAL(bytes_ob_sval, offsetof(PyBytesObject, ob_sval), "cpython/bytesobject.h");

    /* unicodeobject.h / cpython/unicodeobject.h */
    VAL(unicode_length, offsetof(PyASCIIObject, length), "cpython/unicodeobject.h");
    VAL(unicode_state, offsetof(PyASCIIObject, state), "cpython/unicodeobject.h");
    VAL(unicode_state_size, sizeof(((PyASCIIObject *)0)->state), "cpython/unicodeobject.h");
    VAL(unicode_ascii_size, sizeof(PyASCIIObject), "cpython/unicodeobject.h");
    VAL(unicode_compact_size, sizeof(PyCompactUnicodeObject), "cpython/unicodeobject.h");
    STATE_MASK(kind, 7);
    STATE_MASK(compact, 1);
    STATE_MASK(ascii, 1);

    /* interpreter and thread state */
#if PY_VERSION_HEX < 0x030b0000
    VAL(interp_threads_head, offsetof(PyInterpreterState, tstate_head),
        PY_VERSION_HEX < 0x03090000 ? "internal/pycore_pystate.h" : "internal/pycore_interp.h");
#else
    VAL(interp_threads_head, offsetof(PyInterpreterState, threads.head), "internal/pycore_interp.h");
#endif
    /* _PyRuntime.interpreters.head: the main interpreter, for a discovery of
     * aelm's own when py-spy's fails (it checks its find by walking every
     * stack with a walker that gives up past 4096 frames) */
    VAL(runtime_interpreters_head, offsetof(_PyRuntimeState, interpreters.head),
        PY_VERSION_HEX < 0x03090000 ? "internal/pycore_pystate.h" : "internal/pycore_runtime.h");
    /* _PyRuntime.interpreters.main: the main interpreter (head is the
     * newest: a subinterpreter's while one exists) */
    VAL(runtime_interpreters_main, offsetof(_PyRuntimeState, interpreters.main),
        PY_VERSION_HEX < 0x03090000 ? "internal/pycore_pystate.h" : "internal/pycore_runtime.h");
    VAL(ts_size, sizeof(PyThreadState), "cpython/pystate.h");
    VAL(ts_next, offsetof(PyThreadState, next), "cpython/pystate.h");
    VAL(ts_interp, offsetof(PyThreadState, interp), "cpython/pystate.h");
    VAL(ts_thread_id, offsetof(PyThreadState, thread_id), "cpython/pystate.h");
    /* bumped by every Context.run enter/exit: asyncio runs each callback in one */
    VAL(ts_context_ver, offsetof(PyThreadState, context_ver), "cpython/pystate.h");
    /* the innermost entered context; PyContext.ctx_prev links to the one it
     * was entered from, ctx_entered says whether it is entered */
    VAL(ts_context, offsetof(PyThreadState, context), "cpython/pystate.h");
    VAL(context_prev, offsetof(PyContext, ctx_prev), "internal/pycore_context.h");
    VAL(context_entered, offsetof(PyContext, ctx_entered), "internal/pycore_context.h");
#if PY_VERSION_HEX < 0x030b0000
    SOME(ts_frame, offsetof(PyThreadState, frame), "cpython/pystate.h");
    NONE(ts_native_thread_id, "absent before 3.11");
    NONE(ts_cframe, "absent before 3.11");
    NONE(cframe_current_frame, "absent before 3.11");
    NONE(ts_current_frame, "absent before 3.13");
    NONE(ts_datastack_chunk, "absent before 3.11");
    NONE(ts_datastack_top, "absent before 3.11");
#else
    NONE(ts_frame, "replaced by _PyInterpreterFrame from 3.11");
    SOME(ts_native_thread_id, offsetof(PyThreadState, native_thread_id), "cpython/pystate.h");
#if PY_VERSION_HEX < 0x030d0000
    SOME(ts_cframe, offsetof(PyThreadState, cframe), "cpython/pystate.h");
    SOME(cframe_current_frame, offsetof(_PyCFrame, current_frame), "cpython/pystate.h");
    NONE(ts_current_frame, "through cframe before 3.13");
#else
    NONE(ts_cframe, "_PyCFrame removed in 3.13");
    NONE(cframe_current_frame, "_PyCFrame removed in 3.13");
    SOME(ts_current_frame, offsetof(PyThreadState, current_frame), "cpython/pystate.h");
#endif
    SOME(ts_datastack_chunk, offsetof(PyThreadState, datastack_chunk), "cpython/pystate.h");
    SOME(ts_datastack_top, offsetof(PyThreadState, datastack_top), "cpython/pystate.h");
#endif
    /* The loop running on the thread, which asyncio's C accelerator (and so
     * uvloop, through asyncio._set_running_loop) keeps in every thread state
     * from 3.13: each PyThreadState is allocated as a _PyThreadStateImpl. */
#if PY_VERSION_HEX >= 0x030d0000
    SOME(tsi_asyncio_running_loop, offsetof(_PyThreadStateImpl, asyncio_running_loop),
         "internal/pycore_tstate.h");
#else
    NONE(tsi_asyncio_running_loop, "before 3.13 the running loop is an entry of the thread's dict");
#endif

    /* data stack chunks (3.11+) */
#if PY_VERSION_HEX >= 0x030b0000
    SOME(chunk_previous, offsetof(_PyStackChunk, previous), "cpython/pystate.h");
    SOME(chunk_size, offsetof(_PyStackChunk, size), "cpython/pystate.h");
    SOME(chunk_data, offsetof(_PyStackChunk, data), "cpython/pystate.h");
#else
    NONE(chunk_previous, "absent before 3.11");
    NONE(chunk_size, "absent before 3.11");
    NONE(chunk_data, "absent before 3.11");
#endif

    /* frames */
#if PY_VERSION_HEX < 0x030b0000
    /* PyFrameObject: frameobject.h (3.8), cpython/frameobject.h (3.9, 3.10) */
    SOME(frame_back, offsetof(PyFrameObject, f_back), "frameobject.h");
    SOME(frame_code, offsetof(PyFrameObject, f_code), "frameobject.h");
    SOME(frame_globals, offsetof(PyFrameObject, f_globals), "frameobject.h");
    SOME(frame_lasti, offsetof(PyFrameObject, f_lasti), "frameobject.h");
    SOME(frame_localsplus, offsetof(PyFrameObject, f_localsplus), "frameobject.h");
    NONE(iframe_size, "no _PyInterpreterFrame before 3.11");
    NONE(iframe_code, "no _PyInterpreterFrame before 3.11");
    NONE(iframe_previous, "no _PyInterpreterFrame before 3.11");
    NONE(iframe_globals, "no _PyInterpreterFrame before 3.11");
    NONE(iframe_instr, "no _PyInterpreterFrame before 3.11");
    NONE(iframe_owner, "no _PyInterpreterFrame before 3.11");
    NONE(iframe_localsplus, "no _PyInterpreterFrame before 3.11");
#else
    NONE(frame_back, "frames are _PyInterpreterFrame from 3.11");
    NONE(frame_code, "frames are _PyInterpreterFrame from 3.11");
    NONE(frame_globals, "frames are _PyInterpreterFrame from 3.11");
    NONE(frame_lasti, "frames are _PyInterpreterFrame from 3.11");
    NONE(frame_localsplus, "frames are _PyInterpreterFrame from 3.11");
    SOME(iframe_size, sizeof(_PyInterpreterFrame), "internal/pycore_frame.h");
#if PY_VERSION_HEX < 0x030d0000
    SOME(iframe_code, offsetof(_PyInterpreterFrame, f_code), "internal/pycore_frame.h");
#else
    SOME(iframe_code, offsetof(_PyInterpreterFrame, f_executable), "internal/pycore_frame.h");
#endif
    SOME(iframe_previous, offsetof(_PyInterpreterFrame, previous), "internal/pycore_frame.h");
    SOME(iframe_globals, offsetof(_PyInterpreterFrame, f_globals), "internal/pycore_frame.h");
#if PY_VERSION_HEX < 0x030d0000
    SOME(iframe_instr, offsetof(_PyInterpreterFrame, prev_instr), "internal/pycore_frame.h");
#else
    SOME(iframe_instr, offsetof(_PyInterpreterFrame, instr_ptr), "internal/pycore_frame.h");
#endif
    SOME(iframe_owner, offsetof(_PyInterpreterFrame, owner), "internal/pycore_frame.h");
    SOME(iframe_localsplus, offsetof(_PyInterpreterFrame, localsplus), "internal/pycore_frame.h");
#endif

    /* enum _frameowner */
#if PY_VERSION_HEX >= 0x030b0000
    SOME(owned_by_generator, FRAME_OWNED_BY_GENERATOR, "internal/pycore_frame.h enum _frameowner");
#else
    NONE(owned_by_generator, "no frame owners before 3.11");
#endif
#if PY_VERSION_HEX >= 0x030c0000 && PY_VERSION_HEX < 0x030f0000
    SOME(owned_by_cstack, FRAME_OWNED_BY_CSTACK, "internal/pycore_frame.h enum _frameowner");
#else
    NONE(owned_by_cstack, "FRAME_OWNED_BY_CSTACK exists in 3.12-3.14 only");
#endif
#if PY_VERSION_HEX >= 0x030e0000
    SOME(owned_by_interpreter, FRAME_OWNED_BY_INTERPRETER, "internal/pycore_interpframe_structs.h enum _frameowner");
#else
    NONE(owned_by_interpreter, "FRAME_OWNED_BY_INTERPRETER from 3.14");
#endif

    /* code objects: code.h (3.8), cpython/code.h (3.9+) */
    VAL(code_size, sizeof(PyCodeObject), "cpython/code.h");
    VAL(co_flags, offsetof(PyCodeObject, co_flags), "cpython/code.h");
    VAL(co_firstlineno, offsetof(PyCodeObject, co_firstlineno), "cpython/code.h");
    VAL(co_name, offsetof(PyCodeObject, co_name), "cpython/code.h");
    VAL(co_filename, offsetof(PyCodeObject, co_filename), "cpython/code.h");
#if PY_VERSION_HEX >= 0x030b0000
    SOME(co_qualname, offsetof(PyCodeObject, co_qualname), "cpython/code.h");
    SOME(co_code_adaptive, offsetof(PyCodeObject, co_code_adaptive), "cpython/code.h");
#else
    NONE(co_qualname, "co_qualname from 3.11");
    NONE(co_code_adaptive, "co_code_adaptive from 3.11");
#endif
#if PY_VERSION_HEX >= 0x030c0000
    SOME(co_version, offsetof(PyCodeObject, co_version), "cpython/code.h (uint32, numbered as each code object is made)");
#else
    NONE(co_version, "co_version from 3.12");
#endif
#if PY_VERSION_HEX >= 0x030a0000
    VAL(co_linetable, offsetof(PyCodeObject, co_linetable), "cpython/code.h");
#else
    VAL(co_linetable, offsetof(PyCodeObject, co_lnotab), "cpython/code.h (co_lnotab)");
#endif

    /* dicts: cpython/dictobject.h; keys: internal/pycore_dict.h from 3.11
     * (before 3.11 the keys object is private to Objects/dict-common.h and
     * its layout lives in dict_keys_pre311() in offsets.rs) */
    VAL(dict_ma_keys, offsetof(PyDictObject, ma_keys), "cpython/dictobject.h");
    VAL(dict_ma_values, offsetof(PyDictObject, ma_values), "cpython/dictobject.h");
#if PY_VERSION_HEX >= 0x030b0000
    SOME(dk_log2_size, offsetof(struct _dictkeysobject, dk_log2_size), "internal/pycore_dict.h");
    SOME(dk_log2_index_bytes, offsetof(struct _dictkeysobject, dk_log2_index_bytes), "internal/pycore_dict.h");
    SOME(dk_kind, offsetof(struct _dictkeysobject, dk_kind), "internal/pycore_dict.h");
    SOME(dk_nentries, offsetof(struct _dictkeysobject, dk_nentries), "internal/pycore_dict.h");
    SOME(dk_indices, offsetof(struct _dictkeysobject, dk_indices), "internal/pycore_dict.h");
    SOME(dict_entry_size, sizeof(PyDictKeyEntry), "internal/pycore_dict.h");
    SOME(dict_unicode_entry_size, sizeof(PyDictUnicodeEntry), "internal/pycore_dict.h");
    SOME(dict_keys_general, DICT_KEYS_GENERAL, "internal/pycore_dict.h DictKeysKind");
#else
    NONE(dk_log2_size, "see dict_keys_pre311()");
    NONE(dk_log2_index_bytes, "see dict_keys_pre311()");
    NONE(dk_kind, "see dict_keys_pre311()");
    NONE(dk_nentries, "see dict_keys_pre311()");
    NONE(dk_indices, "see dict_keys_pre311()");
    NONE(dict_entry_size, "see dict_keys_pre311()");
    NONE(dict_unicode_entry_size, "see dict_keys_pre311()");
    NONE(dict_keys_general, "see dict_keys_pre311()");
#endif

    /* The layout of _Py_DebugOffsets itself (3.13: internal/pycore_runtime.h,
     * 3.14+: internal/pycore_debug_offsets.h), to read it from _PyRuntime. */
#if PY_VERSION_HEX >= 0x030d0000
#define DBG(field, member) SOME(field, offsetof(_Py_DebugOffsets, member), DBG_HDR)
#if PY_VERSION_HEX >= 0x030e0000
#define DBG_HDR "internal/pycore_debug_offsets.h"
#else
#define DBG_HDR "internal/pycore_runtime.h"
#endif
    SOME(dbg_size, sizeof(_Py_DebugOffsets), DBG_HDR);
    DBG(dbg_version, version);
    DBG(dbg_free_threaded, free_threaded);
    DBG(dbg_runtime_interpreters_head, runtime_state.interpreters_head);
    DBG(dbg_interp_threads_head, interpreter_state.threads_head);
    DBG(dbg_ts_size, thread_state.size);
    DBG(dbg_ts_next, thread_state.next);
    DBG(dbg_ts_interp, thread_state.interp);
    DBG(dbg_ts_current_frame, thread_state.current_frame);
    DBG(dbg_ts_thread_id, thread_state.thread_id);
    DBG(dbg_ts_native_thread_id, thread_state.native_thread_id);
    DBG(dbg_ts_datastack_chunk, thread_state.datastack_chunk);
    DBG(dbg_iframe_size, interpreter_frame.size);
    DBG(dbg_iframe_previous, interpreter_frame.previous);
    DBG(dbg_iframe_executable, interpreter_frame.executable);
    DBG(dbg_iframe_instr_ptr, interpreter_frame.instr_ptr);
    DBG(dbg_iframe_localsplus, interpreter_frame.localsplus);
    DBG(dbg_iframe_owner, interpreter_frame.owner);
    DBG(dbg_code_size, code_object.size);
    DBG(dbg_co_filename, code_object.filename);
    DBG(dbg_co_name, code_object.name);
    DBG(dbg_co_qualname, code_object.qualname);
    DBG(dbg_co_linetable, code_object.linetable);
    DBG(dbg_co_firstlineno, code_object.firstlineno);
    DBG(dbg_co_argcount, code_object.argcount);
    DBG(dbg_co_code_adaptive, code_object.co_code_adaptive);
    DBG(dbg_ob_type, pyobject.ob_type);
    DBG(dbg_dict_ma_keys, dict_object.ma_keys);
    DBG(dbg_dict_ma_values, dict_object.ma_values);
    DBG(dbg_bytes_ob_size, bytes_object.ob_size);
    DBG(dbg_bytes_ob_sval, bytes_object.ob_sval);
    DBG(dbg_unicode_state, unicode_object.state);
    DBG(dbg_unicode_length, unicode_object.length);
    DBG(dbg_unicode_ascii_size, unicode_object.asciiobject_size);
    /* fields aelm takes from this table because _Py_DebugOffsets lacks them;
     * offsets.rs rebases them on a neighbour that _Py_DebugOffsets has */
    SOME(co_argcount, offsetof(PyCodeObject, co_argcount), "cpython/code.h");
#else
    NONE(dbg_size, "_Py_DebugOffsets from 3.13");
    NONE(dbg_version, "_Py_DebugOffsets from 3.13");
    NONE(dbg_free_threaded, "_Py_DebugOffsets from 3.13");
    NONE(dbg_runtime_interpreters_head, "_Py_DebugOffsets from 3.13");
    NONE(dbg_interp_threads_head, "_Py_DebugOffsets from 3.13");
    NONE(dbg_ts_size, "_Py_DebugOffsets from 3.13");
    NONE(dbg_ts_next, "_Py_DebugOffsets from 3.13");
    NONE(dbg_ts_interp, "_Py_DebugOffsets from 3.13");
    NONE(dbg_ts_current_frame, "_Py_DebugOffsets from 3.13");
    NONE(dbg_ts_thread_id, "_Py_DebugOffsets from 3.13");
    NONE(dbg_ts_native_thread_id, "_Py_DebugOffsets from 3.13");
    NONE(dbg_ts_datastack_chunk, "_Py_DebugOffsets from 3.13");
    NONE(dbg_iframe_size, "_Py_DebugOffsets from 3.13");
    NONE(dbg_iframe_previous, "_Py_DebugOffsets from 3.13");
    NONE(dbg_iframe_executable, "_Py_DebugOffsets from 3.13");
    NONE(dbg_iframe_instr_ptr, "_Py_DebugOffsets from 3.13");
    NONE(dbg_iframe_localsplus, "_Py_DebugOffsets from 3.13");
    NONE(dbg_iframe_owner, "_Py_DebugOffsets from 3.13");
    NONE(dbg_code_size, "_Py_DebugOffsets from 3.13");
    NONE(dbg_co_filename, "_Py_DebugOffsets from 3.13");
    NONE(dbg_co_name, "_Py_DebugOffsets from 3.13");
    NONE(dbg_co_qualname, "_Py_DebugOffsets from 3.13");
    NONE(dbg_co_linetable, "_Py_DebugOffsets from 3.13");
    NONE(dbg_co_firstlineno, "_Py_DebugOffsets from 3.13");
    NONE(dbg_co_argcount, "_Py_DebugOffsets from 3.13");
    NONE(dbg_co_code_adaptive, "_Py_DebugOffsets from 3.13");
    NONE(dbg_ob_type, "_Py_DebugOffsets from 3.13");
    NONE(dbg_dict_ma_keys, "_Py_DebugOffsets from 3.13");
    NONE(dbg_dict_ma_values, "_Py_DebugOffsets from 3.13");
    NONE(dbg_bytes_ob_size, "_Py_DebugOffsets from 3.13");
    NONE(dbg_bytes_ob_sval, "_Py_DebugOffsets from 3.13");
    NONE(dbg_unicode_state, "_Py_DebugOffsets from 3.13");
    NONE(dbg_unicode_length, "_Py_DebugOffsets from 3.13");
    NONE(dbg_unicode_ascii_size, "_Py_DebugOffsets from 3.13");
    NONE(co_argcount, "only needed to rebase co_flags on _Py_DebugOffsets (3.13+)");
#endif
    printf("}\n");
    return 0;
}
