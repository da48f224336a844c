//! The web UI in a real headless Chromium (Debian's chromium + chromedriver, driven over WebDriver
//! with fantoccini) against `orgbackup serve` and real PostgreSQL. Screenshots of the main pages
//! go to `target/screenshots/`.

mod support;

use fantoccini::{Client, ClientBuilder, Locator};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{Env, Server, free_port, serve};

const PASSWORD: &str = "correct horse battery staple";

struct ChromeDriver {
    child: Child,
    url: String,
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn chromedriver() -> ChromeDriver {
    let port = free_port();
    let child = Command::new(std::env::var("CHROMEDRIVER").unwrap_or("chromedriver".into()))
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs (Debian package chromium-driver; .ci/run installs it)");
    // Owned by the guard from here on: killed and reaped whatever happens next.
    let driver = ChromeDriver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

async fn browser(driver: &ChromeDriver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into()),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", "--lang=en-US"],
        }),
    );
    // chromedriver speaks plain HTTP on localhost: no TLS stack needed.
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

/// A user who is admin of Delta Studio and viewer of Solo Shop.
fn user(env: &Env, email: &str) {
    member(
        env,
        email,
        &[("Delta Studio", "admin"), ("Solo Shop", "viewer")],
    );
}

/// A user with a password and these roles.
fn member(env: &Env, email: &str, roles: &[(&str, &str)]) {
    let mut create = env
        .command(&["admin", "create-user", "--email", email, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(create.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(create.wait().unwrap().success());
    for (org, role) in roles {
        env.ok(&[
            "admin", "set-role", "--org", org, "--email", email, "--role", role,
        ]);
    }
}

async fn text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn sign_in(client: &Client, server: &Server, email: &str, password: &str) {
    client.goto(&format!("{}/login", server.url)).await.unwrap();
    type_into(client, "#email", email).await;
    type_into(client, "#password", password).await;
    click(client, "#sign-in").await;
}

/// Waits until `css` matches (pages refresh themselves while work runs).
async fn wait_for(client: &Client, css: &str) {
    for _ in 0..300 {
        if client.find(Locator::Css(css)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{css} never appeared; the page is:\n{}",
        client.source().await.unwrap()
    );
}

#[tokio::test]
async fn a_user_signs_in_backs_up_watches_progress_downloads_and_reads_it_all_in_arabic() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "2000"]);
    user(&env, "ana@delta.test");
    let server = serve(&env);
    let driver = chromedriver().await;
    let client = browser(&driver).await;

    // A wrong password says so and signs nobody in.
    sign_in(&client, &server, "ana@delta.test", "wrong").await;
    wait_for(&client, ".error").await;
    assert!(
        text(&client, ".error")
            .await
            .contains("email or the password is not right")
    );
    sign_in(&client, &server, "ana@delta.test", PASSWORD).await;
    wait_for(&client, "#storage-meter").await;
    assert!(text(&client, ".org-name").await.contains("Delta Studio"));
    screenshot(&client, "dashboard-en").await;
    // Keyboard: the first Tab reaches the skip link, and Enter moves to the content.
    client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys(&fantoccini::key::Key::Tab.to_string())
        .await
        .unwrap();
    let focused = client.active_element().await.unwrap();
    assert_eq!(
        focused.attr("class").await.unwrap().as_deref(),
        Some("skip")
    );
    // Readable on a phone: the same page at 390 px wide.
    client.set_window_size(390, 844).await.unwrap();
    screenshot(&client, "dashboard-phone-en").await;
    let overflow: bool = client
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth + 1",
            vec![],
        )
        .await
        .unwrap()
        .as_bool()
        .unwrap();
    assert!(!overflow, "no horizontal scrolling on a phone");
    client.set_window_size(1280, 1000).await.unwrap();

    // Back up the whole org from the backups page and watch it finish.
    client
        .goto(&format!("{}/backups", server.url))
        .await
        .unwrap();
    screenshot(&client, "backups-en").await;
    client
        .find(Locator::Css("#start-backup"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&client, "#backup-status.status-completed").await;
    let page_url = client.current_url().await.unwrap();
    assert!(page_url.path().starts_with("/backups/"), "{page_url}");
    screenshot(&client, "backup-en").await;
    let sha256 = text(&client, "#backup-sha256").await;
    assert_eq!(sha256.len(), 64, "{sha256}");

    // The download link gives the file whose checksum the page shows.
    let href = client
        .find(Locator::Css("#download"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let cookies = client.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c.name() == "obr_session")
        .expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    let http = reqwest::Client::new();
    let cookie_header = format!("obr_session={}", session.value());
    let file = http
        .get(format!("{}{href}", server.url))
        .header("cookie", &cookie_header)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(hex::encode(Sha256::digest(&file)), sha256);

    // A form post without the session's CSRF token is refused.
    let forged = http
        .post(format!("{}/backups", server.url))
        .header("cookie", &cookie_header)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), reqwest::StatusCode::FORBIDDEN);

    // The org heard of it in the app; its notification settings are changed on their page.
    client
        .goto(&format!("{}/notifications", server.url))
        .await
        .unwrap();
    wait_for(&client, "#inbox li[data-event=backup_completed]").await;
    screenshot(&client, "notifications-en").await;
    client
        .goto(&format!("{}/settings/notifications", server.url))
        .await
        .unwrap();
    type_into(&client, "#email-recipients", "ops@delta.test").await;
    type_into(&client, "#webhook-url", "https://hooks.delta.test/backups").await;
    click(&client, "#save-settings").await;
    wait_for(&client, "#saved").await;
    assert!(text(&client, "#webhook-secret").await.starts_with("whsec_"));
    screenshot(&client, "notification-settings-en").await;
    assert_eq!(
        env.psql(&format!(
            "SELECT array_to_string(email_recipients, ',') || ' ' || webhook_url FROM orgbackup.backup_settings WHERE org_id = '{DELTA}'"
        )),
        "ops@delta.test https://hooks.delta.test/backups"
    );
    client.refresh().await.unwrap();
    assert!(
        client.find(Locator::Css("#webhook-secret")).await.is_err(),
        "the secret is shown once"
    );

    // The same pages in Arabic: right to left, Arabic words and digits.
    client.goto(page_url.as_str()).await.unwrap();
    client
        .find(Locator::Css("#switch-language"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&client, "html[dir=rtl][lang=ar]").await;
    assert_eq!(text(&client, "#backup-status").await, "مكتملة");
    screenshot(&client, "backup-ar").await;
    client.goto(&format!("{}/", server.url)).await.unwrap();
    wait_for(&client, "html[dir=rtl]").await;
    assert_eq!(text(&client, "h1").await, "لوحة التحكم");
    screenshot(&client, "dashboard-ar").await;
    client
        .goto(&format!("{}/backups", server.url))
        .await
        .unwrap();
    let count = text(&client, "main > p:nth-of-type(2)").await;
    assert_eq!(count, "نسخة احتياطية واحدة", "Arabic singular");
    screenshot(&client, "backups-ar").await;

    // The org switcher: in Solo Shop this user is a viewer and cannot start backups.
    client
        .find(Locator::Css("#org-switch"))
        .await
        .unwrap()
        .select_by_label("Solo Shop")
        .await
        .unwrap();
    client
        .find(Locator::Css("form[action='/org'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&client, "#storage-meter").await;
    assert!(text(&client, ".org-name").await.contains("Solo Shop"));
    client
        .goto(&format!("{}/backups", server.url))
        .await
        .unwrap();
    assert!(client.find(Locator::Css("#start-backup")).await.is_err());
    client
        .goto(&format!("{}/settings/notifications", server.url))
        .await
        .unwrap();
    assert!(client.find(Locator::Css("#save-settings")).await.is_err());

    client.close().await.unwrap();
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn type_into(client: &Client, css: &str, value: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(value)
        .await
        .unwrap();
}

const DELTA: &str = "00000000-0000-4000-8000-0000000000a4";
const CEDAR: &str = "00000000-0000-4000-8000-0000000000a3";

fn title_of(env: &Env, post: &str) -> String {
    env.psql(&format!(
        "SELECT title FROM cmis.posts WHERE post_id = '{post}'"
    ))
}

#[tokio::test]
async fn a_restore_is_planned_decided_per_record_confirmed_and_rolled_back_in_the_browser() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "2000"]);
    member(&env, "ana@cedar.test", &[("Cedar Labs", "admin")]);
    let posts = [
        "00000000-0000-4000-8000-00000000c001".to_string(),
        "00000000-0000-4000-8000-00000000c002".to_string(),
    ];
    for (n, post) in posts.iter().enumerate() {
        env.psql(&format!(
            "INSERT INTO cmis.posts (post_id, org_id, title, body) VALUES ('{post}', '{CEDAR}', 'launch post {n}', '')"
        ));
    }
    let backup = env.backup_json(&["--org", "Cedar Labs"]);
    let backup_id = backup["backup_id"].as_str().unwrap().to_string();
    let original = title_of(&env, &posts[0]);
    env.psql(&format!(
        "UPDATE cmis.posts SET title = 'edited ' || post_id WHERE post_id IN ('{}', '{}')",
        posts[0], posts[1]
    ));
    let server = serve(&env);
    let driver = chromedriver().await;
    let client = browser(&driver).await;
    sign_in(&client, &server, "ana@cedar.test", PASSWORD).await;
    wait_for(&client, "#storage-meter").await;

    // Choose the backup, read the analysis: an admin is offered no full restore.
    client
        .goto(&format!("{}/restore", server.url))
        .await
        .unwrap();
    click(&client, &format!("a[data-restore='{backup_id}']")).await;
    wait_for(&client, "#compatibility.status-compatible").await;
    assert!(client.find(Locator::Css("#mode-full")).await.is_err());
    screenshot(&client, "restore-analysis-en").await;
    click(&client, "#show-plan").await;

    // Both edited posts are conflicts, shown with the backup's and today's title.
    wait_for(&client, "#plan-counts").await;
    let first = format!(".conflict:has(input[value*='{}'])", posts[0]);
    let backup_value = text(&client, &format!("{first} .backup-value")).await;
    assert!(backup_value.contains(&original), "{backup_value}");
    let current_value = text(&client, &format!("{first} .current-value")).await;
    assert!(current_value.contains("edited"), "{current_value}");
    screenshot(&client, "restore-plan-en").await;
    // Keep current rows by default, but take the backup's version of the first post.
    click(&client, &format!("{first} input[value=replace]")).await;
    click(&client, "#review").await;
    wait_for(&client, "#summary").await;
    let summary = text(&client, "#summary").await;
    assert!(summary.contains("1 row replaced"), "{summary}");
    assert!(summary.contains("1 conflicting row kept"), "{summary}");
    screenshot(&client, "restore-confirm-en").await;
    click(&client, "#start-restore").await;
    wait_for(&client, "#restore-status.status-completed").await;
    screenshot(&client, "restore-result-en").await;
    assert_eq!(title_of(&env, &posts[0]), original);
    assert!(title_of(&env, &posts[1]).starts_with("edited"));

    // Roll back within the window: the first post is as it was before the restore.
    click(&client, "#rollback").await;
    wait_for(&client, "#restore-status.status-rolled_back").await;
    assert!(title_of(&env, &posts[0]).starts_with("edited"));

    // A backup file can be uploaded instead: checked, recorded, then analyzed like any backup.
    client
        .goto(&format!("{}/restore", server.url))
        .await
        .unwrap();
    let file = support::path_of(&backup);
    type_into(&client, "#upload-file", file.to_str().unwrap()).await;
    click(&client, "#upload-submit").await;
    wait_for(&client, "#compatibility.status-compatible").await;
    assert_eq!(
        env.psql(&format!(
            "SELECT count(*) FROM orgbackup.organization_backups WHERE org_id = '{CEDAR}' AND backup_type = 'uploaded'"
        )),
        "1"
    );

    // A full restore cannot be reached by URL either.
    client
        .goto(&format!(
            "{}/restore/{backup_id}/plan?mode=full&conflicts=skip",
            server.url
        ))
        .await
        .unwrap();
    let refused = text(&client, ".error").await;
    assert!(refused.contains("permission"), "{refused}");
    assert_eq!(text(&client, ".detail").await, "backup.restore_full");

    // The audit log page shows the restore, its rollback and the refusal, filterable.
    client
        .goto(&format!("{}/audit?outcome=denied", server.url))
        .await
        .unwrap();
    let denied = text(&client, "#audit tbody").await;
    assert!(
        denied.contains("restore.full") && !denied.contains("restore.start"),
        "{denied}"
    );
    client.goto(&format!("{}/audit", server.url)).await.unwrap();
    let all = text(&client, "#audit tbody").await;
    for action in ["restore.start", "restore.rollback", "restore.completed"] {
        assert!(all.contains(action), "{action} in {all}");
    }
    screenshot(&client, "audit-en").await;
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_full_restore_needs_the_orgs_name_and_the_password_typed_again() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "2000"]);
    let mut create = env
        .command(&[
            "admin",
            "create-user",
            "--email",
            "root@delta.test",
            "--password-stdin",
            "--super-admin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        writeln!(create.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    }
    assert!(create.wait().unwrap().success());
    env.ok(&[
        "admin",
        "set-role",
        "--org",
        "Delta Studio",
        "--email",
        "root@delta.test",
        "--role",
        "owner",
    ]);
    let backup = env.backup_json(&["--org", "Delta Studio"]);
    let backup_id = backup["backup_id"].as_str().unwrap().to_string();
    let rows = format!("SELECT count(*) FROM cmis.posts WHERE org_id = '{DELTA}'");
    let before = env.psql(&rows);
    env.psql(&format!(
        "INSERT INTO cmis.posts (post_id, org_id, title, body) VALUES (gen_random_uuid(), '{DELTA}', 'added later', '')"
    ));
    let server = serve(&env);
    let driver = chromedriver().await;
    let client = browser(&driver).await;
    sign_in(&client, &server, "root@delta.test", PASSWORD).await;
    wait_for(&client, "#storage-meter").await;
    // A full restore of the posts alone would delete the added post out from under a media
    // asset made on it: the plan says so and offers no way on.
    env.psql(&format!(
        "INSERT INTO cmis.media_assets VALUES (gen_random_uuid(), '{DELTA}', (SELECT post_id FROM cmis.posts WHERE title = 'added later'), 'later.png', 'image/png', 1, NULL)"
    ));
    client
        .goto(&format!("{}/restore/{backup_id}", server.url))
        .await
        .unwrap();
    click(&client, "input[name=categories][value=posts]").await;
    click(&client, "#mode-full").await;
    click(&client, "#show-plan").await;
    wait_for(&client, "#blocked-deletions").await;
    let blocked = text(&client, "#blocked-deletions").await;
    assert!(
        blocked.contains("1 referencing row") && blocked.contains("cmis.media_assets"),
        "{blocked}"
    );
    assert!(client.find(Locator::Css("#review")).await.is_err());
    screenshot(&client, "restore-plan-blocked-en").await;

    client
        .goto(&format!("{}/restore/{backup_id}", server.url))
        .await
        .unwrap();
    click(&client, "#mode-full").await;
    click(&client, "#show-plan").await;
    wait_for(&client, "#plan-counts").await;
    click(&client, "#review").await;
    wait_for(&client, "#summary").await;
    assert!(text(&client, "#summary").await.contains("2 rows deleted"));
    // Wrong name: refused, nothing changed.
    type_into(&client, "#confirm-org", "Delta").await;
    type_into(&client, "#confirm-password", PASSWORD).await;
    click(&client, "#start-restore").await;
    wait_for(&client, "#confirm-failed").await;
    assert_ne!(env.psql(&rows), before);
    screenshot(&client, "restore-full-confirm-en").await;
    // Name and password right: the restore runs and the added post is gone.
    type_into(&client, "#confirm-org", "Delta Studio").await;
    type_into(&client, "#confirm-password", PASSWORD).await;
    click(&client, "#start-restore").await;
    wait_for(&client, "#restore-status.status-completed").await;
    assert_eq!(env.psql(&rows), before);

    // Keys: an Enterprise feature; rotate twice, then revoke the first with its fingerprint.
    client.goto(&format!("{}/keys", server.url)).await.unwrap();
    wait_for(&client, "#keys-plan").await;
    env.ok(&[
        "admin",
        "set-plan",
        "--org",
        "Delta Studio",
        "--plan",
        "enterprise",
    ]);
    client.refresh().await.unwrap();
    click(&client, "#rotate-key").await;
    wait_for(&client, "#keys tr[data-status=active]").await;
    click(&client, "#rotate-key").await;
    wait_for(&client, "#keys tr[data-status=retired]").await;
    let first = client
        .find(Locator::Css("#keys tr[data-status=retired]"))
        .await
        .unwrap()
        .attr("data-key")
        .await
        .unwrap()
        .unwrap();
    let fingerprint = text(&client, "#keys tr[data-status=retired] code").await;
    click(&client, "#keys details summary").await;
    type_into(&client, &format!("#confirm-{first}"), "not it").await;
    click(
        &client,
        &format!("form[action='/keys/{first}/revoke'] button"),
    )
    .await;
    wait_for(&client, "#keys-error").await;
    click(&client, "#keys details summary").await;
    type_into(&client, &format!("#confirm-{first}"), &fingerprint).await;
    click(
        &client,
        &format!("form[action='/keys/{first}/revoke'] button"),
    )
    .await;
    wait_for(
        &client,
        &format!("#keys tr[data-key='{first}'][data-status=revoked]"),
    )
    .await;
    screenshot(&client, "keys-en").await;

    // Schedules: a daily backup in Riyadh's time zone shows its next runs; a bad zone is refused
    // on the form with the reason; a schedule can be paused.
    client
        .goto(&format!("{}/schedules", server.url))
        .await
        .unwrap();
    type_into(&client, "#schedule-name", "Nightly").await;
    client
        .find(Locator::Css("#schedule-frequency"))
        .await
        .unwrap()
        .select_by_value("daily")
        .await
        .unwrap();
    let zone = client.find(Locator::Css("#schedule-zone")).await.unwrap();
    zone.clear().await.unwrap();
    zone.send_keys("Asia/Riyadh").await.unwrap();
    click(&client, "#add-schedule").await;
    wait_for(
        &client,
        "#schedules tr[data-schedule=Nightly][data-active=true]",
    )
    .await;
    let runs = text(&client, "#schedules tr[data-schedule=Nightly] ul.runs").await;
    assert_eq!(runs.lines().count(), 3, "{runs}");
    assert!(
        runs.contains(", 23:00 UTC"),
        "02:00 in Riyadh is 23:00 UTC: {runs}"
    );
    screenshot(&client, "schedules-en").await;
    type_into(&client, "#schedule-name", "Broken").await;
    let zone = client.find(Locator::Css("#schedule-zone")).await.unwrap();
    zone.clear().await.unwrap();
    zone.send_keys("Mars/Olympus").await.unwrap();
    click(&client, "#add-schedule").await;
    wait_for(&client, "#schedule-error").await;
    assert!(
        text(&client, "#schedule-error")
            .await
            .contains("Mars/Olympus")
    );
    click(
        &client,
        "#schedules tr[data-schedule=Nightly] button[value=pause]",
    )
    .await;
    wait_for(
        &client,
        "#schedules tr[data-schedule=Nightly][data-active=false]",
    )
    .await;
    client.close().await.unwrap();
}

/// Dropbox's authorize page as a browser meets it (consent granted at once: back to
/// `redirect_uri` with a code and the state) and its token endpoint.
async fn fake_dropbox() -> String {
    use axum::extract::Query;
    use axum::response::{IntoResponse, Redirect};
    use std::collections::HashMap;
    let app = axum::Router::new()
        .route(
            "/oauth2/authorize",
            axum::routing::get(|Query(q): Query<HashMap<String, String>>| async move {
                let back = format!(
                    "{}?code=browser-code&state={}",
                    q["redirect_uri"],
                    form_urlencoded::byte_serialize(q["state"].as_bytes()).collect::<String>()
                );
                Redirect::to(&back).into_response()
            }),
        )
        .route(
            "/oauth2/token",
            axum::routing::post(|body: String| async move {
                let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
                    .into_owned()
                    .collect();
                if form.get("code").map(String::as_str) != Some("browser-code") {
                    return (
                        axum::http::StatusCode::BAD_REQUEST,
                        axum::Json(serde_json::json!({"error": "invalid_grant"})),
                    );
                }
                (
                    axum::http::StatusCode::OK,
                    axum::Json(serde_json::json!({
                        "access_token": "secret-access", "token_type": "bearer",
                        "expires_in": 14400, "refresh_token": "secret-refresh"
                    })),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_destinations_are_added_made_default_removed_and_connected_with_oauth() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "500"]);
    user(&env, "ana@delta.test");
    let dropbox = fake_dropbox().await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let callback = format!("http://{listen}/api/v1/storage/oauth/callback");
    let authorize = format!("{dropbox}/oauth2/authorize");
    let server = support::serve_at(
        &env,
        &listen,
        &[
            ("ORGBACKUP__STORAGE__DROPBOX__APP_KEY", "appkey"),
            ("ORGBACKUP__STORAGE__DROPBOX__APP_SECRET", "appsecret"),
            ("ORGBACKUP__STORAGE__DROPBOX__AUTHORIZE_URL", &authorize),
            ("ORGBACKUP__STORAGE__DROPBOX__API_URL", &dropbox),
            ("ORGBACKUP__STORAGE__DROPBOX__CONTENT_URL", &dropbox),
            ("ORGBACKUP__STORAGE__DROPBOX__REDIRECT_URI", &callback),
        ],
    );
    let driver = chromedriver().await;
    let client = browser(&driver).await;
    sign_in(&client, &server, "ana@delta.test", PASSWORD).await;
    wait_for(&client, "#storage-meter").await;
    client
        .goto(&format!("{}/settings/storage", server.url))
        .await
        .unwrap();

    // An S3 bucket (not tested now: there is no S3 server in this test), made the default.
    for (css, value) in [
        ("#s3-name", "Archive bucket"),
        ("#s3-bucket", "delta-backups"),
        ("#s3-key", "AKIAEXAMPLE"),
        ("#s3-secret", "not-in-the-page"),
    ] {
        type_into(&client, css, value).await;
    }
    click(&client, "#s3-test").await;
    click(&client, "#add-s3-submit").await;
    wait_for(&client, "#storage-notice").await;
    let row = "#connections tr[data-connection='Archive bucket']";
    wait_for(&client, &format!("{row}[data-status=active]")).await;
    click(&client, &format!("{row} button[value=default]")).await;
    wait_for(&client, &format!("{row} .status-completed")).await;
    assert!(!client.source().await.unwrap().contains("not-in-the-page"));

    // Dropbox through its consent page and back to this page.
    type_into(&client, "#oauth-name", "Team Dropbox").await;
    click(&client, "#connect-account").await;
    wait_for(
        &client,
        "#connections tr[data-connection='Team Dropbox'][data-status=active]",
    )
    .await;
    assert!(
        text(&client, "#storage-notice")
            .await
            .contains("Team Dropbox")
    );
    screenshot(&client, "storage-en").await;
    let stored = env.psql(
        "SELECT count(*) FROM orgbackup.storage_connections
          WHERE position('secret-refresh'::bytea in encrypted_credentials) > 0
             OR position('not-in-the-page'::bytea in encrypted_credentials) > 0",
    );
    assert_eq!(stored, "0", "credentials are stored sealed");

    // Removing the S3 bucket.
    click(&client, &format!("{row} button[value=remove]")).await;
    wait_for(&client, "#storage-notice").await;
    assert!(client.find(Locator::Css(row)).await.is_err());
    client.close().await.unwrap();
}

/// Signs in over plain HTTP (no browser): the login page's double-submit cookie, then the form.
/// Answers the POST's response (303 to `/` when signed in, 200 with the form again when not).
async fn post_sign_in(
    server: &Server,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http
        .get(format!("{}/login", server.url))
        .send()
        .await
        .unwrap();
    let csrf = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("obr_login_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("the login page sets its CSRF cookie")
        .to_string();
    let mut request = http
        .post(format!("{}/login", server.url))
        .header("cookie", format!("obr_login_csrf={csrf}"))
        .form(&[("email", email), ("password", password), ("_csrf", &csrf)]);
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn sign_in_is_throttled_per_account_and_per_address_across_server_processes() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    user(&env, "ana@delta.test");
    user(&env, "bob@delta.test");
    let first = serve(&env);
    let signed_in = reqwest::StatusCode::SEE_OTHER;
    let refused = reqwest::StatusCode::TOO_MANY_REQUESTS;

    // A success clears the account's failures: 4 + 4 wrong passwords never reach the limit of 5.
    for _ in 0..2 {
        for _ in 0..4 {
            let wrong = post_sign_in(&first, "bob@delta.test", "wrong", None).await;
            assert_eq!(wrong.status(), reqwest::StatusCode::OK);
        }
        let right = post_sign_in(&first, "bob@delta.test", PASSWORD, None).await;
        assert_eq!(right.status(), signed_in);
    }

    // Five failures lock the account, even against the right password, with Retry-After.
    for _ in 0..5 {
        let wrong = post_sign_in(&first, "ANA@delta.test", "wrong", None).await;
        assert_eq!(wrong.status(), reqwest::StatusCode::OK);
    }
    let locked = post_sign_in(&first, "ana@delta.test", PASSWORD, None).await;
    assert_eq!(locked.status(), refused);
    let retry_after: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");

    // Another server process on the same database agrees; it believes X-Forwarded-For (as
    // configured) and allows 3 failures per address.
    let second = support::serve_with(
        &env,
        &[
            ("ORGBACKUP__HTTP__TRUST_FORWARDED_FOR", "true"),
            ("ORGBACKUP__HTTP__SIGN_IN_ADDRESS_FAILURES", "3"),
        ],
    );
    let locked = post_sign_in(&second, "ana@delta.test", PASSWORD, Some("198.51.100.8")).await;
    assert_eq!(locked.status(), refused);
    for guess in ["x1@delta.test", "x2@delta.test", "x3@delta.test"] {
        let wrong = post_sign_in(&second, guess, "wrong", Some("198.51.100.7")).await;
        assert_eq!(wrong.status(), reqwest::StatusCode::OK);
    }
    let from_guesser =
        post_sign_in(&second, "bob@delta.test", PASSWORD, Some("198.51.100.7")).await;
    assert_eq!(from_guesser.status(), refused);
    let elsewhere = post_sign_in(&second, "bob@delta.test", PASSWORD, Some("198.51.100.9")).await;
    assert_eq!(elsewhere.status(), signed_in);
}

/// The `obr_session` cookie a signed-in answer sets.
fn session_cookie(signed_in: &reqwest::Response) -> String {
    signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("obr_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string()
}

#[tokio::test]
async fn an_oauth_state_is_finished_only_in_the_session_that_started_it_and_only_once() {
    let env = Env::new();
    env.ok(&["demo", "--rows", "100"]);
    user(&env, "ana@delta.test");
    user(&env, "mallory@delta.test");
    let dropbox = fake_dropbox().await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let callback = format!("http://{listen}/api/v1/storage/oauth/callback");
    let authorize = format!("{dropbox}/oauth2/authorize");
    let server = support::serve_at(
        &env,
        &listen,
        &[
            ("ORGBACKUP__STORAGE__DROPBOX__APP_KEY", "appkey"),
            ("ORGBACKUP__STORAGE__DROPBOX__APP_SECRET", "appsecret"),
            ("ORGBACKUP__STORAGE__DROPBOX__AUTHORIZE_URL", &authorize),
            ("ORGBACKUP__STORAGE__DROPBOX__API_URL", &dropbox),
            ("ORGBACKUP__STORAGE__DROPBOX__CONTENT_URL", &dropbox),
            ("ORGBACKUP__STORAGE__DROPBOX__REDIRECT_URI", &callback),
        ],
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let ana = session_cookie(&post_sign_in(&server, "ana@delta.test", PASSWORD, None).await);
    let mallory =
        session_cookie(&post_sign_in(&server, "mallory@delta.test", PASSWORD, None).await);

    // Ana starts connecting Dropbox; the provider sends her browser back with a code and state.
    let page = http
        .get(format!("{}/settings/storage", server.url))
        .header("cookie", &ana)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's CSRF token")
        .to_string();
    let started = http
        .post(format!("{}/settings/storage/connect", server.url))
        .header("cookie", &ana)
        .form(&[
            ("provider", "dropbox"),
            ("name", "Team Dropbox"),
            ("_csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    let to_provider = started.headers()["location"].to_str().unwrap().to_string();
    let back = http.get(&to_provider).send().await.unwrap();
    let back = back.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with(&callback), "{back}");
    let come_back = |cookie: Option<&str>| {
        let mut request = http.get(&back).header("accept", "application/json");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };

    // Another session (another user of the same org), or none, cannot use Ana's state.
    for cookie in [Some(mallory.as_str()), None] {
        let refused = come_back(cookie).await.unwrap();
        assert_eq!(refused.status(), 422);
        let problem: serde_json::Value = refused.json().await.unwrap();
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("another browser session"),
            "{problem}"
        );
    }
    let connected = come_back(Some(&ana)).await.unwrap();
    assert_eq!(connected.status(), 201, "{:?}", connected.text().await);
    let replayed = come_back(Some(&ana)).await.unwrap();
    assert_eq!(replayed.status(), 422, "a state is used once");
    assert_eq!(
        env.psql("SELECT count(*) FROM orgbackup.storage_connections WHERE provider = 'dropbox'"),
        "1"
    );
}
