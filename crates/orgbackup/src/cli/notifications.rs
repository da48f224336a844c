//! `orgbackup notifications ...`: an org's settings, its in-app notifications, one dispatcher
//! pass, a test event, a storage quota check.

use clap::Subcommand;
use orgbackup_service::audit::{self, Entry, Outcome};
use orgbackup_service::config::Settings;
use orgbackup_service::notifications::{self, Event, OrgSettings, SettingsChange};
use orgbackup_service::{db, orgs};
use serde_json::json;

#[derive(Subcommand)]
pub enum NotificationsCommand {
    /// Show an org's notification settings, or change them (only the options given change).
    Settings {
        #[arg(long)]
        org: String,
        /// Events to notify (comma separated; "" = none): backup_completed, backup_failed,
        /// restore_started, restore_completed, restore_failed, restore_rolled_back,
        /// backup_expiring, storage_quota_warning.
        #[arg(long, value_delimiter = ',')]
        events: Option<Vec<String>>,
        /// Email recipients (comma separated; "" = none).
        #[arg(long, value_delimiter = ',')]
        email: Option<Vec<String>>,
        /// Webhook URL (http or https); a new signing secret is generated and printed once.
        #[arg(long, conflicts_with = "no_webhook")]
        webhook: Option<String>,
        /// Remove the webhook.
        #[arg(long)]
        no_webhook: bool,
        #[arg(long)]
        in_app: Option<bool>,
        /// Language of emails, webhook texts and in-app texts: en or ar.
        #[arg(long)]
        locale: Option<String>,
        /// Days before a backup expires that backup_expiring is sent.
        #[arg(long)]
        expiring_notice_days: Option<u32>,
    },
    /// List an org's in-app notifications, newest first.
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        unread: bool,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Send the email and webhook deliveries due now (what `serve` and `worker` do every
    /// notifications.dispatch_interval_seconds).
    Deliver,
    /// Send a test notification through the org's channels (as configured), then deliver.
    Test {
        #[arg(long)]
        org: String,
        #[arg(long, default_value = "backup_completed")]
        event: String,
    },
    /// Check the org's storage against its plan now; warns at 80% and 95%, once each.
    CheckQuota {
        #[arg(long)]
        org: String,
    },
}

fn print_settings(settings: &OrgSettings) {
    let events: Vec<&str> = settings.events.iter().map(|e| e.as_str()).collect();
    let or_none = |list: String| if list.is_empty() { "none".into() } else { list };
    println!("events: {}", or_none(events.join(", ")));
    println!("email: {}", or_none(settings.email_recipients.join(", ")));
    match &settings.webhook_url {
        Some(url) if settings.webhook_secret_set => println!("webhook: {url} (signed)"),
        Some(url) => println!("webhook: {url} (no secret: set the URL again)"),
        None => println!("webhook: none"),
    }
    println!("in-app: {}", settings.in_app);
    println!("locale: {}", settings.locale.as_str());
    println!(
        "expiring notice: {} days before",
        settings.expiring_notice_days
    );
}

// long: one match arm per subcommand, each a few lines
pub async fn run(settings: &Settings, command: NotificationsCommand) -> anyhow::Result<()> {
    let pool = db::connect_migrated(settings).await?;
    match command {
        NotificationsCommand::Settings {
            org,
            events,
            email,
            webhook,
            no_webhook,
            in_app,
            locale,
            expiring_notice_days,
        } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let change = SettingsChange {
                events,
                email_recipients: email,
                webhook_url: if no_webhook {
                    Some(None)
                } else {
                    webhook.map(Some)
                },
                in_app,
                locale,
                expiring_notice_days,
            };
            let changes = change.events.is_some()
                || change.email_recipients.is_some()
                || change.webhook_url.is_some()
                || change.in_app.is_some()
                || change.locale.is_some()
                || change.expiring_notice_days.is_some();
            if !changes {
                print_settings(&notifications::get_settings(&pool, org.org_id).await?);
                return Ok(());
            }
            let updated =
                notifications::update_settings(&pool, settings, org.org_id, change).await?;
            audit::record(
                &pool,
                &Entry::system(
                    org.org_id,
                    "cli",
                    "notifications.settings",
                    Outcome::Success,
                )
                .detail("webhook_secret_generated", updated.webhook_secret.is_some()),
            )
            .await;
            print_settings(&updated.settings);
            if let Some(secret) = updated.webhook_secret {
                println!(
                    "webhook secret (shown once; verify X-Orgbackup-Signature with it): {secret}"
                );
            }
        }
        NotificationsCommand::List {
            org,
            unread,
            limit,
            json,
        } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let page = notifications::list_in_app(&pool, org.org_id, 1, limit, unread).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&page)?);
                return Ok(());
            }
            println!("{} notifications, {} unread", page.total, page.unread);
            for n in &page.data {
                let mark = if n.read_at.is_some() { " " } else { "*" };
                let subject = n.message.as_ref().map_or(n.event.as_str(), |m| &m.subject);
                println!(
                    "{mark} {}  {}  {subject}",
                    n.created_at.format("%Y-%m-%d %H:%M:%S"),
                    n.notification_id
                );
            }
        }
        NotificationsCommand::Deliver => {
            let delivered = notifications::deliver_due(&pool, settings).await?;
            println!("{delivered} deliveries sent");
        }
        NotificationsCommand::Test { org, event } => {
            let event = Event::parse(&event)?;
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let data = json!({
                "test": true,
                "org_name": org.name,
                "backup_name": "test notification",
                "size_bytes": 1_234_567,
                "rows": 12_345,
            });
            notifications::notify(&pool, org.org_id, event, data).await?;
            let delivered = notifications::deliver_due(&pool, settings).await?;
            println!("test {event} notified; {delivered} deliveries sent");
        }
        NotificationsCommand::CheckQuota { org } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            notifications::check_storage_quota(&pool, settings, org.org_id).await?;
            println!("storage quota of {} checked", org.name);
        }
    }
    Ok(())
}
