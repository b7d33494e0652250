//! Direct reader of CPython frames (being written).
