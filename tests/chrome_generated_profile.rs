//! A large synthetic profile from `tests/gen_chrome_profile.py` (the generator scripts/bench.sh
//! uses): 20,000 cookies encrypted as Chromium on Linux does, of which the import must return
//! exactly those a request to the instance carries. Checks the generator and the importer
//! against each other; speed is measured by the bench, not here.

mod chrome_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use chrome_support::{ExpectedCookie, assert_same_cookies};
use snowbridge::obtain::chrome::{Browser, Source, import};

#[derive(serde::Deserialize)]
struct Generated {
    url: String,
    count: usize,
    expected: Vec<ExpectedCookie>,
}

/// A Python with the `cryptography` package: $SNOWBRIDGE_PYTHON, the project's .venv, python3.
fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = std::env::var_os("SNOWBRIDGE_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([root.join(".venv/bin/python"), PathBuf::from("python3")]);
    for python in candidates {
        let ok = Command::new(&python)
            .args(["-c", "import cryptography"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return python;
        }
    }
    panic!(
        "this test needs Python 3 with the `cryptography` package: run `python3 -m venv .venv && \
         .venv/bin/pip install cryptography` in the project (or set SNOWBRIDGE_PYTHON)"
    );
}

#[tokio::test]
async fn twenty_thousand_cookies_import_exactly_the_instances() {
    let out = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gen_chrome_profile.py");
    let status = Command::new(python())
        .arg(&script)
        .arg("--out")
        .arg(out.path())
        .args(["--count", "20000", "--seed", "7"])
        .status()
        .unwrap();
    assert!(status.success(), "{} failed", script.display());
    let generated: Generated = serde_json::from_slice(
        &std::fs::read(out.path().join("snowbridge-expected.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(generated.count, 20_000);

    let source = Source {
        browser: Browser::Chrome,
        profile: Some("Person 1".into()),
        user_data_dir: Some(out.path().to_path_buf()),
    };
    let url = url::Url::parse(&generated.url).unwrap();
    let got = import(&source, &url, false).await.unwrap();
    assert!(got.report.undecryptable.is_empty(), "{}", got.report);
    assert!(!generated.expected.is_empty());
    assert_same_cookies(
        got.cookies,
        generated
            .expected
            .iter()
            .map(ExpectedCookie::cookie)
            .collect(),
    );
}
