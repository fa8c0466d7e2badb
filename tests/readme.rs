//! The README's "Try it" walkthrough, run as written against the real binary, so it cannot
//! rot. Only its first line, the shell function that builds and runs eats through cargo, is
//! swapped for one that runs the binary under test; every other line runs verbatim in bash.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::api::{scratch_folder, LIFECYCLE};
use common::EATS;

mod common;

/// The first line of the walkthrough, which the test replaces.
const CARGO_LINE: &str = r#"eats() { cargo run -q --release -- "$@"; }"#;

/// The `sh` block under the README's "## Try it" heading.
fn walkthrough() -> String {
    let readme = include_str!("../README.md");
    let section = readme
        .split("\n## Try it")
        .nth(1)
        .expect("the README has a \"Try it\" section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("a sh block in \"Try it\"");
    block.to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
fn the_readme_walkthrough_runs_a_whole_order_lifecycle_as_written() {
    let script = walkthrough();
    let (first, rest) = script.split_once('\n').expect("more than one line");
    assert_eq!(
        first.trim(),
        CARGO_LINE,
        "the walkthrough starts by defining eats"
    );
    let script = format!("set -euo pipefail\neats() {{ \"$EATS_BIN\" \"$@\"; }}\n{rest}\n");

    let folder = scratch_folder();
    std::fs::create_dir_all(&folder).expect("a scratch folder");
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&folder)
        .env("EATS_BIN", EATS)
        .env("EATS_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("EATS_PAYMENT_SIM_LATENCY_MS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so the server it starts is stopped with it, whatever happens.
        .process_group(0)
        .spawn()
        .expect("run bash");
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
    let output = child.wait_with_output().expect("output");
    let log = std::fs::read_to_string(folder.join("eats.log")).unwrap_or_default();
    assert!(
        status.success(),
        "the walkthrough failed ({status}).\nstdout:\n{}\nstderr:\n{}\nserver log:\n{log}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    let stream = std::fs::read_to_string(folder.join("stream.txt")).expect("the stream's output");
    let statuses: Vec<String> = stream
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|data| {
            let change: serde_json::Value = serde_json::from_str(data.trim()).expect("JSON data");
            change["status"].as_str().expect("status").to_string()
        })
        .collect();
    assert_eq!(
        statuses, LIFECYCLE,
        "the stream showed every step:\n{stream}"
    );
    let _ = std::fs::remove_dir_all(folder);
}
