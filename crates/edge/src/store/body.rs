//! [`ObjectBody`]: a stored body, on the heap or in the store's body arena.

use std::io;
use std::ops::Range;

use bytes::Bytes;
use edgelab_common::arena::FileBody;
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
