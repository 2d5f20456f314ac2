//! [`ObjectBody`]: a stored body, on the heap or in the store's body arena.

use std::io;
use std::ops::{Range, RangeInclusive};

use bytes::Bytes;
use edgelab_common::arena::{BodyArena, ExtentWriter, FileBody};
use edgelab_common::body::{self, Body};

/// Bodies at least this large (and at most [`FILE_BODY_MAX`]) are kept in the store's body
/// arena when it has room and the length is known before the body arrives: a hit on one is
/// sent with `sendfile` from its pages, where a heap body is copied into the socket. Smaller
/// ones stay on the heap: below a few pages the copy costs less than the extra system call,
/// and a page of its own would waste most of it.
pub const FILE_BODY_MIN: u64 = 16 * 1024;

/// Bodies larger than this stay on the heap. Measured on loopback (docs/request-lifecycle.md,
/// "Bodies sent from the arena"): `sendfile` beats the copy from 16 KiB to 256 KiB at 16, 64
/// and 256 connections, is mixed at 512 KiB and costs up to 2.5x the copy's CPU at 1 MiB,
/// where the receiving side of loopback TCP (which runs on the sender's core) does worse with
/// page-cache pages than with the copy's large buffers.
pub const FILE_BODY_MAX: u64 = 256 * 1024;

/// The store's body arena and the sizes of the bodies it takes ([`FILE_BODY_MIN`] to
/// [`FILE_BODY_MAX`] unless `EDGELAB_FILE_BODIES` says otherwise, see [`file_body_sizes`]).
#[derive(Debug, Clone)]
pub struct FileBodies {
    arena: BodyArena,
    sizes: RangeInclusive<u64>,
}

impl FileBodies {
    /// Bodies of `sizes` bytes written into `arena`.
    pub fn new(arena: BodyArena, sizes: RangeInclusive<u64>) -> Self {
        Self { arena, sizes }
    }

    /// The arena.
    pub fn arena(&self) -> &BodyArena {
        &self.arena
    }

    /// A writer of a body of `len` bytes: `None` when the arena does not take that size or
    /// has no room for it (the body is then kept on the heap).
    pub fn writer(&self, len: u64) -> Option<ExtentWriter> {
        if self.sizes.contains(&len) {
            self.arena.writer(len)
        } else {
            None
        }
    }
}

/// The sizes of the bodies an edge keeps in its arena, from the value of
/// `EDGELAB_FILE_BODIES`: unset or `1`, [`FILE_BODY_MIN`] to [`FILE_BODY_MAX`]; `0`, none
/// (`None`); `MIN-MAX`, bodies of MIN to MAX bytes, each a number of bytes or of KiB / MiB with
/// `k` / `m` (`16k-1m`), for measuring where the arena pays. An error names the variable and
/// the value.
pub fn file_body_sizes(value: Option<&str>) -> Result<Option<RangeInclusive<u64>>, String> {
    let name = edgelab_common::names::env::FILE_BODIES;
    let value = value.map(str::trim);
    let sizes = match value {
        None | Some("1") => Some(FILE_BODY_MIN..=FILE_BODY_MAX),
        Some("0") => None,
        Some(range) => {
            let bad = || {
                format!(
                    "{name}={range:?}: expected 0 (off), 1 (on, {FILE_BODY_MIN}-{FILE_BODY_MAX} bytes) \
                     or MIN-MAX in bytes, k (KiB) or m (MiB), MIN at least 1 and at most MAX"
                )
            };
            let (min, max) = range.split_once('-').ok_or_else(bad)?;
            let (min, max) = (size(min).ok_or_else(bad)?, size(max).ok_or_else(bad)?);
            if min == 0 || min > max {
                return Err(bad());
            }
            Some(min..=max)
        }
    };
    Ok(sizes)
}

/// `4096`, `16k` or `1m` in bytes.
fn size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 1024),
        b'm' | b'M' => (&text[..text.len() - 1], 1024 * 1024),
        _ => (text, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

/// A whole stored body.
#[derive(Debug, Clone)]
pub enum ObjectBody {
    /// On the heap.
    Memory(Bytes),
    /// In the store's body arena.
    File(FileBody),
}

impl Default for ObjectBody {
    fn default() -> Self {
        ObjectBody::Memory(Bytes::new())
    }
}

impl From<Bytes> for ObjectBody {
    fn from(bytes: Bytes) -> Self {
        ObjectBody::Memory(bytes)
    }
}

impl ObjectBody {
    /// Length in bytes.
    pub fn len(&self) -> usize {
        match self {
            ObjectBody::Memory(bytes) => bytes.len(),
            // A file body is no larger than the store's largest object, which fits memory.
            ObjectBody::File(file) => usize::try_from(file.len()).unwrap_or(usize::MAX),
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The memory it takes: its bytes, or its whole pages in the arena.
    pub fn footprint(&self) -> usize {
        match self {
            ObjectBody::Memory(bytes) => bytes.len(),
            ObjectBody::File(file) => usize::try_from(file.footprint()).unwrap_or(usize::MAX),
        }
    }

    /// Bytes `range` (within the body), copied out of the arena for a file body.
    pub fn slice(&self, range: Range<usize>) -> io::Result<Bytes> {
        match self {
            ObjectBody::Memory(bytes) => {
                if range.start > range.end || range.end > bytes.len() {
                    return Err(io::ErrorKind::InvalidInput.into());
                }
                Ok(bytes.slice(range))
            }
            ObjectBody::File(file) => file.read(range.start as u64..range.end as u64),
        }
    }

    /// The whole body as one `Bytes` (a copy for a file body).
    pub fn to_bytes(&self) -> io::Result<Bytes> {
        self.slice(0..self.len())
    }

    /// Bytes `range` as a response body: one frame from the heap, or frames read from the
    /// arena as it is sent (a failed read fails the body).
    pub fn response_body(&self, range: Range<usize>) -> Body {
        match self {
            ObjectBody::Memory(bytes) => {
                let end = range.end.min(bytes.len());
                body::full(bytes.slice(range.start.min(end)..end))
            }
            ObjectBody::File(file) => file.body(range.start as u64..range.end as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgelab_common::arena::{BodyArena, PAGE};
    use http_body_util::BodyExt;

    #[test]
    fn the_arena_s_sizes_come_from_the_variable_and_a_bad_value_is_named() {
        let default = Some(FILE_BODY_MIN..=FILE_BODY_MAX);
        assert_eq!(file_body_sizes(None), Ok(default.clone()));
        assert_eq!(file_body_sizes(Some("1")), Ok(default));
        assert_eq!(file_body_sizes(Some("0")), Ok(None));
        assert_eq!(
            file_body_sizes(Some("16k-1m")),
            Ok(Some(16 * 1024..=1024 * 1024))
        );
        assert_eq!(file_body_sizes(Some(" 4096-4096 ")), Ok(Some(4096..=4096)));
        for bad in [
            "",
            "2",
            "1m-16k",
            "0-16k",
            "16k",
            "k-1m",
            "16k-1x",
            "16k-99999999999999999m",
        ] {
            let error = file_body_sizes(Some(bad)).unwrap_err();
            assert!(
                error.starts_with("EDGELAB_FILE_BODIES=") && error.contains("MIN-MAX"),
                "{bad:?}: {error}"
            );
        }
    }

    #[test]
    fn the_arena_takes_only_bodies_of_its_sizes() {
        let bodies = FileBodies::new(BodyArena::new("test", 1 << 20).unwrap(), 100..=5000);
        assert!(bodies.writer(99).is_none());
        assert!(bodies.writer(100).is_some());
        assert!(bodies.writer(5000).is_some());
        assert!(bodies.writer(5001).is_none());
    }

    #[tokio::test]
    async fn heap_and_arena_bodies_answer_alike() {
        let bytes: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        let arena = BodyArena::new("test", 1 << 20).unwrap();
        let mut writer = arena.writer(bytes.len() as u64).unwrap();
        writer.write(&bytes).unwrap();
        let file = ObjectBody::File(writer.finish().unwrap());
        let memory = ObjectBody::from(Bytes::from(bytes.clone()));
        assert_eq!(file.footprint(), 10 * PAGE as usize);
        assert_eq!(memory.footprint(), 40_000);
        for body in [&file, &memory] {
            assert_eq!(body.len(), 40_000);
            assert_eq!(&body.slice(100..200).unwrap()[..], &bytes[100..200]);
            assert_eq!(&body.to_bytes().unwrap()[..], &bytes[..]);
            assert!(body.slice(0..40_001).is_err());
            let sent = body.response_body(5..39_000).collect().await.unwrap();
            assert_eq!(&sent.to_bytes()[..], &bytes[5..39_000]);
        }
    }
}
