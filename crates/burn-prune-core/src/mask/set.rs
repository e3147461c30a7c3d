//! Mask sets: masks keyed by parameter path, independent of any model, with serde.

use super::BitMask;
use crate::address::ParamAddress;
use crate::error::{PruneError, Result};
use crate::granularity::{Granularity, Layout, UnitMap};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The keep mask of one parameter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamMask {
    /// The parameter path.
    pub path: String,
    /// The parameter shape.
    pub shape: Vec<usize>,
    /// The granularity the mask was computed at.
    pub granularity: Granularity,
    /// How the parameter's axes were read (outputs, inputs).
    pub layout: Layout,
    /// One bit per element, row-major, set where the element is kept.
    pub keep: BitMask,
}

impl ParamMask {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.keep.len()
    }

    /// Number of pruned elements.
    pub fn pruned(&self) -> usize {
        self.keep.count_zeros()
    }

    /// Fraction of elements kept.
    pub fn density(&self) -> f64 {
        if self.numel() == 0 {
            1.0
        } else {
            self.keep.count_ones() as f64 / self.numel() as f64
        }
    }

    /// `(units, pruned units)` at the mask's granularity: a unit counts as pruned when every
    /// element of it is pruned. N:M masks count elements.
    pub fn unit_counts(&self) -> (usize, usize) {
        let map = match self.granularity {
            Granularity::NM { .. } | Granularity::Element => None,
            g => UnitMap::new(&self.path, &self.shape, self.layout, g).ok(),
        };
        match map {
            None => (self.numel(), self.pruned()),
            Some(map) => {
                let mut kept_in_unit = vec![false; map.n_units()];
                let words = self.keep.words();
                map.for_each(|e, u| kept_in_unit[u] |= words[e / 64] >> (e % 64) & 1 == 1);
                (map.n_units(), kept_in_unit.iter().filter(|k| !**k).count())
            }
        }
    }

    fn check(&self) -> Result<()> {
        // Checked: a shape read from a file can overflow.
        let numel = self.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if numel != Some(self.keep.len()) {
            return Err(PruneError::Format(format!(
                "mask for `{}` has {} bits but its shape {:?} has {} elements",
                self.path,
                self.keep.len(),
                self.shape,
                numel.map_or("more than usize::MAX".to_string(), |n| n.to_string())
            )));
        }
        Ok(())
    }
}

/// Masks of several parameters, keyed by path, in model order.
///
/// A mask set lives apart from the model: export it (JSON, or a compact binary form with one
/// bit per weight), import it, check it against a model, install it with
/// [`install_masks`](crate::install_masks).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskSet {
    masks: Vec<ParamMask>,
}

const MAGIC: &[u8; 8] = b"BPMASK01";
const FORMAT: &str = "burn-prune-masks";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Envelope {
    format: String,
    version: u32,
    masks: Vec<ParamMask>,
}

impl MaskSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add or replace the mask of `mask.path`.
    pub fn insert(&mut self, mask: ParamMask) -> Result<()> {
        mask.check()?;
        match self.masks.iter_mut().find(|m| m.path == mask.path) {
            Some(slot) => *slot = mask,
            None => self.masks.push(mask),
        }
        Ok(())
    }

    /// The mask of a parameter.
    pub fn get(&self, path: &str) -> Option<&ParamMask> {
        self.masks.iter().find(|m| m.path == path)
    }

    /// All masks, in insertion (model) order.
    pub fn iter(&self) -> impl Iterator<Item = &ParamMask> {
        self.masks.iter()
    }

    /// Number of masked parameters.
    pub fn len(&self) -> usize {
        self.masks.len()
    }

    /// Whether the set holds no mask.
    pub fn is_empty(&self) -> bool {
        self.masks.is_empty()
    }

    /// Total and pruned element counts over all masks.
    pub fn counts(&self) -> (usize, usize) {
        self.masks
            .iter()
            .fold((0, 0), |(n, p), m| (n + m.numel(), p + m.pruned()))
    }

    /// Keep only what both sets keep (masks present in one set only are kept as they are).
    pub fn intersect(&self, other: &MaskSet) -> Result<MaskSet> {
        let mut out = self.clone();
        for m in &other.masks {
            match out.masks.iter_mut().find(|x| x.path == m.path) {
                None => out.masks.push(m.clone()),
                Some(x) => {
                    if x.shape != m.shape {
                        return Err(PruneError::ShapeMismatch {
                            path: m.path.clone(),
                            mask: m.shape.clone(),
                            param: x.shape.clone(),
                        });
                    }
                    x.keep = x.keep.and(&m.keep).expect("same shape, same length");
                }
            }
        }
        Ok(out)
    }

    /// Check every mask against a model's parameters: the path must exist and the shapes agree.
    pub fn validate(&self, params: &[ParamAddress]) -> Result<()> {
        for m in &self.masks {
            let param = params.iter().find(|p| p.path == m.path).ok_or_else(|| {
                PruneError::UnknownParam {
                    path: m.path.clone(),
                    hint: nearest_hint(&m.path, params),
                }
            })?;
            if param.shape != m.shape {
                return Err(PruneError::ShapeMismatch {
                    path: m.path.clone(),
                    mask: m.shape.clone(),
                    param: param.shape.clone(),
                });
            }
        }
        Ok(())
    }

    /// Serialize as JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(&Envelope {
            format: FORMAT.into(),
            version: VERSION,
            masks: self.masks.clone(),
        })
        .map_err(|e| PruneError::Format(e.to_string()))
    }

    /// Parse JSON written by [`MaskSet::to_json`], checking its consistency.
    pub fn from_json(json: &str) -> Result<Self> {
        let env: Envelope =
            serde_json::from_str(json).map_err(|e| PruneError::Format(e.to_string()))?;
        Self::from_envelope(env)
    }

    /// Serialize in the compact binary form: an 8-byte magic, then the set in `postcard`
    /// encoding (one bit per weight, varint-packed words).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = MAGIC.to_vec();
        let body = postcard::to_stdvec(&Envelope {
            format: FORMAT.into(),
            version: VERSION,
            masks: self.masks.clone(),
        })
        .map_err(|e| PruneError::Format(e.to_string()))?;
        out.extend(body);
        Ok(out)
    }

    /// Parse the binary form written by [`MaskSet::to_bytes`], checking its consistency.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let body = bytes.strip_prefix(MAGIC.as_slice()).ok_or_else(|| {
            PruneError::Format("not a burn-prune binary mask set (bad magic)".into())
        })?;
        let env: Envelope =
            postcard::from_bytes(body).map_err(|e| PruneError::Format(e.to_string()))?;
        Self::from_envelope(env)
    }

    /// Write to a file: binary when the extension is `.bin` or `.masks`, JSON otherwise;
    /// atomically ([`write_atomic`](crate::write_atomic)).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = if is_binary(path) {
            self.to_bytes()?
        } else {
            self.to_json()?.into_bytes()
        };
        crate::write_atomic(path, &bytes).map_err(|e| io_error(path, e))
    }

    /// Read a file written by [`MaskSet::save`] (the format is recognised by its content). A
    /// malformed file is a [`PruneError::Format`] naming it.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
        let parsed = if bytes.starts_with(MAGIC) {
            Self::from_bytes(&bytes)
        } else {
            match String::from_utf8(bytes) {
                Ok(text) => Self::from_json(&text),
                Err(_) => Err(PruneError::Format(
                    "neither JSON nor a binary mask set".into(),
                )),
            }
        };
        parsed.map_err(|e| match e {
            PruneError::Format(reason) => {
                PruneError::Format(format!("`{}`: {reason}", path.display()))
            }
            other => other,
        })
    }

    fn from_envelope(env: Envelope) -> Result<Self> {
        if env.format != FORMAT {
            return Err(PruneError::Format(format!(
                "unknown format `{}`",
                env.format
            )));
        }
        if env.version != VERSION {
            return Err(PruneError::Format(format!(
                "unsupported version {} (this build reads {VERSION})",
                env.version
            )));
        }
        let mut set = MaskSet::new();
        for m in env.masks {
            if set.get(&m.path).is_some() {
                return Err(PruneError::Format(format!(
                    "duplicate mask for `{}`",
                    m.path
                )));
            }
            set.insert(m)?;
        }
        Ok(set)
    }
}

fn is_binary(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("bin" | "masks")
    )
}

fn io_error(path: &Path, e: std::io::Error) -> PruneError {
    PruneError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// `" (did you mean `x`?)"` for the known path sharing the longest suffix, or nothing.
pub(crate) fn nearest_hint(path: &str, params: &[ParamAddress]) -> String {
    let common = |a: &str, b: &str| {
        a.bytes()
            .rev()
            .zip(b.bytes().rev())
            .take_while(|(x, y)| x == y)
            .count()
    };
    params
        .iter()
        .max_by_key(|p| common(&p.path, path))
        .filter(|p| common(&p.path, path) > 0)
        .map(|p| format!(" (did you mean `{}`?)", p.path))
        .unwrap_or_default()
}
