//! The IDX format of (Fashion-)MNIST, raw or gzip-compressed.
//!
//! A file is a 4-byte magic number — two zero bytes, the element type (`0x08`: unsigned
//! byte) and the number of dimensions — then each dimension as a big-endian `u32`, then the
//! elements in row-major order. The first dimension counts the records (images or labels).

use crate::error::{DataError, Result};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The element type code of unsigned bytes, the only one the (Fashion-)MNIST files use.
pub const UBYTE: u8 = 0x08;
/// The first two bytes of a gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// The most bytes a gzip-compressed IDX file may decompress to (Fashion-MNIST's largest
/// holds 47 MB): a stream that inflates beyond it is rejected before it fills the memory.
pub const MAX_DECOMPRESSED: u64 = 1 << 30;

/// The decompressed bytes of the gzip stream `raw`, at most `limit` of them.
fn gunzip(path: &Path, raw: &[u8], limit: u64) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len().saturating_mul(2).min(limit as usize));
    GzDecoder::new(raw)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            DataError::corrupt(
                path,
                format!("not a readable gzip stream ({e}); truncated download?"),
            )
        })?;
    if out.len() as u64 > limit {
        return Err(DataError::corrupt(
            path,
            format!("decompresses to more than {limit} bytes; not a (Fashion-)MNIST file"),
        ));
    }
    Ok(out)
}

/// The contents of one IDX file of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The file it was read from.
    pub path: PathBuf,
    /// The dimensions; the first counts the records.
    pub dims: Vec<usize>,
    /// The elements, row-major.
    pub data: Vec<u8>,
}

impl IdxArray {
    /// Read `path`, decompressing it when it starts with gzip's magic bytes, and check the
    /// header against `expected_dims` (the number of dimensions) and the data against the
    /// header.
    ///
    /// Errors: a missing file ([`DataError::Missing`] with `hint`), a broken gzip stream, a
    /// wrong magic number, element type or number of dimensions, a header that ends early, a
    /// zero dimension, data that is truncated (naming the first incomplete record) or
    /// longer than the header says, and a gzip stream that decompresses to more than
    /// [`MAX_DECOMPRESSED`] bytes — all [`DataError::Corrupt`] naming the file.
    pub fn read(path: impl AsRef<Path>, expected_dims: usize, hint: &str) -> Result<Self> {
        let path = path.as_ref();
        let raw = std::fs::read(path)
            .map_err(|source| DataError::read("Fashion-MNIST", path, hint, source))?;
        let bytes = if raw.starts_with(&GZIP_MAGIC) {
            gunzip(path, &raw, MAX_DECOMPRESSED)?
        } else {
            raw
        };
        Self::parse(path, &bytes, expected_dims)
    }

    /// Check and split the (decompressed) bytes of an IDX file; `path` names it in errors.
    pub fn parse(path: &Path, bytes: &[u8], expected_dims: usize) -> Result<Self> {
        let corrupt = |reason: String| DataError::corrupt(path, reason);
        if bytes.len() < 4 {
            return Err(corrupt(format!(
                "{} bytes; an IDX file starts with a 4-byte magic number",
                bytes.len()
            )));
        }
        let (zeros, kind, ndims) = (&bytes[..2], bytes[2], bytes[3] as usize);
        if zeros != [0, 0] {
            return Err(corrupt(format!(
                "magic number {:02x}{:02x}{:02x}{:02x} does not start with two zero bytes \
                 (not an IDX file)",
                bytes[0], bytes[1], bytes[2], bytes[3]
            )));
        }
        if kind != UBYTE {
            return Err(corrupt(format!(
                "element type 0x{kind:02x}; expected 0x{UBYTE:02x} (unsigned bytes)"
            )));
        }
        if ndims != expected_dims {
            return Err(corrupt(format!(
                "{ndims} dimensions; expected {expected_dims} (magic number 0x0000{UBYTE:02x}{expected_dims:02x})"
            )));
        }
        if ndims == 0 {
            return Err(corrupt(
                "0 dimensions; an IDX file of records has at least one".to_string(),
            ));
        }
        let header = 4 + 4 * ndims;
        if bytes.len() < header {
            return Err(corrupt(format!(
                "the header of {ndims} dimensions needs {header} bytes; the file has {}",
                bytes.len()
            )));
        }
        let dims: Vec<usize> = bytes[4..header]
            .chunks_exact(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .collect();
        if let Some(d) = dims.iter().position(|&d| d == 0) {
            return Err(corrupt(format!("dimension {d} is 0 ({dims:?})")));
        }
        let overflow = || corrupt(format!("dimensions {dims:?} overflow"));
        let record = dims[1..]
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(overflow)?;
        let expected = dims[0].checked_mul(record).ok_or_else(overflow)?;
        let data = &bytes[header..];
        if data.len() < expected {
            return Err(DataError::Corrupt {
                path: path.to_path_buf(),
                record: Some(data.len() / record),
                reason: format!(
                    "truncated: {} of the {expected} data bytes of {} records of {record} \
                     byte(s) ({dims:?})",
                    data.len(),
                    dims[0]
                ),
            });
        }
        if data.len() > expected {
            return Err(corrupt(format!(
                "{} bytes after the last of {} records ({dims:?}); the header and the data \
                 disagree",
                data.len() - expected,
                dims[0]
            )));
        }
        Ok(Self {
            path: path.to_path_buf(),
            dims,
            data: data.to_vec(),
        })
    }

    /// Number of records (the first dimension).
    pub fn len(&self) -> usize {
        self.dims[0]
    }

    /// Whether there are no records (never, for a checked file).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Encode `data` of `dims` as an IDX file of unsigned bytes (the inverse of
/// [`IdxArray::parse`]; for tests and tools that write data sets).
///
/// ```
/// use burn_prune_vision::idx::{IdxArray, encode};
///
/// let bytes = encode(&[2, 3], &[1, 2, 3, 4, 5, 6]);
/// assert_eq!(&bytes[..4], &[0, 0, 0x08, 2]);
/// let back = IdxArray::parse("t.idx".as_ref(), &bytes, 2).unwrap();
/// assert_eq!(back.dims, [2, 3]);
/// assert_eq!(back.data, [1, 2, 3, 4, 5, 6]);
/// ```
pub fn encode(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, UBYTE, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    #[test]
    fn a_stream_that_inflates_beyond_the_limit_is_rejected() {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&vec![0u8; 10_000]).unwrap();
        let raw = gz.finish().unwrap();
        let path = Path::new("bomb.gz");
        assert_eq!(gunzip(path, &raw, 10_000).unwrap().len(), 10_000);
        let e = gunzip(path, &raw, 9_999).unwrap_err().to_string();
        assert!(
            e.contains("bomb.gz") && e.contains("more than 9999 bytes"),
            "{e}"
        );
    }
}
