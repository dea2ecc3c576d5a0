//! Counts and digests bytes as they stream to a store, and stops the stream once it passes
//! the size limit, so neither implementation has to hold a file to measure it.

use std::io;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::{ByteStream, StorageError, Stored};

#[derive(Default)]
struct Counts {
    sha256: Sha256,
    size: u64,
    over_limit: bool,
}

/// The running measurement of one body.
#[derive(Clone, Default)]
pub struct Tally(Arc<Mutex<Counts>>);

impl Tally {
    /// `body`, measured as it passes; past `limit` bytes it ends with an error.
    pub fn wrap(&self, body: ByteStream, limit: u64) -> ByteStream {
        let counts = Arc::clone(&self.0);
        Box::pin(body.map(move |chunk| {
            let chunk = chunk?;
            let mut counts = counts.lock().map_err(|_| io::Error::other("tally lock poisoned"))?;
            counts.size += chunk.len() as u64;
            if counts.size > limit {
                counts.over_limit = true;
                return Err(io::Error::other(format!("the file is larger than {limit} bytes")));
            }
            counts.sha256.update(&chunk);
            Ok(chunk)
        }))
    }

    /// Whether the body was stopped for passing its limit.
    pub fn over_limit(&self) -> bool {
        self.0.lock().map(|counts| counts.over_limit).unwrap_or(false)
    }

    /// The write's result: the measurement, or `TooLarge` when the limit stopped it.
    pub fn finish(&self, limit: u64) -> Result<Stored, StorageError> {
        let counts = self.0.lock().map_err(|_| StorageError::Failed("tally lock poisoned".to_owned()))?;
        if counts.over_limit {
            return Err(StorageError::TooLarge { limit });
        }
        Ok(Stored { sha256: hex::encode(counts.sha256.clone().finalize()), size: counts.size })
    }
}
