//! Running with as little privilege as possible: secret files only the owner can read, and
//! giving up root once DPDK has started.
//!
//! DPDK needs root (or a handful of capabilities) while it starts: hugepages, VFIO devices,
//! PCI sysfs. Once the ports are running it needs none of that, so the appliance can switch
//! to an unprivileged user with [`drop_privileges`] and keep going on the file descriptors
//! and mappings it already holds. The switch is for good: every uid (real, effective, saved)
//! and gid changes, the kernel clears every capability, and [`drop_privileges`] checks that
//! root cannot be regained before it returns.
//!
//! Files that hold pre-shared keys or private keys are opened with [`open_secret_file`],
//! which refuses a file that anyone but its owner may read or write, or that belongs to
//! someone other than root or the user running ferrogate: such a file's keys may already be
//! known to others, and an administrator should fix the file rather than have the appliance
//! use it silently.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::unistd::{self, Gid, Group, Uid, User};

/// The permission bits a secret file must not have: any access for group or others.
pub const GROUP_OTHER_BITS: u32 = 0o077;

/// Why a secret file was refused.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// It cannot be opened or inspected.
    #[error("cannot open secret file {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// It is a directory, device, FIFO, ...
    #[error("secret file {} is not a regular file", path.display())]
    NotAFile {
        /// The file.
        path: PathBuf,
    },
    /// Group or others may read or write it.
    #[error(
        "{} holds pre-shared or private keys but has mode {mode:04o}: group or others may \
         read or write it; fix: chmod 600 {}",
        path.display(),
        shell_quote(path)
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits (`st_mode & 0o7777`).
        mode: u32,
    },
    /// Someone other than root or the running user owns it (and could rewrite or re-share
    /// it, whatever its mode).
    #[error(
        "{} holds pre-shared or private keys but belongs to uid {owner}, which is neither \
         root nor the user running ferrogate (uid {running}); fix: chown root {}",
        path.display(),
        shell_quote(path)
    )]
    WrongOwner {
        /// The file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The effective uid of this process.
        running: u32,
    },
}

/// Opens `path` for reading if it is fit to hold secrets: a regular file, mode without any
/// group or other bits (`chmod 600` or `400`), owned by root or by the running user.
///
/// The checks are made on the opened file, so the file read is the file checked even if the
/// path is replaced meanwhile; a FIFO does not block the open.
pub fn open_secret_file(path: &Path) -> Result<File, SecretFileError> {
    let open_err = |source| SecretFileError::Open { path: path.to_path_buf(), source };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(OFlag::O_NONBLOCK.bits() | OFlag::O_CLOEXEC.bits())
        .open(path)
        .map_err(open_err)?;
    let meta = file.metadata().map_err(open_err)?;
    if !meta.is_file() {
        return Err(SecretFileError::NotAFile { path: path.to_path_buf() });
    }
    let mode = meta.mode() & 0o7777;
    if mode & GROUP_OTHER_BITS != 0 {
        return Err(SecretFileError::TooOpen { path: path.to_path_buf(), mode });
    }
    let running = unistd::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != running {
        return Err(SecretFileError::WrongOwner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            running,
        });
    }
    Ok(file)
}

/// Checks `path` as [`open_secret_file`] does, without keeping it open.
pub fn check_secret_file(path: &Path) -> Result<(), SecretFileError> {
    open_secret_file(path).map(drop)
}

/// `path` as a shell word, so that the suggested fix can be pasted as it is.
fn shell_quote(path: &Path) -> String {
    let s = path.to_string_lossy();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%".contains(&b)) {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The user and group the appliance switches to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user name.
    pub user: String,
    /// Its uid.
    pub uid: u32,
    /// The group name.
    pub group: String,
    /// Its gid.
    pub gid: u32,
}

/// Why privileges were not dropped.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// Only root can switch to another user.
    #[error(
        "cannot switch to another user: ferrogate runs as uid {euid}, not root (start it as \
         root, or configure no user)"
    )]
    NotRoot {
        /// The effective uid.
        euid: u32,
    },
    /// The name is empty or holds a NUL byte.
    #[error("{what} name {name:?} is not a valid name")]
    InvalidName {
        /// `user` or `group`.
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// No such user in the user database.
    #[error(
        "no user named {user}; create it with: useradd --system --no-create-home --shell \
         /usr/sbin/nologin {user}"
    )]
    UnknownUser {
        /// The name given.
        user: String,
    },
    /// No such group in the group database.
    #[error("no group named {group}; create it with: groupadd --system {group}")]
    UnknownGroup {
        /// The name given.
        group: String,
    },
    /// The user or group database could not be read.
    #[error("cannot look up {what} {name}: {source}")]
    Lookup {
        /// `user` or `group`.
        what: &'static str,
        /// The name given.
        name: String,
        /// What the system said.
        #[source]
        source: nix::Error,
    },
    /// The target is root itself: that would drop nothing.
    #[error("refusing to run as {what} {name}: id 0 is root, so nothing would be dropped")]
    TargetIsRoot {
        /// `user` or `group`.
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// A system call failed (the process may be half switched and should exit).
    #[error("{call} failed while switching to {user}: {source}")]
    Syscall {
        /// The call.
        call: &'static str,
        /// The target user.
        user: String,
        /// What the system said.
        #[source]
        source: nix::Error,
    },
    /// The calls succeeded but the process is not (only) what it should be; it should exit.
    #[error("privileges were not dropped to {user}: {detail}")]
    NotDropped {
        /// The target user.
        user: String,
        /// What is wrong.
        detail: String,
    },
}

/// Looks up `user` and `group` (`None`: the user's primary group), refusing root as either.
pub fn resolve_identity(user: &str, group: Option<&str>) -> Result<Identity, PrivilegeError> {
    check_name("user", user)?;
    let u = User::from_name(user)
        .map_err(|source| PrivilegeError::Lookup { what: "user", name: user.into(), source })?
        .ok_or_else(|| PrivilegeError::UnknownUser { user: user.into() })?;
    if u.uid.is_root() {
        return Err(PrivilegeError::TargetIsRoot { what: "user", name: user.into() });
    }
    let g = match group {
        Some(name) => {
            check_name("group", name)?;
            Group::from_name(name)
                .map_err(|source| PrivilegeError::Lookup {
                    what: "group",
                    name: name.into(),
                    source,
                })?
                .ok_or_else(|| PrivilegeError::UnknownGroup { group: name.into() })?
        }
        None => Group::from_gid(u.gid)
            .map_err(|source| PrivilegeError::Lookup {
                what: "group",
                name: u.gid.to_string(),
                source,
            })?
            .unwrap_or_else(|| Group {
                // A primary gid without a group entry is legal; it has no name to show.
                name: u.gid.to_string(),
                passwd: CString::default(),
                gid: u.gid,
                mem: Vec::new(),
            }),
    };
    if g.gid.as_raw() == 0 {
        return Err(PrivilegeError::TargetIsRoot { what: "group", name: g.name });
    }
    Ok(Identity { user: u.name, uid: u.uid.as_raw(), group: g.name, gid: g.gid.as_raw() })
}

fn check_name(what: &'static str, name: &str) -> Result<(), PrivilegeError> {
    if name.is_empty() || name.contains('\0') {
        return Err(PrivilegeError::InvalidName { what, name: name.into() });
    }
    Ok(())
}

/// Switches the whole process (every thread) to `user` and `group` (`None`: the user's
/// primary group) for good: supplementary groups from the group database, then gid, then
/// uid, all of real, effective and saved. Call it once DPDK has started and every
/// privileged file (devices, hugepages, sockets in root-owned directories) is open.
///
/// Returns the identity switched to, after checking that the ids are the target's, that no
/// supplementary group is root's, that no capability is left and that `setuid(0)` fails.
/// On an error after the first switching call, the process is in an unknown state and
/// should exit.
pub fn drop_privileges(user: &str, group: Option<&str>) -> Result<Identity, PrivilegeError> {
    let euid = unistd::geteuid();
    if !euid.is_root() {
        return Err(PrivilegeError::NotRoot { euid: euid.as_raw() });
    }
    let id = resolve_identity(user, group)?;
    let (uid, gid) = (Uid::from_raw(id.uid), Gid::from_raw(id.gid));
    let syscall = |call| {
        let user = id.user.clone();
        move |source| PrivilegeError::Syscall { call, user, source }
    };
    let cname = CString::new(id.user.as_str())
        .map_err(|_| PrivilegeError::InvalidName { what: "user", name: id.user.clone() })?;
    unistd::initgroups(&cname, gid).map_err(syscall("initgroups"))?;
    let not_dropped = |detail: String| PrivilegeError::NotDropped { user: id.user.clone(), detail };
    let groups = unistd::getgroups().map_err(syscall("getgroups"))?;
    if groups.iter().any(|g| g.as_raw() == 0) {
        return Err(not_dropped(format!(
            "{} is a member of group 0 (root); remove it from that group",
            id.user
        )));
    }
    // glibc applies these to every thread of the process (its setxid broadcast), DPDK's
    // lcores included. Root's setgid/setuid set real, effective and saved ids at once.
    unistd::setgid(gid).map_err(syscall("setgid"))?;
    unistd::setuid(uid).map_err(syscall("setuid"))?;

    let now = (unistd::getuid(), unistd::geteuid(), unistd::getgid(), unistd::getegid());
    if now != (uid, uid, gid, gid) {
        return Err(not_dropped(format!(
            "ids are uid {}/{} gid {}/{} (real/effective) instead of uid {} gid {}",
            now.0, now.1, now.2, now.3, id.uid, id.gid
        )));
    }
    if unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(not_dropped("setuid(0) succeeded: root can be regained".into()));
    }
    if unistd::setgid(Gid::from_raw(0)).is_ok() {
        return Err(not_dropped("setgid(0) succeeded: the root group can be regained".into()));
    }
    if let Some(caps) = remaining_capabilities() {
        return Err(not_dropped(format!("capabilities are left: {caps}")));
    }
    Ok(id)
}

/// The permitted or effective capability sets of this thread if either is non-empty, as
/// `/proc` shows them; `None` when both are empty or `/proc` cannot tell.
fn remaining_capabilities() -> Option<String> {
    let status = std::fs::read_to_string("/proc/thread-self/status")
        .or_else(|_| std::fs::read_to_string("/proc/self/status"))
        .ok()?;
    let left: Vec<&str> = status
        .lines()
        .filter(|l| l.starts_with("CapPrm:") || l.starts_with("CapEff:"))
        .filter(|l| l.split_whitespace().nth(1).is_some_and(|v| v.bytes().any(|b| b != b'0')))
        .collect();
    (!left.is_empty()).then(|| left.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    /// Set in the child process that really drops privileges: a directory it may use, which
    /// the parent removes.
    const CHILD_ENV: &str = "FERROGATE_PRIVILEGE_DROP_CHILD_DIR";

    fn secret(dir: &tempfile::TempDir, name: &str, mode: u32) -> PathBuf {
        secret_in(dir.path(), name, mode)
    }

    fn secret_in(dir: &Path, name: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, "psk = \"x\"\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn owner_only_modes_are_accepted() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o600, 0o400, 0o700, 0o200] {
            let p = secret(&dir, &format!("k{mode:o}"), mode);
            // Root may open a 0200 file for reading; others may not, which is an Open error.
            match check_secret_file(&p) {
                Ok(()) => {}
                Err(SecretFileError::Open { source, .. })
                    if source.kind() == io::ErrorKind::PermissionDenied => {}
                Err(e) => panic!("mode {mode:o}: {e}"),
            }
        }
    }

    #[test]
    fn group_or_world_access_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o640, 0o644, 0o604, 0o660, 0o606, 0o620, 0o602, 0o610, 0o601, 0o1640] {
            let p = secret(&dir, "keys.toml", mode);
            let err = check_secret_file(&p).unwrap_err();
            let SecretFileError::TooOpen { mode: m, .. } = err else { panic!("{mode:o}: {err}") };
            assert_eq!(m, mode);
            assert_eq!(
                err.to_string(),
                format!(
                    "{p} holds pre-shared or private keys but has mode {mode:04o}: group or \
                     others may read or write it; fix: chmod 600 {p}",
                    p = p.display()
                )
            );
        }
    }

    #[test]
    fn the_fix_quotes_odd_paths() {
        assert_eq!(shell_quote(Path::new("/etc/ferrogate/a.toml")), "/etc/ferrogate/a.toml");
        assert_eq!(shell_quote(Path::new("/tmp/my keys")), "'/tmp/my keys'");
        assert_eq!(shell_quote(Path::new("/tmp/it's")), r"'/tmp/it'\''s'");
    }

    #[test]
    fn missing_files_and_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none");
        match check_secret_file(&missing) {
            Err(SecretFileError::Open { path, source }) => {
                assert_eq!(path, missing);
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(matches!(check_secret_file(dir.path()), Err(SecretFileError::NotAFile { .. })));
    }

    #[test]
    fn files_of_other_users_are_refused() {
        if !unistd::geteuid().is_root() {
            eprintln!("skipped: only root can give a file to another user");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let p = secret(&dir, "k", 0o600);
        std::os::unix::fs::chown(&p, Some(65534), None).unwrap();
        let err = check_secret_file(&p).unwrap_err();
        assert!(matches!(err, SecretFileError::WrongOwner { owner: 65534, running: 0, .. }));
        assert_eq!(
            err.to_string(),
            format!(
                "{p} holds pre-shared or private keys but belongs to uid 65534, which is \
                 neither root nor the user running ferrogate (uid 0); fix: chown root {p}",
                p = p.display()
            )
        );
    }

    #[test]
    fn unknown_and_root_targets_are_refused() {
        let e = resolve_identity("fg-no-such-user-x7", None).unwrap_err();
        assert!(matches!(&e, PrivilegeError::UnknownUser { user } if user == "fg-no-such-user-x7"));
        assert!(e.to_string().starts_with("no user named fg-no-such-user-x7; create it with: "));
        assert!(matches!(
            resolve_identity("root", None),
            Err(PrivilegeError::TargetIsRoot { what: "user", .. })
        ));
        assert!(matches!(resolve_identity("", None), Err(PrivilegeError::InvalidName { .. })));
        assert!(matches!(resolve_identity("a\0b", None), Err(PrivilegeError::InvalidName { .. })));
        if User::from_name("nobody").ok().flatten().is_some() {
            let e = resolve_identity("nobody", Some("fg-no-such-group-x7")).unwrap_err();
            assert!(matches!(e, PrivilegeError::UnknownGroup { .. }), "{e}");
            assert_eq!(
                e.to_string(),
                "no group named fg-no-such-group-x7; create it with: groupadd --system \
                 fg-no-such-group-x7"
            );
            assert!(matches!(
                resolve_identity("nobody", Some("root")),
                Err(PrivilegeError::TargetIsRoot { what: "group", .. })
            ));
            let id = resolve_identity("nobody", None).unwrap();
            assert_ne!(id.uid, 0);
            assert_ne!(id.gid, 0);
        } else {
            eprintln!("skipped the group checks: no user nobody on this system");
        }
    }

    #[test]
    fn dropping_needs_root() {
        if unistd::geteuid().is_root() {
            // As root the call would succeed and drop this test process's privileges: the
            // child-process test below covers root.
            eprintln!("skipped: running as root");
            return;
        }
        assert!(matches!(drop_privileges("nobody", None), Err(PrivilegeError::NotRoot { .. })));
    }

    /// Runs [`child_drops_privileges`] in a child process (this test binary again): dropping
    /// privileges is for good, so it cannot happen in the test harness's own process.
    #[test]
    fn privileges_really_drop_in_a_child_process() {
        if !unistd::geteuid().is_root() {
            eprintln!("skipped: only root can drop privileges");
            return;
        }
        if User::from_name("nobody").ok().flatten().is_none() {
            eprintln!("skipped: no user nobody on this system");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let exe = std::env::current_exe().unwrap();
        let out = Command::new(exe)
            .args(["--exact", "privilege::tests::child_drops_privileges", "--ignored"])
            .args(["--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .output()
            .unwrap();
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert!(text.contains("test result: ok. 1 passed"), "{text}");
        assert!(text.contains("dropped to nobody"), "{text}");
    }

    #[test]
    #[ignore = "gives up root for good: run only by privileges_really_drop_in_a_child_process"]
    fn child_drops_privileges() {
        let dir = std::env::var_os(CHILD_ENV)
            .expect("this test drops the privileges of its whole process: run it only in a child");
        let key = secret_in(Path::new(&dir), "k", 0o600);
        // A helper thread started before the drop must be switched as well.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let helper = std::thread::spawn(move || {
            rx.recv().unwrap();
            (unistd::getuid(), unistd::geteuid())
        });

        let id = drop_privileges("nobody", None).unwrap();
        let nobody = User::from_name("nobody").unwrap().unwrap();
        assert_eq!(id.uid, nobody.uid.as_raw());
        assert_eq!(unistd::getuid(), nobody.uid);
        assert_eq!(unistd::geteuid(), nobody.uid);
        assert_eq!(unistd::getegid().as_raw(), id.gid);
        assert!(unistd::setuid(Uid::from_raw(0)).is_err());
        assert!(unistd::seteuid(Uid::from_raw(0)).is_err());
        assert_eq!(remaining_capabilities(), None);
        tx.send(()).unwrap();
        assert_eq!(helper.join().unwrap(), (nobody.uid, nobody.uid));
        // The root-owned 0600 file is out of reach now.
        match check_secret_file(&key) {
            Err(SecretFileError::Open { source, .. }) => {
                assert_eq!(source.kind(), io::ErrorKind::PermissionDenied)
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(drop_privileges("nobody", None), Err(PrivilegeError::NotRoot { .. })));
        println!("dropped to nobody ({}:{})", id.uid, id.gid);
    }
}
