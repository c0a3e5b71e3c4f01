//! `resolve` through the real CLI never changes what the user did not ask to change: from every
//! starting state, as `admin` (the REST Table API) and as `itil.user` (whose state changes the
//! API refuses, so the browser fallback is the way), the incident only moves forward, a
//! resolution already there is never rewritten, a rerun is a no-op that exits 0, a bad code is
//! refused before anything is sent, and a close that cannot happen is refused before the
//! resolve that would come first.
//!
//! Each case compares the whole record before and after (state, active, closed_at, close_code,
//! sys_mod_count and the rest). Whether a browser was started is told by `common::spy`.
#![cfg(unix)]

mod common;

use std::time::Duration;

use common::child::run_within;
use common::spy::Spy;
use common::{Home, emulator, form_login};
use serde_json::{Map, Value};
use snowbridge::emulator::Emulator;

/// Browser starts plus page loads on a slow machine; a hang fails the test.
const WITHIN: Duration = Duration::from_secs(120);

/// When the arranged resolutions happened (before any run of the test).
const RESOLVED_AT: &str = "2024-03-01 10:00:00";
const CLOSED_AT: &str = "2024-03-02 11:00:00";

/// The two ways a resolve goes: `admin` through REST, `itil.user` through the browser.
const USERS: [&str; 2] = ["admin", "itil.user"];

/// An emulator, and a home logged in as each of [`USERS`].
struct World {
    emu: Emulator,
    homes: Vec<(&'static str, Home)>,
    spy: Spy,
}

async fn world(change: impl FnOnce(&mut snowbridge::emulator::EmulatorConfig)) -> World {
    let spy = Spy::new();
    let emu = emulator(change);
    let mut homes = Vec::new();
    for user in USERS {
        let home = Home::new("dev", &emu);
        home.store_login(&form_login(&emu, user, false).await);
        homes.push((user, home));
    }
    World { emu, homes, spy }
}

impl World {
    /// Runs `snowbridge resolve dev ARGS... --headless --chromedriver SPY` as `user`.
    fn resolve(&self, user: &str, args: &[&str]) -> (Option<i32>, String, String) {
        let home = &self
            .homes
            .iter()
            .find(|(u, _)| *u == user)
            .expect("a home for the user")
            .1;
        let chromedriver = self.spy.path();
        let mut all = vec!["resolve", "dev"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--headless", "--chromedriver", &chromedriver]);
        let (status, out, err) = run_within(home.command(&all), WITHIN);
        (status.code(), out, err)
    }

    fn record(&self, sys_id: &str) -> Map<String, Value> {
        self.emu.control().record("incident", sys_id).unwrap()
    }

    /// Puts incident `number` in `state` with `code`, as a person left it some time ago
    /// (stamps in the past, three updates); returns its sys_id and the record.
    fn arrange(&self, number: &str, state: &str, code: &str) -> (String, Map<String, Value>) {
        let control = self.emu.control();
        let sys_id = control.record("incident", number).unwrap()["sys_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let resolved = matches!(state, "6" | "7");
        let admin = control.user_sys_id("admin").unwrap();
        control
            .set_fields(
                "incident",
                &sys_id,
                [
                    ("state", state),
                    (
                        "active",
                        if matches!(state, "1" | "2" | "3") {
                            "true"
                        } else {
                            "false"
                        },
                    ),
                    ("close_code", code),
                    ("close_notes", if resolved { "Stored notes." } else { "" }),
                    ("resolved_at", if resolved { RESOLVED_AT } else { "" }),
                    ("resolved_by", if resolved { admin.as_str() } else { "" }),
                    ("closed_at", if state == "7" { CLOSED_AT } else { "" }),
                    ("closed_by", if state == "7" { admin.as_str() } else { "" }),
                    ("sys_mod_count", "3"),
                ],
            )
            .unwrap();
        (sys_id.clone(), self.record(&sys_id))
    }

    /// Writes the instance took since `from` in the request log: Table API updates and form posts.
    fn writes_since(&self, from: usize) -> Vec<String> {
        self.emu.control().request_log()[from..]
            .iter()
            .filter(|r| {
                (r.method == "PATCH" || r.method == "PUT" || r.method == "POST")
                    && (r.path_and_query.starts_with("/api/now/table/incident")
                        || r.path_and_query.starts_with("/incident.do"))
            })
            .map(|r| format!("{} {} -> {}", r.method, r.path_and_query, r.status))
            .collect()
    }

    fn log_len(&self) -> usize {
        self.emu.control().request_log().len()
    }
}

fn field<'a>(record: &'a Map<String, Value>, name: &str) -> &'a str {
    record[name].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_resolved_with_the_code_given_is_a_no_op_that_exits_0() {
    let w = world(|_| {}).await;
    for (i, user) in USERS.iter().enumerate() {
        let number = format!("INC001000{}", i + 1);
        let (sys_id, before) = w.arrange(&number, "6", "Solution provided");
        let from = w.log_len();
        let (code, out, err) = w.resolve(
            user,
            &[
                &number,
                "--code",
                "Solution provided",
                "--notes",
                "Other notes.",
            ],
        );
        assert_eq!(code, Some(0), "{user}: {out}\n{err}");
        assert!(
            out.contains(&format!(
                "{number} is already resolved with code \"Solution provided\"; nothing changed"
            )),
            "{user}: {out}"
        );
        assert!(
            err.contains("keeps the resolution notes it has"),
            "{user}: the notes not written are mentioned: {err}"
        );
        assert_eq!(w.record(&sys_id), before, "{user}: the record is untouched");
        assert_eq!(w.writes_since(from), Vec::<String>::new(), "{user}");
    }
    let (code, out, err) = w.resolve(
        "admin",
        &[
            "INC0010001",
            "--code",
            "Solution provided",
            "--notes",
            "Stored notes.",
            "--json",
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    let done: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(done["changed"], false, "{done}");
    assert_eq!(done["path"], Value::Null, "{done}");
    assert_eq!(done["state"], "6", "{done}");
    assert_eq!(
        done["remarks"],
        serde_json::json!([]),
        "same notes: nothing to remark"
    );
    assert_eq!(w.spy.starts(), 0, "no browser for a no-op");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_resolved_with_another_code_is_reported_and_left_alone() {
    let w = world(|_| {}).await;
    for (i, user) in USERS.iter().enumerate() {
        let number = format!("INC001000{}", i + 1);
        let (sys_id, before) = w.arrange(&number, "6", "Duplicate");
        for close in [false, true] {
            let from = w.log_len();
            let mut args = vec![
                number.as_str(),
                "--code",
                "Solution provided",
                "--notes",
                "Fixed.",
            ];
            if close {
                args.push("--close");
            }
            let (code, out, err) = w.resolve(user, &args);
            assert_eq!(code, Some(1), "{user}, close {close}: {out}\n{err}");
            assert!(
                err.contains(&format!(
                    "{number} is already resolved with resolution code \"Duplicate\""
                )),
                "{user}: {err}"
            );
            assert!(
                err.contains("--code \"Duplicate\""),
                "the way out is named: {err}"
            );
            assert_eq!(
                w.record(&sys_id),
                before,
                "{user}, close {close}: untouched"
            );
            assert_eq!(w.writes_since(from), Vec::<String>::new(), "{user}");
        }
    }
    assert_eq!(w.spy.starts(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_incident_is_never_moved_back() {
    let w = world(|_| {}).await;
    for (i, user) in USERS.iter().enumerate() {
        let number = format!("INC001000{}", i + 1);
        let (sys_id, before) = w.arrange(&number, "7", "Duplicate");
        // (arguments, exit code, what it says)
        let cases: [(&[&str], i32, &str); 3] = [
            (
                &["--code", "Duplicate", "--notes", "Stored notes."],
                0,
                "is already closed with code \"Duplicate\"; nothing changed",
            ),
            (
                &["--code", "Duplicate", "--notes", "Stored notes.", "--close"],
                0,
                "is already closed with code \"Duplicate\"; nothing changed",
            ),
            (
                &["--code", "Solution provided", "--notes", "Fixed."],
                1,
                "is already closed with resolution code \"Duplicate\"",
            ),
        ];
        for (args, want, says) in cases {
            let from = w.log_len();
            let mut all = vec![number.as_str()];
            all.extend_from_slice(args);
            let (code, out, err) = w.resolve(user, &all);
            assert_eq!(code, Some(want), "{user} {args:?}: {out}\n{err}");
            assert!(
                out.contains(says) || err.contains(says),
                "{user} {args:?}: {out}\n{err}"
            );
            let after = w.record(&sys_id);
            assert_eq!(field(&after, "state"), "7", "{user} {args:?}: still closed");
            assert_eq!(field(&after, "active"), "false");
            assert_eq!(field(&after, "closed_at"), CLOSED_AT);
            assert_eq!(after, before, "{user} {args:?}: untouched");
            assert_eq!(w.writes_since(from), Vec::<String>::new(), "{user}");
        }
    }
    assert_eq!(w.spy.starts(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canceled_incident_is_reported_and_left_alone() {
    let w = world(|_| {}).await;
    for (i, user) in USERS.iter().enumerate() {
        let number = format!("INC001000{}", i + 1);
        let (sys_id, before) = w.arrange(&number, "8", "");
        let from = w.log_len();
        let (code, out, err) = w.resolve(
            user,
            &[&number, "--code", "Solution provided", "--notes", "Fixed."],
        );
        assert_eq!(code, Some(1), "{user}: {out}\n{err}");
        assert!(
            err.contains(&format!("{number} is canceled")),
            "{user}: {err}"
        );
        assert_eq!(w.record(&sys_id), before, "{user}: untouched");
        assert_eq!(w.writes_since(from), Vec::<String>::new(), "{user}");
    }
    assert_eq!(w.spy.starts(), 0);
}

/// `--close` on a Resolved incident only closes it: its code, notes and resolution stamps stay.
/// As itil.user (who may not close) it is refused before anything changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_on_a_resolved_incident_only_closes_it() {
    let w = world(|_| {}).await;
    let (sys_id, before) = w.arrange("INC0010001", "6", "Known error");
    let from = w.log_len();
    let (code, out, err) = w.resolve(
        "admin",
        &[
            "INC0010001",
            "--code",
            "Known error",
            "--notes",
            "Other notes.",
            "--close",
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains("INC0010001 closed through the REST Table API"),
        "{out}"
    );
    assert!(err.contains("keeps the resolution notes it has"), "{err}");
    let after = w.record(&sys_id);
    assert_eq!(field(&after, "state"), "7");
    assert_eq!(field(&after, "active"), "false");
    assert!(!field(&after, "closed_at").is_empty(), "closed now");
    assert_eq!(field(&after, "close_code"), "Known error");
    assert_eq!(field(&after, "close_notes"), "Stored notes.", "notes kept");
    assert_eq!(field(&after, "resolved_at"), RESOLVED_AT, "resolution kept");
    assert_eq!(field(&after, "resolved_by"), field(&before, "resolved_by"));
    assert_eq!(field(&after, "sys_mod_count"), "4", "one update");
    let writes = w.writes_since(from);
    assert_eq!(writes.len(), 1, "{writes:?}");

    let (sys_id, before) = w.arrange("INC0010002", "6", "Known error");
    let (code, out, err) = w.resolve(
        "itil.user",
        &[
            "INC0010002",
            "--code",
            "Known error",
            "--notes",
            "Stored notes.",
            "--close",
        ],
    );
    assert_eq!(code, Some(5), "{out}\n{err}");
    assert!(
        err.contains("does not offer Close Incident to itil.user"),
        "{err}"
    );
    assert_eq!(w.record(&sys_id), before, "still resolved, untouched");
}

/// A code the instance does not offer is refused before anything is sent, naming the
/// instance's own choices (read from sys_choice, which itil users may read) and the likely one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_code_is_refused_up_front_naming_the_valid_ones() {
    let w = world(|_| {}).await;
    // The choices as the instance lists them to an itil user.
    let home = &w.homes[1].1;
    let listed = home.run(&[
        "api",
        "dev",
        "/api/now/table/sys_choice?sysparm_query=name=incident^element=close_code^inactive=false^ORDERBYsequence&sysparm_fields=value,label",
    ]);
    assert!(listed.status.success(), "{}", common::stderr(&listed));
    let reply: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let choices: Vec<String> = reply["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{:?}", c["value"].as_str().unwrap()))
        .collect();
    assert!(
        choices.contains(&"\"Solution provided\"".to_owned()),
        "{choices:?}"
    );

    for (i, user) in USERS.iter().enumerate() {
        let number = format!("INC001000{}", i + 1);
        let (sys_id, before) = w.arrange(&number, "2", "");
        let from = w.log_len();
        let (code, out, err) = w.resolve(
            user,
            &[&number, "--code", "solution provided", "--notes", "Fixed."],
        );
        assert_eq!(code, Some(2), "{user}: {out}\n{err}");
        assert!(
            err.contains("\"solution provided\" is not one of dev's resolution codes"),
            "{user}: {err}"
        );
        assert!(
            err.contains(&choices.join(", ")),
            "{user}: the instance's codes are listed: {err}"
        );
        assert!(
            err.contains("did you mean --code \"Solution provided\"?"),
            "{user}: {err}"
        );
        assert_eq!(w.record(&sys_id), before, "{user}: untouched");
        assert_eq!(w.writes_since(from), Vec::<String>::new(), "{user}");
    }
    assert_eq!(w.spy.starts(), 0, "refused before any browser");
}

/// Where the form offers "Close Incident" but the close is still refused (a UI action whose
/// condition does not match the rule behind it), the error says that the resolve went through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_refused_after_the_resolve_says_the_incident_was_resolved() {
    let w = world(|c| c.close_action_shown_to_itil = true).await;
    let (sys_id, _) = w.arrange("INC0010007", "2", "");
    let (code, out, err) = w.resolve(
        "itil.user",
        &[
            "INC0010007",
            "--code",
            "Solution provided",
            "--notes",
            "Replaced the toner.",
            "--close",
        ],
    );
    assert_eq!(code, Some(5), "{out}\n{err}");
    assert!(
        err.contains(
            "INC0010007 was resolved (state 6, code \"Solution provided\"); closing was refused: "
        ),
        "{err}"
    );
    assert!(
        err.contains("itil_admin"),
        "the instance's reason is kept: {err}"
    );
    assert_eq!(w.spy.starts(), 1);
    let after = w.record(&sys_id);
    assert_eq!(field(&after, "state"), "6", "resolved, as the message says");
    assert_eq!(field(&after, "close_code"), "Solution provided");
    assert_eq!(field(&after, "closed_at"), "");
}

/// Where sys_choice is closed to the user, the codes come from the incident form the user can
/// open (read over HTTP, no browser): a bad code is still refused before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_sys_choice_is_closed_the_forms_codes_are_the_list() {
    let w = world(|c| c.sys_choice_admin_only = true).await;
    let (sys_id, before) = w.arrange("INC0010003", "2", "");
    let from = w.log_len();
    let (code, out, err) = w.resolve(
        "itil.user",
        &["INC0010003", "--code", "Workaround", "--notes", "Fixed."],
    );
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(
        err.contains("(close_code, case-sensitive; from the incident form): \"Solution provided\""),
        "{err}"
    );
    assert!(
        err.contains("did you mean --code \"Workaround provided\"?"),
        "{err}"
    );
    let log = w.emu.control().request_log();
    assert!(
        log[from..]
            .iter()
            .any(|r| r.path_and_query.starts_with("/api/now/table/sys_choice") && r.status == 403),
        "sys_choice was tried first and refused: {log:?}"
    );
    assert_eq!(w.record(&sys_id), before, "untouched");
    assert_eq!(w.writes_since(from), Vec::<String>::new());
    assert_eq!(w.spy.starts(), 0, "read over HTTP, no browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_typed_in_lower_case_is_found_as_on_an_instance() {
    let w = world(|_| {}).await;
    let (sys_id, _) = w.arrange("INC0010003", "2", "");
    let (code, out, err) = w.resolve(
        "admin",
        &[
            "inc0010003",
            "--code",
            "Solution provided",
            "--notes",
            "Restarted the service.",
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    let after = w.record(&sys_id);
    assert_eq!(field(&after, "state"), "6");
    assert_eq!(field(&after, "close_code"), "Solution provided");
    assert_eq!(w.spy.starts(), 0, "found and resolved through REST");
}
