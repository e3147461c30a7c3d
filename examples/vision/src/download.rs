//! Fetching the official CIFAR-10 archive: resumable download, MD5 check, extraction.

use crate::cifar10::{RECORD_BYTES, RECORDS_PER_FILE, files};
use crate::dataset::Split;
use crate::error::{DataError, Result};
use flate2::read::GzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use md5::{Digest, Md5};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The official binary archive (Krizhevsky 2009).
pub const CIFAR10_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
/// Its MD5, as published on the dataset's page.
pub const CIFAR10_MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";
/// The archive's file name.
pub const ARCHIVE: &str = "cifar-10-binary.tar.gz";
/// The directory the archive unpacks to.
pub const BATCHES_DIR: &str = "cifar-10-batches-bin";

/// Where and what to download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Download {
    /// The archive's URL (`http://` or `https://`).
    pub url: String,
    /// Its expected MD5, lowercase hex.
    pub md5: String,
    /// Whether to draw a progress bar (bytes, throughput, ETA) on the terminal.
    pub progress: bool,
}

impl Default for Download {
    fn default() -> Self {
        Self {
            url: CIFAR10_URL.into(),
            md5: CIFAR10_MD5.into(),
            progress: true,
        }
    }
}

/// Whether `dir` already holds both splits at the official sizes.
pub fn is_complete(dir: impl AsRef<Path>) -> bool {
    let expected = (RECORDS_PER_FILE * RECORD_BYTES) as u64;
    [Split::Train, Split::Test].iter().all(|split| {
        files(*split).iter().all(|f| {
            std::fs::metadata(dir.as_ref().join(BATCHES_DIR).join(f))
                .is_ok_and(|m| m.len() == expected)
        })
    })
}

impl Download {
    /// Make `root/cifar-10-batches-bin` hold the dataset and return that directory.
    ///
    /// Nothing is fetched when the files are already there. Otherwise the archive is
    /// downloaded to `root/cifar-10-binary.tar.gz.part`, resuming from its current length
    /// with an HTTP range request when a previous download was interrupted (a server that
    /// ignores the range sends the whole file, which replaces the part), checked against
    /// [`md5`](Self::md5), renamed, and unpacked.
    ///
    /// Errors: network and I/O errors naming the URL or file; an archive whose MD5 differs
    /// (the part file is removed, so the next run starts over); an archive without the
    /// expected files.
    pub fn fetch(&self, root: impl AsRef<Path>) -> Result<PathBuf> {
        let root = root.as_ref();
        let dir = root.join(BATCHES_DIR);
        if is_complete(root) {
            return Ok(dir);
        }
        std::fs::create_dir_all(root).map_err(|source| io(root, source))?;
        let archive = root.join(ARCHIVE);
        if !archive.exists() {
            let part = root.join(format!("{ARCHIVE}.part"));
            self.download(&part)?;
            let digest = md5_of(&part)?;
            if digest != self.md5 {
                let _ = std::fs::remove_file(&part);
                return Err(DataError::Corrupt {
                    path: part,
                    record: None,
                    reason: format!(
                        "MD5 {digest}, expected {} (removed; run again to download anew)",
                        self.md5
                    ),
                });
            }
            std::fs::rename(&part, &archive).map_err(|source| io(&archive, source))?;
        }
        unpack(&archive, root)?;
        if !is_complete(root) {
            return Err(DataError::Corrupt {
                path: archive,
                record: None,
                reason: format!(
                    "it does not unpack to {BATCHES_DIR}/ with data_batch_1..5.bin and \
                     test_batch.bin of {} bytes each",
                    RECORDS_PER_FILE * RECORD_BYTES
                ),
            });
        }
        Ok(dir)
    }

    /// Download (or finish downloading) the archive into `part`.
    fn download(&self, part: &Path) -> Result<()> {
        let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        let mut request = ureq::get(&self.url);
        if have > 0 {
            request = request.set("Range", &format!("bytes={have}-"));
        }
        let response = request.call().map_err(|e| DataError::Network {
            url: self.url.clone(),
            reason: e.to_string(),
        })?;
        let resumed = have > 0 && response.status() == 206;
        let length: Option<u64> = response
            .header("Content-Length")
            .and_then(|v| v.parse().ok());
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(resumed)
            .truncate(!resumed)
            .open(part)
            .map_err(|source| io(part, source))?;
        let start = if resumed { have } else { 0 };
        let bar = if self.progress {
            let bar = ProgressBar::new(start + length.unwrap_or(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_message(if resumed {
                "resuming CIFAR-10"
            } else {
                "CIFAR-10"
            });
            bar.set_position(start);
            bar
        } else {
            ProgressBar::hidden()
        };
        let mut reader = response.into_reader();
        let mut buffer = vec![0u8; 1 << 16];
        let mut received = 0u64;
        loop {
            let n = reader.read(&mut buffer).map_err(|e| DataError::Network {
                url: self.url.clone(),
                reason: format!(
                    "interrupted after {} bytes ({e}); run again to resume",
                    start + received
                ),
            })?;
            if n == 0 {
                break;
            }
            file.write_all(&buffer[..n])
                .map_err(|source| io(part, source))?;
            received += n as u64;
            bar.inc(n as u64);
        }
        bar.finish_and_clear();
        if let Some(length) = length
            && received < length
        {
            return Err(DataError::Network {
                url: self.url.clone(),
                reason: format!(
                    "the connection closed after {} of {} bytes; run again to resume",
                    start + received,
                    start + length
                ),
            });
        }
        Ok(())
    }
}

/// The MD5 of a file, lowercase hex.
pub fn md5_of(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|source| io(path, source))?;
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer).map_err(|source| io(path, source))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Unpack a `.tar.gz` into `root`.
fn unpack(archive: &Path, root: &Path) -> Result<()> {
    let file = File::open(archive).map_err(|source| io(archive, source))?;
    tar::Archive::new(GzDecoder::new(file))
        .unpack(root)
        .map_err(|e| DataError::Corrupt {
            path: archive.to_path_buf(),
            record: None,
            reason: format!("cannot unpack it: {e}"),
        })
}

fn io(path: &Path, source: std::io::Error) -> DataError {
    DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}
