//! The service's own OAuth clients for the storage providers orgs connect (`[storage.dropbox]`,
//! `[storage.google_drive]`, `[storage.onedrive]`). The API URLs can be pointed at local fakes.

use serde::Deserialize;

/// The Dropbox app of this service (`[storage.dropbox]`); the URLs are settings so tests can
/// point them at a local fake.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DropboxSettings {
    /// The app key (OAuth2 client id).
    pub app_key: String,
    pub app_secret: Option<secrecy::SecretString>,
    /// Where Dropbox sends the browser back with the code; unset: Dropbox shows the code to paste.
    pub redirect_uri: Option<String>,
    pub authorize_url: String,
    pub api_url: String,
    pub content_url: String,
}

impl Default for DropboxSettings {
    fn default() -> Self {
        Self {
            app_key: String::new(),
            app_secret: None,
            redirect_uri: None,
            authorize_url: "https://www.dropbox.com/oauth2/authorize".into(),
            api_url: "https://api.dropboxapi.com".into(),
            content_url: "https://content.dropboxapi.com".into(),
        }
    }
}

/// This service's Google OAuth client (`[storage.google_drive]`); URLs are settings for tests.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GoogleDriveSettings {
    pub client_id: String,
    pub client_secret: Option<secrecy::SecretString>,
    /// Google requires one: e.g. `https://backups.example.com/api/v1/storage/oauth/callback`.
    pub redirect_uri: Option<String>,
    pub authorize_url: String,
    pub token_url: String,
    /// `https://www.googleapis.com`: `/drive/v3/...` and `/upload/drive/v3/...` below it.
    pub api_url: String,
}

impl Default for GoogleDriveSettings {
    fn default() -> Self {
        Self {
            client_id: String::new(),
            client_secret: None,
            redirect_uri: None,
            authorize_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            token_url: "https://oauth2.googleapis.com/token".into(),
            api_url: "https://www.googleapis.com".into(),
        }
    }
}

/// This service's Microsoft app registration (`[storage.onedrive]`); URLs are settings for tests.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OneDriveSettings {
    pub client_id: String,
    pub client_secret: Option<secrecy::SecretString>,
    /// Required by Microsoft: e.g. `https://backups.example.com/api/v1/storage/oauth/callback`.
    pub redirect_uri: Option<String>,
    pub authorize_url: String,
    pub token_url: String,
    /// `https://graph.microsoft.com`.
    pub graph_url: String,
}

impl Default for OneDriveSettings {
    fn default() -> Self {
        Self {
            client_id: String::new(),
            client_secret: None,
            redirect_uri: None,
            authorize_url: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize".into(),
            token_url: "https://login.microsoftonline.com/common/oauth2/v2.0/token".into(),
            graph_url: "https://graph.microsoft.com".into(),
        }
    }
}
