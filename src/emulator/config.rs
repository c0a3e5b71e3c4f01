//! The emulator's configuration: plain serde data, every field defaulted, read from a TOML file
//! by the CLI (`snowbridge emulator --config FILE`) or built in code by tests.
//!
//! This module only describes and validates settings; it starts nothing.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::auth_config::{self, ApiKey, AuthScopes, MtlsSettings, OAuthSettings, Properties};

/// How the emulator behaves. `Default` gives a small instance on a random port over plain HTTP.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmulatorConfig {
    /// TCP port on 127.0.0.1 (and ::1 when free); 0 picks a free one.
    pub port: u16,
    /// Serve HTTPS with a certificate for 127.0.0.1 and localhost signed by a CA kept in the data dir.
    pub tls: bool,
    /// Over TLS, offer HTTP/2 beside HTTP/1.1 (ALPN `h2`, `http/1.1`), so clients that speak
    /// it multiplex their requests on one connection. The wire notes do not record what
    /// instances' front door (`Server: snow_adc`) offers; HTTP/2, as large sites' front doors
    /// commonly do, is taken as the most plausible. `false` offers HTTP/1.1 only.
    pub http2: bool,
    /// Where `emulator.db`, `ca.pem` and `ca.key.pem` live; `None` = a temporary folder removed on drop.
    pub data_dir: Option<PathBuf>,
    /// How many incidents a new database is seeded with.
    pub incidents: usize,
    /// Every seeded user's password (sso.user has none on the instance; the IdP takes this one).
    pub password: String,
    /// The one-time code mfa.user must enter after the password.
    pub mfa_code: String,
    /// Idle timeout of browser (UI) sessions, on the emulator's virtual clock.
    pub ui_session_timeout_secs: u64,
    /// Idle timeout of sessions made by Basic or Bearer calls.
    pub integration_session_timeout_secs: u64,
    /// Lifetime of the "Remember me" cookies in days (`glide.ui.user_cookie.life_span_in_days`):
    /// at least 1; more than 30 is capped at 30, as instances cap it by
    /// `glide.ui.user_cookie.max_life_span_in_days`. An instance turns Remember me off with
    /// another property (`glide.ui.forgetme`), not with 0 days: 0 is refused.
    pub remember_me_days: u32,
    /// Host name of the identity provider (same listener); default "localhost".
    pub idp_host: Option<String>,
    /// itil users (anyone without admin) get 403 from the Attachment API.
    pub itil_rest_attachments_refused: bool,
    /// itil users (anyone without admin) get 403 from the Attachment API's reads too (listing,
    /// metadata, download), as where an ACL or REST access policy closes the whole API; off by
    /// default, since most instances let users read the attachments of records they can read.
    pub itil_rest_attachment_reads_refused: bool,
    /// The largest attachment accepted, in MB, from the API and the form alike (the instance
    /// property `com.glide.attachment.max_size`, 1024 by default).
    pub attachment_max_size_mb: u64,
    /// Users without itil_admin/admin may not move an incident to Resolved/Closed through web services.
    pub itil_web_service_state_acl: bool,
    /// The form offers "Close Incident" to every itil user, while closing still needs
    /// itil_admin: a UI action whose condition does not match the rule behind it, as customised
    /// instances have. Off by default (the button shows only to those who may close).
    pub close_action_shown_to_itil: bool,
    /// Only admins may read `sys_choice` through the Table API (others get the ACL `403`), as on
    /// an instance whose read ACL on choices was tightened; off by default (itil users read it).
    pub sys_choice_admin_only: bool,
    /// Every reply sets a new `glide_session_store` value.
    pub rotate_session_store: bool,
    /// The login form sits inside an iframe of the page first loaded (some releases).
    pub login_in_iframe: bool,
    /// Per-user request budget for the APIs.
    pub rate_limit: Option<RateLimit>,
    /// Random faults on the APIs.
    pub faults: Faults,
    /// Table API page size when `sysparm_limit` is absent.
    pub default_limit: usize,
    /// The instance name in the `BIGipServerpool_<name>` cookie.
    pub instance_name: String,
    /// What JSONv2 answers when a request carries no credentials at all.
    pub jsonv2_unauthenticated: Jsonv2Unauthenticated,
    /// Seed for the generated data (users' and incidents' ids and fields).
    pub seed: u64,
    /// A hibernating developer instance: every path of the instance host, REST included,
    /// answers `200` with the page asking the owner to wake it (the IdP host is unaffected).
    pub hibernating: bool,
    /// Instance properties, under their real names (`[properties]`).
    pub properties: Properties,
    /// The OAuth provider: registered apps, refresh replies, code lifespan (`[oauth]`).
    pub oauth: OAuthSettings,
    /// API keys accepted as `x-sn-apikey` (`[[api_keys]]`).
    pub api_keys: Vec<ApiKey>,
    /// Auth scopes on the Table API (`[auth_scopes]`).
    pub auth_scopes: AuthScopes,
    /// Client certificates on the TLS listener (`[mtls]`).
    pub mtls: MtlsSettings,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            port: 0,
            tls: false,
            http2: true,
            data_dir: None,
            incidents: 50,
            password: "snowbridge".to_string(),
            mfa_code: "123456".to_string(),
            ui_session_timeout_secs: 1800,
            integration_session_timeout_secs: 300,
            remember_me_days: 15,
            idp_host: None,
            itil_rest_attachments_refused: true,
            itil_rest_attachment_reads_refused: false,
            attachment_max_size_mb: 1024,
            itil_web_service_state_acl: true,
            close_action_shown_to_itil: false,
            sys_choice_admin_only: false,
            rotate_session_store: false,
            login_in_iframe: false,
            rate_limit: None,
            faults: Faults::default(),
            default_limit: 10_000,
            instance_name: "emulator".to_string(),
            jsonv2_unauthenticated: Jsonv2Unauthenticated::Unauthorized,
            seed: 0x5eed_2024,
            hibernating: false,
            properties: Properties::default(),
            oauth: OAuthSettings::default(),
            api_keys: auth_config::default_api_keys(),
            auth_scopes: AuthScopes::default(),
            mtls: MtlsSettings::default(),
        }
    }
}

/// A per-user request budget: `limit` API requests per fixed window of `window_secs`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// API requests allowed per window and user.
    pub limit: u32,
    /// The window's length, in seconds.
    pub window_secs: u64,
}

/// Random faults on `/api/now/*` and JSONv2 (never on the login pages).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every API request before it is answered.
    pub latency_ms: u64,
    /// Share of API requests answered `503` with the error envelope (0.0..=1.0).
    pub error_rate: f64,
    /// Share of API requests whose connection is closed with no reply (0.0..=1.0).
    pub drop_rate: f64,
    /// Every Table API list page of two or more rows lists its first row again after its
    /// second (one row more than the limit), as real instances do now and then on
    /// ACL-filtered, offset-paged queries.
    pub repeat_row: bool,
}

/// JSONv2 with no credentials: real instances differ by the `glide.basicauth.required.jsonv2`
/// property. `Unauthorized` (default) answers like REST (`401` + Basic challenge);
/// `LoginRedirect` answers like any `*.do` page (`302` to `login.do`).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Jsonv2Unauthenticated {
    /// `401` with a Basic challenge, as REST answers.
    Unauthorized,
    /// `302` to `login.do`, as UI pages answer.
    LoginRedirect,
}

impl EmulatorConfig {
    /// Reads and checks a TOML file (every key optional); errors name the file and the key.
    pub fn load(path: &std::path::Path) -> std::io::Result<EmulatorConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            std::io::Error::new(e.kind(), format!("reading {}: {e}", path.display()))
        })?;
        let config: EmulatorConfig = toml::from_str(&text).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
        config.validate().map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
        Ok(config)
    }

    /// Checks the values a TOML file could get wrong; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        for (key, rate) in [
            ("faults.error_rate", self.faults.error_rate),
            ("faults.drop_rate", self.faults.drop_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{key} must be between 0.0 and 1.0, not {rate}"));
            }
        }
        if self.rate_limit.is_some_and(|limit| limit.limit == 0) {
            return Err("rate_limit.limit must be above 0".into());
        }
        if self.attachment_max_size_mb == 0 {
            return Err("attachment_max_size_mb must be above 0".into());
        }
        if self.default_limit == 0 {
            return Err("default_limit must be above 0".into());
        }
        const TEN_YEARS: u64 = 10 * 365 * 86_400;
        for (key, secs) in [
            ("ui_session_timeout_secs", self.ui_session_timeout_secs),
            (
                "integration_session_timeout_secs",
                self.integration_session_timeout_secs,
            ),
            (
                "rate_limit.window_secs",
                self.rate_limit.map_or(1, |r| r.window_secs),
            ),
        ] {
            if secs == 0 || secs > TEN_YEARS {
                return Err(format!("{key} must be between 1 and {TEN_YEARS} seconds"));
            }
        }
        if self.remember_me_days == 0 {
            return Err(
                "remember_me_days must be at least 1: instances keep the Remember me \
                        cookies for 1 to 30 days (15 by default); a login without Remember me \
                        ticked gets none"
                    .into(),
            );
        }
        if self.mfa_code.is_empty() {
            return Err("mfa_code must not be empty".into());
        }
        if let Some(host) = &self.idp_host {
            let valid = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            if !valid {
                return Err(format!("idp_host {host:?} is not a host name"));
            }
            if host == "127.0.0.1" {
                return Err("idp_host must differ from the instance's host, 127.0.0.1".into());
            }
        }
        let name_ok = !self.instance_name.is_empty()
            && self
                .instance_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            return Err(format!(
                "instance_name {:?} may hold letters, digits, '-' and '_' only",
                self.instance_name
            ));
        }
        auth_config::validate(&self.oauth, &self.api_keys, &self.auth_scopes)?;
        Ok(())
    }

    /// The IdP's host name.
    pub fn idp_host(&self) -> &str {
        self.idp_host.as_deref().unwrap_or("localhost")
    }

    /// The largest attachment accepted, in bytes.
    pub fn attachment_max_bytes(&self) -> u64 {
        self.attachment_max_size_mb.saturating_mul(1024 * 1024)
    }

    /// Remember-me lifetime in days, capped as instances cap it.
    pub fn remember_me_days(&self) -> u32 {
        self.remember_me_days.clamp(1, 30)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_toml_gives_the_defaults() {
        let config: EmulatorConfig = toml::from_str("").unwrap();
        assert_eq!(config.incidents, 50);
        assert_eq!(config.password, "snowbridge");
        assert_eq!(config.default_limit, 10_000);
        assert!(config.itil_rest_attachments_refused);
        assert_eq!(config.idp_host(), "localhost");
        assert!(config.validate().is_ok());
    }

    #[test]
    fn nested_tables_and_unknown_keys() {
        let config: EmulatorConfig = toml::from_str(
            "port = 8765\ntls = true\n[rate_limit]\nlimit = 5\nwindow_secs = 60\n[faults]\nlatency_ms = 10\n",
        )
        .unwrap();
        assert_eq!(config.port, 8765);
        assert_eq!(
            config.rate_limit,
            Some(RateLimit {
                limit: 5,
                window_secs: 60
            })
        );
        assert_eq!(config.faults.latency_ms, 10);
        assert!(!config.faults.repeat_row && !config.hibernating);
        let config: EmulatorConfig =
            toml::from_str("hibernating = true\n[faults]\nrepeat_row = true\n").unwrap();
        assert!(config.hibernating && config.faults.repeat_row);
        assert!(toml::from_str::<EmulatorConfig>("prot = 1").is_err());
    }

    #[test]
    fn load_names_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emu.toml");
        std::fs::write(&path, "tls = true\nincidents = 5\n").unwrap();
        let config = EmulatorConfig::load(&path).unwrap();
        assert!(config.tls);
        assert_eq!(config.incidents, 5);
        std::fs::write(&path, "incidnets = 5\n").unwrap();
        let error = EmulatorConfig::load(&path).unwrap_err().to_string();
        assert!(
            error.contains("emu.toml") && error.contains("incidnets"),
            "{error}"
        );
        std::fs::write(&path, "[faults]\ndrop_rate = 2.0\n").unwrap();
        let error = EmulatorConfig::load(&path).unwrap_err().to_string();
        assert!(error.contains("faults.drop_rate"), "{error}");
    }

    #[test]
    fn validation_names_the_key() {
        let config = EmulatorConfig {
            faults: Faults {
                error_rate: 1.5,
                ..Faults::default()
            },
            ..EmulatorConfig::default()
        };
        assert!(config.validate().unwrap_err().contains("faults.error_rate"));
        let config = EmulatorConfig {
            remember_me_days: 90,
            ..EmulatorConfig::default()
        };
        assert_eq!(config.remember_me_days(), 30);
        let config = EmulatorConfig {
            remember_me_days: 0,
            ..EmulatorConfig::default()
        };
        let why = config.validate().unwrap_err();
        assert!(why.contains("remember_me_days must be at least 1"), "{why}");
    }
}
