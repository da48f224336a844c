//! The web UI in a real headless Chromium (Debian's chromium + chromedriver, driven over WebDriver
//! with fantoccini) against `orgbackup serve` and real PostgreSQL. Screenshots of the main pages
//! go to `target/screenshots/`.

mod support;

use fantoccini::{Client, ClientBuilder, Locator};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{Env, Server, serve};

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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
    let mut create = env
        .command(&["admin", "create-user", "--email", email, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(create.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(create.wait().unwrap().success());
    for (org, role) in [("Delta Studio", "admin"), ("Solo Shop", "viewer")] {
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
    client
        .find(Locator::Css("#email"))
        .await
        .unwrap()
        .send_keys(email)
        .await
        .unwrap();
    client
        .find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    client
        .find(Locator::Css("#sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
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
    assert!(
        text(&client, ".error")
            .await
            .contains("email or the password is not right")
    );
    sign_in(&client, &server, "ana@delta.test", PASSWORD).await;
    wait_for(&client, "#storage-meter").await;
    assert!(text(&client, ".org-name").await.contains("Delta Studio"));
    screenshot(&client, "dashboard-en").await;

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

    // The same pages in Arabic: right to left, Arabic words and digits.
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

    client.close().await.unwrap();
}
