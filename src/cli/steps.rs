//! The library's next steps ([`NextStep`]) said as this command line's commands and flags: the
//! library names none, so every hint a person reads with a command in it is written here.

use snowbridge::{Error, NextStep};

/// An error's advice in the command line's words: its hint, then its steps as alternatives.
pub fn advice(e: &Error) -> Option<String> {
    e.advice_with(say)
}

/// `e`'s message, and its advice when it has some: `MESSAGE; ADVICE`.
pub fn message_and_advice(e: &Error) -> String {
    match advice(e) {
        Some(advice) => format!("{}; {advice}", e.message()),
        None => e.message().to_owned(),
    }
}

/// One step as the command (or flag) that takes it.
pub fn say(step: &NextStep) -> String {
    match step {
        NextStep::LogIn { instance } => {
            format!("run `snowbridge connect {instance} --login`")
        }
        NextStep::LogInWithPrompts { instance } => {
            format!("run `snowbridge connect {instance} --login` at a terminal to type it")
        }
        NextStep::LogInWithWindow { instance } => format!(
            "run `snowbridge connect {instance} --login` without --headless where a display is available"
        ),
        NextStep::Connect { instance } => {
            format!("run `snowbridge connect {instance}` (it runs the method's grant)")
        }
        NextStep::GiveSecret {
            instance,
            kind,
            keyring: true,
        } => {
            let store = match kind {
                snowbridge::secret::SecretKind::Password => {
                    format!("snowbridge password {instance}")
                }
                other => format!("snowbridge secret {instance} {other}"),
            };
            format!(
                "store it with `{store}`, or set {} for the run ({}=...)",
                kind.env(),
                kind.env()
            )
        }
        NextStep::GiveSecret { kind, .. } => format!(
            "set {} in the job's environment ({}=...; the OS keyring is off)",
            kind.env(),
            kind.env()
        ),
        NextStep::NameUser { file, .. } => format!(
            "pass --user NAME, or add username = \"...\" to {}",
            file.display()
        ),
        NextStep::GiveOneTimeCode { .. } => {
            "pass the current code with --mfa-code (codes change every few seconds)".to_owned()
        }
        NextStep::AllowMoreTime => "run it again, or give more time with --timeout".to_owned(),
        NextStep::RunHeadless => "use --headless".to_owned(),
        NextStep::NameChromeProfile => {
            "pass --profile with a folder name or a profile's name from the list above".to_owned()
        }
        NextStep::NameChromeUserData => "pass --browser for another browser, or --user-data-dir \
                                         with the folder that holds `Local State`"
            .to_owned(),
        NextStep::LogInToBrowserProfile { url } => {
            format!("log in to {url} in that browser profile")
        }
        NextStep::FixInstanceFile { file, key } => {
            format!("check `{key}` in {}", file.display())
        }
        NextStep::AddInstanceFile { name, dir } => format!(
            "add one by writing {} (see `snowbridge instances`)",
            dir.join(format!("{name}.toml")).display()
        ),
        NextStep::UseResolutionCode {
            code,
            guessed: true,
        } => format!("did you mean --code {code:?}?"),
        NextStep::UseResolutionCode { code, .. } => {
            format!("to accept it as it stands, pass --code {code:?}")
        }
        NextStep::CheckSetup { instance } => format!("`snowbridge doctor {instance}` says more"),
        // A step this build does not know yet: the library's own words.
        other => other.describe(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_name_the_commands_and_flags() {
        let e = Error::login_required("dev", "the session expired");
        assert_eq!(
            advice(&e).as_deref(),
            Some("run `snowbridge connect dev --login`")
        );
        let code = NextStep::UseResolutionCode {
            code: "Duplicate".into(),
            guessed: false,
        };
        assert_eq!(
            say(&code),
            "to accept it as it stands, pass --code \"Duplicate\""
        );
    }
}
