//! Fuzz target: aelm's direct reader (thread list, stack walk, code
//! objects, strings, line tables, module globals, 3.13+ `_Py_DebugOffsets`)
//! over a fake target built from the input (`memory::hostile`). It must
//! return, within libFuzzer's time and memory limits, a result within the
//! bounds `hostile::check` states. Run it with (see docs/security.md):
//!
//!     cargo +nightly fuzz run decode_stack -- -max_total_time=600 \
//!         -timeout=5 -rss_limit_mb=1024 -malloc_limit_mb=128
#![no_main]

use aelm::python::direct::memory::hostile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let decoded = hostile::decode(data);
    if let Err(e) = hostile::check(&decoded) {
        panic!("bound broken: {e}");
    }
});
