//! Reading one tensor out of a sealed safetensors file, decrypting only the chunks that hold
//! the header and that tensor's bytes.
//!
//! safetensors layout (huggingface/safetensors, "Format"): an 8-byte little-endian header
//! size `N`, `N` bytes of JSON mapping each tensor name to `dtype`, `shape` and
//! `data_offsets` `[begin, end)` relative to the byte buffer that follows, plus an optional
//! `__metadata__` map of strings.

use std::io::{Read, Seek, Write};

use serde_json::{Map, Value, json};

use crate::chunked::RandomAccess;
use crate::{Error, Result};

/// Upper bound on the JSON header (the reference implementation allows 100 MB; qsafe keeps
/// its memory bounded).
pub const MAX_HEADER: u64 = 32 << 20;

/// Where a tensor lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Element type (`F32`, `BF16`, …).
    pub dtype: String,
    /// Dimensions.
    pub shape: Vec<u64>,
    /// Offset of the first byte in the plaintext file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

fn bad(why: impl Into<String>) -> Error {
    Error::Safetensors(why.into())
}

/// Reads the JSON header: `(map, start of the byte buffer)`.
pub fn read_header<R: Read + Seek>(ra: &mut RandomAccess<R>) -> Result<(Map<String, Value>, u64)> {
    if ra.len() < 8 {
        return Err(bad("the file is shorter than the 8-byte header size"));
    }
    let mut size = [0u8; 8];
    size.copy_from_slice(&ra.read_range(0, 8)?);
    let n = u64::from_le_bytes(size);
    if n > MAX_HEADER || n > ra.len() - 8 {
        return Err(bad(format!(
            "header size {n} is larger than the file or the {MAX_HEADER}-byte limit; \
             is this a safetensors file?"
        )));
    }
    let raw = ra.read_range(8, n)?;
    let map: Map<String, Value> = serde_json::from_slice(&raw)
        .map_err(|e| bad(format!("the header is not a JSON object: {e}")))?;
    Ok((map, 8 + n))
}

/// Finds `name` in the header, checking its offsets against the file.
pub fn find(
    header: &Map<String, Value>,
    data_start: u64,
    file_len: u64,
    name: &str,
) -> Result<TensorInfo> {
    let entry = header
        .get(name)
        .filter(|_| name != "__metadata__")
        .ok_or_else(|| {
            let mut names: Vec<&str> = header
                .keys()
                .map(String::as_str)
                .filter(|k| *k != "__metadata__")
                .collect();
            names.sort_unstable();
            let shown = names
                .iter()
                .take(20)
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            bad(format!(
                "no tensor named {name:?}; the file has {} tensors: {shown}{}",
                names.len(),
                if names.len() > 20 { ", …" } else { "" }
            ))
        })?;
    let dtype = entry
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("tensor {name:?} has no dtype")))?;
    let shape = entry
        .get("shape")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<_>>>())
        .ok_or_else(|| bad(format!("tensor {name:?} has no valid shape")))?;
    let offsets = entry
        .get("data_offsets")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<_>>>())
        .filter(|o| o.len() == 2)
        .ok_or_else(|| bad(format!("tensor {name:?} has no valid data_offsets")))?;
    let (begin, end) = (
        offsets.first().copied().unwrap_or(0),
        offsets.get(1).copied().unwrap_or(0),
    );
    let data_len = file_len.saturating_sub(data_start);
    if begin > end || end > data_len {
        return Err(bad(format!(
            "tensor {name:?} claims bytes {begin}..{end} of a {data_len}-byte buffer"
        )));
    }
    Ok(TensorInfo {
        dtype: dtype.to_string(),
        shape,
        offset: data_start + begin,
        len: end - begin,
    })
}

/// Writes a safetensors file holding only tensor `name` (and the source's `__metadata__`),
/// decrypting only its chunks, in bounded memory.
pub fn extract_tensor<R: Read + Seek>(
    ra: &mut RandomAccess<R>,
    name: &str,
    out: &mut impl Write,
) -> Result<TensorInfo> {
    let (header, data_start) = read_header(ra)?;
    let info = find(&header, data_start, ra.len(), name)?;
    let mut single = Map::new();
    if let Some(meta) = header.get("__metadata__") {
        single.insert("__metadata__".into(), meta.clone());
    }
    single.insert(
        name.into(),
        json!({ "dtype": info.dtype, "shape": info.shape, "data_offsets": [0, info.len] }),
    );
    let mut text = serde_json::to_vec(&single).map_err(|e| bad(e.to_string()))?;
    // The reference implementation pads the header with spaces to a multiple of 8.
    while text.len() % 8 != 0 {
        text.push(b' ');
    }
    out.write_all(&(text.len() as u64).to_le_bytes())?;
    out.write_all(&text)?;
    copy_range(ra, info.offset, info.len, out)?;
    Ok(info)
}

/// Copies a plaintext range to `out`, one megabyte at a time.
pub fn copy_range<R: Read + Seek>(
    ra: &mut RandomAccess<R>,
    offset: u64,
    len: u64,
    out: &mut impl Write,
) -> Result<()> {
    const STEP: u64 = 1 << 20;
    let end = offset.checked_add(len).ok_or(Error::Range {
        offset,
        len,
        size: ra.len(),
    })?;
    if end > ra.len() {
        return Err(Error::Range {
            offset,
            len,
            size: ra.len(),
        });
    }
    let mut at = offset;
    while at < end {
        let n = STEP.min(end - at);
        out.write_all(&ra.read_range(at, n)?)?;
        at += n;
    }
    Ok(())
}
