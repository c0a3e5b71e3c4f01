//! The browser flags shared by `connect --login`, `attach` and `resolve`.

use std::path::PathBuf;

use snowbridge::browser::Options;
use snowbridge::{Error, Result};

/// Which browser to drive, and how.
#[derive(Debug, Clone, clap::Args)]
pub struct BrowserArgs {
    /// Run Chrome without a window.
    #[arg(long, conflicts_with = "headed")]
    pub headless: bool,
    /// Run Chrome with a window even where no display is detected.
    #[arg(long)]
    pub headed: bool,
    /// The chromedriver to run (else $SNOWBRIDGE_CHROMEDRIVER, else chromedriver on PATH).
    #[arg(long, value_name = "PATH")]
    pub chromedriver: Option<PathBuf>,
    /// The Chrome to run (else $SNOWBRIDGE_CHROME, else the usual places).
    #[arg(long, value_name = "PATH")]
    pub chrome: Option<PathBuf>,
    /// Use a WebDriver already running at this URL instead of starting chromedriver.
    #[arg(long, value_name = "URL")]
    pub webdriver: Option<String>,
}

impl BrowserArgs {
    /// The browser options for a profile folder.
    pub fn options(&self, profile_dir: PathBuf) -> Result<Options> {
        let webdriver_url = match &self.webdriver {
            Some(text) => Some(
                url::Url::parse(text)
                    .map_err(|e| Error::usage(format!("--webdriver {text:?} is not a URL: {e}")))?,
            ),
            None => None,
        };
        Ok(Options {
            chromedriver: self.chromedriver.clone(),
            chrome: self.chrome.clone(),
            webdriver_url,
            headless: match (self.headless, self.headed) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
            ..Options::new(profile_dir)
        })
    }
}
