//! aelm as a library: the stages of the pipeline, one module each. The
//! binary (`main.rs`) only parses arguments and maps errors to exit
//! statuses; tests, benchmarks and fuzz targets use these modules directly.
//!
//! Data path: [`python`] (reads the target) -> [`sampler`] (a thread, fixed
//! rate) -> channel -> [`detector`] (pure) -> [`report`] (JSON / text lines),
//! wired together by [`session`].

pub mod addr_map;
pub mod cli;
pub mod detector;
pub mod dump;
pub mod follow;
pub mod html;
pub mod man;
pub mod metrics;
pub mod proc_stat;
pub mod python;
pub mod report;
pub mod sample;
pub mod sampler;
pub mod session;
pub mod slice;
pub mod status;
pub mod summary;
pub mod wait_note;
