//! The OpenAPI document of API v1, generated from the handlers' `#[utoipa::path]` annotations
//! and the types of their bodies (`utoipa`), as the routes are registered (`utoipa_axum`'s
//! `OpenApiRouter`): a route cannot be served without being documented. `GET
//! /api/v1/openapi.json` serves it, `orgbackup openapi` prints it, and docs/openapi.json is that
//! output, checked by a test.
//!
//! What every route shares is added here rather than on each handler: the bearer scheme, the
//! `Problem` schema with one reusable response per status, and the answers any route can give
//! (401 without a valid token, 422 for a NUL byte in the address or a malformed input, 500).

use super::error::problems;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, PathItem, Ref, RefOr, Response, SecurityRequirement};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "org-backup-restore API",
        version = "1",
        description = "Backups and restores of one organization. Every request carries \
`Authorization: Bearer obr_...`, a token scoped to one organization and a set of permissions \
(each route names the one it needs). Errors are `application/problem+json` with a stable `code`; \
`message` is translated (`Accept-Language: ar` gives Arabic), `detail` gives the specifics in \
English. `POST /backup/create` and `POST /restore/start` accept an `Idempotency-Key` header: a \
retried request with the same key and body gets the first response; the same key with another \
body is refused with `idempotency_key_reused`. A JSON body is at most 1 MiB, any string in it at \
most 8192 characters, a name at most 200. This document is generated from the code \
(`orgbackup openapi`).",
        license(name = "MIT OR Apache-2.0"),
    ),
    servers((url = "/api/v1")),
    security(("bearer" = [])),
    tags(
        (name = "backups", description = "Backups: create, list, show, progress, download, delete, upload, pin"),
        (name = "restores", description = "Restores: analyze, start, status, rollback"),
        (name = "audit", description = "The organization's audit log"),
        (name = "notifications", description = "In-app notifications and notification settings"),
        (name = "keys", description = "Custom encryption keys (Enterprise)"),
        (name = "retention", description = "Retention: the dry run and the organization's own retention"),
        (name = "storage", description = "Storage connections and the default destination"),
        (name = "schedules", description = "Backup schedules"),
    )
)]
struct ApiDoc;

/// The document's frame (info, server, security), before the routes add their paths.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Adds what every route shares (see the module docs) to a document holding all the routes.
pub fn finish(mut document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let components: ComponentsBuilder = document.components.take().unwrap_or_default().into();
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("obr_...")
        .description(Some(
            "An API token (`orgbackup admin create-token`), scoped to one organization and a set of permissions.",
        ))
        .build();
    document.components = Some(
        problems::register(components)
            .security_scheme("bearer", SecurityScheme::Http(bearer))
            .build(),
    );
    for item in document.paths.paths.values_mut() {
        for operation in operations(item) {
            let responses = &mut operation.responses.responses;
            // A route marked public (`security(())`) has no token to refuse.
            let public = operation
                .security
                .as_ref()
                .is_some_and(|s| s.iter().all(|r| *r == SecurityRequirement::default()));
            if !public {
                responses
                    .entry("401".into())
                    .or_insert_with(|| reference("Unauthorized"));
            }
            responses
                .entry("422".into())
                .or_insert_with(|| reference("Invalid"));
            responses
                .entry("500".into())
                .or_insert_with(|| reference("Internal"));
        }
    }
    document
}

/// A file's bytes (`application/octet-stream` bodies: an upload, a download).
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> RefOr<utoipa::openapi::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Binary,
            )))
            .into()
    }
}

impl utoipa::ToSchema for Binary {}

/// The document as written to docs/openapi.json: pretty JSON with a final newline.
pub fn to_json(document: &utoipa::openapi::OpenApi) -> String {
    let mut json = document.to_pretty_json().expect("the document serializes");
    json.push('\n');
    json
}

fn reference(response: &str) -> RefOr<Response> {
    RefOr::Ref(Ref::from_response_name(response))
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}
