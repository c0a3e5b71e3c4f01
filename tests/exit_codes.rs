//! Every command walked through its failure modes against the in-process emulator, checking the
//! exit code the README's table gives: 2 when the command line itself is wrong (an unknown
//! command, flag or instance, a value of the wrong form, flags that do not go together), 1 for
//! everything else that failed (files and records that do not exist included), 4 login
//! required, 5 refused by the instance. Each case runs twice: as written, and with `--json`,
//! where the code must not change (or is 2 for a command that refuses `--json`), every line on
//! stderr is JSON with the error last, and a success prints JSON on stdout.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};

use common::{Home, emulator, form_login, stderr, stdout};
use snowbridge::vault::{Obtained, SessionRecord};

/// What `--json` does to a case.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Json {
    /// The same exit code; on success, stdout is JSON.
    Data,
    /// The same exit code; stdout is what the command prints (a reply as sent, a script).
    Same,
    /// The command refuses `--json`: exit 2.
    Refused,
}

/// The world the cases run in: an emulator and one snowbridge home with these instances:
/// `dev` (itil.user, a stored session, fallback = "never" so refusals stay refusals),
/// `boss` (admin, a stored session), `fresh` (no session, no username), `gone` (a stored
/// session for an address nobody listens on), `broken` (a wrong type in the file).
struct World {
    emu: snowbridge::emulator::Emulator,
    home: Home,
    files: tempfile::TempDir,
}

impl World {
    async fn new() -> World {
        let emu = emulator(|_| {});
        let home = Home::with_extra("dev", &emu, "fallback = \"never\"\n");
        home.store_login(&form_login(&emu, "itil.user", false).await);
        let url = emu.url().as_str().trim_end_matches('/').to_owned();
        let instances = home.dirs.user_instances();
        let write = |name: &str, text: String| {
            std::fs::write(instances.join(format!("{name}.toml")), text).unwrap()
        };
        write("boss", format!("url = \"{url}\"\nusername = \"admin\"\n"));
        write("fresh", format!("url = \"{url}\"\n"));
        write(
            "gone",
            format!("url = \"http://127.0.0.1:{}\"\n", closed_port()),
        );
        write(
            "broken",
            format!("url = \"{url}\"\ntimeout_secs = \"ten\"\n"),
        );
        let admin = form_login(&emu, "admin", false).await;
        for (name, login) in [("boss", &admin), ("gone", &admin)] {
            let instance =
                snowbridge::instance::Instance::load(&instances.join(format!("{name}.toml")))
                    .unwrap();
            let mut record = SessionRecord::new(
                name,
                &instance.url,
                Obtained::FormLogin,
                login.cookies.clone(),
            );
            record.user = Some(login.user.clone());
            record.user_token = login.user_token.clone();
            home.vault().store(&record).unwrap();
        }
        let files = tempfile::tempdir().unwrap();
        std::fs::write(files.path().join("error.log"), "disk full\n").unwrap();
        std::fs::write(files.path().join("emulator.toml"), "prot = 9000\n").unwrap();
        std::fs::create_dir_all(files.path().join("chrome/Default")).unwrap();
        std::fs::create_dir_all(files.path().join("not-a-config/instances-is-a-file")).unwrap();
        std::fs::write(files.path().join("not-a-config/instances"), "").unwrap();
        World { emu, home, files }
    }

    fn file(&self, name: &str) -> String {
        self.files.path().join(name).display().to_string()
    }

    fn port(&self) -> String {
        self.emu.url().port().unwrap().to_string()
    }

    /// Runs `snowbridge args...` in the home, with `stdin` (empty when `None`) and `env`.
    fn run(&self, args: &[String], stdin: &[u8], env: &[(&str, &str)]) -> Output {
        use std::io::Write;
        let mut cmd = self
            .home
            .command(&args.iter().map(String::as_str).collect::<Vec<_>>());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run snowbridge");
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(stdin).unwrap();
        drop(pipe);
        child.wait_with_output().unwrap()
    }
}

/// A port nothing listens on: one the OS just handed out and took back.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One command line, its exit code, and what `--json` does to it.
struct Case {
    args: Vec<String>,
    code: i32,
    json: Json,
    stdin: Vec<u8>,
    env: Vec<(&'static str, String)>,
}

fn case(args: &[&str], code: i32, json: Json) -> Case {
    Case {
        args: args.iter().map(|a| a.to_string()).collect(),
        code,
        json,
        stdin: Vec::new(),
        env: Vec::new(),
    }
}

impl Case {
    fn env(mut self, name: &'static str, value: impl Into<String>) -> Case {
        self.env.push((name, value.into()));
        self
    }
}

/// Checks one run: its code, and stderr as the mode says. Returns a failure description.
fn judge(case: &Case, added_json: bool, out: &Output) -> Option<String> {
    let with_json = added_json || case.args.iter().any(|a| a == "--json");
    let expected = match (added_json, case.json) {
        (true, Json::Refused) => 2,
        _ => case.code,
    };
    let err = stderr(out);
    let shown = format!(
        "`snowbridge {}{}`: exit {:?}, expected {expected}\n--- stderr\n{err}--- stdout\n{}",
        if added_json { "--json " } else { "" },
        case.args.join(" "),
        out.status.code(),
        stdout(out).chars().take(400).collect::<String>()
    );
    if out.status.code() != Some(expected) {
        return Some(shown);
    }
    if err.contains('\u{1b}') || err.contains(" WARN ") || err.contains(" INFO ") {
        return Some(format!(
            "log lines or colours on stderr without -v: {shown}"
        ));
    }
    if !with_json {
        // An error names itself; clap shows the help when no command is given at all.
        let said = err.starts_with("snowbridge: ")
            || err.starts_with("error: ")
            || err.contains("\nUsage: ");
        if expected != 0 && !said {
            return Some(format!("no error message: {shown}"));
        }
        return None;
    }
    // Under --json: every line on stderr is JSON, the error last.
    let lines: Vec<serde_json::Value> = match err
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect()
    {
        Ok(lines) => lines,
        Err(e) => return Some(format!("stderr is not JSON lines ({e}): {shown}")),
    };
    if expected != 0 {
        let Some(error) = lines.last().and_then(|l| l.get("error")) else {
            return Some(format!("no JSON error on stderr: {shown}"));
        };
        let text = |key: &str| error.get(key).and_then(|v| v.as_str()).unwrap_or("");
        if error["exit_code"] != expected
            || text("kind").is_empty()
            || text("message").is_empty()
            || !(error["hint"].is_null() || error["hint"].is_string())
        {
            return Some(format!("the JSON error is not complete: {shown}"));
        }
    } else if case.json == Json::Data
        && serde_json::from_str::<serde_json::Value>(&stdout(out)).is_err()
    {
        return Some(format!(
            "--json was not honoured, stdout is not JSON: {shown}"
        ));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_exits_as_the_table_says_and_speaks_json_when_asked() {
    let w = World::new().await;
    let log = w.file("error.log");
    let missing = w.file("no-such-file.log");
    let chrome = w.file("chrome");
    let bad_config = w.file("emulator.toml");
    let a_file = w.file("error.log");
    let man_dir = w.file("man");
    let port = w.port();
    let zeros = "00000000000000000000000000000000";
    let sys_id = w
        .emu
        .control()
        .record("incident", "INC0010001")
        .and_then(|r| r.get("sys_id")?.as_str().map(str::to_owned))
        .expect("INC0010001 is seeded");
    let open = w
        .emu
        .control()
        .sys_ids("incident", "active=true")
        .pop()
        .expect("an open incident");
    let record = format!("/api/now/table/incident/{open}");
    let resolve_body = r#"{"state":"6","close_code":"Solution provided","close_notes":"done"}"#;
    use Json::*;

    let cases = vec![
        // The command line as a whole.
        case(&[], 2, Same),
        case(&["nosuch"], 2, Same),
        case(&["--bogus", "instances"], 2, Same),
        // instances: a broken file is listed, not an error.
        case(&["instances"], 0, Data),
        case(&["instances", "extra"], 2, Same),
        case(&["instances"], 1, Data).env(
            "SNOWBRIDGE_CONFIG_DIR",
            w.files.path().join("not-a-config").display().to_string(),
        ),
        // connect
        case(&["connect", "dev"], 0, Data),
        case(&["connect", "nope"], 2, Same),
        case(&["connect", "dve"], 2, Same),
        case(&["connect"], 2, Same),
        case(&["connect", "fresh"], 4, Same),
        case(&["connect", "broken"], 1, Same),
        case(&["connect", "gone"], 1, Same),
        case(&["connect", "dev", "--user", "x"], 2, Same),
        case(&["connect", "dev", "--login", "--timeout", "soon"], 2, Same),
        // status: without a name the table is the answer; with one, the code says it.
        case(&["status"], 0, Data),
        case(&["status", "dev"], 0, Data),
        case(&["status", "fresh"], 4, Same),
        case(&["status", "gone"], 1, Same),
        case(&["status", "broken"], 1, Same),
        case(&["status", "nope"], 2, Same),
        // logout: nothing stored is done already.
        case(&["logout", "fresh"], 0, Data),
        case(&["logout", "nope"], 2, Same),
        case(&["logout", "broken"], 1, Same),
        case(&["logout"], 2, Same),
        // password
        case(&["password", "dev"], 1, Same),
        case(&["password", "dev"], 1, Same).env("SNOWBRIDGE_KEYRING", ""),
        case(&["password", "fresh"], 2, Same),
        case(&["password", "nope"], 2, Same),
        case(&["password", "dev", "--bogus"], 2, Same),
        // secret: as password, for every kind
        case(&["secret", "dev", "password"], 1, Same),
        case(&["secret", "dev", "client-secret", "--delete"], 1, Same),
        case(&["secret", "dev", "client-secret"], 1, Same).env("SNOWBRIDGE_KEYRING", ""),
        case(&["secret", "dev", "api-key"], 1, Same).env("SNOWBRIDGE_KEYRING", ""),
        case(&["secret", "fresh", "password"], 2, Same).env("SNOWBRIDGE_KEYRING", ""),
        case(&["secret", "dev", "token"], 2, Same),
        case(&["secret", "nope", "api-key"], 2, Same),
        // import-chrome
        case(&["import-chrome"], 2, Same),
        case(&["import-chrome", "nope"], 2, Same),
        case(&["import-chrome", "dev", "--browser", "firefox"], 2, Same),
        case(
            &["import-chrome", "dev", "--user-data-dir", &missing],
            1,
            Same,
        ),
        case(
            &[
                "import-chrome",
                "dev",
                "--user-data-dir",
                &chrome,
                "--profile",
                "Work",
            ],
            1,
            Same,
        ),
        case(
            &["import-chrome", "dev", "--user-data-dir", &chrome],
            1,
            Same,
        ),
        case(
            &["import-chrome", "--list", "--user-data-dir", &chrome],
            0,
            Data,
        ),
        // cookies
        case(&["cookies", "dev"], 0, Same),
        case(&["cookies", "dev", "--format", "json"], 0, Data),
        case(&["cookies", "fresh"], 4, Same),
        case(&["cookies", "nope"], 2, Same),
        case(&["cookies", "broken"], 1, Same),
        case(&["cookies", "dev", "--format", "yaml"], 2, Same),
        case(&["cookies", "dev", "--json", "--format", "header"], 2, Same),
        // api
        case(
            &["api", "dev", "/api/now/table/incident?sysparm_limit=1"],
            0,
            Data,
        ),
        case(
            &["api", "dev", &format!("/api/now/table/incident/{zeros}")],
            1,
            Same,
        ),
        case(&["api", "dev", "/api/now/table/nosuch"], 1, Same),
        case(
            &["api", "dev", "-X", "PATCH", &record, "-d", resolve_body],
            5,
            Same,
        ),
        case(&["api", "dev", "/x", "-X", "NOT A METHOD"], 2, Same),
        case(&["api", "dev", "/x", "-H", "Cookie: a=b"], 2, Same),
        case(&["api", "dev", "/x", "-d", "{bad"], 2, Same),
        case(&["api", "dev", "/x", "-d", &format!("@{missing}")], 1, Same),
        case(
            &["api", "dev", "https://example.com/api/now/table/incident"],
            2,
            Same,
        ),
        case(&["api", "dev", "/x", "-i", "--paginate"], 2, Same),
        case(&["api", "fresh", "/api/now/table/incident"], 4, Same),
        case(&["api", "gone", "/api/now/table/incident"], 1, Same),
        case(&["api", "nope", "/api/now/table/incident"], 2, Same),
        // records
        case(&["records", "dev", "incident", "-n", "2"], 0, Data),
        case(&["records", "dev", "nosuch"], 1, Same),
        case(&["records", "fresh", "incident"], 4, Same),
        case(&["records", "gone", "incident"], 1, Same),
        case(&["records", "nope", "incident"], 2, Same),
        case(&["records", "dev", "incident", "--page-size", "0"], 2, Same),
        case(
            &["records", "dev", "incident", "--display-value", "maybe"],
            2,
            Same,
        ),
        case(
            &["records", "dev", "incident", "--json", "--format", "csv"],
            2,
            Same,
        ),
        // attach: itil.user may not use the Attachment API, and dev's fallback is "never".
        case(&["attach", "boss", "incident", "INC0010001", &log], 0, Data),
        case(&["attach", "dev", "incident", "INC0010001", &log], 5, Same),
        case(&["attach", "dev", "incident", "INC9999999", &log], 1, Same),
        case(&["attach", "dev", "incident", zeros, &log], 1, Same),
        case(
            &["attach", "dev", "incident", "INC0010001", &missing],
            1,
            Same,
        ),
        case(&["attach", "dev", "incident", "INC0010001"], 2, Same),
        case(
            &["attach", "fresh", "incident", "INC0010001", &log],
            4,
            Same,
        ),
        case(&["attach", "nope", "incident", "INC0010001", &log], 2, Same),
        // resolve: itil.user may not resolve an open incident through web services.
        case(
            &[
                "resolve",
                "boss",
                "INC0010002",
                "--code",
                "Solution provided",
                "--notes",
                "n",
            ],
            0,
            Data,
        ),
        case(
            &[
                "resolve",
                "dev",
                &open,
                "--code",
                "Solution provided",
                "--notes",
                "n",
            ],
            5,
            Same,
        ),
        case(
            &[
                "resolve",
                "dev",
                "INC9999999",
                "--code",
                "Solution provided",
                "--notes",
                "n",
            ],
            1,
            Same,
        ),
        case(
            &[
                "resolve",
                "dev",
                zeros,
                "--code",
                "Solution provided",
                "--notes",
                "n",
            ],
            1,
            Same,
        ),
        case(&["resolve", "dev", "INC0010003", "--notes", "n"], 2, Same),
        case(
            &[
                "resolve",
                "fresh",
                "INC0010003",
                "--code",
                "Solution provided",
                "--notes",
                "n",
            ],
            4,
            Same,
        ),
        case(
            &[
                "resolve",
                "nope",
                "INC0010003",
                "--code",
                "Solution provided",
                "--notes",
                "n",
            ],
            2,
            Same,
        ),
        // emulator (its success runs until stopped: tests/cli_extras.rs starts it)
        case(&["emulator", "--config", &missing], 1, Same),
        case(&["emulator", "--config", &bad_config], 1, Same),
        case(&["emulator", "--port", "eighty"], 2, Same),
        case(&["emulator", "--port", &port], 1, Same),
        // doctor: a failed check is 1 (a healthy set-up is tests/cli_extras.rs's)
        case(&["doctor", "nope"], 2, Same),
        case(&["doctor", "dev", "--chromedriver", &missing], 1, Data),
        // completions and man print text: --json is refused, not ignored
        case(&["completions", "bash"], 0, Refused),
        case(&["completions", "tcsh"], 2, Same),
        case(&["man"], 0, Refused),
        case(&["man", "--dir", &man_dir], 0, Data),
        case(&["man", "--dir", &a_file], 1, Same),
        case(&["--version"], 0, Same),
        case(&["help", "status"], 0, Same),
    ];

    let mut failures = Vec::new();
    for case in &cases {
        for with_json in [false, true] {
            let mut args = case.args.clone();
            if with_json && !args.iter().any(|a| a == "--json") {
                args.insert(0, "--json".into());
            }
            let env: Vec<(&str, &str)> = case.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let out = w.run(&args, &case.stdin, &env);
            if let Some(failure) = judge(case, with_json, &out) {
                failures.push(failure);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} runs did not exit as the README's table says:\n\n{}",
        failures.len(),
        cases.len() * 2,
        failures.join("\n\n")
    );
    // The successes did what they say.
    let attached = w.emu.control().attachments(&sys_id);
    assert!(
        attached.iter().any(|a| a.file_name == "error.log"),
        "{attached:?}"
    );
    let resolved = w.emu.control().record("incident", "INC0010002").unwrap();
    assert_eq!(resolved["state"], "6", "{resolved:?}");
    assert!(Path::new(&man_dir).join("snowbridge.1").is_file());
}
