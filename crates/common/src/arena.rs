//! [`BodyArena`]: stored bodies kept in one anonymous memory file, so a response can be sent
//! from it with `sendfile(2)` instead of being copied from the heap into the socket.
//!
//! A body written into the arena lies in its own extent of whole pages of a `memfd`
//! (anonymous shared memory: page cache with no file system behind it). Sending it is one
//! `sendfile` from the extent to the socket; the kernel takes the pages by reference where
//! the socket can (and copies them itself where it cannot), instead of the process copying
//! the body through a `write` of heap memory. When the last holder of a body drops it, its
//! pages are given back to the kernel (`fallocate` punching a hole) and its extent to the
//! allocator.
//!
//! The file is sized once, sparsely: it takes memory only where bodies are written. Pages
//! of the file are the kernel's shared memory (`Shmem` in `/proc/meminfo`, counted by the
//! memory cgroup), not the process's anonymous memory, so they do not show in its RSS.
//!
//! Everything here is safe calls through `rustix`: the file is written with `pwrite` and read
//! with `pread` or `sendfile`, never mapped (mapping would need `unsafe`, which this
//! workspace forbids). The extent bookkeeping is `range_alloc`'s best-fit allocator.

use std::io;
use std::ops::Range;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use range_alloc::RangeAllocator;
use rustix::fs::{FallocateFlags, MemfdFlags};

use crate::body::{Body, BoxError};

/// The arena's unit of allocation: a page, so a body's pages are its own and a hole punched
/// when it goes frees exactly them.
pub const PAGE: u64 = 4096;

/// Most bytes one `pread` of a body reads into a frame (a body read on the copying path, by
/// hyper or for a sink without `sendfile`, goes out in frames of at most this size). Measured
/// on hyper's path (docs/request-lifecycle.md, "Bodies sent from the arena"): 256 KiB bodies
/// cost 58-62 µs of CPU per hit in 64 KiB frames against 67-71 in one 256 KiB frame (a fresh
/// large allocation per hit; the heap build: 44-54).
pub const READ_FRAME: usize = 64 * 1024;

/// An anonymous memory file that stored bodies are written into (see the module docs).
/// Cheap to clone: clones share the file.
#[derive(Clone)]
pub struct BodyArena {
    inner: Arc<Inner>,
}

struct Inner {
    file: OwnedFd,
    /// Free extents, in pages.
    free: Mutex<RangeAllocator<u64>>,
    pages: u64,
}

impl std::fmt::Debug for BodyArena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyArena")
            .field("bytes", &(self.inner.pages * PAGE))
            .field("free_bytes", &self.free_bytes())
            .finish()
    }
}

impl BodyArena {
    /// An arena of `bytes` (rounded up to whole pages), taking no memory until written.
    pub fn new(name: &str, bytes: u64) -> io::Result<Self> {
        let pages = bytes.div_ceil(PAGE).max(1);
        let file = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC)?;
        rustix::fs::ftruncate(&file, pages * PAGE)?;
        Ok(Self {
            inner: Arc::new(Inner {
                file,
                free: Mutex::new(RangeAllocator::new(0..pages)),
                pages,
            }),
        })
    }

    /// Bytes of the arena not held by a body.
    pub fn free_bytes(&self) -> u64 {
        self.inner.lock().total_available() * PAGE
    }

    /// Bytes of the arena held by bodies (whole pages): memory the kernel keeps for them.
    pub fn used_bytes(&self) -> u64 {
        self.inner.pages * PAGE - self.free_bytes()
    }

    /// A writer of a body of exactly `len` bytes into an extent of its own, or `None` when
    /// no free extent is large enough (the body is then kept elsewhere) or `len` is 0.
    pub fn writer(&self, len: u64) -> Option<ExtentWriter> {
        if len == 0 {
            return None;
        }
        let pages = len.div_ceil(PAGE);
        let range = self.inner.lock().allocate_range(pages).ok()?;
        Some(ExtentWriter {
            extent: Extent {
                arena: self.inner.clone(),
                pages: range,
                len,
            },
            written: 0,
        })
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, RangeAllocator<u64>> {
        // The allocator's state is whole after every call: a poisoned lock is still usable.
        self.free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A body's pages in the arena; freed (pages and extent) when dropped.
struct Extent {
    arena: Arc<Inner>,
    pages: Range<u64>,
    len: u64,
}

impl Extent {
    fn offset(&self) -> u64 {
        self.pages.start * PAGE
    }
}

impl Drop for Extent {
    fn drop(&mut self) {
        let (offset, bytes) = (self.offset(), (self.pages.end - self.pages.start) * PAGE);
        // The pages go back to the kernel now; the extent is reused only once they have (a
        // failed punch would leave them resident and the extent is then leaked, not handed
        // out over pages that may still hold another body's bytes: it cannot fail on a
        // memfd, which supports hole punching).
        let punched = rustix::fs::fallocate(
            &self.arena.file,
            FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
            offset,
            bytes,
        );
        if punched.is_ok() {
            self.arena.lock().free_range(self.pages.clone());
        }
    }
}

/// Writes one body into its extent, in order; [`ExtentWriter::finish`] makes it a
/// [`FileBody`] once every byte is there.
pub struct ExtentWriter {
    extent: Extent,
    written: u64,
}

impl ExtentWriter {
    /// Appends `data`. An error (more bytes than the length given, or a failed write: the
    /// kernel out of memory) leaves the writer unusable; the caller keeps the body elsewhere.
    pub fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        if self.written + data.len() as u64 > self.extent.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "more bytes than the body's length",
            ));
        }
        while !data.is_empty() {
            let at = self.extent.offset() + self.written;
            let n = rustix::io::pwrite(&self.extent.arena.file, data, at)?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.written += n as u64;
            data = &data[n..];
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The body, or `None` while it is not whole (its extent is freed then).
    pub fn finish(self) -> Option<FileBody> {
        (self.written == self.extent.len).then(|| FileBody(Arc::new(self.extent)))
    }
}

/// A whole body in the arena. Cheap to clone; its pages are freed when the last clone goes.
#[derive(Clone)]
pub struct FileBody(Arc<Extent>);

impl std::fmt::Debug for FileBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileBody")
            .field("offset", &self.offset())
            .field("len", &self.len())
            .finish()
    }
}

impl FileBody {
    /// The body's length in bytes.
    pub fn len(&self) -> u64 {
        self.0.len
    }

    /// Whether the body is empty (never: an empty body is not put in the arena).
    pub fn is_empty(&self) -> bool {
        self.0.len == 0
    }

    /// The memory the body takes: its whole pages.
    pub fn footprint(&self) -> u64 {
        (self.0.pages.end - self.0.pages.start) * PAGE
    }

    /// The arena's file, for `sendfile`.
    pub fn file(&self) -> BorrowedFd<'_> {
        self.0.arena.file.as_fd()
    }

    /// Where the body starts in [`FileBody::file`].
    pub fn offset(&self) -> u64 {
        self.0.offset()
    }

    /// Bytes `range` of the body, copied out. Errors if the range is not within the body or
    /// the read fails.
    pub fn read(&self, range: Range<u64>) -> io::Result<Bytes> {
        if range.start > range.end || range.end > self.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "range outside the body",
            ));
        }
        let len = usize::try_from(range.end - range.start)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut buffer = Vec::with_capacity(len);
        while buffer.len() < len {
            let at = self.offset() + range.start + buffer.len() as u64;
            let n =
                rustix::io::pread(self.file(), rustix::buffer::spare_capacity(&mut buffer), at)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        // A read into spare room larger than asked may run past the range: cut it there.
        buffer.truncate(len);
        Ok(Bytes::from(buffer))
    }

    /// Bytes `range` of the body as a response body, read in frames of at most
    /// [`READ_FRAME`] as it is polled; a failed read fails the body (its receiver sees an
    /// error, never a short body that looks whole).
    pub fn body(&self, range: Range<u64>) -> Body {
        use http_body_util::BodyExt;
        let end = range.end.min(self.len());
        FileRead {
            file: self.clone(),
            at: range.start.min(end),
            end,
        }
        .boxed()
    }
}

/// A range of a [`FileBody`] read as a response body (see [`FileBody::body`]).
struct FileRead {
    file: FileBody,
    at: u64,
    end: u64,
}

impl http_body::Body for FileRead {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.at >= self.end {
            return Poll::Ready(None);
        }
        // A read of memory pages: it does not wait on a device, so it is done here.
        let to = self.end.min(self.at + READ_FRAME as u64);
        let frame = self.file.read(self.at..to);
        Poll::Ready(Some(match frame {
            Ok(bytes) => {
                self.at = to;
                Ok(Frame::data(bytes))
            }
            Err(error) => {
                self.at = self.end;
                Err(error.into())
            }
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.at >= self.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.end - self.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util::BodyExt;

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    }

    fn stored(arena: &BodyArena, bytes: &[u8], pieces: usize) -> FileBody {
        let mut writer = arena.writer(bytes.len() as u64).expect("room");
        for chunk in bytes.chunks(bytes.len().div_ceil(pieces)) {
            writer.write(chunk).unwrap();
        }
        writer.finish().expect("whole")
    }

    #[test]
    fn a_body_reads_back_as_written_in_any_range() {
        let arena = BodyArena::new("test", 1 << 20).unwrap();
        let bytes = pattern(20_000, 7);
        let body = stored(&arena, &bytes, 3);
        assert_eq!(body.len(), 20_000);
        assert_eq!(body.footprint(), 5 * PAGE);
        assert_eq!(&body.read(0..20_000).unwrap()[..], &bytes[..]);
        assert_eq!(&body.read(4095..4097).unwrap()[..], &bytes[4095..4097]);
        assert_eq!(body.read(5..5).unwrap().len(), 0);
        assert!(body.read(0..20_001).is_err());
    }

    #[test]
    fn dropped_bodies_give_their_pages_back_for_reuse() {
        let arena = BodyArena::new("test", 8 * PAGE).unwrap();
        let first = stored(&arena, &pattern(6 * PAGE as usize, 1), 1);
        assert_eq!(arena.free_bytes(), 2 * PAGE);
        assert_eq!(arena.used_bytes(), 6 * PAGE);
        assert!(
            arena.writer(3 * PAGE).is_none(),
            "no extent of 3 pages is free"
        );
        let clone = first.clone();
        drop(first);
        assert_eq!(
            arena.free_bytes(),
            2 * PAGE,
            "a clone still holds the pages"
        );
        drop(clone);
        assert_eq!(arena.free_bytes(), 8 * PAGE);
        assert_eq!(arena.used_bytes(), 0);
        // The reused extent holds the new body only (the hole reads as zeros before it).
        let bytes = pattern(3 * PAGE as usize, 9);
        let second = stored(&arena, &bytes, 5);
        assert_eq!(&second.read(0..bytes.len() as u64).unwrap()[..], &bytes[..]);
    }

    #[test]
    fn a_writer_refuses_extra_bytes_and_an_unfinished_body_is_not_a_body() {
        let arena = BodyArena::new("test", 4 * PAGE).unwrap();
        let mut writer = arena.writer(10).unwrap();
        assert!(writer.write(&[0; 11]).is_err());
        writer.write(&[1; 4]).unwrap();
        assert_eq!(writer.written(), 4);
        assert!(writer.finish().is_none());
        assert_eq!(
            arena.free_bytes(),
            4 * PAGE,
            "the unfinished extent was freed"
        );
        assert!(arena.writer(0).is_none());
    }

    #[tokio::test]
    async fn a_body_range_streams_in_frames_with_its_exact_size() {
        let arena = BodyArena::new("test", 4 << 20).unwrap();
        let bytes = pattern(READ_FRAME * 2 + 100, 3);
        let body = stored(&arena, &bytes, 2);
        let streamed = body.body(10..bytes.len() as u64);
        assert_eq!(streamed.size_hint().exact(), Some(bytes.len() as u64 - 10));
        let mut frames = 0;
        let mut got = Vec::new();
        let mut streamed = streamed;
        while let Some(frame) = streamed.frame().await {
            got.extend_from_slice(&frame.unwrap().into_data().unwrap());
            frames += 1;
        }
        assert_eq!(frames, 3);
        assert_eq!(&got[..], &bytes[10..]);
    }
}
