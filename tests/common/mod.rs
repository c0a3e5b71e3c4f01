//! Shared test fixtures: an isolated snowbridge home (config, data, instance file) pointed at
//! an in-process emulator, a form login over HTTP (the test-only way to get a session before a
//! browser is involved), and a runner for the real `snowbridge` binary.

#![allow(dead_code)]

pub mod browser_form;
pub mod child;
#[cfg(target_os = "linux")]
pub mod person;
pub mod procs;
#[cfg(unix)]
pub mod spy;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use snowbridge::cookie::Cookie;
use snowbridge::emulator::{Emulator, EmulatorConfig};
use snowbridge::instance::Instance;
use snowbridge::paths::Dirs;
use snowbridge::secret::Secret;
use snowbridge::vault::{KeyPolicy, Obtained, SessionRecord, Vault};

/// A snowbridge home of its own, with an instance file `NAME.toml` for an emulator.
pub struct Home {
    pub root: tempfile::TempDir,
    pub dirs: Dirs,
    pub name: String,
}

impl Home {
    /// A home with an instance `name` pointing at `emulator`.
    pub fn new(name: &str, emulator: &Emulator) -> Home {
        Home::with_extra(name, emulator, "")
    }

    /// A home whose instance file has `extra` TOML lines appended.
    pub fn with_extra(name: &str, emulator: &Emulator, extra: &str) -> Home {
        let root = tempfile::tempdir().expect("temp dir");
        let dirs = Dirs::new(root.path().join("config"), root.path().join("data"));
        std::fs::create_dir_all(dirs.user_instances()).unwrap();
        let mut text = format!(
            "url = \"{}\"\nauth = \"browser\"\nusername = \"itil.user\"\n",
            emulator.url().as_str().trim_end_matches('/')
        );
        if let Some(ca) = emulator.ca_pem_path() {
            text.push_str(&format!("ca_file = {:?}\n", ca.display().to_string()));
        }
        text.push_str(extra);
        std::fs::write(dirs.user_instances().join(format!("{name}.toml")), text).unwrap();
        Home {
            root,
            dirs,
            name: name.to_owned(),
        }
    }

    /// The instance as the library sees it.
    pub fn instance(&self) -> Instance {
        Instance::load(
            &self
                .dirs
                .user_instances()
                .join(format!("{}.toml", self.name)),
        )
        .unwrap()
    }

    /// The vault, with the key in a file (no OS keyring in tests).
    pub fn vault(&self) -> Arc<Vault> {
        Arc::new(
            Vault::with_policy(
                self.dirs.sessions(),
                KeyPolicy {
                    file: self.dirs.data.join("vault.key"),
                    use_keyring: false,
                    keyring_timeout: std::time::Duration::from_secs(1),
                },
            )
            .on_notice(|_| {}),
        )
    }

    /// The vault file of the instance.
    pub fn vault_path(&self) -> PathBuf {
        self.vault().path(&self.name)
    }

    /// A `snowbridge` command living in this home.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_snowbridge"));
        cmd.args(args)
            .env("SNOWBRIDGE_CONFIG_DIR", &self.dirs.config)
            .env("SNOWBRIDGE_DATA_DIR", &self.dirs.data)
            .env("SNOWBRIDGE_KEYRING", "off")
            .env_remove("SNOWBRIDGE_PASSWORD")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        cmd
    }

    /// Runs `snowbridge args...` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run snowbridge")
    }

    /// Stores a session made by a form login.
    pub fn store_login(&self, login: &FormLogin) -> SessionRecord {
        let mut record = SessionRecord::new(
            &self.name,
            &self.instance().url,
            Obtained::FormLogin,
            login.cookies.clone(),
        );
        record.user = Some(login.user.clone());
        record.user_token = login.user_token.clone();
        self.vault().store(&record).unwrap();
        record
    }
}

/// Text of a process's stderr.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Text of a process's stdout.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The result of logging in through the login form over plain HTTP.
pub struct FormLogin {
    pub user: String,
    pub cookies: Vec<Cookie>,
    pub user_token: Option<Secret>,
}

/// Logs in through the emulator's login form with reqwest (no browser): GET login.do for the
/// token, POST the form, follow the redirects to the landing page and read `g_ck`.
pub async fn form_login(emulator: &Emulator, user: &str, remember: bool) -> FormLogin {
    let jar = Arc::new(snowbridge::session::Jar::default());
    let mut builder = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none());
    if let Some(ca) = emulator.ca_pem_path() {
        let pem = std::fs::read(ca).unwrap();
        builder = builder.tls_certs_merge(reqwest::Certificate::from_pem_bundle(&pem).unwrap());
    }
    let client = builder.build().unwrap();
    let base = emulator.url();
    let page = client
        .get(base.join("login.do").unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ck = hidden_value(&page, "sysparm_ck").expect("sysparm_ck on the login page");
    let mut form = vec![
        ("user_name", user.to_owned()),
        ("user_password", "snowbridge".to_owned()),
        ("sysparm_ck", ck),
        ("sys_action", "sysverb_login".to_owned()),
    ];
    if remember {
        form.push(("remember_me", "true".to_owned()));
    }
    let mut response = client
        .post(base.join("login.do").unwrap())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302, "login should redirect");
    for _ in 0..5 {
        let Some(location) = response.headers().get("location") else {
            break;
        };
        let next = base.join(location.to_str().unwrap()).unwrap();
        response = client.get(next).send().await.unwrap();
    }
    let landing = response.text().await.unwrap();
    let token = landing
        .split("var g_ck = '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .map(Secret::new);
    assert!(token.is_some(), "the landing page carries g_ck");
    FormLogin {
        user: user.to_owned(),
        cookies: jar.kept().into_iter().map(|k| k.cookie).collect(),
        user_token: token,
    }
}

/// The value of the hidden input `name` in an HTML page.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let value = tag.split("value=\"").nth(1)?;
    Some(value.split('"').next()?.to_owned())
}

/// An emulator with the given changes to the default configuration.
pub fn emulator(change: impl FnOnce(&mut EmulatorConfig)) -> Emulator {
    let mut config = EmulatorConfig {
        port: 0,
        ..EmulatorConfig::default()
    };
    change(&mut config);
    Emulator::start(config).expect("start the emulator")
}

/// The stored `glide_session_store` of the instance `home` names.
pub fn stored_session_store(home: &Home) -> Option<String> {
    home.vault()
        .load(&home.name)
        .unwrap()
        .expect("a stored session")
        .cookies()
        .find(|c| c.name == "glide_session_store")
        .map(|c| c.value.expose().to_owned())
}

/// Reads a whole file; for assertions on vault bytes.
pub fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// Fails the test with how to install Chromium and chromedriver when either is missing.
pub fn require_browser() {
    for found in [
        snowbridge::browser::find_chromedriver(None),
        snowbridge::browser::find_chrome(None),
    ] {
        if let Err(e) = found {
            panic!(
                "this test drives a real Chromium through chromedriver: {e}\n  fix: {}",
                e.hint()
                    .unwrap_or("apt-get install chromium chromium-driver")
            );
        }
    }
}
