//! The torture schema of issue 13 and, independent of the engine, the rules that say which rows
//! belong to which org: one hand-written SQL condition per table, from the rules of issue 13
//! (a path of NOT NULL foreign keys ending at a NOT NULL org column decides when there is one;
//! otherwise ANY path decides, and a row whose paths reach different orgs belongs to nobody;
//! rows with a NULL org are shared and belong to nobody; an inheritance parent is read ONLY;
//! a partitioned table is read once, through its parent).
#![allow(dead_code)]

use crate::support::TestDb;
use orgbackup_archive::ArchiveReader;
use orgbackup_engine::{BackupMetadata, BackupRequest, NoProgress, TenancyConfig, run_backup};
use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::sync::Arc;

pub const SCHEMA: &str = include_str!("schema.sql");

/// (tag, org id): every text value of the org carries the marker `@<tag>@`.
pub const ORGS: [(&str, &str); 3] = [
    ("A", "00000000-0000-0000-0000-00000000000a"),
    ("B", "00000000-0000-0000-0000-00000000000b"),
    ("C", "00000000-0000-0000-0000-00000000000c"),
];
pub const A: &str = ORGS[0].1;
pub const B: &str = ORGS[1].1;
pub const C: &str = ORGS[2].1;

/// Markers of rows that belong to no org: no archive may contain them.
pub const NOBODY_MARKERS: [&str; 3] = ["@shared@", "@ambiguous@", "@orphan@"];

/// One tenant table: where its rows are read from, which of them belong to `$ORG` (an org id
/// literal, spliced in by `owned_by`), and how the round-trip tests mutate them.
pub struct Table {
    pub schema: &'static str,
    pub name: &'static str,
    /// What to read from, aliased `t` by the caller (`ONLY` for an inheritance parent).
    pub from: &'static str,
    /// A condition over `t`; `$ORG` stands for the org's id.
    pub owned: &'static str,
    /// A SET clause changing text columns; `$TAG` is the org's tag.
    pub update: Option<&'static str>,
    /// An INSERT of a new row of `$ORG`; `$N` is a random number, `$TAG` the org's tag.
    pub insert: Option<&'static str>,
}

impl Table {
    pub fn label(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    pub fn owned_by(&self, org: &str) -> String {
        self.owned.replace("$ORG", &org_literal(org))
    }
}

pub fn org_literal(org: &str) -> String {
    format!("'{org}'::uuid")
}

pub fn tag_of(org: &str) -> &'static str {
    ORGS.iter()
        .find(|(_, id)| *id == org)
        .map(|(tag, _)| *tag)
        .expect("one of the three orgs")
}

const DIRECT: &str = "t.org_id = $ORG";

/// Every tenant table of schema `torture`, parents before children.
pub const TORTURE_TABLES: &[Table] = &[
    Table {
        schema: "torture",
        name: "audit_log",
        from: "torture.audit_log",
        owned: DIRECT,
        update: Some("detail = detail || ' mutated @$TAG@'"),
        insert: None,
    },
    Table {
        schema: "torture",
        name: "tasks",
        from: "torture.tasks",
        owned: DIRECT,
        update: Some(r"title = title || E' mutated\t@$TAG@', done = NOT done"),
        insert: Some(
            r"INSERT INTO torture.tasks (task_id, org_id, title) VALUES (md5('new:task:$N')::uuid, $ORG, E'new task $N\\ @$TAG@')",
        ),
    },
    Table {
        schema: "torture",
        name: "labels",
        from: "torture.labels",
        owned: DIRECT,
        update: Some("name = name || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.labels VALUES (md5('new:label:$N')::uuid, $ORG, 'new label $N @$TAG@')",
        ),
    },
    // Both keys NOT NULL; only the one to tasks ends at a NOT NULL org column: it decides, so
    // rows on shared labels are the task's org's, and so is A's row on B's label.
    Table {
        schema: "torture",
        name: "task_labels",
        from: "torture.task_labels",
        owned: "EXISTS (SELECT FROM torture.tasks p WHERE p.task_id = t.task_id AND p.org_id = $ORG)",
        update: Some("note = coalesce(note, '') || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.task_labels SELECT k.task_id, l.label_id, 'new tag $N @$TAG@' FROM torture.tasks k, torture.labels l \
             WHERE k.org_id = $ORG AND (l.org_id = $ORG OR l.org_id IS NULL) \
             AND NOT EXISTS (SELECT FROM torture.task_labels x WHERE x.task_id = k.task_id AND x.label_id = l.label_id) \
             ORDER BY md5(k.task_id::text || l.label_id::text || '$N') LIMIT 1",
        ),
    },
    // One nullable key: rows without a task belong to nobody.
    Table {
        schema: "torture",
        name: "attachments",
        from: "torture.attachments",
        owned: "EXISTS (SELECT FROM torture.tasks p WHERE p.task_id = t.task_id AND p.org_id = $ORG)",
        update: Some("path = path || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.attachments SELECT md5('new:attachment:$N')::uuid, task_id, 'files/new/$N @$TAG@' \
             FROM torture.tasks WHERE org_id = $ORG ORDER BY md5(task_id::text || '$N') LIMIT 1",
        ),
    },
    Table {
        schema: "torture",
        name: "accounts",
        from: "torture.accounts",
        owned: DIRECT,
        update: Some("name = name || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.accounts VALUES (md5('new:account:$N')::uuid, $ORG, 'new account $N @$TAG@')",
        ),
    },
    Table {
        schema: "torture",
        name: "wallets",
        from: "torture.wallets",
        owned: "EXISTS (SELECT FROM torture.accounts p WHERE p.account_id = t.account_id AND p.org_id = $ORG)",
        update: Some("nickname = coalesce(nickname, '') || ' mutated @$TAG@', currency = 'USD'"),
        insert: Some(
            "INSERT INTO torture.wallets SELECT md5('new:wallet:$N')::uuid, account_id, 'EGP', NULL \
             FROM torture.accounts WHERE org_id = $ORG ORDER BY md5(account_id::text || '$N') LIMIT 1",
        ),
    },
    Table {
        schema: "torture",
        name: "invoices",
        from: "torture.invoices",
        owned: DIRECT,
        update: Some("memo = memo || ' mutated @$TAG@', total = total + 0.01"),
        insert: Some(
            "INSERT INTO torture.invoices (invoice_id, org_id, total, memo) VALUES (md5('new:invoice:$N')::uuid, $ORG, 9.99, 'new invoice $N @$TAG@')",
        ),
    },
    // NOT NULL wallet_id (2 hops) decides; the nullable invoice_id (1 hop) does not.
    Table {
        schema: "torture",
        name: "wallet_transactions",
        from: "torture.wallet_transactions",
        owned: "EXISTS (SELECT FROM torture.wallets w JOIN torture.accounts a USING (account_id) \
                WHERE w.wallet_id = t.wallet_id AND a.org_id = $ORG)",
        update: Some("memo = memo || ' mutated @$TAG@', amount = amount - 1"),
        insert: Some(
            "INSERT INTO torture.wallet_transactions SELECT md5('new:tx:$N')::uuid, w.wallet_id, \
             CASE WHEN $N % 2 = 0 THEN (SELECT invoice_id FROM torture.invoices WHERE org_id = $ORG ORDER BY md5(invoice_id::text || '$N') LIMIT 1) END, \
             1.50, 'new tx $N @$TAG@' \
             FROM torture.wallets w JOIN torture.accounts a USING (account_id) WHERE a.org_id = $ORG \
             ORDER BY md5(w.wallet_id::text || '$N') LIMIT 1",
        ),
    },
    Table {
        schema: "torture",
        name: "orders",
        from: "torture.orders",
        owned: DIRECT,
        update: Some("reference = reference || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.orders VALUES (md5('new:order:$N')::uuid, $ORG, 'ORD-new-$N @$TAG@')",
        ),
    },
    Table {
        schema: "torture",
        name: "tickets",
        from: "torture.tickets",
        owned: DIRECT,
        update: Some("subject = subject || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.tickets (ticket_id, org_id, subject) VALUES (md5('new:ticket:$N')::uuid, $ORG, 'new ticket $N @$TAG@')",
        ),
    },
    Table {
        schema: "torture",
        name: "order_lines",
        from: "torture.order_lines",
        owned: "EXISTS (SELECT FROM torture.orders p WHERE p.order_id = t.order_id AND p.org_id = $ORG)",
        update: Some("sku = sku || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.order_lines SELECT order_id, 100 + $N % 1000, 'SKU-new-$N @$TAG@' \
             FROM torture.orders WHERE org_id = $ORG ORDER BY md5(order_id::text || '$N') LIMIT 1",
        ),
    },
    // Through a composite foreign key, two hops.
    Table {
        schema: "torture",
        name: "line_notes",
        from: "torture.line_notes",
        owned: "EXISTS (SELECT FROM torture.order_lines l JOIN torture.orders p USING (order_id) \
                WHERE l.order_id = t.order_id AND l.line_no = t.line_no AND p.org_id = $ORG)",
        update: Some("body = body || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.line_notes SELECT md5('new:line-note:$N')::uuid, l.order_id, l.line_no, 'new line note $N @$TAG@' \
             FROM torture.order_lines l JOIN torture.orders p USING (order_id) WHERE p.org_id = $ORG \
             ORDER BY md5(l.order_id::text || l.line_no || '$N') LIMIT 1",
        ),
    },
    // Two nullable keys: ANY path decides; order and ticket of different orgs: nobody's.
    Table {
        schema: "torture",
        name: "followups",
        from: "torture.followups",
        owned: "EXISTS (SELECT FROM (SELECT (SELECT p.org_id FROM torture.orders p WHERE p.order_id = t.order_id) AS a, \
                (SELECT p.org_id FROM torture.tickets p WHERE p.ticket_id = t.ticket_id) AS b) o \
                WHERE $ORG IN (o.a, o.b) AND coalesce(o.a, $ORG) = $ORG AND coalesce(o.b, $ORG) = $ORG)",
        update: Some("note = note || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.followups SELECT md5('new:followup:$N')::uuid, \
             CASE WHEN $N % 3 <> 1 THEN (SELECT order_id FROM torture.orders WHERE org_id = $ORG ORDER BY md5(order_id::text || '$N') LIMIT 1) END, \
             CASE WHEN $N % 3 <> 0 THEN (SELECT ticket_id FROM torture.tickets WHERE org_id = $ORG ORDER BY md5(ticket_id::text || '$N') LIMIT 1) END, \
             'new followup $N @$TAG@'",
        ),
    },
    Table {
        schema: "torture",
        name: "roles",
        from: "torture.roles",
        owned: DIRECT,
        update: Some("name = name || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.roles VALUES (md5('new:role:$N')::uuid, $ORG, 'new role $N @$TAG@')",
        ),
    },
    // Through roles, whose org is nullable: grants of shared roles are shared.
    Table {
        schema: "torture",
        name: "role_grants",
        from: "torture.role_grants",
        owned: "EXISTS (SELECT FROM torture.roles p WHERE p.role_id = t.role_id AND p.org_id = $ORG)",
        update: Some("permission = permission || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.role_grants SELECT md5('new:grant:$N')::uuid, role_id, 'new grant $N @$TAG@' \
             FROM torture.roles WHERE org_id = $ORG ORDER BY md5(role_id::text || '$N') LIMIT 1",
        ),
    },
    // Tenant rows whose parent is a shared role.
    Table {
        schema: "torture",
        name: "memberships",
        from: "torture.memberships",
        owned: DIRECT,
        update: Some("person = person || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.memberships SELECT md5('new:membership:$N')::uuid, $ORG, role_id, 'new person $N @$TAG@' \
             FROM torture.roles WHERE org_id = $ORG OR org_id IS NULL ORDER BY md5(role_id::text || '$N') LIMIT 1",
        ),
    },
    Table {
        schema: "torture",
        name: "integrations",
        from: "torture.integrations",
        owned: DIRECT,
        update: Some(
            "provider = provider || ' mutated @$TAG@', settings = coalesce(settings, '{}') || jsonb_build_object('mutated', '@$TAG@')",
        ),
        insert: Some(
            "INSERT INTO torture.integrations VALUES (md5('new:integration:$N')::uuid, $ORG, 'new provider $N @$TAG@', '[1, {\"a\": null}]')",
        ),
    },
    // A NOT NULL key to a table whose org is nullable and a nullable key to tasks: no NOT NULL
    // path ends at a NOT NULL org column, so ANY path decides (shared integration + task of the
    // org = the org's; shared integration, no task = nobody's; paths to two orgs = nobody's).
    Table {
        schema: "torture",
        name: "integration_events",
        from: "torture.integration_events",
        owned: "EXISTS (SELECT FROM (SELECT (SELECT p.org_id FROM torture.integrations p WHERE p.integration_id = t.integration_id) AS a, \
                (SELECT p.org_id FROM torture.tasks p WHERE p.task_id = t.task_id) AS b) o \
                WHERE $ORG IN (o.a, o.b) AND coalesce(o.a, $ORG) = $ORG AND coalesce(o.b, $ORG) = $ORG)",
        update: Some("payload = payload || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.integration_events SELECT md5('new:ievent:$N')::uuid, \
             CASE WHEN $N % 2 = 0 THEN md5('shared:integration:mail')::uuid ELSE (SELECT integration_id FROM torture.integrations WHERE org_id = $ORG LIMIT 1) END, \
             CASE WHEN $N % 2 = 0 THEN (SELECT task_id FROM torture.tasks WHERE org_id = $ORG ORDER BY md5(task_id::text || '$N') LIMIT 1) END, \
             'new event $N @$TAG@'",
        ),
    },
    Table {
        schema: "torture",
        name: "folders",
        from: "torture.folders",
        owned: DIRECT,
        update: Some("name = name || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.folders SELECT md5('new:folder:$N')::uuid, $ORG, folder_id, 'new folder $N @$TAG@' \
             FROM torture.folders WHERE org_id = $ORG ORDER BY md5(folder_id::text || '$N') LIMIT 1",
        ),
    },
    Table {
        schema: "torture",
        name: "departments",
        from: "torture.departments",
        owned: DIRECT,
        update: Some("name = name || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.departments VALUES (md5('new:dept:$N')::uuid, $ORG, 'new dept $N @$TAG@', NULL)",
        ),
    },
    Table {
        schema: "torture",
        name: "employees",
        from: "torture.employees",
        owned: "EXISTS (SELECT FROM torture.departments p WHERE p.dept_id = t.dept_id AND p.org_id = $ORG)",
        update: Some("name = name || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.employees SELECT md5('new:emp:$N')::uuid, dept_id, 'new employee $N @$TAG@' \
             FROM torture.departments WHERE org_id = $ORG ORDER BY md5(dept_id::text || '$N') LIMIT 1",
        ),
    },
    Table {
        schema: "torture",
        name: "z_ledger_accounts",
        from: "torture.z_ledger_accounts",
        owned: DIRECT,
        update: Some("name = name || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.z_ledger_accounts VALUES (md5('new:ledger:$N')::uuid, $ORG, 'new ledger $N @$TAG@', NULL)",
        ),
    },
    Table {
        schema: "torture",
        name: "a_ledger_lines",
        from: "torture.a_ledger_lines",
        owned: "EXISTS (SELECT FROM torture.z_ledger_accounts p WHERE p.account_id = t.account_id AND p.org_id = $ORG)",
        update: Some("memo = memo || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.a_ledger_lines SELECT md5('new:line:$N')::uuid, account_id, 'new line $N @$TAG@' \
             FROM torture.z_ledger_accounts WHERE org_id = $ORG ORDER BY md5(account_id::text || '$N') LIMIT 1",
        ),
    },
    // No key, duplicate rows: inserting a copy of a row makes one more duplicate.
    Table {
        schema: "torture",
        name: "page_views",
        from: "torture.page_views",
        owned: DIRECT,
        update: Some("path = path || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.page_views SELECT * FROM torture.page_views WHERE org_id = $ORG \
             ORDER BY md5(path || '$N') LIMIT 1",
        ),
    },
    // Partitioned: read through the parent, once.
    Table {
        schema: "torture",
        name: "events",
        from: "torture.events",
        owned: DIRECT,
        update: Some("kind = kind || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.events VALUES (md5('new:event:$N')::uuid, $ORG, make_date(2026, 1 + $N % 2, 1 + $N % 28), 'new event $N @$TAG@')",
        ),
    },
    // Inheritance: the parent's own rows only.
    Table {
        schema: "torture",
        name: "documents",
        from: "ONLY torture.documents",
        owned: DIRECT,
        update: Some("title = title || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.documents VALUES (md5('new:doc:$N')::uuid, $ORG, 'new document $N @$TAG@')",
        ),
    },
    Table {
        schema: "torture",
        name: "archived_documents",
        from: "torture.archived_documents",
        owned: DIRECT,
        update: Some("title = title || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.archived_documents VALUES (md5('new:archived:$N')::uuid, $ORG, 'new archived $N @$TAG@')",
        ),
    },
    // Owned through a foreign key to the org table under another column name.
    Table {
        schema: "torture",
        name: "subscriptions",
        from: "torture.subscriptions",
        owned: "t.tenant = $ORG",
        update: Some("plan = plan || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.subscriptions VALUES (md5('new:subscription:$N')::uuid, $ORG, 'new plan $N @$TAG@')",
        ),
    },
    Table {
        schema: "torture",
        name: "Odd \"Quoted\" Name",
        from: "torture.\"Odd \"\"Quoted\"\" Name\"",
        owned: DIRECT,
        update: Some(
            "\"Mixed Case\" = \"Mixed Case\" || ' mutated @$TAG@', \"quote\"\"d\" = 'it''s mutated @$TAG@', \"order\" = \"order\" - 1",
        ),
        insert: Some(
            "INSERT INTO torture.\"Odd \"\"Quoted\"\" Name\" VALUES (md5('new:odd:$N')::uuid, $ORG, 'new \"odd\" $N @$TAG@', 7, 'new''s @$TAG@', 8)",
        ),
    },
    Table {
        schema: "torture",
        name: "UPPER",
        from: "torture.\"UPPER\"",
        owned: "EXISTS (SELECT FROM torture.\"Odd \"\"Quoted\"\" Name\" p WHERE p.\"Key Id\" = t.\"Parent Key\" AND p.org_id = $ORG)",
        update: Some("\"VALUE\" = coalesce(\"VALUE\", '') || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO torture.\"UPPER\" SELECT md5('new:upper:$N')::uuid, \"Key Id\", 'NEW $N @$TAG@' \
             FROM torture.\"Odd \"\"Quoted\"\" Name\" WHERE org_id = $ORG ORDER BY md5(\"Key Id\"::text || '$N') LIMIT 1",
        ),
    },
    Table {
        schema: "torture",
        name: "kitchen_sink",
        from: "torture.kitchen_sink",
        owned: DIRECT,
        update: Some(
            r#"t = coalesce(t, '') || E'\nmutated\\ @$TAG@', jb = coalesce(jb, '{}') || '{"mutated": [true]}', texts = array_append(texts, E'mu\ttated @$TAG@'), i = coalesce(i, 0) + 1"#,
        ),
        insert: Some(
            r"INSERT INTO torture.kitchen_sink (id, org_id, t, raw, jb, texts, iv, bits) VALUES (md5('new:sink:$N')::uuid, $ORG, E'new\r\n$N @$TAG@', '\x00', '{}', '{}', '-1 day', B'00000001')",
        ),
    },
];

/// The tenant tables of schema `"Tenant Two"`, whose org column is `"tenantId"` (no foreign key).
pub const TENANT_TWO_TABLES: &[Table] = &[
    Table {
        schema: "Tenant Two",
        name: "Member Profiles",
        from: "\"Tenant Two\".\"Member Profiles\"",
        owned: "t.\"tenantId\" = $ORG",
        update: Some("\"Display Name\" = \"Display Name\" || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO \"Tenant Two\".\"Member Profiles\" VALUES (md5('new:profile:$N')::uuid, $ORG, 'new profile $N @$TAG@')",
        ),
    },
    // NOT NULL key to the profile decides; the nullable one to torture.tasks does not.
    Table {
        schema: "Tenant Two",
        name: "profile notes",
        from: "\"Tenant Two\".\"profile notes\"",
        owned: "EXISTS (SELECT FROM \"Tenant Two\".\"Member Profiles\" p WHERE p.profile_id = t.profile_id AND p.\"tenantId\" = $ORG)",
        update: Some("body = body || ' mutated @$TAG@'"),
        insert: Some(
            "INSERT INTO \"Tenant Two\".\"profile notes\" SELECT md5('new:pnote:$N')::uuid, profile_id, NULL, 'new note $N @$TAG@' \
             FROM \"Tenant Two\".\"Member Profiles\" WHERE \"tenantId\" = $ORG ORDER BY md5(profile_id::text || '$N') LIMIT 1",
        ),
    },
];

/// The torture table named `name` (schema `torture`).
pub fn table(name: &str) -> &'static Table {
    TORTURE_TABLES
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("torture.{name} is in TORTURE_TABLES"))
}

/// The tables of some of the lists above, as one list.
pub fn tables_of(lists: &[&'static [Table]]) -> Vec<&'static Table> {
    lists.iter().flat_map(|l| l.iter()).collect()
}

/// Tables no org owns: never in a backup, never written by a restore.
pub const GLOBAL_TABLES: &[&str] = &["torture.orgs", "torture.currencies"];

/// The configuration of the torture schema, today's settings only (no `org_columns`).
pub fn config(schemas: &[&str]) -> TenancyConfig {
    TenancyConfig {
        schemas: schemas.iter().map(|s| s.to_string()).collect(),
        org_table: "torture.orgs".into(),
        file_references: vec![],
        categories: BTreeMap::new(),
        ..Default::default()
    }
}

pub async fn torture_db() -> TestDb {
    let db = TestDb::new().await;
    db.execute(SCHEMA).await;
    db
}

/// What one org's archive holds, read back independently of the engine's restore code.
pub struct Backup {
    pub bytes: Vec<u8>,
    pub metadata: BackupMetadata,
    /// `schema.table` -> sorted COPY lines of the table's chunks.
    pub tables: BTreeMap<String, Vec<String>>,
    /// The content of every archive entry and the manifest's backup value, for marker searches.
    pub everything: String,
}

pub async fn backup(db: &TestDb, config: &TenancyConfig, org: &str) -> Backup {
    let mut request = BackupRequest::new(format!("torture-{}", tag_of(org)), org);
    request.chunk_size = 256; // several chunks per table
    let outcome = run_backup(&db.pool, config, &request, Vec::new(), Arc::new(NoProgress))
        .await
        .unwrap_or_else(|e| panic!("backup of org {}: {e}", tag_of(org)));
    read_archive(outcome.output)
}

pub fn read_archive(bytes: Vec<u8>) -> Backup {
    let mut reader = ArchiveReader::open(Cursor::new(bytes.clone()), &|_| None).unwrap();
    let metadata: BackupMetadata =
        serde_json::from_value(reader.manifest().backup.clone()).unwrap();
    let mut everything = reader.manifest().backup.to_string();
    let paths: Vec<String> = reader
        .manifest()
        .entries
        .iter()
        .map(|e| e.path.clone())
        .collect();
    let mut contents = BTreeMap::new();
    for path in paths {
        let mut data = Vec::new();
        reader
            .open_entry(&path)
            .unwrap()
            .read_to_end(&mut data)
            .unwrap();
        let text = String::from_utf8_lossy(&data).into_owned();
        everything.push('\n');
        everything.push_str(&text);
        contents.insert(path, text);
    }
    let mut tables = BTreeMap::new();
    for table in &metadata.tables {
        let mut lines: Vec<String> = Vec::new();
        for chunk in &table.chunks {
            let text = contents
                .get(chunk)
                .unwrap_or_else(|| panic!("chunk {chunk} is an entry of the archive"));
            lines.extend(text.lines().map(str::to_string));
        }
        lines.sort();
        let label = table.table.name.to_string();
        assert!(
            tables.insert(label.clone(), lines).is_none(),
            "{label} is listed twice in the backup"
        );
    }
    Backup {
        bytes,
        metadata,
        tables,
        everything,
    }
}

/// The COPY lines the rules give `org` for `table`, with the columns in `columns` order.
pub async fn expected_lines(
    db: &TestDb,
    table: &Table,
    org: &str,
    columns: &[String],
) -> Vec<String> {
    let list: Vec<String> = columns
        .iter()
        .map(|c| format!("t.{}", orgbackup_engine::quote_ident(c)))
        .collect();
    db.copy_lines(&format!(
        "SELECT {} FROM {} t WHERE {}",
        list.join(", "),
        table.from,
        table.owned_by(org)
    ))
    .await
}

/// Compares `backup` (of `org`) with the rules, table by table and row by row; returns every
/// difference found (empty when the backup is exact).
pub async fn differences(
    db: &TestDb,
    backup: &Backup,
    tables: &[&Table],
    org: &str,
) -> Vec<String> {
    let tag = tag_of(org);
    let mut problems = Vec::new();
    for table in tables {
        let label = table.label();
        let record = backup
            .metadata
            .tables
            .iter()
            .find(|r| r.table.name.to_string() == label);
        let Some(record) = record else {
            let count = db
                .copy_lines(&format!(
                    "SELECT 1 FROM {} t WHERE {}",
                    table.from,
                    table.owned_by(org)
                ))
                .await
                .len();
            problems.push(format!(
                "org {tag}: {label} is not in the backup; the rules give it {count} rows"
            ));
            continue;
        };
        let expected = expected_lines(db, table, org, &record.data_columns).await;
        let got = &backup.tables[&label];
        if record.row_count != got.len() as u64 {
            problems.push(format!(
                "org {tag}: {label} row_count says {} but its chunks hold {} rows",
                record.row_count,
                got.len()
            ));
        }
        if &expected != got {
            let missing: Vec<&String> = expected.iter().filter(|l| !got.contains(l)).collect();
            let extra: Vec<&String> = got.iter().filter(|l| !expected.contains(l)).collect();
            problems.push(format!(
                "org {tag}: {label}: expected {} rows, backup has {}; missing {missing:?}; not the org's {extra:?}",
                expected.len(),
                got.len()
            ));
        }
    }
    let known: Vec<String> = tables.iter().map(|t| t.label()).collect();
    for record in &backup.metadata.tables {
        let label = record.table.name.to_string();
        if !known.contains(&label) {
            problems.push(format!(
                "org {tag}: {label} is in the backup ({} rows) but is no tenant table of the rules \
                 (a partition, a global table or the org table)",
                record.row_count
            ));
        }
    }
    problems
}

/// Markers of anyone but `org` found in its archive.
pub fn foreign_markers(backup: &Backup, org: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (tag, id) in ORGS {
        if id == org {
            continue;
        }
        for marker in [format!("@{tag}@"), id.to_string()] {
            if backup.everything.contains(&marker) {
                found.push(marker);
            }
        }
    }
    for marker in NOBODY_MARKERS {
        if backup.everything.contains(marker) {
            found.push(marker.to_string());
        }
    }
    found
}

/// Plain-SQL fingerprint of rows: (count, md5 of the sorted row texts).
pub async fn fingerprint(db: &TestDb, from: &str, condition: &str) -> (i64, String) {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {from} t WHERE {condition}"
    )))
    .fetch_one(&db.pool)
    .await
    .unwrap_or_else(|e| panic!("fingerprint of {from}: {e}"))
}
