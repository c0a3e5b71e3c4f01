//! A token method: the OAuth client-credentials grant (RFC 6749 section 4.4), for jobs that run
//! as an integration user with no person and no browser.
//!
//! The instance file (`SNOWBRIDGE_INSTANCE`, default `local`) says
//! `auth = "oauth-client-credentials"` and `[oauth] client_id = "..."`; the client secret comes
//! from `SNOWBRIDGE_CLIENT_SECRET` or the OS keyring (`snowbridge secret NAME client-secret`).
//! `connect` runs the grant (or reuses the stored token while it is valid), and the session
//! renews the token before it expires. Prints how it connected, then the five newest incidents.

use snowbridge::{Connected, Query, Snowbridge};

#[tokio::main]
async fn main() -> snowbridge::Result<()> {
    let instance = std::env::var("SNOWBRIDGE_INSTANCE").unwrap_or_else(|_| "local".into());
    let connection = Snowbridge::from_env()?.connect(&instance).await?;
    if let Connected::Credentials(how) = connection.how() {
        println!("connected to {instance} with the {how}");
    }
    let newest = Query::new("ORDERBYDESCsys_created_on")
        .fields(["number", "short_description"])
        .limit(5);
    connection
        .records("incident", newest)
        .for_each(|incident| println!("{incident}"))
        .await?;
    connection.close().await
}
