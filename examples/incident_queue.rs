//! A queue of incidents: the active ones assigned to a group, most urgent first, as a person
//! reads them (display values: the group's and the caller's names, the priority's label).
//!
//! The instance is `SNOWBRIDGE_INSTANCE` (default `local`, the emulator's); the group is the
//! first argument (default `Service Desk`). The session must be stored (`snowbridge connect NAME
//! --login`, or a token method's secrets at hand).

use snowbridge::{DisplayValue, Query, Snowbridge};

#[tokio::main]
async fn main() -> snowbridge::Result<()> {
    let instance = std::env::var("SNOWBRIDGE_INSTANCE").unwrap_or_else(|_| "local".into());
    let group = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Service Desk".into());
    let connection = Snowbridge::from_env()?.connect(&instance).await?;
    let queue = Query::new(format!(
        "active=true^assignment_group.name={group}^ORDERBYpriority^ORDERBYnumber"
    ))
    .fields(["number", "priority", "caller_id", "short_description"])
    .display_value(DisplayValue::True);
    let mut incidents = connection.records("incident", queue);
    while let Some(incident) = incidents.try_next().await? {
        let field = |name| incident.field(name).unwrap_or_default();
        println!(
            "{}\t{}\t{}\t{}",
            field("number"),
            field("priority"),
            field("caller_id"),
            field("short_description")
        );
    }
    drop(incidents);
    connection.close().await
}
