//! A segment's bytes in a sealed memory file, so the HTTP server can hand them to the kernel
//! with `sendfile` instead of copying them into every socket.
//!
//! Segments live in memory as `Bytes`. Writing one to a socket copies it into the kernel, and
//! for the segment sizes players fetch that copy was most of the server's time (38% of it at
//! 300 KiB in a profile). A memory file (`memfd_create`) holds the same bytes in pages the
//! kernel can attach to packets as they are; sealing it against writes, growing and shrinking
//! means no one can change a page a packet still refers to.
//!
//! Only segments up to [`SEALED_MAX`] are sent this way. On one server, the lane against the
//! copying dispatcher, `sendfile` served a 300 KiB segment 1.2-1.45x as fast, but 1 MB and 2 MB
//! segments at 1,000 connections up to 30% slower than a copy (each 4 KiB page of the file is
//! looked up and attached on its own, where a copy fills the packets from large pages); above
//! the limit the lane writes the segment's bytes, which is as fast as the dispatcher.
//!
//! The file is made the first time a segment is sent this way ([`SealedSlot::get_or_seal`]),
//! so a segment nobody fetches costs nothing more; one that is fetched is held twice (its bytes
//! and its file) while it stays in the window. Making the file can fail (the process's file
//! limit, memory): the failure is logged once per segment and the segment is sent from its
//! bytes as before.

use std::fmt;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, OnceLock};

use rustix::fs::{MemfdFlags, SealFlags, fcntl_add_seals, memfd_create};

/// The largest segment sent from a sealed file; larger ones go out from their bytes.
pub const SEALED_MAX: usize = 512 * 1024;

/// Bytes in a memory file that can no longer change.
pub struct SealedFile {
    fd: OwnedFd,
    len: u64,
}

impl SealedFile {
    /// A sealed copy of `data`.
    pub fn new(data: &[u8]) -> io::Result<Self> {
        let fd = memfd_create(
            "streamhall-segment",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )?;
        let mut file = std::fs::File::from(fd);
        file.write_all(data)?;
        let fd = OwnedFd::from(file);
        fcntl_add_seals(
            &fd,
            SealFlags::WRITE | SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL,
        )?;
        Ok(Self {
            fd,
            len: data.len() as u64,
        })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl AsFd for SealedFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl fmt::Debug for SealedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedFile")
            .field("len", &self.len)
            .finish()
    }
}

/// Where a segment's sealed file goes once made; shared by the clones of one segment.
#[derive(Clone, Default)]
pub struct SealedSlot(Arc<OnceLock<Option<Arc<SealedFile>>>>);

impl SealedSlot {
    /// The sealed file of `data`, made on the first call; `None` if it could not be made
    /// (then never tried again for this segment).
    pub fn get_or_seal(&self, data: &[u8]) -> Option<Arc<SealedFile>> {
        self.0
            .get_or_init(|| match SealedFile::new(data) {
                Ok(file) => Some(Arc::new(file)),
                Err(error) => {
                    tracing::warn!(%error, "a segment could not be put in a memory file; it is sent by copying");
                    None
                }
            })
            .clone()
    }
}

/// A cache beside the segment's value: two segments are equal whether or not one was sealed.
impl PartialEq for SealedSlot {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for SealedSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.0.get() {
            None => "not made",
            Some(None) => "failed",
            Some(Some(_)) => "made",
        };
        f.write_str(state)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::io::{Read, Seek};

    #[test]
    fn a_sealed_file_holds_the_bytes_and_refuses_changes() {
        let slot = SealedSlot::default();
        let file = slot.get_or_seal(b"segment bytes").expect("sealed");
        assert_eq!(file.len(), 13);
        // Made once: a second call gives the same file.
        assert!(Arc::ptr_eq(
            &file,
            &slot.clone().get_or_seal(b"other").unwrap()
        ));
        let mut f = std::fs::File::from(file.as_fd().try_clone_to_owned().unwrap());
        // The descriptor's position is past the bytes written (`sendfile` gives its own offset).
        f.rewind().unwrap();
        let mut read = String::new();
        f.read_to_string(&mut read).unwrap();
        assert_eq!(read, "segment bytes");
        f.rewind().unwrap();
        assert!(f.write_all(b"changed").is_err(), "the seal refuses writes");
        assert!(f.set_len(1).is_err(), "the seal refuses shrinking");
    }
}
