//! Folders only the user can read: session vaults, login profiles and diagnostics hold secrets
//! (cookies, page dumps), so each is made owner-only as it is created, never tightened after.

use std::path::Path;

/// Creates `dir` readable by its owner only (mode 0700 on Unix; elsewhere it inherits the
/// access list of the user's own data folder): with its parents when `recursive`, else only
/// `dir` itself, failing with [`std::io::ErrorKind::AlreadyExists`] when it exists (how a
/// caller claims a fresh folder).
pub(crate) fn create_private_dir(dir: &Path, recursive: bool) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(recursive);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn folders_are_the_owners_alone_and_claimed_once() {
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("a").join("b");
        create_private_dir(&deep, true).unwrap();
        let mode = std::fs::metadata(&deep).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let fresh = root.path().join("fresh");
        create_private_dir(&fresh, false).unwrap();
        let again = create_private_dir(&fresh, false).unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
    }
}
