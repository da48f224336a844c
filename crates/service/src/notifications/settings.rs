//! An org's notification settings (`backup_settings`): which events, which channels, which
//! recipients, which language. Defaults apply while the org has no row.

use super::NotifyError;
use super::event::{self, Event};
use crate::config::Settings;
use crate::db::org_transaction;
use crate::i18n::Locale;
use crate::ids::OrgId;
use orgbackup_archive::KeyEncryptionKey;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

const MAX_RECIPIENTS: usize = 50;
const MAX_NOTICE_DAYS: u32 = 365;

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgSettings {
    pub events: Vec<Event>,
    pub email_recipients: Vec<String>,
    pub webhook_url: Option<String>,
    /// Whether a webhook secret is stored (the secret itself is shown only when generated).
    pub webhook_secret_set: bool,
    pub in_app: bool,
    pub locale: Locale,
    pub expiring_notice_days: u32,
}

impl Default for OrgSettings {
    fn default() -> Self {
        Self {
            events: event::ALL.to_vec(),
            email_recipients: Vec::new(),
            webhook_url: None,
            webhook_secret_set: false,
            in_app: true,
            locale: Locale::En,
            expiring_notice_days: 3,
        }
    }
}

impl OrgSettings {
    pub fn wants(&self, event: Event) -> bool {
        self.events.contains(&event)
    }
}

type Row = (
    Vec<String>,
    Vec<String>,
    Option<String>,
    bool,
    bool,
    String,
    i32,
);

/// The org's settings, read in the caller's org transaction.
pub async fn load(conn: &mut PgConnection, org_id: OrgId) -> Result<OrgSettings, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT notify_events, email_recipients, webhook_url, webhook_secret_encrypted IS NOT NULL,
                in_app, locale, expiring_notice_days
           FROM backup_settings WHERE org_id = $1",
    )
    .bind(org_id)
    .fetch_optional(conn)
    .await?;
    let Some((events, email_recipients, webhook_url, secret_set, in_app, locale, notice)) = row
    else {
        return Ok(OrgSettings::default());
    };
    Ok(OrgSettings {
        // A name this build does not know (written by a newer one) is ignored, not fatal.
        events: events.iter().filter_map(|e| Event::parse(e).ok()).collect(),
        email_recipients,
        webhook_url,
        webhook_secret_set: secret_set,
        in_app,
        locale: Locale::parse(&locale).unwrap_or_default(),
        expiring_notice_days: notice.max(0) as u32,
    })
}

pub async fn get(pool: &PgPool, org_id: OrgId) -> Result<OrgSettings, sqlx::Error> {
    let mut tx = org_transaction(pool, org_id).await?;
    let settings = load(&mut tx, org_id).await?;
    tx.commit().await?;
    Ok(settings)
}

/// A change to the settings; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct SettingsChange {
    pub events: Option<Vec<String>>,
    pub email_recipients: Option<Vec<String>>,
    /// `Some(None)` or `Some(Some(""))` removes the webhook; `Some(Some(url))` sets it and
    /// generates a new secret (also when the URL is unchanged: that is how a secret is rotated).
    pub webhook_url: Option<Option<String>>,
    pub in_app: Option<bool>,
    pub locale: Option<String>,
    pub expiring_notice_days: Option<u32>,
}

/// The settings after a change, and the webhook secret when one was generated (shown once).
pub struct Updated {
    pub settings: OrgSettings,
    pub webhook_secret: Option<String>,
}

fn invalid(message: impl Into<String>) -> NotifyError {
    NotifyError::InvalidSettings(message.into())
}

pub fn parse_events(names: &[String]) -> Result<Vec<Event>, NotifyError> {
    let mut events = Vec::new();
    for name in names.iter().filter(|n| !n.trim().is_empty()) {
        let event = Event::parse(name).map_err(|e| invalid(e.to_string()))?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    Ok(events)
}

pub fn parse_recipients(addresses: &[String]) -> Result<Vec<String>, NotifyError> {
    let mut recipients: Vec<String> = Vec::new();
    for address in addresses.iter().map(|a| a.trim()).filter(|a| !a.is_empty()) {
        let parsed: lettre::Address = address
            .parse()
            .map_err(|_| invalid(format!("`{address}` is not a valid email address")))?;
        let parsed = parsed.to_string();
        if !recipients.contains(&parsed) {
            recipients.push(parsed);
        }
    }
    if recipients.len() > MAX_RECIPIENTS {
        return Err(invalid(format!(
            "at most {MAX_RECIPIENTS} email recipients are allowed"
        )));
    }
    Ok(recipients)
}

pub fn parse_webhook_url(url: &str) -> Result<String, NotifyError> {
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|e| invalid(format!("webhook URL `{url}` is not a valid URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(invalid(format!(
            "webhook URL `{url}` must be an http:// or https:// URL with a host"
        )));
    }
    Ok(parsed.to_string())
}

/// What the sealed webhook secret is bound to: it opens only as this org's webhook secret.
fn secret_context(org_id: OrgId) -> Vec<u8> {
    format!("orgbackup webhook secret v1\0{org_id}").into_bytes()
}

pub fn seal_secret(key: &KeyEncryptionKey, org_id: OrgId, secret: &str) -> Vec<u8> {
    key.seal(secret.as_bytes(), &secret_context(org_id))
}

pub fn open_secret(
    key: &KeyEncryptionKey,
    org_id: OrgId,
    sealed: &[u8],
) -> Result<String, NotifyError> {
    let bytes = key
        .open(sealed, &secret_context(org_id))
        .map_err(|_| NotifyError::SecretUnreadable)?;
    String::from_utf8(bytes).map_err(|_| NotifyError::SecretUnreadable)
}

fn new_secret() -> String {
    format!("whsec_{}", hex::encode(rand::random::<[u8; 32]>()))
}

/// Validates and applies a change in one transaction.
pub async fn update(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
    change: SettingsChange,
) -> Result<Updated, NotifyError> {
    let events = change.events.as_deref().map(parse_events).transpose()?;
    let recipients = change
        .email_recipients
        .as_deref()
        .map(parse_recipients)
        .transpose()?;
    let locale = change
        .locale
        .as_deref()
        .map(|l| Locale::parse(l).map_err(|e| invalid(e.to_string())))
        .transpose()?;
    if let Some(days) = change.expiring_notice_days
        && days > MAX_NOTICE_DAYS
    {
        return Err(invalid(format!(
            "expiring_notice_days must be between 0 and {MAX_NOTICE_DAYS}"
        )));
    }
    let webhook = match change.webhook_url {
        None => None,
        Some(url) => match url.as_deref().map(str::trim) {
            None | Some("") => Some(None),
            Some(url) => {
                let url = parse_webhook_url(url)?;
                // Also checked at each delivery (the name may resolve differently by then).
                let parsed = reqwest::Url::parse(&url).map_err(|e| invalid(e.to_string()))?;
                settings
                    .network
                    .check_url(&parsed)
                    .await
                    .map_err(|refused| invalid(format!("webhook URL refused: {refused}")))?;
                let key = crate::keys::master_key(&settings.encryption)?
                    .ok_or(NotifyError::NoMasterKey)?;
                let secret = new_secret();
                let sealed = seal_secret(&key, org_id, &secret);
                Some(Some((url, secret, sealed)))
            }
        },
    };

    let mut tx = org_transaction(pool, org_id).await?;
    sqlx::query("INSERT INTO backup_settings (org_id) VALUES ($1) ON CONFLICT (org_id) DO NOTHING")
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
    let names = events.map(|e| e.iter().map(|e| e.as_str()).collect::<Vec<_>>());
    sqlx::query(
        "UPDATE backup_settings SET
                notify_events        = coalesce($2, notify_events),
                email_recipients     = coalesce($3, email_recipients),
                in_app               = coalesce($4, in_app),
                locale               = coalesce($5, locale),
                expiring_notice_days = coalesce($6, expiring_notice_days),
                updated_at           = now()
          WHERE org_id = $1",
    )
    .bind(org_id)
    .bind(names)
    .bind(recipients)
    .bind(change.in_app)
    .bind(locale.map(Locale::as_str))
    .bind(change.expiring_notice_days.map(|d| d as i32))
    .execute(&mut *tx)
    .await?;
    let mut webhook_secret = None;
    if let Some(webhook) = webhook {
        let (url, sealed) = match webhook {
            Some((url, secret, sealed)) => {
                webhook_secret = Some(secret);
                (Some(url), Some(sealed))
            }
            None => (None, None),
        };
        sqlx::query(
            "UPDATE backup_settings SET webhook_url = $2, webhook_secret_encrypted = $3 WHERE org_id = $1",
        )
        .bind(org_id)
        .bind(url)
        .bind(sealed)
        .execute(&mut *tx)
        .await?;
    }
    let settings = load(&mut tx, org_id).await?;
    tx.commit().await?;
    Ok(Updated {
        settings,
        webhook_secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_webhooks_with_a_host_are_accepted() {
        assert!(parse_webhook_url("https://hooks.example.com/x?a=1").is_ok());
        assert!(parse_webhook_url("http://127.0.0.1:9000/hook").is_ok());
        for bad in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "example.com",
            "http://",
        ] {
            assert!(parse_webhook_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn recipients_are_validated_and_deduplicated() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_recipients(&list(&["a@x.org", " a@x.org ", "b@y.com"])).unwrap(),
            list(&["a@x.org", "b@y.com"])
        );
        let error = parse_recipients(&list(&["a@x.org", "not an address"])).unwrap_err();
        assert!(error.to_string().contains("not an address"), "{error}");
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_org() {
        let key = KeyEncryptionKey::generate();
        let (org, other) = (OrgId::random(), OrgId::random());
        let sealed = seal_secret(&key, org, "whsec_abc");
        assert_eq!(open_secret(&key, org, &sealed).unwrap(), "whsec_abc");
        assert!(open_secret(&key, other, &sealed).is_err());
        assert!(new_secret().starts_with("whsec_"));
    }
}
