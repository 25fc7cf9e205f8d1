//! What a legacy remote-access responder needs besides the protocol: the local user
//! database XAUTH checks passwords against (`username NAME password ...`).
//!
//! The addresses Mode Config hands out come from [`crate::pool`], the pools IKEv2 remote
//! access leases from: a tunnel group's IKEv1 and IKEv2 clients draw from the same
//! handles, so neither can be given an address the other holds.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Local users and their passwords.
#[derive(Clone, Default)]
pub struct UserDb {
    users: Vec<(String, Zeroizing<Vec<u8>>)>,
}

impl fmt::Debug for UserDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.users.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("UserDb").field("users", &names).finish()
    }
}

impl UserDb {
    /// An empty database.
    pub fn new() -> UserDb {
        UserDb::default()
    }

    /// Adds (or replaces) a user.
    pub fn add(&mut self, name: &str, password: &[u8]) {
        self.users.retain(|(n, _)| n != name);
        self.users.push((name.to_owned(), Zeroizing::new(password.to_vec())));
    }

    /// Whether `name` exists and `password` is its password. The comparison takes the same
    /// time whatever the password, and an unknown user costs the same as a wrong password.
    pub fn check(&self, name: &str, password: &[u8]) -> bool {
        let stored = self.users.iter().find(|(n, _)| n == name).map(|(_, p)| p.as_slice());
        let dummy = [0u8; 32];
        let against = stored.unwrap_or(&dummy);
        let same_len = against.len() == password.len();
        let eq = if same_len { bool::from(against.ct_eq(password)) } else { false };
        stored.is_some() && eq
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// No user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_checked_by_name_and_password() {
        let mut db = UserDb::new();
        db.add("alice", b"s3cret");
        db.add("bob", b"hunter2");
        assert!(db.check("alice", b"s3cret"));
        assert!(!db.check("alice", b"s3cret "));
        assert!(!db.check("alice", b"hunter2"));
        assert!(!db.check("carol", b"s3cret"));
        assert!(!db.check("", b""));
        db.add("alice", b"new");
        assert!(db.check("alice", b"new") && !db.check("alice", b"s3cret"));
        assert_eq!(db.len(), 2);
        assert!(!format!("{db:?}").contains("hunter2"));
    }
}
