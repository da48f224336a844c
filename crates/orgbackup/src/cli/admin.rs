//! `orgbackup admin ...`: users, memberships and API tokens.

use anyhow::Context;
use clap::Subcommand;
use orgbackup_service::accounts;
use orgbackup_service::config::Settings;
use orgbackup_service::permissions::{self, Permission, Role};
use orgbackup_service::{db, orgs};
use std::io::BufRead;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a user. The password is read from the first line of standard input with --password-stdin.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long)]
        password_stdin: bool,
        /// Super admins may run full restores (backup.restore_full) in the orgs they belong to.
        #[arg(long)]
        super_admin: bool,
    },
    /// Give a user a role in an organization (viewer, operator, admin, owner).
    SetRole {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
    },
    /// Create an API token for an organization; the secret is printed once.
    CreateToken {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// Comma-separated, e.g. backup.create,backup.download; `all` for every permission.
        #[arg(long, value_delimiter = ',')]
        permissions: Vec<String>,
        /// Bind the token to a user: it never grants more than the user's role.
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        expires_days: Option<i64>,
    },
    /// Set an organization's plan (free, basic, pro, enterprise).
    SetPlan {
        #[arg(long)]
        org: String,
        #[arg(long)]
        plan: String,
    },
    /// Revoke an API token.
    RevokeToken {
        #[arg(long)]
        org: String,
        token_id: uuid::Uuid,
    },
}

pub async fn run(settings: &Settings, command: AdminCommand) -> anyhow::Result<()> {
    let pool = db::connect_migrated(settings).await?;
    match command {
        AdminCommand::CreateUser {
            email,
            name,
            password_stdin,
            super_admin,
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                let line = line.trim_end_matches(['\r', '\n']).to_string();
                anyhow::ensure!(
                    line.len() >= 8,
                    "the password must have at least 8 characters"
                );
                Some(line)
            } else {
                None
            };
            let user_id =
                accounts::create_user(&pool, &email, &name, password.as_deref(), super_admin)
                    .await?;
            println!(
                "user {user_id} {email}{}",
                if super_admin { " (super admin)" } else { "" }
            );
        }
        AdminCommand::SetRole { org, email, role } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let role = Role::parse(&role).map_err(anyhow::Error::msg)?;
            let user_id = accounts::user_id_by_email(&pool, &email).await?;
            accounts::set_membership(&pool, org.org_id, user_id, role).await?;
            println!("{email} is {} of {}", role.as_str(), org.name);
        }
        AdminCommand::CreateToken {
            org,
            name,
            permissions: names,
            user,
            expires_days,
        } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            let granted: Vec<Permission> = if names.iter().any(|n| n == "all") {
                permissions::ALL.to_vec()
            } else {
                names
                    .iter()
                    .map(|n| Permission::parse(n))
                    .collect::<Result<_, _>>()?
            };
            let user_id = match &user {
                Some(email) => Some(accounts::user_id_by_email(&pool, email).await?),
                None => None,
            };
            let expires = expires_days.map(|d| chrono::Utc::now() + chrono::Duration::days(d));
            let token =
                accounts::create_token(&pool, org.org_id, user_id, &name, &granted, expires)
                    .await?;
            eprintln!(
                "token {} for {}: store the secret now, it is not shown again",
                token.token_id, org.name
            );
            println!("{}", token.secret);
        }
        AdminCommand::SetPlan { org, plan } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            orgbackup_service::plans::set_plan(&pool, org.org_id, &plan).await?;
            println!("{} is on the {plan} plan", org.name);
        }
        AdminCommand::RevokeToken { org, token_id } => {
            let org = orgs::resolve(&pool, &settings.tenancy, &org).await?;
            if accounts::revoke_token(&pool, org.org_id, token_id).await? {
                println!("token {token_id} revoked");
            } else {
                anyhow::bail!("token {token_id} is not an active token of {}", org.name);
            }
        }
    }
    Ok(())
}
