//! The admin commands as a shell user runs them: command output alone on stdout, logs on
//! stderr, and the embedded JWT secret created once however many processes race for it.

use std::path::Path;
use std::process::{Command, Output};

use common::api::{scratch_folder, Caller};
use common::{Server, EATS};
use eats_api::Auth;
use eats_store::testing::{scenario, TestDatabase};

mod common;

fn token(data_dir: &Path, role: &str) -> Command {
    let mut command = Command::new(EATS);
    command
        .args(["token", "--role", role, "--data-dir"])
        .arg(data_dir)
        .env_clear();
    command
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

#[tokio::test]
async fn a_token_minted_on_a_fresh_folder_is_all_of_stdout_and_the_server_accepts_it() {
    let data = scratch_folder();
    let output = token(&data, "customer").output().expect("run eats token");
    let printed = stdout(&output);
    // What `TOKEN=$(eats token ...)` captures: one line, a JWT.
    let token = printed.strip_suffix('\n').expect("ends with a newline");
    assert!(
        !token.contains('\n'),
        "more than the token on stdout: {printed}"
    );
    assert_eq!(token.split('.').count(), 3, "not a JWT: {token}");
    let secret_file = std::fs::canonicalize(&data)
        .expect("the folder exists")
        .join("jwt.secret");
    let told = String::from_utf8_lossy(&output.stderr);
    assert!(
        told.contains(&secret_file.display().to_string()),
        "stderr does not say which secret signed it: {told}"
    );

    let data_dir = data.to_str().expect("utf-8 path");
    let server = Server::start_with(&[("EATS_DATA_DIR", data_dir)]);
    let (status, body) = Caller::with_token(&server, token.to_string())
        .get("/orders")
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(server.terminate());
    let _ = std::fs::remove_dir_all(data);
}

#[test]
fn processes_creating_the_secret_at_once_all_sign_with_the_one_that_won() {
    let data = scratch_folder();
    let racers: Vec<_> = (0..8)
        .map(|_| {
            token(&data, "rider")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn eats token")
        })
        .collect();
    let tokens: Vec<String> = racers
        .into_iter()
        .map(|child| stdout(&child.wait_with_output().expect("wait")))
        .collect();
    let secret = std::fs::read_to_string(data.join("jwt.secret")).expect("the secret file");
    let auth = Auth::hs256(secret.trim().as_bytes()).expect("key");
    for token in &tokens {
        auth.verify(token.trim())
            .expect("signed with the secret on disk");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&data)
        .expect("folder")
        .map(|e| e.expect("entry").file_name())
        .filter(|name| name != "jwt.secret")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test]
async fn in_postgres_mode_audit_prints_json_lines_and_nothing_else_on_stdout() {
    let test = TestDatabase::postgres().await;
    let url = test.url.clone().expect("postgres url");
    let store = scenario::open_store(&scenario::aggregates(&test.db)).await;
    let output = Command::new(EATS)
        .args([
            "audit",
            "aggregate",
            "Store",
            &store.id.to_string(),
            "--json",
        ])
        .env_clear()
        .env("EATS_DATABASE_URL", &url)
        .output()
        .expect("run eats audit");
    let printed = stdout(&output);
    let lines: Vec<serde_json::Value> = printed
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert_eq!(lines.len(), 3, "{printed}");
    assert_eq!(lines[0]["event_type"], "StoreRegistered");
    test.cleanup().await;
}
