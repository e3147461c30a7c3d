//! The downloader against a local HTTP server on loopback: a full fetch, an interrupted
//! download resumed with a range request, a server that ignores ranges, a bad checksum.

use burn::data::dataset::Dataset;
use burn_prune_vision::*;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// A `.tar.gz` of `cifar-10-batches-bin/` with the six files at full size (generated).
fn archive() -> &'static Vec<u8> {
    static ARCHIVE: OnceLock<Vec<u8>> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        for split in [Split::Train, Split::Test] {
            for (f, name) in cifar10::files(split).iter().enumerate() {
                let mut bytes = Vec::with_capacity(RECORDS_PER_FILE * RECORD_BYTES);
                for r in 0..RECORDS_PER_FILE {
                    bytes.push(((r + f) % 10) as u8);
                    bytes.extend((0..IMAGE_BYTES).map(|i| ((i + r) % 256) as u8));
                }
                let mut header = tar::Header::new_gnu();
                header.set_size(bytes.len() as u64);
                header.set_mode(0o644);
                header.set_cksum();
                tar.append_data(
                    &mut header,
                    format!("{BATCHES_DIR}/{name}"),
                    bytes.as_slice(),
                )
                .unwrap();
            }
        }
        tar.into_inner().unwrap().finish().unwrap()
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    Normal,
    /// The first response announces the whole length and closes halfway.
    CutFirst,
    /// Answers every request with the whole file (200), ranges ignored.
    IgnoreRanges,
}

/// Serves `archive()` on loopback; returns the URL and the request lines with their Range
/// headers, as received.
fn serve(behaviour: Behaviour) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/{ARCHIVE}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    std::thread::spawn(move || {
        for (k, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut range = None;
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let request = line.trim().to_string();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap() == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.trim().strip_prefix("Range: bytes=") {
                    range = v.trim_end_matches('-').parse::<usize>().ok();
                }
            }
            seen.lock()
                .unwrap()
                .push(format!("{request} range={range:?}"));
            let body = archive();
            let from = match (behaviour, range) {
                (Behaviour::IgnoreRanges, _) | (_, None) => 0,
                (_, Some(n)) => n,
            };
            let head = if from > 0 {
                format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{}/{}\r\nConnection: close\r\n\r\n",
                    body.len() - from,
                    body.len() - 1,
                    body.len()
                )
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
            };
            stream.write_all(head.as_bytes()).unwrap();
            let end = if behaviour == Behaviour::CutFirst && k == 0 {
                body.len() / 2
            } else {
                body.len()
            };
            let _ = stream.write_all(&body[from..end]);
        }
    });
    (url, log)
}

fn root(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cifar10-dl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn md5_hex(bytes: &[u8]) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("cifar10-md5-{}-{k}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let digest = md5_of(&path).unwrap();
    std::fs::remove_file(path).unwrap();
    digest
}

fn download(url: String) -> Download {
    Download {
        url,
        md5: md5_hex(archive()),
        progress: false,
    }
}

#[test]
fn md5_of_a_known_string() {
    // RFC 1321's test suite: MD5("abc").
    assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
}

#[test]
fn fetch_downloads_checks_unpacks_and_then_stays_offline() {
    let (url, log) = serve(Behaviour::Normal);
    let root = root("full");
    let dir = download(url.clone()).fetch(&root).unwrap();
    assert_eq!(
        Cifar10Dataset::new(&dir, Split::Train).unwrap().len(),
        50_000
    );
    assert_eq!(
        Cifar10Dataset::new(&dir, Split::Test).unwrap().len(),
        10_000
    );
    assert_eq!(log.lock().unwrap().len(), 1);
    // Complete: no request at all.
    download(url).fetch(&root).unwrap();
    assert_eq!(log.lock().unwrap().len(), 1);
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn an_interrupted_download_resumes_with_a_range_request() {
    let (url, log) = serve(Behaviour::CutFirst);
    let root = root("resume");
    let err = download(url.clone()).fetch(&root).unwrap_err().to_string();
    assert!(err.contains("resume"), "{err}");
    let half = archive().len() / 2;
    let part = root.join(format!("{ARCHIVE}.part"));
    assert_eq!(std::fs::metadata(&part).unwrap().len() as usize, half);
    let dir = download(url).fetch(&root).unwrap();
    assert!(log.lock().unwrap()[1].ends_with(&format!("range=Some({half})")));
    assert_eq!(
        Cifar10Dataset::new(&dir, Split::Test).unwrap().len(),
        10_000
    );
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_server_ignoring_ranges_restarts_the_file() {
    let (url, _) = serve(Behaviour::IgnoreRanges);
    let root = root("norange");
    std::fs::create_dir_all(&root).unwrap();
    // A stale part file: the full answer replaces it.
    std::fs::write(root.join(format!("{ARCHIVE}.part")), vec![7u8; 1000]).unwrap();
    let dir = download(url).fetch(&root).unwrap();
    assert_eq!(
        Cifar10Dataset::new(&dir, Split::Train).unwrap().len(),
        50_000
    );
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_wrong_checksum_is_an_error_and_the_part_is_removed() {
    let (url, _) = serve(Behaviour::Normal);
    let root = root("md5");
    let mut d = download(url);
    d.md5 = "00000000000000000000000000000000".into();
    let err = d.fetch(&root).unwrap_err().to_string();
    assert!(
        err.contains("MD5") && err.contains(&md5_hex(archive())),
        "{err}"
    );
    assert!(!root.join(format!("{ARCHIVE}.part")).exists());
    // No server at all: a network error naming the URL.
    let err = Download {
        url: "http://127.0.0.1:9/cifar.tar.gz".into(),
        md5: CIFAR10_MD5.into(),
        progress: false,
    }
    .fetch(&root)
    .unwrap_err()
    .to_string();
    assert!(err.contains("127.0.0.1:9"), "{err}");
    std::fs::remove_dir_all(root).unwrap();
}
