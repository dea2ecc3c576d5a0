//! Objects in a bucket of an S3-compatible server (MinIO on premises), through the `minio`
//! crate over rustls, with the operator's CA when the server's certificate is private.
//!
//! Uploads stream in parts of `PART_SIZE`, so memory per upload stays at one part whatever
//! the file's size; a multipart upload that fails is aborted by the client, so a half-written
//! object never becomes visible. Listing walks `/`-delimited prefixes rather than asking for
//! a recursive listing, which some S3 implementations get wrong.

use futures_util::StreamExt;
use minio::s3::builders::{ObjectContent, Size};
use minio::s3::creds::StaticProvider;
use minio::s3::error::{Error, S3ServerError, ValidationErr};
use minio::s3::http::BaseUrl;
use minio::s3::minio_error_response::MinioErrorCode;
use minio::s3::types::typed_parameters::Region;
use minio::s3::types::{S3Api, ToStream};
use minio::s3::{MinioClient, MinioClientBuilder};

use super::tally::Tally;
use super::{ByteStream, Listed, ObjectKey, ObjectStore, StorageError, Stored};
use crate::config::S3Settings;

/// The part size of multipart uploads: the most one upload holds in memory.
const PART_SIZE: u64 = 8 * 1024 * 1024;

#[derive(Clone)]
pub struct S3Store {
    client: MinioClient,
    bucket: String,
    endpoint: String,
}

/// The error with its causes ("…: invalid peer certificate: UnknownIssuer"): the minio crate's
/// own text is often only "Validation error occurred", which tells an admin nothing.
fn explain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let said = inner.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = inner.source();
    }
    text
}

/// What went wrong, in the terms the rest of Outpost acts on.
fn classify(error: Error) -> StorageError {
    if let Error::S3Server(S3ServerError::S3Error(response)) = &error {
        match response.code() {
            MinioErrorCode::NoSuchKey => return StorageError::NotFound(error.to_string()),
            MinioErrorCode::AccessDenied => return StorageError::Denied(error.to_string()),
            MinioErrorCode::OtherError(code) if code == "signaturedoesnotmatch" || code == "invalidaccesskeyid" => {
                return StorageError::Denied(error.to_string())
            }
            _ => {}
        }
    }
    if let Error::Validation(ValidationErr::HttpError(cause)) = &error {
        if cause.is_connect() || cause.is_timeout() {
            return StorageError::Unreachable(explain(&error));
        }
    }
    StorageError::Failed(explain(&error))
}

fn invalid(error: ValidationErr) -> StorageError {
    StorageError::Failed(explain(&error))
}

impl S3Store {
    /// Connects and makes sure the bucket exists (creating it if missing).
    pub async fn open(settings: &S3Settings) -> Result<S3Store, StorageError> {
        let mut base_url: BaseUrl = settings
            .endpoint
            .parse()
            .map_err(|e: ValidationErr| StorageError::Failed(format!("storage.s3_endpoint: {e}")))?;
        base_url.region = Region::new(settings.region.clone())
            .map_err(|e| StorageError::Failed(format!("storage.s3_region: {e}")))?;
        let provider = StaticProvider::new(&settings.access_key, &settings.secret_key, None);
        let client = MinioClientBuilder::new(base_url)
            .provider(Some(provider))
            .ssl_cert_file(settings.ca_file.as_deref())
            .build()
            .map_err(classify)?;
        let store = S3Store { client, bucket: settings.bucket.clone(), endpoint: settings.endpoint.clone() };
        store.ensure_bucket().await?;
        Ok(store)
    }

    pub fn describe(&self) -> String {
        format!("bucket {} at {}", self.bucket, self.endpoint)
    }

    async fn ensure_bucket(&self) -> Result<(), StorageError> {
        let exists =
            self.client.bucket_exists(&self.bucket).map_err(invalid)?.build().send().await.map_err(classify)?;
        if exists.exists() {
            return Ok(());
        }
        match self.client.create_bucket(&self.bucket).map_err(invalid)?.build().send().await {
            Ok(_) => Ok(()),
            // Another node made it in the meantime.
            Err(Error::S3Server(S3ServerError::S3Error(response)))
                if matches!(response.code(), MinioErrorCode::BucketAlreadyOwnedByYou)
                    || matches!(response.code(), MinioErrorCode::OtherError(code) if code == "bucketalreadyexists") =>
            {
                Ok(())
            }
            Err(error) => Err(classify(error)),
        }
    }
}

impl ObjectStore for S3Store {
    async fn put(
        &self,
        key: &ObjectKey,
        body: ByteStream,
        limit: u64,
        content_type: &str,
    ) -> Result<Stored, StorageError> {
        let tally = Tally::default();
        let content = ObjectContent::new_from_stream(tally.wrap(body, limit), Size::Unknown);
        let sent = self
            .client
            .put_object_content(&self.bucket, key.as_str(), content)
            .map_err(invalid)?
            .content_type(content_type.to_owned())
            .part_size(Size::Known(PART_SIZE))
            .build()
            .send()
            .await;
        match sent {
            Ok(_) => tally.finish(limit),
            Err(_) if tally.over_limit() => Err(StorageError::TooLarge { limit }),
            Err(error) => Err(classify(error)),
        }
    }

    async fn get(&self, key: &ObjectKey) -> Result<ByteStream, StorageError> {
        let response =
            self.client.get_object(&self.bucket, key.as_str()).map_err(invalid)?.build().send().await.map_err(
                |error| match classify(error) {
                    StorageError::NotFound(_) => StorageError::NotFound(key.to_string()),
                    other => other,
                },
            )?;
        let (stream, _) =
            response.content().map_err(classify)?.to_stream().await.map_err(|e| StorageError::Failed(e.to_string()))?;
        Ok(Box::pin(stream))
    }

    async fn size(&self, key: &ObjectKey) -> Result<Option<u64>, StorageError> {
        match self.client.stat_object(&self.bucket, key.as_str()).map_err(invalid)?.build().send().await {
            Ok(stat) => Ok(Some(stat.size().map_err(invalid)?)),
            Err(error) => match classify(error) {
                StorageError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        self.client
            .delete_object(&self.bucket, key.as_str())
            .map_err(invalid)?
            .build()
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Listed>, StorageError> {
        let mut found = Vec::new();
        let mut prefixes = vec![format!("{}/", prefix.trim_end_matches('/'))];
        while let Some(prefix) = prefixes.pop() {
            let mut pages = self
                .client
                .list_objects(&self.bucket)
                .map_err(invalid)?
                .prefix(Some(prefix))
                .delimiter(Some("/".to_owned()))
                .build()
                .to_stream()
                .await;
            while let Some(page) = pages.next().await {
                for entry in page.map_err(classify)?.contents {
                    if entry.is_prefix {
                        prefixes.push(entry.name);
                    } else if let Ok(key) = ObjectKey::new(&entry.name) {
                        // A listing without a time (not seen from real servers) counts as new,
                        // so the orphan sweep never removes what it cannot date.
                        let modified = entry.last_modified.unwrap_or_else(chrono::Utc::now);
                        found.push(Listed { key, modified });
                    }
                }
            }
        }
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }
}
