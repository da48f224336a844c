//! The demo dataset, in the CMIS shape: five orgs of very different sizes (the largest sized by
//! `--rows`, then 10%, 1%, 0.1% of it, and a one-row org), with real media files on disk.
//! Generated on the server with `generate_series`, deterministic: the same options give the same
//! rows and files, byte for byte.

use anyhow::{Context, bail, ensure};
use orgbackup_service::ids::OrgId;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use uuid::Uuid;

const SCHEMA_SQL: &str = include_str!("demo/schema.sql");
const GENERATE_SQL: &str = include_str!("demo/generate.sql");
const FINISH_SQL: &str = include_str!("demo/finish.sql");
/// Analytics rows inserted per statement, so progress can be reported on large orgs.
const ANALYTICS_BATCH: u64 = 250_000;
/// Media files per org are capped: the largest org must not write 100k files to disk.
const MAX_ASSETS_PER_ORG: u64 = 200;

pub struct DemoOptions {
    pub schema: String,
    pub files_root: PathBuf,
    /// Analytics rows of the largest org; the other orgs and tables scale from it.
    pub large_org_rows: u64,
    /// Drop the schema and the demo orgs' files first.
    pub reset: bool,
}

#[derive(Debug)]
pub struct DemoSummary {
    pub orgs: Vec<DemoOrg>,
    pub total_rows: u64,
    pub files: u64,
}

#[derive(Debug)]
pub struct DemoOrg {
    pub org_id: OrgId,
    pub name: String,
    /// Every tenant row of the org (the org's own row in the org table not counted).
    pub rows: u64,
}

/// The demo orgs: fixed ids, and each one's share of `large_org_rows` (in thousandths).
const ORGS: [(&str, &str, u64); 5] = [
    ("00000000-0000-4000-8000-0000000000a1", "Acme Global", 1000),
    ("00000000-0000-4000-8000-0000000000a2", "Blue Harbor", 100),
    ("00000000-0000-4000-8000-0000000000a3", "Cedar Labs", 10),
    ("00000000-0000-4000-8000-0000000000a4", "Delta Studio", 1),
    ("00000000-0000-4000-8000-0000000000a5", "Solo Shop", 0),
];

/// How many rows each table gets for an org with `analytics` analytics rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OrgSize {
    analytics: u64,
    campaigns: u64,
    posts: u64,
    tags: u64,
    assets: u64,
    /// Ad sets per campaign, and ads per ad set.
    fan_out: u64,
    replies: bool,
}

impl OrgSize {
    fn for_share(large_org_rows: u64, per_mille: u64) -> Self {
        let analytics = (large_org_rows * per_mille / 1000).max(1);
        Self {
            analytics,
            campaigns: analytics / 1000 + 1,
            posts: analytics / 200 + 1,
            tags: (analytics / 100 + 1).min(20),
            assets: (analytics / 100 + 1).min(MAX_ASSETS_PER_ORG),
            fan_out: if analytics >= 10 { 2 } else { 1 },
            replies: analytics >= 10,
        }
    }
}

// long: the demo's steps in order (schema, orgs, rows, files, plans), each a few statements
pub async fn create_demo(
    pool: &PgPool,
    options: &DemoOptions,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<DemoSummary> {
    let schema = quoted_schema(&options.schema)?;
    let sql = |text: &str| sqlx::AssertSqlSafe(text.replace("{schema}", &schema));
    let statements = named_statements(GENERATE_SQL);
    let statement = |name: &str| sql(statements[name]);

    if options.reset {
        progress(&format!("dropping schema {schema}"));
        sqlx::raw_sql(sql("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(pool)
            .await?;
        for (id, _, _) in ORGS {
            remove_dir_if_present(&options.files_root.join(id))?;
        }
    } else {
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')",
        )
        .bind(&options.schema)
        .fetch_one(pool)
        .await?;
        if tables > 0 {
            bail!(
                "schema {schema} already holds {tables} tables; pass --reset to drop it and create the demo data again"
            );
        }
    }

    progress("creating tables");
    sqlx::raw_sql(sql(SCHEMA_SQL)).execute(pool).await?;
    let mut tx = pool.begin().await?;
    sqlx::query(sql(
        "INSERT INTO {schema}.users SELECT md5('user:' || i)::uuid, 'user' || i || '@example.com', 'User ' || i
           FROM generate_series(0, 39) i",
    ))
    .execute(&mut *tx)
    .await?;
    for (i, (id, name, _)) in ORGS.iter().enumerate() {
        sqlx::query(sql(
            "INSERT INTO {schema}.orgs (org_id, name, created_at) VALUES ($1, $2, $3)",
        ))
        .bind(id.parse::<OrgId>()?)
        .bind(name)
        .bind(chrono::DateTime::from_timestamp(
            1_735_689_600 + i as i64 * 86_400,
            0,
        ))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;

    let mut files = 0;
    for (id, name, share) in ORGS {
        let org_id: OrgId = id.parse()?;
        let size = OrgSize::for_share(options.large_org_rows, share);
        progress(&format!(
            "{name}: {} analytics rows and related tables",
            size.analytics
        ));
        let mut tx = pool.begin().await?;
        let steps: [(&str, &[i64]); 8] = [
            ("campaigns", &[size.campaigns as i64]),
            ("ad_sets", &[size.campaigns as i64, size.fan_out as i64]),
            ("ads", &[size.campaigns as i64, size.fan_out as i64]),
            ("posts", &[size.posts as i64, size.campaigns as i64]),
            ("comments", &[size.posts as i64]),
            ("tags", &[size.tags as i64]),
            ("post_tags", &[size.posts as i64, size.tags as i64]),
            ("media", &[size.assets as i64, size.posts as i64]),
        ];
        for (step, params) in steps {
            let mut query = sqlx::query(statement(step)).bind(org_id);
            for &param in params {
                query = query.bind(param);
            }
            query
                .execute(&mut *tx)
                .await
                .with_context(|| format!("demo step {step}"))?;
        }
        if size.replies {
            sqlx::query(statement("replies"))
                .bind(org_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(statement("settings"))
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        let mut first = 1;
        while first <= size.analytics {
            let last = (first + ANALYTICS_BATCH - 1).min(size.analytics);
            sqlx::query(statement("analytics"))
                .bind(org_id)
                .bind(first as i64)
                .bind(last as i64)
                .bind(size.campaigns as i64)
                .bind(size.posts as i64)
                .execute(&mut *tx)
                .await?;
            if size.analytics > ANALYTICS_BATCH {
                progress(&format!(
                    "{name}: analytics_events {last}/{} rows",
                    size.analytics
                ));
            }
            first = last + 1;
        }
        files += write_media_files(&mut tx, &schema, org_id, &options.files_root).await?;
        tx.commit().await?;
    }

    progress("indexes, foreign keys, row-level security, statistics");
    sqlx::raw_sql(sql(FINISH_SQL)).execute(pool).await?;

    let mut orgs = Vec::new();
    for (id, name, _) in ORGS {
        let org_id: OrgId = id.parse()?;
        let rows: i64 = sqlx::query_scalar(statement("org_rows"))
            .bind(org_id)
            .fetch_one(pool)
            .await?;
        orgs.push(DemoOrg {
            org_id,
            name: name.to_string(),
            rows: rows as u64,
        });
    }
    Ok(DemoSummary {
        total_rows: orgs.iter().map(|o| o.rows).sum(),
        orgs,
        files,
    })
}

/// Writes each media row's file (deterministic bytes of the recorded size) and records its SHA-256.
async fn write_media_files(
    tx: &mut sqlx::PgConnection,
    schema: &str,
    org_id: OrgId,
    files_root: &Path,
) -> anyhow::Result<u64> {
    let select = format!(
        "SELECT asset_id, storage_path, size_bytes FROM {schema}.media_assets WHERE org_id = $1 ORDER BY asset_id"
    );
    let assets: Vec<(Uuid, String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(select))
        .bind(org_id)
        .fetch_all(&mut *tx)
        .await?;
    let mut ids = Vec::with_capacity(assets.len());
    let mut digests = Vec::with_capacity(assets.len());
    for (asset_id, storage_path, size) in &assets {
        let content = file_content(*asset_id, *size as usize);
        let path = files_root.join(storage_path);
        let directory = path.parent().expect("media paths have a directory");
        std::fs::create_dir_all(directory)
            .with_context(|| format!("creating {}", directory.display()))?;
        std::fs::write(&path, &content).with_context(|| format!("writing {}", path.display()))?;
        ids.push(*asset_id);
        digests.push(hex::encode(Sha256::digest(&content)));
    }
    let update = format!(
        "UPDATE {schema}.media_assets m SET sha256 = d.sha256
           FROM unnest($1::uuid[], $2::text[]) AS d(asset_id, sha256) WHERE m.asset_id = d.asset_id"
    );
    sqlx::query(sqlx::AssertSqlSafe(update))
        .bind(&ids)
        .bind(&digests)
        .execute(&mut *tx)
        .await?;
    Ok(assets.len() as u64)
}

/// `size` bytes derived from the asset id: a PNG signature, then a SHA-256 chain.
fn file_content(asset_id: Uuid, size: usize) -> Vec<u8> {
    let mut content = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut block = Sha256::digest(asset_id.as_bytes());
    while content.len() < size {
        content.extend_from_slice(&block);
        block = Sha256::digest(block);
    }
    content.truncate(size);
    content
}

fn remove_dir_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// The schema name, checked to be a plain identifier, and quoted.
fn quoted_schema(schema: &str) -> anyhow::Result<String> {
    let plain = schema
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 63;
    ensure!(
        plain,
        "demo schema `{schema}` must be a lowercase SQL identifier (letters, digits, _), e.g. cmis"
    );
    Ok(format!("\"{schema}\""))
}

/// Splits `-- name: x (...)` sections of a SQL file into statements by name.
fn named_statements(text: &'static str) -> HashMap<&'static str, &'static str> {
    text.split("-- name: ")
        .skip(1)
        .map(|section| {
            let (header, body) = section.split_once('\n').expect("a name line, then SQL");
            let name = header.split_whitespace().next().expect("a statement name");
            (name, body.trim().trim_end_matches(';'))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    use std::str::FromStr;

    /// A fresh database for one test, dropped at the end (also when the test fails).
    struct ScratchDb {
        name: String,
        pool: PgPool,
    }

    impl ScratchDb {
        async fn new() -> Self {
            let server = std::env::var("ORGBACKUP_TEST_SERVER_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
            let name = format!("obr_demo_{}", Uuid::new_v4().simple());
            let admin = PgConnectOptions::from_str(&format!("{server}/postgres")).unwrap();
            let mut conn = sqlx::PgConnection::connect_with(&admin).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .unwrap();
            let pool = PgPoolOptions::new()
                .max_connections(2)
                .connect_with(admin.database(&name))
                .await
                .unwrap();
            Self { name, pool }
        }

        async fn scalar(&self, sql: &str) -> String {
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT ({sql})::text")))
                .fetch_one(&self.pool)
                .await
                .unwrap()
        }
    }

    impl Drop for ScratchDb {
        fn drop(&mut self) {
            let _ = std::process::Command::new("psql")
                .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc"])
                .arg(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .output();
        }
    }

    const TABLES_WITH_ORG_COLUMN: [&str; 8] = [
        "campaigns",
        "ad_sets",
        "ads",
        "posts",
        "tags",
        "media_assets",
        "settings",
        "analytics_events",
    ];

    fn options(files: &Path, rows: u64, reset: bool) -> DemoOptions {
        DemoOptions {
            schema: "cmis".into(),
            files_root: files.to_path_buf(),
            large_org_rows: rows,
            reset,
        }
    }

    #[tokio::test]
    async fn the_demo_has_skewed_orgs_real_counts_and_real_files() {
        let db = ScratchDb::new().await;
        let files = tempfile::tempdir().unwrap();
        let summary = create_demo(&db.pool, &options(files.path(), 2000, false), &mut |_| {})
            .await
            .unwrap();

        let analytics = |org: &str| {
            format!(
                "SELECT count(*) FROM cmis.analytics_events e JOIN cmis.orgs o USING (org_id) WHERE o.name = '{org}'"
            )
        };
        assert_eq!(db.scalar(&analytics("Acme Global")).await, "2000");
        assert_eq!(db.scalar(&analytics("Blue Harbor")).await, "200");
        assert_eq!(db.scalar(&analytics("Cedar Labs")).await, "20");
        assert_eq!(db.scalar(&analytics("Delta Studio")).await, "2");
        for table in TABLES_WITH_ORG_COLUMN {
            let sql = format!(
                "SELECT count(*) FROM cmis.{table} JOIN cmis.orgs o USING (org_id) WHERE o.name = 'Solo Shop'"
            );
            assert_eq!(
                db.scalar(&sql).await,
                "1",
                "Solo Shop has one row in {table}"
            );
        }
        let solo = summary.orgs.iter().find(|o| o.name == "Solo Shop").unwrap();
        assert_eq!(solo.rows, 10);

        // The summary's counts are the real counts, table by table.
        let acme = &summary.orgs[0];
        let through = format!(
            "(SELECT count(*) FROM cmis.post_comments JOIN cmis.posts p USING (post_id) WHERE p.org_id = '{0}')
           + (SELECT count(*) FROM cmis.post_tags JOIN cmis.posts p USING (post_id) WHERE p.org_id = '{0}')",
            acme.org_id
        );
        let total: u64 = db
            .scalar(&format!("{} + {through}", direct_sql(acme.org_id)))
            .await
            .parse()
            .unwrap();
        assert_eq!(acme.rows, total);
        assert_eq!(
            summary.total_rows,
            summary.orgs.iter().map(|o| o.rows).sum::<u64>()
        );

        // Comments have replies, posts have tags.
        assert_ne!(
            db.scalar(
                "SELECT count(*) FROM cmis.post_comments WHERE parent_comment_id IS NOT NULL"
            )
            .await,
            "0"
        );
        assert_ne!(db.scalar("SELECT count(*) FROM cmis.post_tags").await, "0");

        // Every media row's file exists, with the recorded size and checksum.
        let assets: Vec<(String, i64, String)> =
            sqlx::query_as("SELECT storage_path, size_bytes, sha256 FROM cmis.media_assets")
                .fetch_all(&db.pool)
                .await
                .unwrap();
        assert_eq!(assets.len() as u64, summary.files);
        for (path, size, sha256) in assets {
            let content = std::fs::read(files.path().join(&path)).unwrap();
            assert_eq!(content.len() as i64, size, "{path}");
            assert_eq!(hex::encode(Sha256::digest(&content)), sha256, "{path}");
        }
    }

    fn direct_sql(org_id: OrgId) -> String {
        TABLES_WITH_ORG_COLUMN
            .iter()
            .map(|t| format!("(SELECT count(*) FROM cmis.{t} WHERE org_id = '{org_id}')"))
            .collect::<Vec<_>>()
            .join(" + ")
    }

    #[tokio::test]
    async fn the_demo_is_deterministic_and_refuses_to_append() {
        let db = ScratchDb::new().await;
        let files = tempfile::tempdir().unwrap();
        let fingerprint = "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM (
                               SELECT e.*::text AS t FROM cmis.analytics_events e
                               UNION ALL SELECT c.*::text FROM cmis.post_comments c
                               UNION ALL SELECT m.*::text FROM cmis.media_assets m) x";
        create_demo(&db.pool, &options(files.path(), 500, false), &mut |_| {})
            .await
            .unwrap();
        let first = db.scalar(fingerprint).await;

        let error = create_demo(&db.pool, &options(files.path(), 500, false), &mut |_| {})
            .await
            .unwrap_err();
        assert!(error.to_string().contains("--reset"), "{error}");

        let mut steps = Vec::new();
        create_demo(&db.pool, &options(files.path(), 500, true), &mut |s| {
            steps.push(s.to_string())
        })
        .await
        .unwrap();
        assert_eq!(
            db.scalar(fingerprint).await,
            first,
            "the same options give the same rows"
        );
        assert!(steps.iter().any(|s| s.contains("dropping")), "{steps:?}");
    }

    #[test]
    fn sizes_scale_from_the_largest_org_down_to_one_row() {
        let acme = OrgSize::for_share(2_000_000, 1000);
        assert_eq!(
            (acme.analytics, acme.campaigns, acme.posts, acme.assets),
            (2_000_000, 2001, 10_001, 200)
        );
        let solo = OrgSize::for_share(2_000_000, 0);
        assert_eq!(
            (
                solo.analytics,
                solo.campaigns,
                solo.posts,
                solo.tags,
                solo.assets
            ),
            (1, 1, 1, 1, 1)
        );
        assert!(!solo.replies);
        assert_eq!(
            solo.fan_out, 1,
            "the smallest org has one row in every table"
        );
    }

    #[test]
    fn every_generation_statement_is_found() {
        let statements = named_statements(GENERATE_SQL);
        for name in [
            "campaigns",
            "ad_sets",
            "ads",
            "posts",
            "comments",
            "replies",
            "tags",
            "post_tags",
            "media",
            "settings",
            "analytics",
            "org_rows",
        ] {
            assert!(statements.contains_key(name), "{name}");
        }
    }

    #[test]
    fn schema_names_must_be_plain_identifiers() {
        assert_eq!(quoted_schema("cmis").unwrap(), "\"cmis\"");
        for bad in ["", "Cmis", "a b", "x\"; drop", "1abc"] {
            assert!(quoted_schema(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_content_is_deterministic_and_sized() {
        let id = Uuid::nil();
        assert_eq!(file_content(id, 5000), file_content(id, 5000));
        assert_eq!(file_content(id, 5000).len(), 5000);
        assert_ne!(file_content(Uuid::max(), 100), file_content(id, 100));
    }
}
