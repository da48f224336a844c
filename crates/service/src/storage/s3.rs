//! S3-compatible object storage (AWS S3, MinIO, Ceph, R2, moto...) through OpenDAL. Archives are
//! uploaded in 8 MiB parts (multipart upload; a smaller archive is one PUT), at most two parts in
//! flight, and the upload is aborted on any failure, so no partial object is left behind.

use super::writer::{Chunk, digest, next_chunk};
use super::{ByteStream, Destination, StorageError};
use crate::ids::ConnectionId;
use crate::outbound::NetworkSettings;
use futures::StreamExt;
use opendal::Operator;
use opendal_http_transport_reqwest::ReqwestTransport;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Size of the parts of a multipart upload (S3 wants at least 5 MiB but for the last).
const PART: usize = 8 << 20;
/// Parts uploaded at once.
const PARTS_IN_FLIGHT: usize = 2;

/// Where a connection's archives go: kept in clear in `storage_connections.settings`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// A bucket name: 1 to 255 letters, digits, `.`, `-` or `_`.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 255, pattern = "^[A-Za-z0-9._-]+$")
    )]
    pub bucket: String,
    /// E.g. `us-east-1`.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$")
    )]
    pub region: String,
    /// For S3-compatible services (MinIO, moto, R2...); default: AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Key prefix under which archives are kept (`<prefix>/<org id>/<backup id>.tar.zst`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

impl S3Settings {
    /// [`Self::validated`], and the endpoint's address allowed by `network` (a name is resolved
    /// now; it is checked again at each connection). For a connection being saved.
    pub async fn checked(self, network: &NetworkSettings) -> Result<Self, StorageError> {
        let settings = self.validated()?;
        if let Some(endpoint) = &settings.endpoint {
            let url = reqwest::Url::parse(endpoint).map_err(|e| {
                StorageError::Invalid(format!("the endpoint is not a valid URL: {e}"))
            })?;
            network.check_url(&url).await.map_err(|refused| {
                StorageError::Invalid(format!("the endpoint is refused: {refused}"))
            })?;
        }
        Ok(settings)
    }

    /// Checks the settings and normalizes the prefix (no leading or trailing `/`).
    pub fn validated(mut self) -> Result<Self, StorageError> {
        let invalid = |m: &str| Err(StorageError::Invalid(m.into()));
        // What goes into the request's host or path: anything else cannot name a bucket and
        // used to be saved, then fail every use as "unavailable" (an invalid URI).
        let word = |text: &str, max: usize| {
            !text.is_empty()
                && text.len() <= max
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        };
        if !word(&self.bucket, 255) {
            return invalid(
                "the bucket must be a bucket name: 1 to 255 letters, digits, `.`, `-` or `_`",
            );
        }
        if !word(&self.region, 64) {
            return invalid(
                "the region must be given as a region name (e.g. us-east-1): letters, digits, `.`, `-` or `_`",
            );
        }
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("https://") || endpoint.starts_with("http://"))
        {
            return invalid("the endpoint must be an http:// or https:// URL");
        }
        self.prefix = self
            .prefix
            .map(|p| p.trim_matches('/').to_string())
            .filter(|p| !p.is_empty());
        Ok(self)
    }
}

/// The keys, sealed with the master key in `storage_connections.encrypted_credentials`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3Credentials { .. }")
    }
}

#[derive(Clone)]
pub struct S3Storage {
    pub(super) connection_id: ConnectionId,
    name: String,
    settings: S3Settings,
    operator: Operator,
}

impl std::fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Storage")
            .field("connection_id", &self.connection_id)
            .field("name", &self.name)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl S3Storage {
    pub(super) fn new(
        connection_id: ConnectionId,
        name: &str,
        settings: S3Settings,
        credentials: &S3Credentials,
        network: &NetworkSettings,
    ) -> Result<Self, StorageError> {
        // Installs OpenDAL's service registry once per process; the HTTP transport is our own.
        opendal::install_default();
        if let Some(endpoint) = &settings.endpoint {
            // An IP literal does not go through the client's resolver: checked here.
            let refused = |detail: String| StorageError::Refused {
                destination: format!(
                    "S3 bucket `{}` (storage connection `{name}`)",
                    settings.bucket
                ),
                detail,
            };
            let url = reqwest::Url::parse(endpoint).map_err(|e| refused(e.to_string()))?;
            network
                .check_literal(&url)
                .map_err(|e| refused(e.to_string()))?;
        }
        let root = format!("/{}", settings.prefix.as_deref().unwrap_or(""));
        let mut builder = opendal::services::S3::default()
            .bucket(&settings.bucket)
            .region(&settings.region)
            .root(&root)
            .access_key_id(&credentials.access_key_id)
            .secret_access_key(&credentials.secret_access_key)
            // Only the connection's own keys: never the host's AWS profile or instance role.
            .disable_config_load()
            .disable_ec2_metadata();
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.endpoint(endpoint);
        }
        let operator =
            Operator::new(builder).map_err(|e| StorageError::Invalid(e.message().to_string()))?;
        let transport = opendal::HttpTransporter::new(ReqwestTransport::new(
            crate::outbound::s3_client(network),
        ));
        let context = operator.base_context().with_http_transport(transport);
        let operator = operator.with_context(context).layer(
            opendal::layers::RetryLayer::new()
                .with_max_times(3)
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(2))
                .with_jitter()
                .with_notify(RetryWarning),
        );
        Ok(Self {
            connection_id,
            name: name.to_string(),
            settings,
            operator,
        })
    }

    pub(super) fn describe(&self) -> String {
        format!(
            "S3 bucket `{}` (storage connection `{}`)",
            self.settings.bucket, self.name
        )
    }

    pub(super) fn location(&self, path: &str) -> String {
        match &self.settings.prefix {
            Some(prefix) => format!("s3://{}/{prefix}/{path}", self.settings.bucket),
            None => format!("s3://{}/{path}", self.settings.bucket),
        }
    }

    /// One listing request: the endpoint answers, the bucket exists, the keys are accepted.
    pub(super) async fn check(&self) -> Result<(), StorageError> {
        self.operator.check().await.map_err(|e| self.error(e))
    }

    /// The upload task: writes the chunks it receives, finishes on [`Chunk::End`], and aborts
    /// the upload when the channel closes early, `cancelled` fires, or a write fails.
    pub(super) async fn upload(
        self,
        path: String,
        mut chunks: mpsc::Receiver<Chunk>,
        mut cancelled: oneshot::Receiver<()>,
    ) -> Result<(), StorageError> {
        let mut writer = self
            .operator
            .writer_with(&path)
            .chunk(PART)
            .concurrent(PARTS_IN_FLIGHT)
            .await
            .map_err(|e| self.error(e))?;
        loop {
            match next_chunk(&mut chunks, &mut cancelled).await {
                Some(Chunk::Data(bytes)) => {
                    if let Err(error) = writer.write(bytes).await {
                        // Best effort: a destination that is down may refuse the abort too.
                        let _ = writer.abort().await;
                        return Err(self.error(error));
                    }
                }
                Some(Chunk::End) => {
                    return match writer.close().await {
                        Ok(_) => Ok(()),
                        Err(error) => {
                            let _ = writer.abort().await;
                            Err(self.error(error))
                        }
                    };
                }
                None => {
                    return writer.abort().await.map_err(|e| self.error(e));
                }
            }
        }
    }

    pub(super) async fn read(&self, path: &str) -> Result<(u64, ByteStream), StorageError> {
        let failed = |e: opendal::Error| self.read_error(e, path);
        let length = self
            .operator
            .stat(path)
            .await
            .map_err(failed)?
            .content_length();
        let stream = self
            .operator
            .reader_with(path)
            .chunk(PART)
            .await
            .map_err(failed)?
            .into_bytes_stream(..)
            .await
            .map_err(failed)?;
        Ok((length, stream.boxed()))
    }

    /// Reads the object back (streamed) and compares its size and SHA-256; deletes it if they
    /// differ, so a damaged copy is never taken for a backup.
    pub(super) async fn verify(
        &self,
        path: &str,
        size: u64,
        sha256: &str,
    ) -> Result<(), StorageError> {
        let (_, stream) = self.read(path).await?;
        let (found_size, found) = digest(stream)
            .await
            .map_err(|e| StorageError::Unavailable {
                destination: self.describe(),
                detail: format!("reading the upload back failed: {e}"),
            })?;
        if found_size == size && found == sha256 {
            return Ok(());
        }
        let _ = self.remove(path).await;
        Err(StorageError::Mismatch {
            destination: self.describe(),
            path: path.to_string(),
            expected_size: size,
            expected: sha256.to_string(),
            found_size,
            found,
        })
    }

    /// `<path>.sha256` in `sha256sum` format, as on the local disk.
    pub(super) async fn write_checksum(
        &self,
        path: &str,
        sha256: &str,
    ) -> Result<(), StorageError> {
        let name = path.rsplit('/').next().unwrap_or(path);
        self.operator
            .write(&format!("{path}.sha256"), format!("{sha256}  {name}\n"))
            .await
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    pub(super) async fn remove(&self, path: &str) -> Result<(), StorageError> {
        for key in [path.to_string(), format!("{path}.sha256")] {
            match self.operator.delete(&key).await {
                Err(e) if e.kind() != opendal::ErrorKind::NotFound => return Err(self.error(e)),
                _ => {}
            }
        }
        Ok(())
    }

    fn read_error(&self, error: opendal::Error, path: &str) -> StorageError {
        if error.kind() == opendal::ErrorKind::NotFound {
            StorageError::NotFound {
                destination: self.describe(),
                path: path.to_string(),
            }
        } else {
            self.error(error)
        }
    }

    /// Sorts an OpenDAL error into what the job queue and the user need to know.
    fn error(&self, error: opendal::Error) -> StorageError {
        use opendal::ErrorKind;
        let destination = self.describe();
        let detail = explain(&error);
        if let Some(refused) = crate::outbound::refusal(&error) {
            return StorageError::Refused {
                destination,
                detail: refused.to_string(),
            };
        }
        // Sorted on the whole answer, which is not shown (see `explain`).
        let lower = format!("{detail} {}", error.message()).to_ascii_lowercase();
        let full = [
            "quotaexceeded",
            "insufficientstorage",
            "entitytoolarge",
            "no space left",
        ]
        .iter()
        .any(|marker| lower.replace(' ', "").contains(&marker.replace(' ', "")));
        if full {
            return StorageError::Full {
                destination,
                detail,
            };
        }
        match error.kind() {
            ErrorKind::PermissionDenied
            | ErrorKind::ConfigInvalid
            | ErrorKind::NotFound
            | ErrorKind::Unsupported
            | ErrorKind::IsADirectory
            | ErrorKind::NotADirectory => StorageError::Refused {
                destination,
                detail,
            },
            _ => StorageError::Unavailable {
                destination,
                detail,
            },
        }
    }
}

/// The error in one line, for the user. An error from an HTTP answer says its status and, if it
/// is a standard one, the S3 error code: never the answer's body, which the endpoint wrote and
/// may hold anything (a service reached by mistake answers with its secrets as readily as with
/// an error). The body goes to the debug log, shortened. Other errors: kind, message and causes
/// (transport errors, written by the client). OpenDAL's own `Display` adds the headers.
fn explain(error: &opendal::Error) -> String {
    if let Some(status) = answered_status(error) {
        tracing::debug!(status, body = %crate::outbound::shortened(error.message()), "S3 endpoint error answer");
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let mut text = format!(
            "{}: the endpoint answered HTTP {status} {reason}",
            error.kind()
        );
        if let Some(code) = s3_error_code(error.message()) {
            text.push_str(&format!(" ({code})"));
        }
        return text.trim_end().to_string();
    }
    let mut text = format!("{}: {}", error.kind(), error.message());
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The HTTP status of the answer behind an OpenDAL error, if it came from one: OpenDAL keeps the
/// answer's head as `response: Parts { status: 403, ... }` in the context, which only `Display`
/// shows. Read before the message, which is the body.
fn answered_status(error: &opendal::Error) -> Option<u16> {
    let shown = error.to_string();
    let head = match shown.rfind(&format!(" => {}", error.message())) {
        Some(end) if !error.message().is_empty() => &shown[..end],
        _ => &shown,
    };
    let marker = "response: Parts { status: ";
    let start = head.find(marker)? + marker.len();
    head.get(start..start + 3)?.parse().ok()
}

/// The S3 error code in OpenDAL's rendering of an error answer, when it is a standard code (a
/// word from the endpoint that is not one of these is not repeated).
fn s3_error_code(message: &str) -> Option<&'static str> {
    const CODES: &[&str] = &[
        "AccessDenied",
        "AccountProblem",
        "AllAccessDisabled",
        "AuthorizationHeaderMalformed",
        "BucketAlreadyExists",
        "EntityTooLarge",
        "ExpiredToken",
        "InternalError",
        "InvalidAccessKeyId",
        "InvalidBucketName",
        "InvalidRequest",
        "InvalidToken",
        "NoSuchBucket",
        "NoSuchKey",
        "NoSuchUpload",
        "NotImplemented",
        "PermanentRedirect",
        "QuotaExceeded",
        "RequestTimeTooSkewed",
        "RequestTimeout",
        "ServiceUnavailable",
        "SignatureDoesNotMatch",
        "SlowDown",
        "TemporaryRedirect",
        "XMinioStorageFull",
    ];
    let start = message.find("code: \"")? + "code: \"".len();
    let code = &message[start..start + message[start..].find('"')?];
    CODES.iter().copied().find(|known| *known == code)
}

impl From<S3Storage> for Destination {
    fn from(storage: S3Storage) -> Self {
        Destination::S3(Box::new(storage))
    }
}

/// One warning line per S3 retry. OpenDAL's default prints the error's `Debug`, which carries a
/// backtrace (300+ lines per retry); its `Display` is one line with the operation and cause.
struct RetryWarning;

impl opendal::layers::RetryInterceptor for RetryWarning {
    fn intercept(&self, event: opendal::layers::RetryEvent<'_>) {
        let error: String = event.err.to_string().chars().take(500).collect();
        tracing::warn!(
            operation = %event.op,
            attempt = event.attempt,
            retry_in_seconds = event.retry_after.as_secs_f64(),
            %error,
            "S3 request failed; trying again"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_the_prefix_normalized() {
        let settings = S3Settings {
            bucket: "backups".into(),
            region: "us-east-1".into(),
            endpoint: Some("http://127.0.0.1:9000".into()),
            prefix: Some("/tenants/".into()),
        }
        .validated()
        .unwrap();
        assert_eq!(settings.prefix.as_deref(), Some("tenants"));
        let bad = S3Settings {
            bucket: "a/b".into(),
            ..settings.clone()
        };
        assert!(bad.validated().is_err());
        let bad = S3Settings {
            endpoint: Some("127.0.0.1:9000".into()),
            ..settings
        };
        assert!(bad.validated().is_err());
    }

    #[test]
    fn only_standard_s3_error_codes_are_repeated_from_an_answer() {
        let rendered = |code: &str| {
            format!(
                "S3Error {{ code: \"{code}\", message: \"secret\", resource: \"\", request_id: \"\" }}"
            )
        };
        assert_eq!(
            s3_error_code(&rendered("NoSuchBucket")),
            Some("NoSuchBucket")
        );
        assert_eq!(s3_error_code(&rendered("TopSecret123")), None);
        assert_eq!(s3_error_code("root:x:0:0"), None);
    }

    #[test]
    fn credentials_never_show_in_debug_output() {
        let credentials = S3Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "very-secret".into(),
        };
        let shown = format!("{credentials:?}");
        assert!(!shown.contains("AKIDEXAMPLE") && !shown.contains("very-secret"));
    }
}
