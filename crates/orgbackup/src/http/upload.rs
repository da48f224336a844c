//! `POST /api/v1/backup/upload`: an external backup file, treated as untrusted input. The body
//! streams to a partial file (size-limited by the plan's storage left and `upload.max_bytes`),
//! then the archive is opened and verified in full (every checksum, bounded memory) and its
//! manifest must describe a backup of the caller's org. Only then is it kept and recorded.

use super::AppState;
use super::auth::Caller;
use super::error::problems;
use super::error::{AppError, Result};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use futures::StreamExt;
use orgbackup_archive::{ArchiveReader, Envelope, ReadLimits};
use orgbackup_engine::BackupMetadata;
use orgbackup_service::audit::{self, Entry, Outcome};
use orgbackup_service::backups::records;
use orgbackup_service::config::Settings;
use orgbackup_service::ids::{BackupId, OrgId};
use orgbackup_service::keys::KeyRing;
use orgbackup_service::permissions::Permission;
use orgbackup_service::storage::LocalStorage;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Write;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upload))
}

/// An uploaded backup, checked and recorded.
#[derive(Serialize, ToSchema)]
pub(crate) struct UploadedBackup {
    pub backup_id: BackupId,
    /// Bytes.
    pub size: u64,
    /// The file's SHA-256, hex.
    pub sha256: String,
    /// Rows in the backup.
    pub rows: u64,
}

fn rejected(code: &'static str, message: String) -> AppError {
    AppError::Invalid { code, message }
}

/// Upload a backup file made elsewhere.
///
/// The body is the file, streamed: it is verified in full (every checksum) and must be a backup
/// of the token's organization; only then is it kept. At most the plan's storage left and
/// `upload.max_bytes`. Needs `backup.upload`.
#[utoipa::path(post, path = "/backup/upload", tag = "backups",
    request_body(content = inline(super::openapi::Binary), content_type = "application/octet-stream", description = "The backup file (`.tar.zst` or `.enc`)"),
    params(("X-Checksum-Sha256" = Option<String>, Header, description = "The file's SHA-256 (hex): a file damaged on the way is refused with `checksum_mismatch`")),
    responses(
        (status = 201, body = UploadedBackup),
        (status = 403, response = problems::Forbidden),
        (status = 413, response = problems::TooLarge),
    ))]
async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<UploadedBackup>)> {
    let expected = headers
        .get("x-checksum-sha256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let received = receive(&state, &caller, body.into_data_stream(), expected).await?;
    Ok((StatusCode::CREATED, Json(received)))
}

/// Takes an uploaded backup file from `stream` (the API's request body, or the web form's file
/// field), checks it as described above and records it; answers its id, size and checksum.
/// The keys an upload may be sealed with: the master key, and the caller's own org's custom key
/// (an org re-uploading its own Enterprise-key backup). A file naming another org's key is that
/// org's backup: refused without loading the key.
async fn key_ring(state: &AppState, org: OrgId, path: &std::path::Path) -> Result<KeyRing> {
    let internal = |e: anyhow::Error| AppError::Internal(e);
    let mut ring =
        KeyRing::new(&state.settings.encryption, None).map_err(|e| internal(e.into()))?;
    let envelope = std::fs::File::open(path)
        .map_err(|e| internal(e.into()))
        .map(|mut file| orgbackup_archive::read_envelope(&mut file))?;
    let Ok(Envelope::Encrypted { key_id }) = envelope else {
        return Ok(ring);
    };
    if key_id.starts_with("org:") && !key_id.starts_with(&format!("org:{org}:")) {
        return Err(rejected(
            "foreign_backup",
            format!(
                "this backup is sealed with key `{key_id}` of another organization, not of yours"
            ),
        ));
    }
    ring.add_org_key(&state.pool, &state.settings, &key_id)
        .await
        .map_err(|e| internal(e.into()))?;
    Ok(ring)
}

/// Opens and verifies the received file within the upload limits; answers its backup metadata
/// and whether it is encrypted. Memory stays bounded whatever the file claims: the manifest is
/// size-capped (`upload.max_manifest_bytes`, and the expansion budget) before it is parsed, and
/// parsed as it streams; everything it declares counts against `upload.max_expansion`.
fn check(
    path: &std::path::Path,
    size: u64,
    settings: &Settings,
    ring: &KeyRing,
) -> Result<(BackupMetadata, bool)> {
    let max_expansion = settings.upload.max_expansion;
    let budget = size.saturating_mul(max_expansion);
    let manifest_cap = settings.upload.max_manifest_bytes;
    let file = std::fs::File::open(path).map_err(|e| AppError::Internal(e.into()))?;
    let limits = ReadLimits {
        max_manifest_bytes: manifest_cap.min(budget),
    };
    let opened = ArchiveReader::open_with(
        std::io::BufReader::new(file),
        &|id: &str| ring.find(id),
        limits,
    );
    let bomb = |declared: u64| {
        rejected(
            "decompression_bomb",
            format!(
                "the file declares {declared} bytes of content in a {size}-byte file, more than \
                 {max_expansion} times its size; it was not unpacked (raise upload.max_expansion if the backup is genuine)"
            ),
        )
    };
    let mut archive = match opened {
        Ok(archive) => archive,
        Err(orgbackup_archive::Error::ManifestTooLarge { size: declared, .. })
            if declared > manifest_cap =>
        {
            return Err(rejected(
                "manifest_too_large",
                format!(
                    "the file's manifest is {declared} bytes, more than the {manifest_cap} bytes an upload may have; \
                     it was not read (raise upload.max_manifest_bytes if the backup is genuine)"
                ),
            ));
        }
        Err(orgbackup_archive::Error::ManifestTooLarge { size: declared, .. }) => {
            return Err(bomb(declared));
        }
        Err(e) => {
            return Err(rejected(
                "invalid_backup",
                format!("the file is not a usable backup: {e}"),
            ));
        }
    };
    let declared = archive
        .manifest()
        .unpacked_size()
        .saturating_add(archive.manifest_size());
    if declared > budget {
        return Err(bomb(declared));
    }
    archive.verify(&mut |_, _| {}).map_err(|e| {
        rejected(
            "invalid_backup",
            format!("the file failed verification: {e}"),
        )
    })?;
    let encrypted = matches!(archive.envelope(), Envelope::Encrypted { .. });
    let metadata = serde_json::from_value(archive.manifest().backup.clone()).map_err(|e| {
        rejected(
            "invalid_backup",
            format!("the manifest does not describe an orgbackup backup: {e}"),
        )
    })?;
    Ok((metadata, encrypted))
}

// long: the checks of one streamed upload in the order they must run (size, checksum, archive,
// manifest, org), sharing the stream and the partial file
pub(crate) async fn receive<S, E>(
    state: &AppState,
    caller: &Caller,
    mut stream: S,
    expected_sha256: Option<String>,
) -> Result<UploadedBackup>
where
    S: futures::Stream<Item = std::result::Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    caller
        .require(state, Permission::Upload, "backup.upload")
        .await?;
    let org = caller.principal.org_id;
    let usage = orgbackup_service::plans::usage(&state.pool, &state.settings.plans, org)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let limit = usage.storage_left().min(state.settings.upload.max_bytes);
    let backup_id = BackupId::random();
    let storage = LocalStorage::new(&state.settings.storage.local_root);
    let relative = format!("{org}/{backup_id}.uploaded");
    let (partial, mut writer) = storage
        .create(&relative)
        .map_err(|e| AppError::Internal(e.into()))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            rejected(
                "upload_interrupted",
                format!("the upload was interrupted: {e}"),
            )
        })?;
        size += chunk.len() as u64;
        if size > limit {
            audit::record(
                &state.pool,
                &Entry::new(caller, "backup.upload", Outcome::Denied).detail("reason", "too_large"),
            )
            .await;
            return Err(AppError::TooLarge(format!(
                "the upload exceeds {limit} bytes (the plan's storage left, or the upload limit)"
            )));
        }
        hasher.update(&chunk);
        writer
            .write_all(&chunk)
            .map_err(|e| AppError::Internal(e.into()))?;
    }
    let sha256 = hex::encode(hasher.finalize());
    if let Some(expected) = expected_sha256.as_deref().filter(|e| !e.trim().is_empty())
        && !expected.trim().eq_ignore_ascii_case(&sha256)
    {
        return Err(rejected(
            "checksum_mismatch",
            format!(
                "the uploaded file's SHA-256 is {sha256}, not {expected}: it was damaged on the way; upload it again"
            ),
        ));
    }
    writer.flush().map_err(|e| AppError::Internal(e.into()))?;
    let partial_path = partial.path().to_path_buf();
    let settings = state.settings.clone();
    let checked = match key_ring(state, org, &partial_path).await {
        // Opening and verifying read the whole file: off the async threads.
        Ok(ring) => {
            tokio::task::spawn_blocking(move || check(&partial_path, size, &settings, &ring))
                .await
                .map_err(|e| AppError::Internal(e.into()))?
        }
        Err(error) => Err(error),
    };
    let (metadata, encrypted) = match checked {
        Ok(checked) => checked,
        Err(error) => {
            audit::record(
                &state.pool,
                &Entry::new(caller, "backup.upload", Outcome::Denied)
                    .detail("reason", error.to_string()),
            )
            .await;
            return Err(error);
        }
    };
    if metadata.org.id != orgbackup_engine::OrgId::from(org) {
        return Err(rejected(
            "foreign_backup",
            format!(
                "this is a backup of organization {} ({}), not of yours",
                metadata.org.name, metadata.org.id
            ),
        ));
    }
    partial
        .commit(writer, &sha256)
        .map_err(|e| AppError::Internal(e.into()))?;
    let upload = records::UploadedBackup {
        backup_id,
        org_id: org,
        storage_path: &relative,
        metadata: &metadata,
        encrypted,
        size,
        sha256: &sha256,
        uploaded_by: caller.principal.user_id,
    };
    records::insert_uploaded(&state.pool, &upload).await?;
    audit::record(
        &state.pool,
        &Entry::new(caller, "backup.upload", Outcome::Success).entity("backup", backup_id),
    )
    .await;
    if let Err(error) =
        orgbackup_service::notifications::check_storage_quota(&state.pool, &state.settings, org)
            .await
    {
        tracing::error!(%org, %error, "could not check the storage quota");
    }
    Ok(UploadedBackup {
        backup_id,
        size,
        sha256,
        rows: metadata.total_rows(),
    })
}
