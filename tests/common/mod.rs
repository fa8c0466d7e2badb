//! A running `eats serve` process, shared by the binary's test files.
#![allow(dead_code)]

pub mod api;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The binary under test.
pub const EATS: &str = env!("CARGO_BIN_EXE_eats");
/// The machine's NATS.
pub const NATS_URL: &str = "nats://127.0.0.1:4222";
/// The JWT secret test servers use.
pub const SECRET: &str = "test-secret-test-secret-test-secret-42";

/// A running `eats serve` that is terminated when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    logs: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Server {
    /// Starts `eats serve` on a free port with `env` and the tests' [`SECRET`], and waits
    /// until it listens.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let mut with_secret = vec![("EATS_JWT_SECRET", SECRET)];
        with_secret.extend_from_slice(env);
        Self::start_with(&with_secret)
    }

    /// Starts `eats serve` on a free port with exactly `env` (no JWT secret unless given), and
    /// waits until it listens.
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(EATS);
        command
            .arg("serve")
            .env_clear()
            .env("EATS_LISTEN", "127.0.0.1:0")
            .env("EATS_LOG_FORMAT", "json")
            // Tests count what they create; the first-run demo stores would be in the way.
            .env("EATS_DEMO_DATA", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn eats serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let addr = loop {
            let line = lines
                .next()
                .expect("eats serve exited before listening")
                .expect("read log line");
            let log: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
            let listening = log["fields"]["message"] == "eats is listening";
            logs.lock().expect("logs").push(log.clone());
            if listening {
                break log["fields"]["addr"].as_str().expect("addr").to_string();
            }
        };
        // Keep draining the logs so the server never blocks on a full pipe; keep them for
        // the tests that read them (a line that is not JSON, e.g. a panic, as a string), and
        // echo warnings and errors into the test's captured output, shown when it fails.
        let kept = logs.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if line.contains(r#""level":"WARN""#) || line.contains(r#""level":"ERROR""#) {
                    eprintln!("eats serve: {line}");
                }
                let log = serde_json::from_str(&line).unwrap_or(serde_json::Value::String(line));
                kept.lock().expect("logs").push(log);
            }
        });
        Self {
            child,
            base: format!("http://{addr}"),
            logs,
        }
    }

    /// The process id, to signal it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every log line (stderr, JSON) so far, oldest first.
    pub fn logs(&self) -> Vec<serde_json::Value> {
        self.logs.lock().expect("logs").clone()
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("{}{path}", self.base))
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// Sends SIGTERM, as Kubernetes does, and returns whether it exited cleanly in time.
    pub fn terminate(self) -> bool {
        self.terminate_within(Duration::from_secs(5))
            .is_some_and(|status| status.success())
    }

    /// Sends SIGTERM and waits up to `bound` for the exit: its status, `None` if still running.
    pub fn terminate_within(mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + bound;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
