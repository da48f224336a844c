//! Backup schedules, black box: plan gating, CRUD with next runs, schedulers racing, missed runs,
//! and the scheduled backup made by a worker; through the CLI and the API.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::Stdio;
use support::{Env, Server, serve_with, token};

const SOLO: &str = "00000000-0000-4000-8000-0000000000a5";

fn create(env: &Env, org: &str, name: &str, args: &[&str]) -> Value {
    let mut all = vec!["schedule", "create", "--json", "--org", org, "--name", name];
    all.extend_from_slice(args);
    serde_json::from_str(&env.ok(&all)).unwrap()
}

fn set_plan(env: &Env, org: &str, plan: &str) {
    env.ok(&["admin", "set-plan", "--org", org, "--plan", plan]);
}

/// Makes every schedule due, as if it had been missed `ago` (an SQL interval).
fn make_due(env: &Env, ago: &str) {
    env.psql(&format!(
        "UPDATE orgbackup.backup_schedules SET next_run_at = now() - interval '{ago}'"
    ));
}

/// How many schedules `schedule run-due` reports it ran.
fn ran(output: &str) -> usize {
    let last = output.lines().last().unwrap_or_default();
    last.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn each_plan_allows_its_frequencies_and_a_schedule_shows_its_next_five_runs() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    // Free: no schedules at all.
    let refused = env.fails(&[
        "schedule",
        "create",
        "--org",
        "Solo Shop",
        "--name",
        "nightly",
        "--frequency",
        "daily",
    ]);
    assert!(
        refused.contains("free plan does not allow daily schedules"),
        "{refused}"
    );
    set_plan(&env, "Solo Shop", "basic");
    let nightly = create(
        &env,
        "Solo Shop",
        "nightly",
        &[
            "--frequency",
            "daily",
            "--time",
            "02:30",
            "--timezone",
            "America/New_York",
        ],
    );
    assert_eq!(nightly["frequency"], "daily");
    assert_eq!(nightly["time_of_day"], "02:30");
    let runs = nightly["next_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 5);
    for run in runs {
        let local = run["local"].as_str().unwrap();
        // 02:30 local, or 03:00 on a spring-forward day; in EST or EDT.
        assert!(
            local.contains("T02:30:00-0") || local.contains("T03:00:00-04:00"),
            "{local}"
        );
    }
    let first = chrono::DateTime::parse_from_rfc3339(runs[0]["utc"].as_str().unwrap()).unwrap();
    let second = chrono::DateTime::parse_from_rfc3339(runs[1]["utc"].as_str().unwrap()).unwrap();
    let hours = (second - first).num_hours();
    assert!((23..=25).contains(&hours), "{hours}");
    assert_eq!(
        env.psql(&format!(
            "SELECT next_run_at = '{}'::timestamptz FROM orgbackup.backup_schedules",
            runs[0]["utc"].as_str().unwrap()
        )),
        "t",
        "next_run_at is the first of the next runs"
    );
    let weekly = [
        "--frequency",
        "weekly",
        "--day-of-week",
        "mon",
        "--time",
        "04:00",
    ];
    let refused = env.fails(
        &[
            "schedule",
            "create",
            "--org",
            "Solo Shop",
            "--name",
            "weekly",
        ]
        .iter()
        .chain(weekly.iter())
        .copied()
        .collect::<Vec<_>>(),
    );
    assert!(
        refused.contains("basic plan does not allow weekly"),
        "{refused}"
    );
    assert!(refused.contains("it allows: daily"), "{refused}");

    set_plan(&env, "Solo Shop", "pro");
    let monday = create(&env, "Solo Shop", "weekly", &weekly);
    assert!(
        monday["next_runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["local"].as_str().unwrap().contains("T04:00:00+00:00")),
        "{monday}"
    );
    let cron = ["--frequency", "custom", "--cron", "15 */6 * * *"];
    let refused = env.fails(
        &["schedule", "create", "--org", "Solo Shop", "--name", "cron"]
            .iter()
            .chain(cron.iter())
            .copied()
            .collect::<Vec<_>>(),
    );
    assert!(
        refused.contains("pro plan does not allow custom"),
        "{refused}"
    );
    set_plan(&env, "Solo Shop", "enterprise");
    let custom = create(&env, "Solo Shop", "cron", &cron);
    assert_eq!(custom["cron_expression"], "15 */6 * * *");
    assert_eq!(custom["time_of_day"], Value::Null);

    // What is wrong, and how to fix it.
    for (args, expected) in [
        (
            vec!["--frequency", "daily", "--timezone", "Mars/Olympus"],
            "unknown time zone `Mars/Olympus`",
        ),
        (vec!["--frequency", "weekly"], "needs day_of_week"),
        (vec!["--frequency", "monthly"], "needs day_of_month"),
        (
            vec!["--frequency", "custom", "--cron", "61 * * * *"],
            "cron expression `61 * * * *` is not valid",
        ),
        (
            vec!["--frequency", "daily", "--categories", "nonsense"],
            "unknown category `nonsense`",
        ),
    ] {
        let mut all = vec!["schedule", "create", "--org", "Solo Shop", "--name", "bad"];
        all.extend(args);
        let error = env.fails(&all);
        assert!(error.contains(expected), "{error}");
    }
    let duplicate = env.fails(&[
        "schedule",
        "create",
        "--org",
        "Solo Shop",
        "--name",
        "nightly",
        "--frequency",
        "daily",
    ]);
    assert!(duplicate.contains("already exists"), "{duplicate}");

    // Update: only the fields given change, and the next runs follow.
    let id = nightly["schedule_id"].as_str().unwrap();
    env.ok(&[
        "schedule",
        "update",
        id,
        "--org",
        "Solo Shop",
        "--frequency",
        "monthly",
        "--day-of-month",
        "31",
        "--categories",
        "posts",
    ]);
    let shown: Value = serde_json::from_str(&env.ok(&[
        "schedule",
        "show",
        "nightly",
        "--org",
        "Solo Shop",
        "--json",
    ]))
    .unwrap();
    assert_eq!(shown["frequency"], "monthly");
    assert_eq!(shown["day_of_month"], 31);
    assert_eq!(shown["time_of_day"], "02:30");
    assert_eq!(shown["timezone"], "America/New_York");
    assert_eq!(shown["categories"], json!(["posts"]));
    let months: Vec<String> = shown["next_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["local"].as_str().unwrap()[..10].to_string())
        .collect();
    for date in &months {
        let date = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
        let next_day = date.succ_opt().unwrap();
        assert_eq!(
            chrono::Datelike::day(&next_day),
            1,
            "{date} is the month's last day"
        );
    }
    env.ok(&[
        "schedule",
        "update",
        "nightly",
        "--org",
        "Solo Shop",
        "--active",
        "false",
    ]);
    let listed: Value =
        serde_json::from_str(&env.ok(&["schedule", "list", "--org", "Solo Shop", "--json"]))
            .unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cron", "nightly", "weekly"]);
    assert_eq!(listed[1]["is_active"], false);
    assert_eq!(listed[1]["next_runs"], json!([]));
    env.ok(&["schedule", "delete", "weekly", "--org", "Solo Shop"]);
    assert_eq!(
        env.psql("SELECT count(*) FROM orgbackup.backup_schedules"),
        "2"
    );
    // Other orgs see none of them.
    let other = env.ok(&["schedule", "list", "--org", "Delta Studio"]);
    assert!(other.trim().is_empty(), "{other}");
    let actions = env.psql(&format!(
        "SELECT string_agg(action, ',' ORDER BY log_id) FROM orgbackup.backup_audit_logs WHERE org_id = '{SOLO}' AND entity_type = 'schedule'"
    ));
    assert_eq!(
        actions,
        "schedule.create,schedule.create,schedule.create,schedule.update,schedule.update,schedule.delete"
    );
}

#[test]
fn two_schedulers_racing_queue_each_due_schedule_exactly_once() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    let orgs = ["Acme Global", "Blue Harbor", "Cedar Labs", "Delta Studio"];
    for org in orgs {
        set_plan(&env, org, "enterprise");
        for n in 0..3 {
            create(
                &env,
                org,
                &format!("every hour {n}"),
                &["--frequency", "hourly"],
            );
        }
    }
    let schedules = orgs.len() * 3;
    for round in 1..=3 {
        make_due(&env, "10 minutes");
        let passes: Vec<_> = (0..2)
            .map(|_| {
                env.command(&["schedule", "run-due", "--limit", "5"])
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut queued = 0;
        for pass in passes {
            let output = pass.wait_with_output().unwrap();
            assert!(output.status.success());
            queued += ran(&String::from_utf8(output.stdout).unwrap());
        }
        // Limit 5 each: what the two passes left is run by a third.
        queued += ran(&env.ok(&["schedule", "run-due"]));
        assert_eq!(queued, schedules, "round {round}");
        assert_eq!(
            env.psql(
                "SELECT count(DISTINCT schedule_id) || ':' || count(*) FROM orgbackup.organization_backups"
            ),
            format!("{schedules}:{}", schedules * round),
            "one backup per schedule and round"
        );
        assert_eq!(
            env.psql("SELECT count(*) FROM orgbackup.jobs"),
            (schedules * round).to_string()
        );
        assert_eq!(
            env.psql(
                "SELECT count(*) FROM orgbackup.backup_schedules WHERE next_run_at <= now() OR last_error IS NOT NULL"
            ),
            "0"
        );
    }
    assert_eq!(
        env.psql(
            "SELECT count(*) FROM orgbackup.backup_audit_logs WHERE action = 'schedule.run' AND outcome = 'success'"
        ),
        (schedules * 3).to_string()
    );

    // A pass skips the schedules another one holds instead of waiting for them.
    make_due(&env, "10 minutes");
    let holder = std::process::Command::new("psql")
        .args([
            &format!("{}/{}", support::server(), env.database),
            "-Xqc",
            "BEGIN; SELECT 1 FROM orgbackup.backup_schedules s JOIN cmis.orgs o USING (org_id)
               WHERE o.name = 'Acme Global' FOR UPDATE OF s; SELECT pg_sleep(8); COMMIT;",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // Waiting for the lock would run all of them once it is released; skipping runs the others.
    let started = std::time::Instant::now();
    assert_eq!(ran(&env.ok(&["schedule", "run-due"])), schedules - 3);
    assert!(started.elapsed() < std::time::Duration::from_secs(6));
    let held = holder.wait_with_output().unwrap();
    assert!(held.status.success());
    assert_eq!(ran(&env.ok(&["schedule", "run-due"])), 3);
}

#[test]
fn a_schedule_missed_for_days_runs_once_and_a_worker_makes_the_scheduled_backup() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    set_plan(&env, "Solo Shop", "pro");
    let schedule = create(
        &env,
        "Solo Shop",
        "hourly posts",
        &[
            "--frequency",
            "hourly",
            "--time",
            "00:10",
            "--categories",
            "posts",
        ],
    );
    let id = schedule["schedule_id"].as_str().unwrap();
    // Down for three days: 72 runs missed, one is made.
    make_due(&env, "3 days");
    let output = env.ok(&["schedule", "run-due"]);
    assert_eq!(ran(&output), 1, "{output}");
    assert!(output.contains("queued backup"), "{output}");
    assert_eq!(ran(&env.ok(&["schedule", "run-due"])), 0);
    assert_eq!(
        env.psql(&format!(
            "SELECT next_run_at > now() AND next_run_at <= now() + interval '1 hour'
                    AND extract(minute FROM next_run_at AT TIME ZONE 'UTC') = 10 AND last_run_at IS NOT NULL
               FROM orgbackup.backup_schedules WHERE schedule_id = '{id}'"
        )),
        "t"
    );
    let backup_id = env.psql(&format!(
        "SELECT last_backup_id FROM orgbackup.backup_schedules WHERE schedule_id = '{id}'"
    ));
    assert_eq!(
        env.psql(&format!(
            "SELECT backup_type || ':' || status || ':' || schedule_id || ':' || array_to_string(categories, ',')
               FROM orgbackup.organization_backups WHERE backup_id = '{backup_id}'"
        )),
        format!("scheduled:pending:{id}:posts")
    );

    let _worker = Server {
        child: env.command(&["worker", "--id", "w"]).spawn().unwrap(),
        url: String::new(),
    };
    let mut status = String::new();
    for _ in 0..300 {
        status = env.psql(&format!(
            "SELECT status FROM orgbackup.organization_backups WHERE backup_id = '{backup_id}'"
        ));
        if status != "pending" && status != "running" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(status, "completed");
    assert_eq!(
        env.psql(&format!(
            "SELECT backup_type || ':' || (file_size > 0) FROM orgbackup.organization_backups WHERE backup_id = '{backup_id}'"
        )),
        "scheduled:true"
    );
    let listed = env.ok(&["backup", "list", "--org", "Solo Shop"]);
    assert!(listed.contains("hourly posts"), "{listed}");
}

#[test]
fn a_run_the_plan_no_longer_allows_queues_nothing_and_says_why() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    set_plan(&env, "Solo Shop", "basic");
    create(&env, "Solo Shop", "nightly", &["--frequency", "daily"]);
    // Basic allows 10 backups a month: use them up.
    for _ in 0..10 {
        env.backup_json(&["--org", "Solo Shop"]);
    }
    make_due(&env, "1 hour");
    let output = env.ok(&["schedule", "run-due"]);
    assert!(output.contains("10 backups per month"), "{output}");
    set_plan(&env, "Solo Shop", "free");
    make_due(&env, "1 hour");
    let output = env.ok(&["schedule", "run-due"]);
    assert!(
        output.contains("free plan does not allow daily schedules"),
        "{output}"
    );
    assert_eq!(
        env.psql(
            "SELECT is_active AND next_run_at > now() AND last_backup_id IS NULL AND last_error LIKE '%free plan%'
               FROM orgbackup.backup_schedules"
        ),
        "t",
        "still active, next run ahead, the reason kept"
    );
    assert_eq!(
        env.psql(
            "SELECT count(*) FROM orgbackup.organization_backups WHERE backup_type = 'scheduled'"
        ),
        "0"
    );
    let listed = env.ok(&["schedule", "list", "--org", "Solo Shop"]);
    assert!(listed.contains("free plan"), "{listed}");
    // The org hears that its scheduled backup did not happen, and why.
    let notice = env.psql(
        "SELECT event || ' ' || (data->>'error') FROM orgbackup.notifications
          WHERE org_id = '00000000-0000-4000-8000-0000000000a5'",
    );
    assert!(
        notice.starts_with("backup_failed") && notice.contains("free plan"),
        "{notice}"
    );
}

struct Api {
    client: reqwest::Client,
    url: String,
}

impl Api {
    async fn send(
        &self,
        method: &str,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(
                method.parse().unwrap(),
                format!("{}/api/v1{path}", self.url),
            )
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn schedules_are_managed_through_the_api_with_backup_schedule_and_show_local_and_utc_runs() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    // Only what the test does runs the schedules.
    let server = serve_with(&env, &[("ORGBACKUP__SCHEDULER__ENABLED", "false")]);
    let api = Api {
        client: reqwest::Client::new(),
        url: server.url.clone(),
    };
    let all = token(&env, "Solo Shop", "all");
    let body = json!({"name": "nightly", "frequency": "daily", "time_of_day": "02:30", "timezone": "Asia/Kolkata"});
    let (status, problem) = api
        .send("POST", &all, "/schedules", Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "plan_schedule_unavailable");

    set_plan(&env, "Solo Shop", "pro");
    let (status, created) = api.send("POST", &all, "/schedules", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["schedule_id"].as_str().unwrap().to_string();
    let runs = created["next_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 5);
    assert!(
        runs[0]["local"]
            .as_str()
            .unwrap()
            .ends_with("T02:30:00+05:30"),
        "{created}"
    );
    assert!(
        runs[0]["utc"].as_str().unwrap().contains("T21:00:00"),
        "{created}"
    );

    let (status, listed) = api.send("GET", &all, "/schedules", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let (status, changed) = api
        .send(
            "PUT",
            &all,
            &format!("/schedules/{id}"),
            Some(json!({"frequency": "weekly", "day_of_week": 6})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["time_of_day"], "02:30", "kept");
    let first =
        chrono::DateTime::parse_from_rfc3339(changed["next_runs"][0]["local"].as_str().unwrap())
            .unwrap();
    assert_eq!(chrono::Datelike::weekday(&first), chrono::Weekday::Sat);

    for (body, code) in [
        (json!({"timezone": "Mars/Olympus"}), "invalid_schedule"),
        (json!({"time_of_day": "25:61"}), "invalid_schedule"),
        (json!({"frequency": "fortnightly"}), "invalid_schedule"),
        (
            json!({"frequency": "custom", "cron_expression": "0 3 * * *"}),
            "plan_schedule_unavailable",
        ),
        (json!({"categories": ["nonsense"]}), "unknown_category"),
        (json!({"colour": "red"}), "invalid_body"),
    ] {
        let (status, problem) = api
            .send("PUT", &all, &format!("/schedules/{id}"), Some(body.clone()))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        assert_eq!(problem["code"], code, "{body}: {problem}");
    }
    let arabic = api
        .client
        .put(format!("{}/api/v1/schedules/{id}", server.url))
        .bearer_auth(&all)
        .header("Accept-Language", "ar")
        .json(&json!({"timezone": "Mars/Olympus"}))
        .send()
        .await
        .unwrap();
    let problem: Value = arabic.json().await.unwrap();
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains("الجدول الزمني"),
        "{problem}"
    );
    let (status, _) = api
        .send(
            "POST",
            &all,
            "/schedules",
            Some(json!({"name": "nightly", "frequency": "daily"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "duplicate name");

    // Another org's token sees nothing; a token without backup.schedule is refused and logged.
    let delta = token(&env, "Delta Studio", "all");
    let (status, _) = api
        .send("GET", &delta, &format!("/schedules/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .send("DELETE", &delta, &format!("/schedules/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let no_schedule = token(
        &env,
        "Solo Shop",
        "backup.create,backup.download,backup.restore,backup.upload,backup.view_logs",
    );
    for (method, path) in [
        ("GET", "/schedules".to_string()),
        ("POST", "/schedules".to_string()),
        ("GET", format!("/schedules/{id}")),
        ("PUT", format!("/schedules/{id}")),
        ("DELETE", format!("/schedules/{id}")),
    ] {
        let (status, _) = api.send(method, &no_schedule, &path, Some(json!({}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    assert_eq!(
        env.psql(&format!(
            "SELECT count(*) FROM orgbackup.backup_audit_logs WHERE org_id = '{SOLO}' AND outcome = 'denied' AND action LIKE 'schedule.%'"
        )),
        "7",
        "five missing permissions and two plan refusals"
    );

    let (status, _) = api
        .send("DELETE", &all, &format!("/schedules/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api
        .send("GET", &all, &format!("/schedules/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn serve_runs_due_schedules_by_itself_and_its_worker_makes_the_backup() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    set_plan(&env, "Solo Shop", "pro");
    create(&env, "Solo Shop", "nightly", &["--frequency", "daily"]);
    make_due(&env, "2 days");
    let _server = serve_with(&env, &[("ORGBACKUP__SCHEDULER__INTERVAL_SECONDS", "1")]);
    let mut state = String::new();
    for _ in 0..300 {
        state = env.psql(
            "SELECT coalesce(string_agg(backup_type || ':' || status, ','), '') FROM orgbackup.organization_backups",
        );
        if state == "scheduled:completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(state, "scheduled:completed");
    assert_eq!(
        env.psql("SELECT next_run_at > now() FROM orgbackup.backup_schedules"),
        "t"
    );
}
