//! The thin S3 adapter: create-only PUTs under Object Lock, the bucket
//! check the archiver refuses to run without, and the listings and version
//! and retention reads the verifier needs.

use std::sync::{Arc, OnceLock};

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{ChecksumMode, ObjectLockEnabled};
use aws_smithy_types::DateTime;

use crate::StoreError;
use crate::announce::Announce;

mod put;

pub use put::error_chain;

/// What a create-only PUT found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    /// The object was created.
    Created {
        /// Its version id.
        version_id: String,
    },
    /// An identical object (same SHA-256) was already there: a retry.
    Existing {
        /// Its version id.
        version_id: String,
    },
}

impl Put {
    /// The version id either way.
    pub fn version_id(&self) -> &str {
        match self {
            Put::Created { version_id } | Put::Existing { version_id } => version_id,
        }
    }
}

/// One version (or delete marker) of a key, from ListObjectVersions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionEntry {
    /// The key.
    pub key: String,
    /// The version id.
    pub version_id: String,
    /// Whether it is the key's current version.
    pub is_latest: bool,
    /// Whether it is a delete marker rather than an object.
    pub delete_marker: bool,
    /// Its size in bytes (0 for delete markers).
    pub size: u64,
    /// Its ETag as listed (quotes included), if the server gave one. A
    /// version's bytes never change, so this is a fingerprint, not a proof.
    pub etag: Option<String>,
}

/// The Object Lock retention of one object version (HeadObject or GetObject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// `COMPLIANCE`, `GOVERNANCE`, or `None` when there is none.
    pub mode: Option<String>,
    /// Retain-until, seconds since the epoch.
    pub retain_until_secs: Option<i64>,
}

/// One bucket.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    bucket: String,
    /// Create-only PUTs (`put.rs`), or why they cannot be sent: set up at
    /// the first PUT, so readers (verify, prove) never resolve an endpoint
    /// or load root certificates for it. Shared by clones.
    put: Arc<OnceLock<Result<put::SignedPut, String>>>,
    /// What the first PUT sets `put` up from.
    put_setup: PutSetup,
}

/// The SDK configuration and addressing a [`put::SignedPut`] is made from.
#[derive(Debug, Clone)]
struct PutSetup {
    shared: aws_config::SdkConfig,
    endpoint: Option<String>,
    region: String,
    path_style: bool,
}

/// Why no request can be signed.
pub(crate) const NO_CREDENTIALS: &str = "no AWS credentials: the default chain (AWS_ACCESS_KEY_ID and \
     AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws, web identity, container or instance role) found none";

/// The SDK's message, except where it buries a plain cause under pages of
/// debug output: no credentials anywhere in the default chain.
fn plain(message: String) -> String {
    let no_credentials = [
        "error occurred while loading credentials",
        "no providers in chain provided credentials",
    ];
    if no_credentials.iter().any(|m| message.contains(m)) {
        return NO_CREDENTIALS.into();
    }
    message
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    aws_smithy_types::base64::encode(bytes)
}

impl Store {
    /// A store for `bucket`; credentials come from the default AWS chain.
    pub async fn connect(
        endpoint: Option<&str>,
        region: &str,
        bucket: &str,
        path_style: bool,
    ) -> Self {
        // Bounded waits: an S3 that accepts connections but never answers
        // must turn into a retry, not a hang.
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(3))
            .operation_attempt_timeout(std::time::Duration::from_secs(60))
            .build();
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .timeout_config(timeouts)
            .load()
            .await;
        let mut b = aws_sdk_s3::config::Builder::from(&shared).force_path_style(path_style);
        if let Some(e) = endpoint {
            b = b.endpoint_url(e);
        }
        Self {
            client: Client::from_conf(b.build()),
            bucket: bucket.to_owned(),
            put: Arc::new(OnceLock::new()),
            put_setup: PutSetup {
                shared,
                endpoint: endpoint.map(str::to_owned),
                region: region.to_owned(),
                path_style,
            },
        }
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// What a request waits for, for [`Announce::announced`].
    fn waiting(&self, operation: &str, key: &str) -> String {
        format!("S3 {operation} s3://{}/{key}", self.bucket)
    }

    fn s3_error(&self, key: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::S3 {
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            message: plain(e.to_string()),
        }
    }

    /// Refuses buckets without Object Lock. S3 allows Object Lock only on
    /// versioned buckets and never lets their versioning be suspended, so an
    /// enabled lock configuration proves both. (Asking for the versioning
    /// status separately also trips over moto, whose answer has the wrong
    /// XML root for the Rust SDK.)
    pub async fn check_bucket(&self) -> Result<(), StoreError> {
        let not_locked = |message: String| StoreError::BucketNotLocked {
            bucket: self.bucket.clone(),
            message,
        };
        let lock = match self
            .client
            .get_object_lock_configuration()
            .bucket(&self.bucket)
            .send()
            .announced(|| self.waiting("GetObjectLockConfiguration", ""))
            .await
        {
            Ok(lock) => lock,
            // The bucket answered: it has no lock configuration.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                return Err(not_locked(format!(
                    "it has no Object Lock configuration ({})",
                    aws_sdk_s3::error::DisplayErrorContext(e)
                )));
            }
            // No answer (a refused or cut connection, a timeout) or a server
            // error: the caller may ask again. Missing credentials also
            // fail before any answer, but never heal by waiting.
            Err(e)
                if matches!(
                    e,
                    aws_sdk_s3::error::SdkError::DispatchFailure(_)
                        | aws_sdk_s3::error::SdkError::TimeoutError(_)
                ) || e
                    .raw_response()
                    .is_some_and(|r| r.status().is_server_error()) =>
            {
                let message = plain(aws_sdk_s3::error::DisplayErrorContext(e).to_string());
                if message.starts_with("no AWS credentials") {
                    return Err(self.s3_error("", message));
                }
                return Err(StoreError::Unreachable {
                    bucket: self.bucket.clone(),
                    message,
                });
            }
            // Another refusal (403, a wrong region…): report it as it is.
            Err(e) => return Err(self.s3_error("", aws_sdk_s3::error::DisplayErrorContext(e))),
        };
        let enabled = lock
            .object_lock_configuration()
            .and_then(|c| c.object_lock_enabled());
        if enabled != Some(&ObjectLockEnabled::Enabled) {
            return Err(not_locked("Object Lock is not enabled".into()));
        }
        Ok(())
    }

    /// PUTs `bytes` at `key` create-only (`If-None-Match: *`), with a SHA-256
    /// checksum and COMPLIANCE retention until `retain_until_secs`. If an
    /// object is already there with the same checksum, that is a retry and
    /// counts as success; a different one is a conflict.
    pub async fn put_locked(
        &self,
        key: &str,
        bytes: Vec<u8>,
        sha256: &[u8; 32],
        retain_until_secs: i64,
        content_type: &str,
    ) -> Result<Put, StoreError> {
        let ours = b64(sha256);
        let signed = self
            .put
            .get_or_init(|| {
                let p = &self.put_setup;
                put::SignedPut::new(
                    &p.shared,
                    p.endpoint.as_deref(),
                    &p.region,
                    &self.bucket,
                    p.path_style,
                )
            })
            .as_ref()
            .map_err(|m| self.s3_error(key, m))?;
        let sent = signed
            .put(put::Object {
                key,
                bytes: bytes.into(),
                sha256,
                retain_until_secs,
                content_type,
            })
            .announced(|| self.waiting("PutObject", key))
            .await;
        match sent {
            put::Outcome::Created(version_id) => Ok(Put::Created { version_id }),
            put::Outcome::Failed(message) => Err(self.s3_error(key, message)),
            put::Outcome::Exists => {
                let head = self
                    .client
                    .head_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .checksum_mode(ChecksumMode::Enabled)
                    .send()
                    .announced(|| self.waiting("HeadObject", key))
                    .await
                    .map_err(|e| self.s3_error(key, aws_sdk_s3::error::DisplayErrorContext(e)))?;
                let theirs = head.checksum_sha256().unwrap_or_default();
                if theirs.split('-').next() == Some(ours.as_str()) {
                    Ok(Put::Existing {
                        version_id: head.version_id().unwrap_or_default().to_owned(),
                    })
                } else {
                    Err(StoreError::Conflict {
                        bucket: self.bucket.clone(),
                        key: key.to_owned(),
                        existing: theirs.to_owned(),
                        ours,
                    })
                }
            }
        }
    }

    /// [`Store::put_locked`] for a JSON document (a manifest or a
    /// checkpoint), with its SHA-256 computed here.
    pub async fn put_locked_json(
        &self,
        key: &str,
        json: Vec<u8>,
        retain_until_secs: i64,
    ) -> Result<Put, StoreError> {
        use sha2::Digest;
        let sha: [u8; 32] = sha2::Sha256::digest(&json).into();
        self.put_locked(key, json, &sha, retain_until_secs, "application/json")
            .await
    }

    /// Reads an object, `None` if it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.fetch(key, None).await?.map(|(b, _)| b))
    }

    /// Reads the current object, or one version of it. `None` if it does not
    /// exist; for a version, S3 answers 400 to an id it does not know, which
    /// is also "not there".
    async fn fetch(
        &self,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<(Vec<u8>, Retention)>, StoreError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .send()
            .announced(|| self.waiting("GetObject", key))
            .await
        {
            Ok(out) => {
                // GetObject carries the lock headers HeadObject would: one
                // request per object.
                let retention = Retention {
                    mode: out.object_lock_mode().map(|m| m.as_str().to_owned()),
                    retain_until_secs: out.object_lock_retain_until_date().map(DateTime::secs),
                };
                let body = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| self.s3_error(key, e))?;
                Ok(Some((body.into_bytes().to_vec(), retention)))
            }
            Err(e)
                if e.raw_response().is_some_and(|r| {
                    let status = r.status().as_u16();
                    status == 404 || (status == 400 && version_id.is_some())
                }) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.s3_error(key, aws_sdk_s3::error::DisplayErrorContext(e))),
        }
    }

    /// Every version and delete marker under `prefix`, in key order.
    pub async fn list_versions(&self, prefix: &str) -> Result<Vec<VersionEntry>, StoreError> {
        let mut out = Vec::new();
        let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                // S3's own default, spelled out: some servers default to
                // fewer (moto: 100, and it copies the whole bucket per page).
                .max_keys(1000)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .announced(|| self.waiting("ListObjectVersions", prefix))
                .await
                .map_err(|e| self.s3_error(prefix, aws_sdk_s3::error::DisplayErrorContext(e)))?;
            for v in page.versions() {
                out.push(VersionEntry {
                    key: v.key().unwrap_or_default().to_owned(),
                    version_id: v.version_id().unwrap_or_default().to_owned(),
                    is_latest: v.is_latest().unwrap_or(false),
                    delete_marker: false,
                    size: u64::try_from(v.size().unwrap_or(0)).unwrap_or(0),
                    etag: v.e_tag().map(str::to_owned),
                });
            }
            for d in page.delete_markers() {
                out.push(VersionEntry {
                    key: d.key().unwrap_or_default().to_owned(),
                    version_id: d.version_id().unwrap_or_default().to_owned(),
                    is_latest: d.is_latest().unwrap_or(false),
                    delete_marker: true,
                    size: 0,
                    etag: None,
                });
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
            if key_marker.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Keys under `prefix` after `start_after` (all when `None`), in key order.
    pub async fn list_keys(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        Ok(self.list(prefix, start_after, None).await?.0)
    }

    /// The "directories" directly under `prefix` (common prefixes up to the
    /// next `/`), in key order.
    pub async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.list(prefix, None, Some("/")).await?.1)
    }

    /// ListObjectsV2 over every page: (keys, common prefixes).
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        delimiter: Option<&str>,
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let (mut keys, mut dirs) = (Vec::new(), Vec::new());
        let mut token = None::<String>;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_start_after(start_after.map(str::to_owned))
                .set_delimiter(delimiter.map(str::to_owned))
                .set_continuation_token(token.take())
                .send()
                .announced(|| self.waiting("ListObjectsV2", prefix))
                .await
                .map_err(|e| self.s3_error(prefix, aws_sdk_s3::error::DisplayErrorContext(e)))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            dirs.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_owned)),
            );
            token = page.next_continuation_token().map(str::to_owned);
            if page.is_truncated() != Some(true) || token.is_none() {
                break;
            }
        }
        Ok((keys, dirs))
    }

    /// Reads one version of an object, `None` if it does not exist.
    pub async fn get_version(
        &self,
        key: &str,
        version_id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.fetch(key, Some(version_id)).await?.map(|(b, _)| b))
    }

    /// Reads the current version with its Object Lock retention, from one
    /// GetObject. `None` if it does not exist.
    pub async fn get_locked(&self, key: &str) -> Result<Option<(Vec<u8>, Retention)>, StoreError> {
        self.fetch(key, None).await
    }

    /// Reads one version with its Object Lock retention, from the one
    /// GetObject (no HeadObject). `None` if it does not exist.
    pub async fn get_version_locked(
        &self,
        key: &str,
        version_id: &str,
    ) -> Result<Option<(Vec<u8>, Retention)>, StoreError> {
        self.fetch(key, Some(version_id)).await
    }

    /// The retention of one version, from HeadObject.
    pub async fn retention(&self, key: &str, version_id: &str) -> Result<Retention, StoreError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .version_id(version_id)
            .send()
            .announced(|| self.waiting("HeadObject", key))
            .await
            .map_err(|e| self.s3_error(key, aws_sdk_s3::error::DisplayErrorContext(e)))?;
        Ok(Retention {
            mode: head.object_lock_mode().map(|m| m.as_str().to_owned()),
            retain_until_secs: head.object_lock_retain_until_date().map(DateTime::secs),
        })
    }
}

#[cfg(test)]
mod plain_tests {
    #[test]
    fn credential_failures_become_one_line_and_others_pass_through() {
        for sdk in [
            "dispatch failure: other: an error occurred while loading credentials: failed to load IMDS session token: … (pages)",
            "dispatch failure: other: the credential provider was not enabled: no providers in chain provided credentials (…)",
        ] {
            assert!(super::plain(sdk.into()).starts_with("no AWS credentials: "));
        }
        assert_eq!(super::plain("NoSuchBucket".into()), "NoSuchBucket");
    }
}
