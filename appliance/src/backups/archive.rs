//! The backup archive: one file, written atomically.
//!
//! ```text
//! OUTPOST-BACKUP 1\n
//! {header: when, which Outpost, which installation, the data key wrapped by which KEK}\n
//! the body, sealed with that data key in 64 KiB chunks (keys::stream), bound to the header
//! ```
//!
//! The body is a sequence of entries, each `0x01`, the name's length (u16) and the name, then
//! chunks (u32 length, bytes) ending with a zero length; `0x00` ends the body. The last entry,
//! `manifest.json`, lists every other entry with its size and SHA-256. The header is readable
//! without the key (`backup list`); changing it makes the body fail to open.

use std::io;
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::storage::ByteStream;

const MAGIC_LINE: &str = "OUTPOST-BACKUP 1";
/// Archives are named `outpost-<UTC date>-<time>-<milliseconds>.backup` (lower case, so the
/// name is also an object key); anything else in the folder is not one.
pub const SUFFIX: &str = ".backup";
const PARTIAL: &str = ".partial";
/// No chunk of a sound archive is larger; a larger length means damage, not a reason to
/// allocate.
const MAX_CHUNK: u32 = 16 * 1024 * 1024;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Header {
    pub created_at: DateTime<Utc>,
    pub outpost_version: String,
    pub installation_id: String,
    /// What made it: `command` or `schedule`.
    pub trigger: String,
    pub kek_id: String,
    /// The archive's data key, wrapped by `kek_id`, in base64.
    pub wrapped_key: String,
}

/// What the sealed body is bound to: the header line exactly as written.
pub fn identity(header_line: &str) -> String {
    format!("backup:{}", hex::encode(Sha256::digest(header_line.as_bytes())))
}

/// One entry's name, size and SHA-256, as the manifest lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EntrySum {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// The writing end of a body: entries go in, framed, and come out of the stream `channel`
/// returned, to be sealed and written.
pub struct Entries {
    sender: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    pub written: Vec<EntrySum>,
}

impl Entries {
    pub fn channel() -> (Entries, ByteStream) {
        let (sender, receiver) = tokio::sync::mpsc::channel(8);
        let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        });
        (Entries { sender, written: Vec::new() }, Box::pin(body))
    }

    async fn send(&self, bytes: Bytes) -> io::Result<()> {
        self.sender.send(Ok(bytes)).await.map_err(|_| io::Error::other("the archive writer stopped"))
    }

    /// Adds the entry `name` with the bytes of `body`.
    pub async fn add(&mut self, name: &str, mut body: ByteStream) -> io::Result<EntrySum> {
        let mut start = BytesMut::with_capacity(3 + name.len());
        start.put_u8(1);
        start.put_u16(u16::try_from(name.len()).map_err(|_| io::Error::other("an entry name is too long"))?);
        start.put_slice(name.as_bytes());
        self.send(start.freeze()).await?;
        let (mut size, mut hasher) = (0u64, Sha256::new());
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            for piece in chunk.chunks(MAX_CHUNK as usize) {
                if piece.is_empty() {
                    continue;
                }
                hasher.update(piece);
                size += piece.len() as u64;
                let mut frame = BytesMut::with_capacity(4 + piece.len());
                frame.put_u32(piece.len() as u32);
                frame.put_slice(piece);
                self.send(frame.freeze()).await?;
            }
        }
        self.send(Bytes::from_static(&[0, 0, 0, 0])).await?;
        let sum = EntrySum { name: name.to_owned(), size, sha256: hex::encode(hasher.finalize()) };
        self.written.push(sum.clone());
        Ok(sum)
    }

    pub async fn add_bytes(&mut self, name: &str, bytes: Vec<u8>) -> io::Result<EntrySum> {
        self.add(name, Box::pin(futures_util::stream::iter([Ok(Bytes::from(bytes))]))).await
    }

    /// Ends the body: the archive is complete once this has been written.
    pub async fn finish(self) -> io::Result<()> {
        self.send(Bytes::from_static(&[0])).await
    }

    /// Stops the body with `error`: the archive being written is abandoned.
    pub async fn fail(self, error: io::Error) {
        let _ = self.sender.send(Err(error)).await;
    }
}

/// The reading end of an opened body.
pub struct EntryReader<R> {
    inner: R,
    in_entry: bool,
}

impl<R: AsyncRead + Unpin> EntryReader<R> {
    pub fn new(inner: R) -> EntryReader<R> {
        EntryReader { inner, in_entry: false }
    }

    /// The next entry's name, or `None` at the end of the body.
    pub async fn next_entry(&mut self) -> io::Result<Option<String>> {
        if self.in_entry {
            while self.chunk().await?.is_some() {}
        }
        match self.inner.read_u8().await? {
            0 => Ok(None),
            1 => {
                let length = self.inner.read_u16().await? as usize;
                let mut name = vec![0; length];
                self.inner.read_exact(&mut name).await?;
                self.in_entry = true;
                String::from_utf8(name).map(Some).map_err(|_| io::Error::other("an entry name is not text"))
            }
            other => Err(io::Error::other(format!("the archive's body is damaged (entry marker {other})"))),
        }
    }

    /// The next piece of the current entry, or `None` at its end.
    pub async fn chunk(&mut self) -> io::Result<Option<Bytes>> {
        if !self.in_entry {
            return Ok(None);
        }
        let length = self.inner.read_u32().await?;
        if length == 0 {
            self.in_entry = false;
            return Ok(None);
        }
        if length > MAX_CHUNK {
            return Err(io::Error::other("the archive's body is damaged (a chunk is too long)"));
        }
        let mut bytes = vec![0; length as usize];
        self.inner.read_exact(&mut bytes).await?;
        Ok(Some(Bytes::from(bytes)))
    }

    /// The whole current entry, for the small ones (manifest, configuration).
    pub async fn read_entry(&mut self, limit: usize) -> io::Result<Vec<u8>> {
        let mut all = Vec::new();
        while let Some(chunk) = self.chunk().await? {
            all.extend_from_slice(&chunk);
            if all.len() > limit {
                return Err(io::Error::other("an entry is larger than it can be"));
            }
        }
        Ok(all)
    }
}

/// Writes the archive to `path`: first under a hidden partial name, renamed into place only
/// once complete and on disk, so that an interrupted backup never leaves a file that looks
/// like an archive. Returns its size and SHA-256.
pub async fn write(path: &Path, header_line: &str, mut sealed: ByteStream) -> io::Result<(u64, String)> {
    let partial = partial_path(path);
    let written = async {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = tokio::fs::File::from_std(options.open(&partial)?);
        let mut hasher = Sha256::new();
        let start = format!("{MAGIC_LINE}\n{header_line}\n");
        hasher.update(start.as_bytes());
        file.write_all(start.as_bytes()).await?;
        let mut size = start.len() as u64;
        while let Some(chunk) = sealed.next().await {
            let chunk = chunk?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
        drop(file);
        tokio::fs::rename(&partial, path).await?;
        if let Some(folder) = path.parent() {
            tokio::fs::File::open(folder).await?.sync_all().await?;
        }
        Ok((size, hex::encode(hasher.finalize())))
    }
    .await;
    if written.is_err() {
        let _ = tokio::fs::remove_file(&partial).await;
    }
    written
}

fn partial_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}{PARTIAL}"))
}

/// Whether a file name in the backup folder is an archive (not a partial one, nor anything
/// else).
pub fn is_archive_name(name: &str) -> bool {
    name.starts_with("outpost-") && name.ends_with(SUFFIX)
}

/// Whether a file name is an archive left half-written by an interrupted backup.
pub fn is_partial_name(name: &str) -> bool {
    name.starts_with(".outpost-") && name.ends_with(&format!("{SUFFIX}{PARTIAL}"))
}

/// An archive opened for reading: its header, the header line the body is bound to, and the
/// sealed body.
pub struct Opened {
    pub header: Header,
    pub header_line: String,
    pub sealed: ByteStream,
}

/// Reads an archive's header; the sealed body follows, unread.
pub async fn open(path: &Path) -> Result<Opened, String> {
    let file = tokio::fs::File::open(path).await.map_err(|e| format!("{} cannot be read: {e}", path.display()))?;
    read_header(&path.display().to_string(), file).await
}

/// Reads the header of the archive `name` from `reader`; the sealed body follows, unread.
pub async fn read_header(name: &str, reader: impl AsyncRead + Send + Unpin + 'static) -> Result<Opened, String> {
    let mut reader = BufReader::new(reader);
    let not_archive = || format!("{name} is not an Outpost backup archive");
    let mut magic = String::new();
    (&mut reader).take(64).read_line(&mut magic).await.map_err(|_| not_archive())?;
    if magic.trim_end() != MAGIC_LINE {
        return Err(not_archive());
    }
    let mut header_line = String::new();
    (&mut reader).take(64 * 1024).read_line(&mut header_line).await.map_err(|_| not_archive())?;
    let header_line = header_line.strip_suffix('\n').ok_or_else(not_archive)?.to_owned();
    let header: Header =
        serde_json::from_str(&header_line).map_err(|e| format!("{name}: the archive's header is damaged: {e}"))?;
    let sealed: ByteStream = Box::pin(tokio_util::io::ReaderStream::with_capacity(reader, 64 * 1024));
    Ok(Opened { header, header_line, sealed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_framed_by_the_writer_read_back_in_order_with_their_sums() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let (mut entries, body) = Entries::channel();
            let writer = tokio::spawn(async move {
                entries.add_bytes("first", b"hello".to_vec()).await.unwrap();
                entries.add_bytes("empty", Vec::new()).await.unwrap();
                let chunks =
                    [Ok(Bytes::from_static(b"ab")), Ok(Bytes::from_static(b"")), Ok(Bytes::from_static(b"cd"))];
                entries.add("chunked", Box::pin(futures_util::stream::iter(chunks))).await.unwrap();
                let written = entries.written.clone();
                entries.finish().await.unwrap();
                written
            });
            let mut reader = EntryReader::new(tokio_util::io::StreamReader::new(body));
            let mut read = Vec::new();
            while let Some(name) = reader.next_entry().await.unwrap() {
                read.push((name, reader.read_entry(1024).await.unwrap()));
            }
            let written = writer.await.unwrap();
            assert_eq!(
                read,
                [
                    ("first".to_owned(), b"hello".to_vec()),
                    ("empty".to_owned(), vec![]),
                    ("chunked".to_owned(), b"abcd".to_vec())
                ]
            );
            assert_eq!(written[2].size, 4);
            assert_eq!(written[2].sha256, hex::encode(Sha256::digest(b"abcd")));
        });
    }

    #[test]
    fn only_complete_archives_are_named_like_archives() {
        assert!(is_archive_name("outpost-20261206-023000-000.backup"));
        assert!(!is_archive_name(".outpost-20261206-023000-000.backup.partial"));
        assert!(is_partial_name(".outpost-20261206-023000-000.backup.partial"));
        assert_eq!(partial_path(Path::new("/b/outpost-1.backup")), PathBuf::from("/b/.outpost-1.backup.partial"));
    }
}
