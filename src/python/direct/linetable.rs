//! Line numbers from a code object's line table, for the three formats of
//! CPython 3.8-3.15, reimplemented from CPython's format notes
//! (Objects/lnotab_notes.txt for 3.8-3.10; Objects/locations.md (3.11) /
//! InternalDocs/code_objects.md (3.13+) for the location table).
//! Every walk is bounded by the table's length; garbage gives a wrong line,
//! never a panic or a loop.

use super::offsets::LineTable;

/// The line of the instruction at byte offset `addrq` of the code, or
/// `first_line` for `addrq < 0`, or 0 when the table says "no line".
pub fn line_for(kind: LineTable, table: &[u8], first_line: i64, addrq: i64) -> u32 {
    if addrq < 0 {
        return clamp(first_line);
    }
    let line = match kind {
        LineTable::Lnotab => lnotab(table, first_line, addrq),
        LineTable::Linetable310 => linetable310(table, first_line, addrq),
        LineTable::Locations => locations(table, first_line, addrq),
    };
    clamp(line)
}

fn clamp(line: i64) -> u32 {
    if line <= 0 {
        0
    } else {
        u32::try_from(line).unwrap_or(u32::MAX)
    }
}

/// 3.8/3.9 `co_lnotab`: pairs (byte increment: u8, line increment: i8); the
/// line is that of the last pair whose address does not exceed `addrq`
/// (`PyCode_Addr2Line` of 3.8).
fn lnotab(t: &[u8], first_line: i64, addrq: i64) -> i64 {
    let mut line = first_line;
    let mut addr: i64 = 0;
    for pair in t.chunks_exact(2) {
        addr += i64::from(pair[0]);
        if addr > addrq {
            break;
        }
        line = line.wrapping_add(i64::from(pair[1] as i8));
    }
    line
}

/// 3.10 `co_linetable`: pairs (byte length: u8, line delta: i8, -128 meaning
/// "no line"); ranges `[start, end)` follow each other from 0.
fn linetable310(t: &[u8], first_line: i64, addrq: i64) -> i64 {
    let mut line = first_line;
    let mut end: i64 = 0;
    for pair in t.chunks_exact(2) {
        let start = end;
        end += i64::from(pair[0]);
        let delta = pair[1] as i8;
        let this = if delta == -128 {
            -1
        } else {
            line = line.wrapping_add(i64::from(delta));
            line
        };
        if start <= addrq && addrq < end {
            return this;
        }
    }
    -1
}

/// 3.11+ location table: entries start with a byte `1cccclll` (code `c`,
/// length `l + 1` code units of 2 bytes); code 15 = no location, 14 = long
/// form (svarint line delta, then 3 varints), 13 = no columns (svarint line
/// delta), 10-12 = one-line forms (line delta `c - 10`, 2 column bytes),
/// 0-9 = short forms (same line, 1 column byte).
fn locations(t: &[u8], first_line: i64, addrq: i64) -> i64 {
    let mut line = first_line;
    let mut end: i64 = 0;
    let mut i = 0usize;
    while i < t.len() {
        let b = t[i];
        if b & 0x80 == 0 {
            // Not at an entry start: skip (garbage tolerant).
            i += 1;
            continue;
        }
        i += 1;
        let code = (b >> 3) & 15;
        let len = i64::from(b & 7) + 1;
        let start = end;
        end += len * 2;
        let this = match code {
            15 => -1,
            14 | 13 => {
                let (d, n) = svarint(t, i);
                i += n;
                line = line.wrapping_add(d);
                line
            }
            10..=12 => {
                line = line.wrapping_add(i64::from(code) - 10);
                line
            }
            _ => line,
        };
        // Skip the rest of the entry (columns etc.) up to the next start byte.
        while i < t.len() && t[i] & 0x80 == 0 {
            i += 1;
        }
        if start <= addrq && addrq < end {
            return this;
        }
    }
    -1
}

/// Unsigned varint of 6-bit chunks, bit 6 = more (at most 10 chunks read).
fn varint(t: &[u8], mut i: usize) -> (u64, usize) {
    let start = i;
    let mut val: u64 = 0;
    let mut shift = 0u32;
    while let Some(&b) = t.get(i) {
        i += 1;
        val |= u64::from(b & 63).checked_shl(shift).unwrap_or(0);
        shift += 6;
        if b & 64 == 0 || shift > 60 {
            break;
        }
    }
    (val, i - start)
}

fn svarint(t: &[u8], i: usize) -> (i64, usize) {
    let (v, n) = varint(t, i);
    let mag = (v >> 1) as i64;
    (if v & 1 != 0 { -mag } else { mag }, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lnotab_basic() {
        // def f(): line 10; addr 0..6 line 10, 6.. line 11, 12.. line 13
        let t = [6u8, 1, 6, 2];
        assert_eq!(line_for(LineTable::Lnotab, &t, 10, 0), 10);
        assert_eq!(line_for(LineTable::Lnotab, &t, 10, 6), 11);
        assert_eq!(line_for(LineTable::Lnotab, &t, 10, 13), 13);
        assert_eq!(line_for(LineTable::Lnotab, &t, 10, -1), 10);
    }

    #[test]
    fn linetable310_basic() {
        let t = [4u8, 0, 4, 1, 2, 0x80, 6, 2];
        assert_eq!(line_for(LineTable::Linetable310, &t, 5, 0), 5);
        assert_eq!(line_for(LineTable::Linetable310, &t, 5, 5), 6);
        assert_eq!(line_for(LineTable::Linetable310, &t, 5, 8), 0);
        assert_eq!(line_for(LineTable::Linetable310, &t, 5, 12), 8);
        assert_eq!(line_for(LineTable::Linetable310, &t, 5, 100), 0);
    }

    #[test]
    fn locations_forms() {
        // entry 1: no-columns (13), 1 unit, line delta +1 (svarint 2)
        // entry 2: one-line form 11 (+1), 2 units, 2 column bytes
        // entry 3: short form 0, 1 unit (same line), 1 column byte
        // entry 4: no location (15), 1 unit
        // entry 5: long form (14), 1 unit, delta -2 (svarint 5), 3 varints
        let t = [
            0x80 | (13 << 3),
            2,
            0x80 | (11 << 3) | 1,
            1,
            5,
            0x80,
            3,
            0x80 | (15 << 3),
            0x80 | (14 << 3),
            5,
            0,
            1,
            2,
        ];
        let l = |a| line_for(LineTable::Locations, &t, 100, a);
        assert_eq!(l(0), 101);
        assert_eq!(l(2), 102);
        assert_eq!(l(4), 102);
        assert_eq!(l(6), 102);
        assert_eq!(l(8), 0);
        assert_eq!(l(10), 100);
        assert_eq!(l(12), 0);
    }

    #[test]
    fn garbage_tables_terminate() {
        let t = vec![0xffu8; 70000];
        line_for(LineTable::Locations, &t, 1, 1 << 40);
        line_for(LineTable::Linetable310, &t, 1, 1 << 40);
        line_for(LineTable::Lnotab, &t, i64::MAX - 10, 1 << 40);
        let t = vec![0x7fu8; 1000];
        line_for(LineTable::Locations, &t, 1, 3);
        assert_eq!(varint(&[0x7f; 20], 0).1, 11);
    }
}
