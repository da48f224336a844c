//! Notification emails over SMTP (lettre's async transport).

use super::SendError;
use super::messages::Message;
use crate::config::{NotificationSettings, SmtpTls};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;
use std::time::Duration;

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// The configured SMTP server; `NotConfigured` when `notifications.smtp_host` is unset.
    pub fn from_settings(config: &NotificationSettings) -> Result<Self, SendError> {
        let host = config
            .smtp_host
            .as_deref()
            .filter(|h| !h.trim().is_empty())
            .ok_or(SendError::EmailNotConfigured)?;
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| SendError::BadConfig(format!("notifications.from: {e}")))?;
        let smtp_error = |e: lettre::transport::smtp::Error| {
            SendError::BadConfig(format!("notifications.smtp_host: {e}"))
        };
        let mut builder = match config.smtp_tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpTls::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(smtp_error)?
            }
            SmtpTls::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(smtp_error)?
            }
        };
        if let Some(port) = config.smtp_port {
            builder = builder.port(port);
        }
        if let Some(username) = &config.smtp_username {
            let password = config
                .smtp_password
                .as_ref()
                .map(|p| p.expose_secret().to_string())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }
        let timeout = Duration::from_secs(config.smtp_timeout_seconds.max(1));
        Ok(Self {
            transport: builder.timeout(Some(timeout)).build(),
            from,
        })
    }

    pub async fn send(&self, to: &str, message: &Message) -> Result<(), SendError> {
        let to: Mailbox = to
            .parse()
            .map_err(|_| SendError::BadRecipient(to.to_string()))?;
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&message.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(message.body.clone())
            .map_err(|e| SendError::BadConfig(format!("building the email: {e}")))?;
        self.transport
            .send(email)
            .await
            .map(|_| ())
            .map_err(|e| SendError::Smtp {
                permanent: e.is_permanent(),
                detail: e.to_string(),
            })
    }
}
