//! Retention through the CLI against real PostgreSQL: what expires, what is kept and why, the dry
//! run, pinning, an org's shorter retention, and two processes running retention at once.

mod support;

use support::Env;

const SOLO: &str = "00000000-0000-4000-8000-0000000000a5";

/// A backup of Solo Shop that completed `days_ago` days ago; returns (id, file path).
fn aged_backup(env: &Env, days_ago: u32) -> (String, std::path::PathBuf) {
    let backup = env.backup_json(&["--org", "Solo Shop"]);
    let id = backup["backup_id"].as_str().unwrap().to_string();
    env.psql(&format!(
        "UPDATE orgbackup.organization_backups SET completed_at = now() - interval '{days_ago} days' WHERE backup_id = '{id}'"
    ));
    (id, support::path_of(&backup))
}

fn status(env: &Env, id: &str) -> String {
    env.psql(&format!(
        "SELECT status FROM orgbackup.organization_backups WHERE backup_id = '{id}'"
    ))
}

fn plan(env: &Env) -> serde_json::Value {
    let plans: serde_json::Value =
        serde_json::from_str(&env.ok(&["retention", "plan", "--org", "Solo Shop", "--json"]))
            .unwrap();
    plans[0].clone()
}

fn ids(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|b| b["backup_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn expired_backups_are_deleted_while_pinned_and_newest_ones_are_kept() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    // Solo Shop is on the free plan: backups are kept 7 days (the CLI, an operator's tool, is not
    // held to the plan's monthly count).
    let (old, old_file) = aged_backup(&env, 30);
    let (pinned, pinned_file) = aged_backup(&env, 20);
    let (soon, _) = aged_backup(&env, 5);
    let (newest, newest_file) = aged_backup(&env, 0);
    env.ok(&["backup", "pin", &pinned, "--org", "Solo Shop"]);

    // The dry run names everything and changes nothing.
    let dry = plan(&env);
    assert_eq!(dry["retention_days"], 7, "{dry}");
    assert_eq!(ids(&dry["expire"]), [old.as_str()]);
    assert_eq!(ids(&dry["kept"]), [pinned.as_str()]);
    assert_eq!(dry["kept"][0]["reason"], "pinned");
    assert_eq!(ids(&dry["expiring_soon"]), [soon.as_str()]);
    assert!(old_file.exists());
    let text = env.ok(&["retention", "plan", "--org", "Solo Shop"]);
    assert!(text.contains(&format!("delete  {old}")), "{text}");
    assert!(text.contains("(pinned)"), "{text}");

    let run = env.ok(&["retention", "run", "--org", "Solo Shop"]);
    assert!(run.contains("1 backups deleted"), "{run}");
    assert!(run.contains("1 expiring notices sent"), "{run}");
    assert_eq!(status(&env, &old), "expired");
    assert!(!old_file.exists());
    assert!(!std::path::PathBuf::from(format!("{}.sha256", old_file.display())).exists());
    assert!(pinned_file.exists() && newest_file.exists());
    assert_eq!(status(&env, &pinned), "completed");
    let audited = env.psql(
        "SELECT actor_label || ' ' || action || ' ' || entity_id FROM orgbackup.backup_audit_logs WHERE action = 'backup.expire'",
    );
    assert_eq!(audited, format!("retention backup.expire {old}"));
    let notices = env.psql(
        "SELECT event || ' ' || (data->>'backup_id') FROM orgbackup.notifications ORDER BY created_at",
    );
    assert_eq!(notices, format!("backup_expiring {soon}"));

    // A second run has nothing left to do and does not send the notice again.
    let again = env.ok(&["retention", "run", "--org", "Solo Shop"]);
    assert!(again.contains("0 backups deleted"), "{again}");
    assert!(again.contains("0 expiring notices sent"), "{again}");

    // Everything old and unpinned: only the newest completed backup survives.
    env.ok(&["backup", "unpin", &pinned, "--org", "Solo Shop"]);
    env.psql(&format!(
        "UPDATE orgbackup.organization_backups SET completed_at = completed_at - interval '60 days' WHERE org_id = '{SOLO}'"
    ));
    env.ok(&["retention", "run"]);
    assert_eq!(status(&env, &pinned), "expired");
    assert_eq!(status(&env, &soon), "expired");
    assert_eq!(status(&env, &newest), "completed");
    assert!(newest_file.exists());
}

#[test]
fn an_org_may_keep_backups_for_less_time_than_its_plan_but_not_longer() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let refused = env.fails(&["retention", "set", "--org", "Solo Shop", "--days", "30"]);
    assert!(
        refused.contains("longer than the free plan keeps backups (7 days)"),
        "{refused}"
    );
    assert!(
        env.fails(&["retention", "set", "--org", "Solo Shop", "--days", "0"])
            .contains("at least 1 day")
    );
    env.ok(&["retention", "set", "--org", "Solo Shop", "--days", "2"]);
    let (three_days, _) = aged_backup(&env, 3);
    aged_backup(&env, 0);
    let shorter = plan(&env);
    assert_eq!(shorter["retention_days"], 2);
    assert_eq!(ids(&shorter["expire"]), [three_days]);
    env.ok(&["retention", "set", "--org", "Solo Shop", "--plan-default"]);
    let back = plan(&env);
    assert_eq!(back["retention_days"], 7);
    assert_eq!(back["expire"].as_array().unwrap().len(), 0);
}

#[test]
fn two_processes_running_retention_at_once_delete_each_backup_once() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    env.ok(&["admin", "set-plan", "--org", "Solo Shop", "--plan", "pro"]);
    let old: Vec<String> = (0..6).map(|_| aged_backup(&env, 400).0).collect();
    aged_backup(&env, 0);
    let runs: Vec<_> = (0..2)
        .map(|_| {
            env.command(&["retention", "run", "--org", "Solo Shop"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut deleted = 0;
    for run in runs {
        let output = run.wait_with_output().unwrap();
        assert!(output.status.success());
        let text = String::from_utf8(output.stdout).unwrap();
        let count: usize = text
            .split(" backups deleted")
            .next()
            .and_then(|t| t.rsplit(' ').next())
            .unwrap()
            .parse()
            .unwrap();
        deleted += count;
    }
    assert_eq!(
        deleted,
        old.len(),
        "each expired backup counted by exactly one process"
    );
    let audited =
        env.psql("SELECT count(*) FROM orgbackup.backup_audit_logs WHERE action = 'backup.expire'");
    assert_eq!(audited, old.len().to_string());
    for id in &old {
        assert_eq!(status(&env, id), "expired");
    }
}
