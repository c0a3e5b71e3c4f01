//! Imports the session from a Chrome (Chromium, Edge, Brave) profile where a person is logged in
//! to the instance, proves it with one REST call, keeps it in the vault, then exports its cookies
//! as a Netscape cookie file (for curl `-b`, wget `--load-cookies`, Python's MozillaCookieJar)
//! on stdout.
//!
//! The instance is `SNOWBRIDGE_INSTANCE` (default `local`); the browser `SNOWBRIDGE_BROWSER`
//! (default `chrome`: `chromium`, `edge`, `brave`); the profile folder's parent (the folder
//! holding `Local State`) `SNOWBRIDGE_USER_DATA_DIR` (default: the browser's usual one).

use snowbridge::Snowbridge;
use snowbridge::cookie::export;
use snowbridge::obtain::chrome::Source;

#[tokio::main]
async fn main() -> snowbridge::Result<()> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let instance = env("SNOWBRIDGE_INSTANCE").unwrap_or_else(|| "local".into());
    let mut source = Source::new(
        env("SNOWBRIDGE_BROWSER")
            .as_deref()
            .unwrap_or("chrome")
            .parse()?,
    );
    source.user_data_dir = env("SNOWBRIDGE_USER_DATA_DIR").map(Into::into);
    let sb = Snowbridge::from_env()?;
    // Not interactive: a locked keyring is reported, not unlocked with a prompt.
    let (connection, report) = sb.import_chrome(&instance, &source, false).await?;
    eprintln!("{report}");
    // Cookies the format cannot carry are left out by `netscape` itself.
    let cookies = connection.session().cookies();
    let all: Vec<_> = cookies.iter().collect();
    print!(
        "{}",
        export::netscape(&all, time::OffsetDateTime::now_utc())
    );
    connection.close().await
}
