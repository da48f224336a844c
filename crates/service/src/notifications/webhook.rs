//! Signed webhook POSTs. The receiver checks
//! `X-Orgbackup-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`, with the
//! timestamp from `X-Orgbackup-Timestamp`, and dedups retries by `X-Orgbackup-Delivery`.

use super::SendError;
use crate::outbound::{NetworkSettings, Refused};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;
use uuid::Uuid;

/// `sha256=<hex>` over `timestamp.body`: signing the timestamp lets receivers refuse replays.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Only to addresses `network` allows, checked on the addresses the name resolves to; no
/// redirects (see [`crate::outbound::webhook_client`]).
pub fn client(network: &NetworkSettings, timeout_seconds: u64) -> reqwest::Client {
    crate::outbound::webhook_client(network, Duration::from_secs(timeout_seconds.max(1)))
}

pub struct Delivery<'a> {
    pub url: &'a str,
    pub delivery_id: Uuid,
    pub event: &'a str,
    pub secret: &'a str,
    pub body: &'a [u8],
}

/// Sends once; any answer other than 2xx is an error (retried by the dispatcher). A URL whose
/// address `network` refuses is a permanent failure; nothing is sent.
pub async fn send(
    client: &reqwest::Client,
    network: &NetworkSettings,
    delivery: &Delivery<'_>,
) -> Result<(), SendError> {
    let url = reqwest::Url::parse(delivery.url)
        .map_err(|_| SendError::WebhookRefused(Refused::NotHttp.to_string()))?;
    // IP literals do not go through the client's resolver: checked here.
    network
        .check_literal(&url)
        .map_err(|refused| SendError::WebhookRefused(refused.to_string()))?;
    let timestamp = chrono::Utc::now().timestamp();
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Orgbackup-Event", delivery.event)
        .header("X-Orgbackup-Delivery", delivery.delivery_id.to_string())
        .header("X-Orgbackup-Timestamp", timestamp.to_string())
        .header(
            "X-Orgbackup-Signature",
            signature(delivery.secret, timestamp, delivery.body),
        )
        .body(delivery.body.to_vec())
        .send()
        .await
        // Without the URL: it may carry credentials in its query string.
        .map_err(|e| {
            let e = e.without_url();
            match crate::outbound::refusal(&e) {
                Some(refused) => SendError::WebhookRefused(refused.to_string()),
                None => SendError::Webhook(crate::errors::error_chain(&anyhow::Error::from(e))),
            }
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    // The answer's body is the receiver's text: never shown to the org or stored, only logged
    // (shortened) for an operator debugging a receiver.
    if tracing::enabled!(tracing::Level::DEBUG) {
        let body = response.text().await.unwrap_or_default();
        tracing::debug!(%status, body = %crate::outbound::shortened(&body), "webhook answer");
    }
    Err(SendError::Webhook(format!(
        "the endpoint answered HTTP {status}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Reference value: python3 -c "import hmac,hashlib;
        //   print(hmac.new(b'whsec_test', b'1700000000.{\"a\":1}', hashlib.sha256).hexdigest())"
        assert_eq!(
            signature("whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "sha256=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }
}
