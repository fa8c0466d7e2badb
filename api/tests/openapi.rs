//! `schemas/openapi.json` is generated from the code; this fails when the two drift.
//! Regenerate with `EATS_UPDATE_SCHEMAS=1 cargo test -p eats-api --test openapi`.

use std::path::PathBuf;

#[test]
fn checked_in_openapi_document_matches_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/openapi.json");
    let generated = eats_api::openapi_json() + "\n";
    if std::env::var_os("EATS_UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).expect("write schemas/openapi.json");
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "schemas/openapi.json has drifted from the code; regenerate with `just schemas` and review the diff"
    );
}

#[test]
fn every_operation_has_an_operation_id_and_declares_problem_responses() {
    let spec: serde_json::Value = serde_json::from_str(&eats_api::openapi_json()).expect("JSON");
    let paths = spec["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("operations") {
            operations += 1;
            assert!(
                operation["operationId"].is_string(),
                "{method} {path} has no operationId"
            );
            let responses = operation["responses"].as_object().expect("responses");
            for status in ["400", "401", "422", "429"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} does not declare {status}"
                );
            }
        }
    }
    assert!(operations >= 28, "{operations} operations");
}
