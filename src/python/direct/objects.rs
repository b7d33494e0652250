//! Reading Python objects the reader needs out of the target: `str` (code
//! names, file names, module names), `bytes` (line tables) and a module's
//! `__name__` from its globals dict. Every length is bounded before any
//! allocation; hostile bytes give an error, never a panic or a huge buffer.

use super::memory::{MemError, Memory, rd_i64, rd_u8, rd_u32, rd_u64};
use super::offsets::{
    DictKeys, Layout, PRE311_DK_INDICES, PRE311_DK_NENTRIES, PRE311_DK_SIZE, PRE311_ENTRY_SIZE,
};

/// Longest string read (characters); longer ones are cut (with "…").
pub const MAX_STR_CHARS: usize = 4096;
/// Longest line table read (bytes); longer tables are refused.
pub const MAX_LINETABLE: usize = 64 * 1024;
/// Dict entries scanned for `__name__` (a module's dict has it first).
const MAX_DICT_SCAN: u64 = 64;
/// A first read of this many bytes usually gets a short string whole.
const STR_PROBE: usize = 192;

fn err(msg: impl Into<String>) -> MemError {
    MemError(msg.into())
}

/// Type addresses known from the target's symbols, for optional checks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Types {
    pub code: Option<u64>,
    pub str_: Option<u64>,
    pub bytes: Option<u64>,
    pub dict: Option<u64>,
}

fn check_type(l: &Layout, hdr: &[u8], want: Option<u64>, what: &str) -> Result<(), MemError> {
    if let Some(t) = want {
        let got = rd_u64(hdr, l.ob_type as usize).ok_or_else(|| err("short object header"))?;
        if got != t {
            return Err(err(format!("not a {what} (type {got:#x})")));
        }
    }
    Ok(())
}

/// Read a `str` object (compact forms only, which is every str CPython
/// makes for code names and dict keys), at most `MAX_STR_CHARS` characters.
pub fn read_str<M: Memory + ?Sized>(
    mem: &M,
    l: &Layout,
    types: &Types,
    addr: u64,
) -> Result<String, MemError> {
    if addr == 0 || addr & 7 != 0 {
        return Err(err(format!("bad str pointer {addr:#x}")));
    }
    // The smallest str object is a PyASCIIObject; read more at once when
    // the memory is there (it usually holds the whole string).
    let hdr_len = l.unicode_ascii_size as usize;
    let mut probe = vec![0u8; l.unicode_compact_size as usize + STR_PROBE];
    let have = if mem.read(addr, &mut probe).is_ok() {
        probe.len()
    } else {
        probe.truncate(hdr_len);
        mem.read(addr, &mut probe)?;
        hdr_len
    };
    check_type(l, &probe, types.str_, "str")?;
    let state_off = l.unicode_state as usize;
    let state = match l.unicode_state_size {
        1 => rd_u8(&probe, state_off).map(u64::from),
        _ => rd_u32(&probe, state_off).map(u64::from),
    }
    .ok_or_else(|| err("short str header"))?;
    let kind_shift = l.unicode_kind_mask.trailing_zeros();
    let kind = (state & l.unicode_kind_mask) >> kind_shift;
    let compact = state & l.unicode_compact_mask != 0;
    let ascii = state & l.unicode_ascii_mask != 0;
    if !compact {
        return Err(err("non-compact str"));
    }
    let length = rd_i64(&probe, l.unicode_length as usize).ok_or_else(|| err("short str"))?;
    if length < 0 {
        return Err(err(format!("negative str length {length}")));
    }
    let width: usize = if ascii {
        1
    } else {
        match kind {
            1 | 2 | 4 => kind as usize,
            _ => return Err(err(format!("bad str kind {kind}"))),
        }
    };
    let data_off = if ascii {
        l.unicode_ascii_size as usize
    } else {
        l.unicode_compact_size as usize
    };
    let chars = usize::try_from(length)
        .unwrap_or(usize::MAX)
        .min(MAX_STR_CHARS);
    let cut = (length as u64) > chars as u64;
    let nbytes = chars * width;
    let data: Vec<u8> = if data_off + nbytes <= have {
        probe[data_off..data_off + nbytes].to_vec()
    } else {
        let mut d = vec![0u8; nbytes];
        mem.read(addr.wrapping_add(data_off as u64), &mut d)?;
        d
    };
    let mut s = match width {
        1 if ascii => String::from_utf8_lossy(&data).into_owned(),
        1 => data.iter().map(|&b| char::from(b)).collect(),
        2 => data
            .chunks_exact(2)
            .map(|c| {
                char::from_u32(u32::from(u16::from_le_bytes([c[0], c[1]])))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
        _ => data
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
    };
    if cut {
        s.push('…');
    }
    Ok(s)
}

/// Read a `bytes` object's contents, refusing more than `max` bytes.
pub fn read_bytes<M: Memory + ?Sized>(
    mem: &M,
    l: &Layout,
    types: &Types,
    addr: u64,
    max: usize,
) -> Result<Vec<u8>, MemError> {
    if addr == 0 || addr & 7 != 0 {
        return Err(err(format!("bad bytes pointer {addr:#x}")));
    }
    let hdr_len = l.bytes_ob_sval as usize;
    let mut probe = vec![0u8; hdr_len + 256];
    let have = if mem.read(addr, &mut probe).is_ok() {
        probe.len()
    } else {
        probe.truncate(hdr_len);
        mem.read(addr, &mut probe)?;
        hdr_len
    };
    check_type(l, &probe, types.bytes, "bytes")?;
    let size = rd_i64(&probe, l.var_ob_size as usize).ok_or_else(|| err("short bytes"))?;
    if size < 0 || size as u64 > max as u64 {
        return Err(err(format!("bytes size {size} out of bounds")));
    }
    let size = size as usize;
    if hdr_len + size <= have {
        return Ok(probe[hdr_len..hdr_len + size].to_vec());
    }
    let mut d = vec![0u8; size];
    mem.read(addr.wrapping_add(hdr_len as u64), &mut d)?;
    Ok(d)
}

/// The `__name__` of a module globals dict. `name_key`: the address of the
/// interned "__name__" str once seen (str keys of a module dict are
/// interned), which saves reading keys.
pub fn module_name<M: Memory + ?Sized>(
    mem: &M,
    l: &Layout,
    types: &Types,
    globals: u64,
    name_key: &mut Option<u64>,
) -> Result<String, MemError> {
    if globals == 0 || globals & 7 != 0 {
        return Err(err("bad globals pointer"));
    }
    let mut d = vec![0u8; (l.dict_ma_values.max(l.dict_ma_keys) + 8) as usize];
    mem.read(globals, &mut d)?;
    check_type(l, &d, types.dict, "dict")?;
    let keys = rd_u64(&d, l.dict_ma_keys as usize).ok_or_else(|| err("short dict"))?;
    let values = rd_u64(&d, l.dict_ma_values as usize).ok_or_else(|| err("short dict"))?;
    if values != 0 {
        return Err(err("split dict: not a module's globals"));
    }
    if keys == 0 || keys & 7 != 0 {
        return Err(err("bad dict keys pointer"));
    }
    // (entries address, entry count, entry size, key offset, value offset)
    let (entries, n, esize, koff, voff) = match l.dict_keys {
        DictKeys::Pre311 => {
            let mut k = [0u8; PRE311_DK_INDICES as usize];
            mem.read(keys, &mut k)?;
            let size = rd_u64(&k, PRE311_DK_SIZE as usize).ok_or_else(|| err("short keys"))?;
            let n = rd_u64(&k, PRE311_DK_NENTRIES as usize).ok_or_else(|| err("short keys"))?;
            if !size.is_power_of_two() || size > 1 << 32 || n > size {
                return Err(err("implausible dict keys"));
            }
            let width = if size <= 0xff {
                1
            } else if size <= 0xffff {
                2
            } else if size <= 0xffff_ffff {
                4
            } else {
                8
            };
            let entries = keys.wrapping_add(PRE311_DK_INDICES + size * width);
            (entries, n, PRE311_ENTRY_SIZE, 8u64, 16u64)
        }
        DictKeys::Log2 {
            log2_size,
            log2_index_bytes,
            kind,
            nentries,
            indices,
            entry_size,
            unicode_entry_size,
            general,
        } => {
            let mut k = vec![0u8; indices as usize];
            mem.read(keys, &mut k)?;
            let ls = u32::from(rd_u8(&k, log2_size as usize).ok_or_else(|| err("short keys"))?);
            let lib =
                u32::from(rd_u8(&k, log2_index_bytes as usize).ok_or_else(|| err("short keys"))?);
            let kd = u64::from(rd_u8(&k, kind as usize).ok_or_else(|| err("short keys"))?);
            let n = rd_u64(&k, nentries as usize).ok_or_else(|| err("short keys"))?;
            if ls > 32 || lib > 35 || n > (1u64 << ls) {
                return Err(err("implausible dict keys"));
            }
            let entries = keys.wrapping_add(indices + (1u64 << lib));
            if kd == general {
                (entries, n, entry_size, 8, 16)
            } else {
                (entries, n, unicode_entry_size, 0, 8)
            }
        }
    };
    let scan = n.min(MAX_DICT_SCAN);
    if scan == 0 {
        return Err(err("empty dict"));
    }
    let mut e = vec![0u8; (scan * esize) as usize];
    mem.read(entries, &mut e)?;
    for i in 0..scan {
        let base = (i * esize) as usize;
        let key = rd_u64(&e, base + koff as usize).unwrap_or(0);
        let val = rd_u64(&e, base + voff as usize).unwrap_or(0);
        if key == 0 || val == 0 {
            continue;
        }
        // The interned key's address once known; otherwise (or for a dict
        // whose key is another str object) compare the first keys' text.
        let is_name = *name_key == Some(key)
            || (i < 8 && read_str(mem, l, types, key).is_ok_and(|s| s == "__name__"));
        if is_name {
            *name_key = Some(key);
        }
        if is_name {
            return read_str(mem, l, types, val);
        }
    }
    Err(err("no __name__ in globals"))
}
