//! Seeds a new database: the fixed users (admin, itil.user, itil.admin, mfa.user, sso.user and a
//! few callers without roles) and N incidents with plausible, varied fields.
//!
//! Deterministic for a given seed (ids, fields and ages; timestamps are relative to the
//! emulator's clock). Only ever runs on a database that has never been seeded.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rusqlite::Connection;
use time::OffsetDateTime;

use super::clock::glide_datetime;
use super::schema::{CLOSE_CODE_CHOICES, INCIDENT, SYS_USER, priority_for};
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
    let mut rng = SmallRng::seed_from_u64(seed);
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

    // Rows are positional (the table's column order) and inserted in batches: seeding 100,000
    // incidents must take seconds, not minutes, even in a debug build.
    let positions: Vec<usize> = INCIDENT_FIELDS
        .iter()
        .map(|name| {
            INCIDENT
                .columns
                .iter()
                .position(|c| c.name == *name)
                .unwrap_or(usize::MAX)
        })
        .collect();
    let mut batch: Vec<Vec<String>> = Vec::with_capacity(1024);
    for i in 0..incidents {
        let values = incident(&mut rng, i, now, &agents, &callers);
        let mut row = vec![String::new(); INCIDENT.columns.len()];
        for (value, at) in values.into_iter().zip(&positions) {
            if let Some(cell) = row.get_mut(*at) {
                *cell = value;
            }
        }
        batch.push(row);
        if batch.len() == 1024 {
            store::insert_rows(&tx, &INCIDENT, &batch)?;
            batch.clear();
        }
    }
    store::insert_rows(&tx, &INCIDENT, &batch)?;
    store::set_counter(&tx, "incident", 10_001 + incidents as i64)?;
    store::create_indexes(&tx)?;
    store::mark_seeded(&tx)?;
    tx.commit()
}

/// The fields [`incident`] returns, in its order.
const INCIDENT_FIELDS: [&str; 25] = [
    "sys_id",
    "number",
    "short_description",
    "description",
    "state",
    "impact",
    "urgency",
    "priority",
    "category",
    "caller_id",
    "assigned_to",
    "opened_at",
    "opened_by",
    "active",
    "close_code",
    "close_notes",
    "resolved_at",
    "resolved_by",
    "closed_at",
    "closed_by",
    "sys_created_on",
    "sys_created_by",
    "sys_updated_on",
    "sys_updated_by",
    "sys_mod_count",
];

type SeededUser = (String, &'static str, bool);

fn incident(
    rng: &mut SmallRng,
    i: usize,
    now: OffsetDateTime,
    agents: &[&SeededUser],
    callers: &[&SeededUser],
) -> [String; 25] {
    let (category, subject) = SUBJECTS[rng.random_range(0..SUBJECTS.len())];
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
    let resolution = matches!(state, "6" | "7");
    let (code, notes) = if resolution {
        (
            CLOSE_CODE_CHOICES[rng.random_range(0..CLOSE_CODE_CHOICES.len())].0,
            NOTES[rng.random_range(0..NOTES.len())],
        )
    } else {
        ("", "")
    };
    let when = |yes: bool, value: &String| if yes { value.clone() } else { String::new() };
    [
        new_sys_id(rng),
        format!("INC{:07}", 10_001 + i),
        subject.to_string(),
        format!("{subject}. Reported by the caller; details gathered by the service desk."),
        state.to_string(),
        impact.to_string(),
        urgency.to_string(),
        priority_for(impact, urgency).to_string(),
        category.to_string(),
        caller.0.clone(),
        when(state != "1", &agent.0),
        opened_s.clone(),
        opener.0.clone(),
        if matches!(state, "6" | "7" | "8") {
            "false"
        } else {
            "true"
        }
        .to_string(),
        code.to_string(),
        notes.to_string(),
        when(resolution, &updated_s),
        when(resolution, &agent.0),
        when(state == "7", &updated_s),
        when(state == "7", &agent.0),
        opened_s,
        opener.1.to_string(),
        updated_s,
        agent.1.to_string(),
        rng.random_range(0..12).to_string(),
    ]
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
                assert!(
                    super::super::schema::CATEGORY_CHOICES
                        .iter()
                        .any(|(v, _)| *v == row["category"])
                );
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
