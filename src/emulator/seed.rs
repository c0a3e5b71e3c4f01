//! Seeds a new database: the fixed users (admin, itil.user, itil.admin, mfa.user, sso.user and a
//! few callers without roles) and N incidents with plausible, varied fields.
//!
//! Deterministic for a given seed (ids, fields and ages; timestamps are relative to the
//! emulator's clock). Only ever runs on a database that has never been seeded.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::Connection;
use time::OffsetDateTime;

use super::clock::glide_datetime;
use super::schema::{CATEGORY_CHOICES, CLOSE_CODE_CHOICES, INCIDENT, SYS_USER, priority_for};
use super::store::{self, Record};

/// A seeded user: login name, full name, roles, and whether the instance holds a password.
pub struct SeedUser {
    pub user_name: &'static str,
    pub first: &'static str,
    pub last: &'static str,
    pub title: &'static str,
    pub roles: &'static str,
}

pub const USERS: &[SeedUser] = &[
    SeedUser {
        user_name: "admin",
        first: "System",
        last: "Administrator",
        title: "Administrator",
        roles: "admin",
    },
    SeedUser {
        user_name: "itil.user",
        first: "Ivy",
        last: "Tillman",
        title: "Service Desk Analyst",
        roles: "itil",
    },
    SeedUser {
        user_name: "itil.admin",
        first: "Ian",
        last: "Adler",
        title: "Service Desk Manager",
        roles: "itil,itil_admin",
    },
    SeedUser {
        user_name: "mfa.user",
        first: "Mia",
        last: "Fairbanks",
        title: "Service Desk Analyst",
        roles: "itil",
    },
    SeedUser {
        user_name: "sso.user",
        first: "Sam",
        last: "Sorensen",
        title: "Service Desk Analyst",
        roles: "itil",
    },
    SeedUser {
        user_name: "ada.quinn",
        first: "Ada",
        last: "Quinn",
        title: "Accountant",
        roles: "",
    },
    SeedUser {
        user_name: "ben.ortiz",
        first: "Ben",
        last: "Ortiz",
        title: "Sales Manager",
        roles: "",
    },
    SeedUser {
        user_name: "chloe.park",
        first: "Chloe",
        last: "Park",
        title: "Designer",
        roles: "",
    },
    SeedUser {
        user_name: "dev.patel",
        first: "Dev",
        last: "Patel",
        title: "Engineer",
        roles: "",
    },
    SeedUser {
        user_name: "elena.rossi",
        first: "Elena",
        last: "Rossi",
        title: "Recruiter",
        roles: "",
    },
    SeedUser {
        user_name: "farid.haddad",
        first: "Farid",
        last: "Haddad",
        title: "Analyst",
        roles: "",
    },
    SeedUser {
        user_name: "grace.liu",
        first: "Grace",
        last: "Liu",
        title: "Product Owner",
        roles: "",
    },
    SeedUser {
        user_name: "hugo.martin",
        first: "Hugo",
        last: "Martin",
        title: "Facilities",
        roles: "",
    },
];

/// The user that cannot log in with a password on the instance (only through the IdP).
pub const SSO_USER: &str = "sso.user";
/// The user that must enter a one-time code after the password.
pub const MFA_USER: &str = "mfa.user";

const SUBJECTS: &[(&str, &str)] = &[
    ("software", "Email not syncing on mobile"),
    ("software", "Outlook crashes when opening attachments"),
    ("software", "Cannot install the approved PDF editor"),
    ("software", "Spreadsheet macros disabled after update"),
    ("software", "CRM shows a blank page after login"),
    ("hardware", "Laptop battery drains in an hour"),
    ("hardware", "Docking station does not detect monitors"),
    ("hardware", "Printer on floor 3 jams on every job"),
    ("hardware", "Keyboard keys unresponsive"),
    ("network", "VPN disconnects every hour"),
    ("network", "Wi-Fi drops in meeting room B"),
    ("network", "Cannot reach the file share"),
    ("network", "Slow network in the branch office"),
    ("database", "Reporting database query times out"),
    ("database", "Nightly export job failed"),
    ("inquiry", "How do I request a new monitor?"),
    ("inquiry", "Password reset for the HR portal"),
    ("inquiry", "Access to the finance shared mailbox"),
    ("inquiry", "Question about the travel expense tool"),
];

const NOTES: &[&str] = &[
    "Cleared the local cache and restarted the client.",
    "Replaced the faulty part; user confirmed it works.",
    "Caller confirmed the issue went away after a reboot.",
    "Applied the documented workaround from the knowledge base.",
    "Same problem as an open incident; linked and closed.",
    "Reset the account and walked the caller through login.",
];

/// A random 32-hex sys_id.
pub fn new_sys_id(rng: &mut impl Rng) -> String {
    let bytes: [u8; 16] = rng.random();
    hex::encode(bytes)
}

/// Seeds users and `incidents` incidents, then marks the database seeded.
pub fn seed(
    conn: &mut Connection,
    seed: u64,
    incidents: usize,
    now: OffsetDateTime,
) -> rusqlite::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let tx = conn.transaction()?;
    let created = glide_datetime(now - time::Duration::days(400));
    let mut user_ids = Vec::new();
    for user in USERS {
        let sys_id = new_sys_id(&mut rng);
        let record: Record = [
            ("sys_id", sys_id.clone()),
            ("user_name", user.user_name.to_string()),
            ("name", format!("{} {}", user.first, user.last)),
            ("first_name", user.first.to_string()),
            ("last_name", user.last.to_string()),
            ("email", format!("{}@example.com", user.user_name)),
            ("title", user.title.to_string()),
            ("roles", user.roles.to_string()),
            ("active", "true".to_string()),
            ("sys_created_on", created.clone()),
            ("sys_created_by", "system".to_string()),
            ("sys_updated_on", created.clone()),
            ("sys_updated_by", "system".to_string()),
            ("sys_mod_count", "0".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        store::insert(&tx, &SYS_USER, &record)?;
        user_ids.push((sys_id, user.user_name, !user.roles.is_empty()));
    }
    let agents: Vec<&(String, &str, bool)> = user_ids.iter().filter(|u| u.2).collect();
    let callers: Vec<&(String, &str, bool)> = user_ids.iter().collect();

    for i in 0..incidents {
        let record = incident(&mut rng, i, now, &agents, &callers);
        store::insert(&tx, &INCIDENT, &record)?;
    }
    store::set_counter(&tx, "incident", 10_001 + incidents as i64)?;
    store::create_indexes(&tx)?;
    store::mark_seeded(&tx)?;
    tx.commit()
}

fn incident(
    rng: &mut StdRng,
    i: usize,
    now: OffsetDateTime,
    agents: &[&(String, &str, bool)],
    callers: &[&(String, &str, bool)],
) -> Record {
    let (category, subject) = SUBJECTS[rng.random_range(0..SUBJECTS.len())];
    debug_assert!(CATEGORY_CHOICES.iter().any(|(v, _)| *v == category));
    let state = match rng.random_range(0..100) {
        0..35 => "1",
        35..65 => "2",
        65..75 => "3",
        75..87 => "6",
        87..97 => "7",
        _ => "8",
    };
    let impact = ["1", "2", "2", "3", "3", "3"][rng.random_range(0..6)];
    let urgency = ["1", "2", "2", "3", "3", "3"][rng.random_range(0..6)];
    let caller = callers[rng.random_range(0..callers.len())];
    let agent = agents[rng.random_range(0..agents.len())];
    let opener = agents[rng.random_range(0..agents.len())];
    let age_minutes = rng.random_range(10..365 * 24 * 60);
    let opened = now - time::Duration::minutes(age_minutes);
    let updated = opened + time::Duration::minutes(rng.random_range(0..age_minutes.max(1)));
    let opened_s = glide_datetime(opened);
    let updated_s = glide_datetime(updated);

    let mut r = Record::new();
    let mut set = |k: &str, v: String| {
        r.insert(k.to_string(), v);
    };
    set("sys_id", new_sys_id(rng));
    set("number", format!("INC{:07}", 10_001 + i));
    set("short_description", subject.to_string());
    set(
        "description",
        format!("{subject}. Reported by the caller; details gathered by the service desk."),
    );
    set("state", state.to_string());
    set("impact", impact.to_string());
    set("urgency", urgency.to_string());
    set("priority", priority_for(impact, urgency).to_string());
    set("category", category.to_string());
    set("caller_id", caller.0.clone());
    set(
        "assigned_to",
        if state == "1" {
            String::new()
        } else {
            agent.0.clone()
        },
    );
    set("opened_at", opened_s.clone());
    set("opened_by", opener.0.clone());
    set(
        "active",
        if matches!(state, "6" | "7" | "8") {
            "false"
        } else {
            "true"
        }
        .to_string(),
    );
    if matches!(state, "6" | "7") {
        let code = CLOSE_CODE_CHOICES[rng.random_range(0..CLOSE_CODE_CHOICES.len())].0;
        set("close_code", code.to_string());
        set(
            "close_notes",
            NOTES[rng.random_range(0..NOTES.len())].to_string(),
        );
        set("resolved_at", updated_s.clone());
        set("resolved_by", agent.0.clone());
    }
    if state == "7" {
        set("closed_at", updated_s.clone());
        set("closed_by", agent.0.clone());
    }
    set("sys_created_on", opened_s);
    set("sys_created_by", opener.1.to_string());
    set("sys_updated_on", updated_s);
    set("sys_updated_by", agent.1.to_string());
    set("sys_mod_count", rng.random_range(0..12).to_string());
    r
}

#[cfg(test)]
mod tests {
    use super::super::query::EncodedQuery;
    use super::super::store::Store;
    use super::*;

    #[test]
    fn seeding_is_deterministic_and_plausible() {
        let now = OffsetDateTime::now_utc();
        let mut ids = Vec::new();
        for _ in 0..2 {
            let dir = tempfile::tempdir().unwrap();
            let (store, _) = Store::open(&dir.path().join("s.db")).unwrap();
            store.with(|conn| seed(conn, 7, 200, now).unwrap());
            let rows = store.with(|conn| {
                let q = EncodedQuery::parse("ORDERBYnumber").to_sql(&INCIDENT);
                store::select(conn, &INCIDENT, &q, None, 0).unwrap()
            });
            assert_eq!(rows.len(), 200);
            assert_eq!(rows[0]["number"], "INC0010001");
            assert_eq!(rows[199]["number"], "INC0010200");
            for row in &rows {
                assert_eq!(row["sys_id"].len(), 32);
                if matches!(row["state"].as_str(), "6" | "7") {
                    assert!(!row["close_code"].is_empty() && !row["close_notes"].is_empty());
                }
                assert_eq!(
                    row["priority"],
                    priority_for(&row["impact"], &row["urgency"])
                );
            }
            let states: std::collections::BTreeSet<&str> =
                rows.iter().map(|r| r["state"].as_str()).collect();
            assert!(states.len() >= 5, "{states:?}");
            ids.push(rows.iter().map(|r| r["sys_id"].clone()).collect::<Vec<_>>());
            let next = store.with(|conn| store::next_counter(conn, "incident", 0).unwrap());
            assert_eq!(next, 10_201);
        }
        assert_eq!(ids[0], ids[1]);
    }
}
