//! Signed webhook POSTs. The receiver checks
//! `X-Orgbackup-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`, with the
//! timestamp from `X-Orgbackup-Timestamp`, and dedups retries by `X-Orgbackup-Delivery`.

use super::SendError;
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

pub fn client(timeout_seconds: u64) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(timeout_seconds.max(1)))
        // A redirect would resend the signed body somewhere the org did not configure.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("orgbackup-webhook/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with a timeout and rustls builds")
}

pub struct Delivery<'a> {
    pub url: &'a str,
    pub delivery_id: Uuid,
    pub event: &'a str,
    pub secret: &'a str,
    pub body: &'a [u8],
}

/// Sends once; any answer other than 2xx is an error (retried by the dispatcher).
pub async fn send(client: &reqwest::Client, delivery: &Delivery<'_>) -> Result<(), SendError> {
    let timestamp = chrono::Utc::now().timestamp();
    let response = client
        .post(delivery.url)
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
        .map_err(|e| SendError::Webhook(e.without_url().to_string()))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(SendError::Webhook(format!(
            "the endpoint answered {status}"
        )))
    }
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
