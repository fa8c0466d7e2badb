//! The browser tests of the web app (`web/tests`, Playwright on Debian's chromium) against
//! this build's `eats` binary, so `cargo test --workspace` runs them too. They need Node and
//! `npm ci` in `web/` and `sdk/typescript/` (`.ci/run` does these); without them the test says so and passes on a
//! developer's machine, but fails under `CI=true`, where nothing may be skipped.

use std::path::Path;
use std::process::Command;

const EATS: &str = env!("CARGO_BIN_EXE_eats");

fn missing(what: &str) {
    assert!(
        std::env::var("CI").map_or(true, |ci| ci != "true"),
        "CI=true and {what}: the browser tests cannot run"
    );
    eprintln!("skipping the browser tests: {what} (CI=true makes this a failure)");
}

#[test]
fn the_web_app_passes_its_browser_tests_against_this_binary() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if Command::new("node").arg("--version").output().is_err() {
        return missing("node is not installed");
    }
    if !Path::new(&chromium).exists() {
        return missing("chromium is not installed (apt-get install -y chromium)");
    }
    if !web.join("node_modules/@playwright/test").exists() {
        return missing("web/node_modules is missing (run `npm ci` in web/)");
    }
    // The tests import the SDK's sources, whose own imports resolve from sdk/typescript.
    if !web
        .join("../sdk/typescript/node_modules/openapi-fetch")
        .exists()
    {
        return missing("sdk/typescript/node_modules is missing (run `npm ci` in sdk/typescript/)");
    }
    let status = Command::new("npx")
        .args(["playwright", "test"])
        .current_dir(&web)
        .env("EATS_BIN", EATS)
        .env("CHROMIUM", &chromium)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .status()
        .expect("running npx playwright test");
    assert!(status.success(), "the browser tests failed: {status}");
}
