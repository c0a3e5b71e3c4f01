//! A chromedriver stand-in that notes every start in a file and then runs the real one: passed
//! with `--chromedriver`, it tells a test whether (and how often) snowbridge started a browser.
#![cfg(unix)]

/// The stand-in and the file it counts starts in.
pub struct Spy {
    dir: tempfile::TempDir,
}

impl Spy {
    /// A stand-in for the chromedriver found on this machine (the test fails, saying how to
    /// install one, where there is none).
    pub fn new() -> Spy {
        super::require_browser();
        let real = snowbridge::browser::find_chromedriver(None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let script = format!(
            "#!/bin/sh\necho started >> '{}'\nexec '{}' \"$@\"\n",
            dir.path().join("starts").display(),
            real.display()
        );
        let path = dir.path().join("chromedriver");
        std::fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Spy { dir }
    }

    /// The value for `--chromedriver`.
    pub fn path(&self) -> String {
        self.dir.path().join("chromedriver").display().to_string()
    }

    /// How many times a browser was started through it.
    pub fn starts(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("starts"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}
