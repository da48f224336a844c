//! The `orgbackup` binary end to end against real PostgreSQL: demo data, backups, inspect and
//! verify, including damaged files. Each test gets its own database and directories.

mod support;

use std::path::Path;
use std::process::Command;
use support::{Env, damaged_copy, path_of};

#[test]
fn a_backup_of_the_demo_org_is_recorded_inspected_and_verified() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "3000"]);
    let orgs = env.ok(&["orgs"]);
    assert!(
        orgs.contains("Acme Global") && orgs.contains("Solo Shop"),
        "{orgs}"
    );

    let backup = env.backup_json(&["--org", "Acme Global"]);
    let file = path_of(&backup);
    assert!(file.exists());
    let acme_rows: i64 = env
        .psql(
            "SELECT (SELECT count(*) FROM cmis.analytics_events e JOIN cmis.orgs o USING (org_id) WHERE o.name = 'Acme Global')",
        )
        .parse()
        .unwrap();
    assert_eq!(acme_rows, 3000);
    assert!(backup["rows"].as_i64().unwrap() > acme_rows);
    assert!(
        backup["files"].as_i64().unwrap() > 0,
        "media files are part of the backup"
    );

    // The service's row records the outcome.
    let row = env.psql(&format!(
        "SELECT status, file_size, checksum_sha256, total_rows FROM orgbackup.organization_backups WHERE backup_id = '{}'",
        backup["backup_id"].as_str().unwrap()
    ));
    assert_eq!(
        row,
        format!(
            "completed|{}|{}|{}",
            backup["size"],
            backup["sha256"].as_str().unwrap(),
            backup["rows"]
        )
    );
    let sidecar = std::fs::read_to_string(format!("{}.sha256", file.display())).unwrap();
    assert!(sidecar.starts_with(backup["sha256"].as_str().unwrap()));

    let listing = env.ok(&["backup", "list", "--org", "Acme Global"]);
    assert!(listing.contains("completed"), "{listing}");
    let inspect = env.ok(&["inspect", file.to_str().unwrap()]);
    assert!(
        inspect.contains("Acme Global") && inspect.contains("cmis.analytics_events"),
        "{inspect}"
    );
    let verify = env.ok(&["verify", file.to_str().unwrap()]);
    assert!(
        verify.contains("OK") && verify.contains("whole-file SHA-256 matches"),
        "{verify}"
    );
}

#[test]
fn a_category_backup_names_its_categories_and_dependencies() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "500"]);
    let backup = env.backup_json(&["--org", "Blue Harbor", "--categories", "posts"]);
    let manifest: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "--json", path_of(&backup).to_str().unwrap()]))
            .unwrap();
    let tables: Vec<String> = manifest["backup"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}.{}",
                t["name"]["schema"].as_str().unwrap(),
                t["name"]["name"].as_str().unwrap()
            )
        })
        .collect();
    let tables: Vec<&str> = tables.iter().map(String::as_str).collect();
    assert!(
        tables.contains(&"cmis.posts") && tables.contains(&"cmis.post_comments"),
        "{tables:?}"
    );
    assert!(!tables.contains(&"cmis.analytics_events"), "{tables:?}");
    let unknown = env.fails(&[
        "backup",
        "create",
        "--org",
        "Blue Harbor",
        "--categories",
        "nope",
    ]);
    assert!(
        unknown.contains("nope") && unknown.contains("posts"),
        "the error lists the known categories: {unknown}"
    );
}

#[test]
fn verify_names_a_flipped_byte_a_truncation_and_a_wrong_key() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "2000"]);
    let plain = path_of(&env.backup_json(&["--org", "Acme Global"]));
    let encrypted = path_of(&env.backup_json(&["--org", "Acme Global", "--encrypt"]));
    env.ok(&["verify", encrypted.to_str().unwrap()]);

    let len = std::fs::metadata(&plain).unwrap().len() as usize;
    let flipped = damaged_copy(&plain, "flipped.tar.zst", |b| b[len / 3] ^= 0x04);
    let out = env.fails(&["verify", flipped.to_str().unwrap()]);
    assert!(out.contains("verification FAILED"), "{out}");

    let sealed_flip = damaged_copy(&encrypted, "flipped.tar.zst.enc", |b| {
        let at = b.len() / 2;
        b[at] ^= 0x04
    });
    let out = env.fails(&["verify", sealed_flip.to_str().unwrap()]);
    assert!(out.contains("failed authentication"), "{out}");

    let truncated = damaged_copy(&encrypted, "cut.tar.zst.enc", |b| {
        b.truncate(b.len() * 2 / 3)
    });
    let out = env.fails(&["verify", truncated.to_str().unwrap()]);
    assert!(
        out.contains("ends early") || out.contains("cut off"),
        "{out}"
    );

    let other_key = env.dir.path().join("other.key");
    std::fs::write(&other_key, env.ok(&["keygen"])).unwrap();
    let mut command = env.command(&[
        "verify",
        "--key-file",
        other_key.to_str().unwrap(),
        encrypted.to_str().unwrap(),
    ]);
    command.env_remove("ORGBACKUP__ENCRYPTION__MASTER_KEY");
    let output = command.output().unwrap();
    let out = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && out.contains("different key"),
        "{out}"
    );

    // A file changed after it was written, with its companion checksum left as it was.
    let companion = format!("{}.sha256", plain.display());
    let replaced = damaged_copy(&plain, plain.file_name().unwrap().to_str().unwrap(), |b| {
        b[len / 2] ^= 1
    });
    assert!(Path::new(&companion).exists());
    let out = env.fails(&["verify", replaced.to_str().unwrap()]);
    assert!(out.contains("SHA-256"), "{out}");
}

#[test]
fn unencrypted_backups_open_with_zstd_and_tar() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "300"]);
    let file = path_of(&env.backup_json(&["--org", "Solo Shop"]));
    let out = env.dir.path().join("unpacked");
    std::fs::create_dir(&out).unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "zstd -dc '{}' | tar -xf - -C '{}'",
            file.display(),
            out.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["backup"]["org"]["name"], "Solo Shop");
    let posts = std::fs::read_dir(out.join("tables")).unwrap().count();
    assert!(posts > 5);
}

#[test]
fn encryption_without_a_master_key_is_refused_before_anything_is_written() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let mut command = env.command(&["backup", "create", "--org", "Solo Shop", "--encrypt"]);
    command.env_remove("ORGBACKUP__ENCRYPTION__MASTER_KEY");
    let output = command.output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && err.contains("master_key") && err.contains("keygen"),
        "{err}"
    );
    assert_eq!(
        env.psql("SELECT count(*) FROM orgbackup.organization_backups"),
        "0"
    );
}

#[test]
fn an_org_custom_key_seals_new_backups_rotates_and_is_revoked_by_destroying_it() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "200"]);
    let before = path_of(&env.backup_json(&["--org", "Cedar Labs", "--encrypt"]));
    // Custom keys are an Enterprise feature.
    let refused = env.fails(&["keys", "create", "--org", "Cedar Labs", "--name", "first"]);
    assert!(
        refused.contains("Enterprise") && refused.contains("free plan"),
        "{refused}"
    );
    env.ok(&[
        "admin",
        "set-plan",
        "--org",
        "Cedar Labs",
        "--plan",
        "enterprise",
    ]);
    let created = env.ok(&["keys", "create", "--org", "Cedar Labs", "--name", "first"]);
    assert!(created.contains("version 1"), "{created}");
    let after = path_of(&env.backup_json(&["--org", "Cedar Labs", "--encrypt"]));

    let inspect_before = env.ok(&["inspect", before.to_str().unwrap()]);
    assert!(inspect_before.contains("key master:"), "{inspect_before}");
    let inspect_after = env.ok(&["inspect", after.to_str().unwrap()]);
    assert!(
        inspect_after.contains("key org:00000000-0000-4000-8000-0000000000a3:"),
        "{inspect_after}"
    );
    env.ok(&["verify", after.to_str().unwrap()]);

    // Rotation: a second key becomes active; the first still opens what it sealed.
    let rotated = env.ok(&["keys", "rotate", "--org", "Cedar Labs", "--name", "second"]);
    assert!(rotated.contains("version 2"), "{rotated}");
    let newest = path_of(&env.backup_json(&["--org", "Cedar Labs", "--encrypt"]));
    let list = env.ok(&["keys", "list", "--org", "Cedar Labs"]);
    let first = list.lines().find(|l| l.contains(" v1 ")).unwrap();
    assert!(
        first.contains("retired") && first.contains("1 backups"),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.contains(" v2 ") && l.contains("active")),
        "{list}"
    );
    env.ok(&["verify", after.to_str().unwrap()]);
    let first_id = first.split_whitespace().next().unwrap().to_string();

    // Revocation asks for confirmation and says what will be lost.
    let unconfirmed = env.fails(&["keys", "revoke", "--org", "Cedar Labs", &first_id]);
    assert!(
        unconfirmed.contains("1 backups") && unconfirmed.contains("--yes"),
        "{unconfirmed}"
    );
    env.ok(&["verify", after.to_str().unwrap()]);
    let revoked = env.ok(&["keys", "revoke", "--org", "Cedar Labs", &first_id, "--yes"]);
    assert!(
        revoked.contains("1 backups can no longer be opened"),
        "{revoked}"
    );

    // Crypto-shredded: the key's bytes are gone, its backup cannot be opened, the others can.
    let out = env.fails(&["verify", after.to_str().unwrap()]);
    assert!(out.contains("not available"), "{out}");
    env.ok(&["verify", newest.to_str().unwrap()]);
    env.ok(&["verify", before.to_str().unwrap()]);
    assert_eq!(
        env.psql(
            "SELECT length(wrapped_key) FROM orgbackup.backup_encryption_keys ORDER BY version"
        ),
        "0\n60",
        "the revoked key is erased; the live one is stored wrapped (nonce + 32-byte key + tag)"
    );
    let again = env.fails(&["keys", "revoke", "--org", "Cedar Labs", &first_id, "--yes"]);
    assert!(again.contains("already revoked"), "{again}");
}

#[test]
fn the_service_tables_show_an_application_role_only_the_current_orgs_rows() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    env.backup_json(&["--org", "Solo Shop"]);
    env.backup_json(&["--org", "Delta Studio"]);
    env.backup_json(&["--org", "Delta Studio"]);
    // A non-superuser role (created and dropped inside the transaction) as the service would run.
    let role = format!("obr_app_{}", uuid::Uuid::new_v4().simple());
    let count_as = |org: &str| {
        env.psql(&format!(
            "BEGIN;
             CREATE ROLE {role};
             GRANT USAGE ON SCHEMA orgbackup TO {role};
             GRANT SELECT, UPDATE ON orgbackup.organization_backups TO {role};
             SET LOCAL ROLE {role};
             SELECT set_config('app.current_org_id', '{org}', true);
             UPDATE orgbackup.organization_backups SET name = 'touched';
             SELECT count(*) FROM orgbackup.organization_backups;
             ROLLBACK;"
        ))
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
    };
    let solo = "00000000-0000-4000-8000-0000000000a5";
    let delta = "00000000-0000-4000-8000-0000000000a4";
    let nobody = "00000000-0000-4000-8000-0000000000ff";
    assert_eq!(count_as(solo), "1");
    assert_eq!(count_as(delta), "2");
    assert_eq!(count_as(nobody), "0");
    assert_eq!(
        env.psql("SELECT count(*) FROM orgbackup.organization_backups WHERE name = 'touched'"),
        "0"
    );
}

#[test]
fn a_full_restore_of_one_category_that_would_orphan_another_categorys_rows_is_refused() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "200"]);
    let backup = env.backup_json(&["--org", "Blue Harbor"]);
    let backup_id = backup["backup_id"].as_str().unwrap().to_string();
    // After the backup, a new post with a media asset (category media) on it: a full restore
    // of posts alone would delete the post out from under the asset.
    env.psql(
        "INSERT INTO cmis.posts VALUES ('00000000-0000-4000-8000-00000000f0f0', '00000000-0000-4000-8000-0000000000a2', NULL, 'new', 'new', NULL);
         INSERT INTO cmis.media_assets VALUES ('00000000-0000-4000-8000-00000000f0f1', '00000000-0000-4000-8000-0000000000a2',
                '00000000-0000-4000-8000-00000000f0f0', 'new.png', 'image/png', 1, NULL);",
    );
    let rows = "SELECT (SELECT count(*) FROM cmis.posts)::text || '/' || (SELECT count(*) FROM cmis.media_assets)";
    let before = env.psql(rows);
    let args = [
        "restore",
        "plan",
        &backup_id,
        "--mode",
        "full",
        "--categories",
        "posts",
    ];
    let plan = env.ok(&args);
    assert!(
        plan.contains("blocked: 1 rows of cmis.media_assets reference rows of cmis.posts"),
        "{plan}"
    );
    let refused = env.fails(&[
        "restore",
        "apply",
        &backup_id,
        "--mode",
        "full",
        "--categories",
        "posts",
        "--confirm-full",
    ]);
    assert!(
        refused.contains("cmis.media_assets (category media)")
            && refused.contains("nothing was changed"),
        "{refused}"
    );
    assert_eq!(env.psql(rows), before, "nothing changed");
    // With the media restored too, the post and its asset go: the org is its backup again.
    env.ok(&[
        "restore",
        "apply",
        &backup_id,
        "--mode",
        "full",
        "--categories",
        "posts,media",
        "--confirm-full",
    ]);
    assert_eq!(
        env.psql(
            "SELECT count(*) FROM cmis.posts WHERE post_id = '00000000-0000-4000-8000-00000000f0f0'"
        ),
        "0"
    );
}

#[test]
fn a_restore_is_analyzed_planned_applied_and_rolled_back_from_the_command_line() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "2000"]);
    let backup = env.backup_json(&["--org", "Blue Harbor"]);
    let backup_id = backup["backup_id"].as_str().unwrap().to_string();
    let count = "SELECT count(*) FROM cmis.posts p JOIN cmis.orgs o USING (org_id) WHERE o.name = 'Blue Harbor'";
    let original = env.psql(count);
    env.psql(
        "DELETE FROM cmis.post_tags WHERE post_id IN (SELECT post_id FROM cmis.posts WHERE org_id = '00000000-0000-4000-8000-0000000000a2');
         UPDATE cmis.posts SET title = 'edited' WHERE org_id = '00000000-0000-4000-8000-0000000000a2'",
    );
    let analysis = env.ok(&["restore", "analyze", &backup_id]);
    assert!(analysis.contains("overall: compatible"), "{analysis}");

    let plan = env.ok(&["restore", "plan", &backup_id, "--mode", "full"]);
    assert!(
        plan.contains("cmis.post_tags") && plan.contains("replaced"),
        "{plan}"
    );
    let refused = env.fails(&["restore", "apply", &backup_id, "--mode", "full"]);
    assert!(refused.contains("--confirm-full"), "{refused}");
    let edited_titles = "SELECT count(*) FROM cmis.posts WHERE title = 'edited'";
    let dry = env.ok(&[
        "restore",
        "apply",
        &backup_id,
        "--mode",
        "full",
        "--confirm-full",
        "--dry-run",
    ]);
    assert!(dry.contains("nothing changed"), "{dry}");
    assert_ne!(env.psql(edited_titles), "0");

    let applied = env.ok(&[
        "restore",
        "apply",
        &backup_id,
        "--mode",
        "full",
        "--confirm-full",
    ]);
    assert!(applied.contains("completed"), "{applied}");
    // The demo's media files live under `<org id>/` (tenancy.files_prefix): all are restored.
    let written: u64 = applied
        .split("; ")
        .find_map(|part| part.strip_suffix(" files written"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{applied}"));
    assert!(written > 0, "{applied}");
    assert!(!applied.contains("file not restored"), "{applied}");
    assert_eq!(env.psql(edited_titles), "0");
    assert_eq!(env.psql(count), original);
    let restore_id =
        env.psql("SELECT restore_id FROM orgbackup.backup_restores WHERE status = 'completed'");

    // A change after the restore blocks the rollback unless forced.
    env.psql("UPDATE cmis.settings SET preferences = '{}' WHERE org_id = '00000000-0000-4000-8000-0000000000a2'");
    let blocked = env.fails(&["restore", "rollback", &restore_id, "--org", "Blue Harbor"]);
    assert!(
        blocked.contains("--force") && blocked.contains("1 rows"),
        "{blocked}"
    );
    let rolled = env.ok(&[
        "restore",
        "rollback",
        &restore_id,
        "--org",
        "Blue Harbor",
        "--force",
    ]);
    assert!(rolled.contains("rolled back"), "{rolled}");
    assert_ne!(
        env.psql(edited_titles),
        "0",
        "the edits made before the restore are back"
    );
    assert_eq!(
        env.psql(&format!(
            "SELECT status FROM orgbackup.backup_restores WHERE restore_id = '{restore_id}'"
        )),
        "rolled_back"
    );
    let again = env.fails(&["restore", "rollback", &restore_id, "--org", "Blue Harbor"]);
    assert!(again.contains("rolled_back"), "{again}");
}

#[test]
fn expired_rollback_archives_are_removed() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let backup = env.backup_json(&["--org", "Solo Shop"]);
    env.ok(&["restore", "apply", backup["backup_id"].as_str().unwrap()]);
    let path = env.psql("SELECT rollback_path FROM orgbackup.backup_restores");
    let file = env.dir.path().join("backups").join(&path);
    assert!(file.exists(), "{}", file.display());
    env.psql(
        "UPDATE orgbackup.backup_restores SET rollback_expires_at = now() - interval '1 minute'",
    );
    let out = env.ok(&["restore", "cleanup"]);
    assert!(out.starts_with("1 expired"), "{out}");
    assert!(!file.exists());
    let restore_id = env.psql("SELECT restore_id FROM orgbackup.backup_restores");
    let refused = env.fails(&["restore", "rollback", &restore_id, "--org", "Solo Shop"]);
    assert!(refused.contains("expired"), "{refused}");
}

#[test]
fn an_org_is_found_by_its_id_first_and_a_shared_name_is_an_error_listing_the_orgs() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "300"]);
    let solo = env.psql("SELECT org_id FROM cmis.orgs WHERE name = 'Solo Shop'");
    // Another org whose *name* is Solo Shop's id, and two orgs sharing a name (a tenant database
    // need not make names unique).
    env.psql("ALTER TABLE cmis.orgs DROP CONSTRAINT orgs_name_key");
    env.psql(&format!(
        "INSERT INTO cmis.orgs (org_id, name, created_at) VALUES
           ('00000000-0000-0000-0000-0000000000b1', '{solo}', now()),
           ('00000000-0000-0000-0000-0000000000b2', 'Twins', now()),
           ('00000000-0000-0000-0000-0000000000b3', 'Twins', now())"
    ));

    let backup = env.backup_json(&["--org", &solo]);
    let backed_up = env.psql(&format!(
        "SELECT org_id FROM orgbackup.organization_backups WHERE backup_id = '{}'",
        backup["backup_id"].as_str().unwrap()
    ));
    assert_eq!(backed_up, solo, "the id wins over a name equal to it");

    let error = env.fails(&["backup", "create", "--org", "Twins"]);
    assert!(
        error.contains("2 organizations are named `Twins`")
            && error.contains("00000000-0000-0000-0000-0000000000b2")
            && error.contains("00000000-0000-0000-0000-0000000000b3"),
        "{error}"
    );
}

#[test]
fn the_log_can_be_one_json_object_per_line() {
    let env = Env::new();
    let output = env
        .command(&["migrate"])
        .env("ORGBACKUP__LOG__FORMAT", "json")
        .env("ORGBACKUP_LOG", "debug")
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "debug logging writes something");
    for line in lines {
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            event["level"].is_string() && event["timestamp"].is_string(),
            "{line}"
        );
        assert!(event["target"].is_string(), "{line}");
    }
    // An unknown format is refused with the choices.
    let refused = env
        .command(&["migrate"])
        .env("ORGBACKUP__LOG__FORMAT", "xml")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let message = String::from_utf8(refused.stderr).unwrap();
    assert!(
        message.contains("text") && message.contains("json"),
        "{message}"
    );
}

/// Every request has an id: the client's `X-Request-Id` when it is a short token (else a new
/// UUID), answered in the same header and carried, with the caller's org, by the request's log
/// events; a hostile id is neither echoed nor logged.
#[tokio::test]
async fn each_request_has_an_id_in_its_answer_and_its_log_lines() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let token = support::token(&env, "Solo Shop", "all");
    let org = env
        .psql("SELECT org_id FROM cmis.orgs WHERE name = 'Solo Shop'")
        .trim()
        .to_string();
    let log = env.dir.path().join("serve.log");
    let mut child = env
        .command(&["serve", "--listen", "127.0.0.1:0"])
        .env("ORGBACKUP__LOG__FORMAT", "json")
        .env("ORGBACKUP_LOG", "warn,orgbackup::server=debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    let client = reqwest::Client::new();
    let ask = async |id: Option<&str>| {
        let mut request = client
            .get(format!("{url}/api/v1/backup/list"))
            .bearer_auth(&token);
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success());
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(ask(Some("req-42.a_b")).await, "req-42.a_b");
    let fresh = ask(None).await;
    assert!(uuid::Uuid::parse_str(&fresh).is_ok(), "{fresh}");
    let hostile = format!("{}\"}}", "x".repeat(70));
    let replaced = ask(Some(&hostile)).await;
    assert!(uuid::Uuid::parse_str(&replaced).is_ok(), "{replaced}");
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &serde_json::Value| e["message"] == "request answered")
        .collect();
    let span_of = |id: &str| {
        events
            .iter()
            .find_map(|e| {
                e["spans"]
                    .as_array()?
                    .iter()
                    .find(|s| s["name"] == "request" && s["request_id"] == id)
                    .cloned()
            })
            .unwrap_or_else(|| panic!("no log line of request {id} in:\n{text}"))
    };
    for id in ["req-42.a_b", fresh.as_str(), replaced.as_str()] {
        let span = span_of(id);
        assert_eq!(span["org_id"], org.as_str(), "{span}");
        assert_eq!(span["path"], "/api/v1/backup/list", "{span}");
    }
    assert!(!text.contains(&"x".repeat(70)), "the hostile id was logged");
}
