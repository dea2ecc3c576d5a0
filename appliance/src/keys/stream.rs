//! Sealing a stream of any length in bounded memory: the plaintext is cut into 64 KiB chunks,
//! each sealed on its own (AES-256-GCM with the object's data key; the nonce is the chunk's
//! number, which a data key used for one object never repeats; the associated data is the
//! object's identity and whether the chunk is the last). A chunk moved, dropped or changed, or
//! a stream cut short at a chunk boundary, fails to open instead of yielding other bytes.
//!
//! Layout: `OPE1` ‖ sealed chunk ‖ sealed chunk ‖ … where every chunk but the last holds
//! exactly 64 KiB of plaintext (plus its 16-byte tag), and the last holds the rest (maybe none).

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use sha2::{Digest, Sha256};

use super::envelope::DataKey;
use crate::storage::ByteStream;

const MAGIC: &[u8] = b"OPE1";
const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;

/// The most bytes `plaintext` bytes become once sealed.
pub fn sealed_size(plaintext: u64) -> u64 {
    MAGIC.len() as u64 + plaintext + TAG as u64 * (plaintext / CHUNK as u64 + 1)
}

/// What the plaintext of a sealed upload measured: its size and SHA-256 (hex), known once the
/// stream has ended.
#[derive(Default)]
pub struct Measured {
    pub size: u64,
    hasher: Option<Sha256>,
    pub sha256: String,
}

fn cipher(key: &DataKey) -> std::io::Result<LessSafeKey> {
    UnboundKey::new(&AES_256_GCM, key.as_bytes())
        .map(LessSafeKey::new)
        .map_err(|_| std::io::Error::other("the data key was refused"))
}

fn nonce(index: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&index.to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

fn aad(identity: &str, last: bool) -> Vec<u8> {
    let mut aad = identity.as_bytes().to_vec();
    aad.push(u8::from(last));
    aad
}

/// `body` sealed for the object `identity`, and what its plaintext measured.
pub fn seal(key: &DataKey, identity: &str, body: ByteStream) -> std::io::Result<(ByteStream, Arc<Mutex<Measured>>)> {
    struct State {
        body: ByteStream,
        cipher: LessSafeKey,
        identity: String,
        buffer: BytesMut,
        index: u64,
        started: bool,
        done: bool,
        measured: Arc<Mutex<Measured>>,
    }
    let measured = Arc::new(Mutex::new(Measured { hasher: Some(Sha256::new()), ..Measured::default() }));
    let state = State {
        body,
        cipher: cipher(key)?,
        identity: identity.to_owned(),
        buffer: BytesMut::new(),
        index: 0,
        started: false,
        done: false,
        measured: measured.clone(),
    };
    let sealed = futures_util::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        let mut out = Vec::new();
        if !state.started {
            state.started = true;
            out.extend_from_slice(MAGIC);
        }
        // A chunk is sealed as "not last" only once a byte after it has arrived.
        while state.buffer.len() <= CHUNK {
            match state.body.next().await {
                Some(Ok(bytes)) => {
                    let mut measured = state.measured.lock().unwrap_or_else(|e| e.into_inner());
                    measured.size += bytes.len() as u64;
                    if let Some(hasher) = measured.hasher.as_mut() {
                        hasher.update(&bytes);
                    }
                    drop(measured);
                    state.buffer.extend_from_slice(&bytes);
                }
                Some(Err(error)) => {
                    state.done = true;
                    return Some((Err(error), state));
                }
                None => {
                    let mut last = state.buffer.split().to_vec();
                    let sealed = state.cipher.seal_in_place_append_tag(
                        nonce(state.index),
                        Aad::from(aad(&state.identity, true)),
                        &mut last,
                    );
                    state.done = true;
                    let mut measured = state.measured.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(hasher) = measured.hasher.take() {
                        measured.sha256 = hex::encode(hasher.finalize());
                    }
                    drop(measured);
                    return Some(match sealed {
                        Ok(()) => {
                            out.extend_from_slice(&last);
                            (Ok(Bytes::from(out)), state)
                        }
                        Err(_) => (Err(std::io::Error::other("sealing failed")), state),
                    });
                }
            }
        }
        let mut chunk = state.buffer.split_to(CHUNK).to_vec();
        let sealed = state.cipher.seal_in_place_append_tag(
            nonce(state.index),
            Aad::from(aad(&state.identity, false)),
            &mut chunk,
        );
        state.index += 1;
        match sealed {
            Ok(()) => {
                out.extend_from_slice(&chunk);
                Some((Ok(Bytes::from(out)), state))
            }
            Err(_) => {
                state.done = true;
                Some((Err(std::io::Error::other("sealing failed")), state))
            }
        }
    });
    Ok((Box::pin(sealed), measured))
}

/// The plaintext of what `seal` made for `identity`; anything changed, cut short or made for
/// another object ends the stream with an error instead of other bytes.
pub fn open(key: &DataKey, identity: &str, body: ByteStream) -> std::io::Result<ByteStream> {
    struct State {
        body: ByteStream,
        cipher: LessSafeKey,
        identity: String,
        buffer: BytesMut,
        index: u64,
        started: bool,
        done: bool,
    }
    let broken = || std::io::Error::other("the encrypted file was changed, cut short or belongs to another");
    let state = State {
        body,
        cipher: cipher(key)?,
        identity: identity.to_owned(),
        buffer: BytesMut::new(),
        index: 0,
        started: false,
        done: false,
    };
    let opened = futures_util::stream::unfold(state, move |mut state| async move {
        if state.done {
            return None;
        }
        while state.buffer.len() <= CHUNK + TAG + if state.started { 0 } else { MAGIC.len() } {
            match state.body.next().await {
                Some(Ok(bytes)) => state.buffer.extend_from_slice(&bytes),
                Some(Err(error)) => {
                    state.done = true;
                    return Some((Err(error), state));
                }
                None => break,
            }
        }
        if !state.started {
            if !state.buffer.starts_with(MAGIC) {
                state.done = true;
                return Some((Err(broken()), state));
            }
            let _ = state.buffer.split_to(MAGIC.len());
            state.started = true;
        }
        let last = state.buffer.len() <= CHUNK + TAG;
        let take = if last { state.buffer.len() } else { CHUNK + TAG };
        let mut chunk = state.buffer.split_to(take).to_vec();
        let opened = state
            .cipher
            .open_in_place(nonce(state.index), Aad::from(aad(&state.identity, last)), &mut chunk)
            .map(|plain| plain.len());
        state.index += 1;
        state.done = last;
        match opened {
            Ok(length) => {
                chunk.truncate(length);
                Some((Ok(Bytes::from(chunk)), state))
            }
            Err(_) => {
                state.done = true;
                Some((Err(broken()), state))
            }
        }
    });
    Ok(Box::pin(opened))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_of(parts: Vec<Vec<u8>>) -> ByteStream {
        Box::pin(futures_util::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from(p)))))
    }

    async fn collect(stream: ByteStream) -> std::io::Result<Vec<u8>> {
        let mut stream = stream;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    fn run<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(future)
    }

    #[test]
    fn any_length_round_trips_and_measures_its_plaintext() {
        let key = DataKey::generate().unwrap();
        for length in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
            let plain: Vec<u8> = (0..length).map(|i| (i % 251) as u8).collect();
            let parts = plain.chunks(7000).map(<[u8]>::to_vec).collect();
            let (sealed, measured) = seal(&key, "attachments/ab/cd", stream_of(parts)).unwrap();
            let sealed = run(collect(sealed)).unwrap();
            assert!(sealed.len() as u64 <= sealed_size(length as u64), "{length}");
            assert_eq!(measured.lock().unwrap().size, length as u64);
            assert_eq!(measured.lock().unwrap().sha256, hex::encode(Sha256::digest(&plain)));
            let opened =
                run(collect(open(&key, "attachments/ab/cd", stream_of(vec![sealed.clone()])).unwrap())).unwrap();
            assert_eq!(opened, plain, "{length}");
            assert!(run(collect(open(&key, "attachments/ab/other", stream_of(vec![sealed])).unwrap())).is_err());
        }
    }

    #[test]
    fn a_changed_or_shortened_stream_does_not_open() {
        let key = DataKey::generate().unwrap();
        let plain = vec![7u8; 2 * CHUNK + 100];
        let (sealed, _) = seal(&key, "x", stream_of(vec![plain])).unwrap();
        let sealed = run(collect(sealed)).unwrap();
        let mut changed = sealed.clone();
        changed[CHUNK + 50] ^= 1;
        assert!(run(collect(open(&key, "x", stream_of(vec![changed])).unwrap())).is_err());
        // Cut at a chunk boundary: the chunk now last was sealed as not last.
        let cut = sealed[..MAGIC.len() + CHUNK + TAG].to_vec();
        assert!(run(collect(open(&key, "x", stream_of(vec![cut])).unwrap())).is_err());
        assert!(run(collect(open(&key, "x", stream_of(vec![b"plain bytes".to_vec()])).unwrap())).is_err());
    }
}
