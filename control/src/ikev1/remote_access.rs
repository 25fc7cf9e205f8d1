//! What a legacy remote-access responder needs besides the protocol: the local user
//! database XAUTH checks passwords against (`username NAME password ...`), and the IPv4
//! address pools Mode Config leases client addresses from (`ip local pool`).
//!
//! A pool is shared by every ISAKMP SA of a tunnel group; an address is held by a
//! [`PoolLease`] and goes back to the pool when the lease is dropped (the SA ended), so no
//! code path can leak one.

use core::fmt;
use core::net::Ipv4Addr;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

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

/// An IPv4 address pool (`ip local pool NAME FIRST-LAST`).
#[derive(Debug)]
pub struct Ipv4Pool {
    name: String,
    first: u32,
    last: u32,
    leased: BTreeSet<u32>,
    /// Where the search for a free address starts: addresses are handed out round-robin,
    /// so a released address is not immediately reused (stale ESP of the last client).
    next: u32,
}

/// A pool shared by the SAs of a tunnel group.
pub type SharedPool = Arc<Mutex<Ipv4Pool>>;

impl Ipv4Pool {
    /// A pool of `first..=last` (swapped if given backwards).
    pub fn new(name: &str, first: Ipv4Addr, last: Ipv4Addr) -> Ipv4Pool {
        let (a, b) = (u32::from(first), u32::from(last));
        let (first, last) = (a.min(b), a.max(b));
        Ipv4Pool { name: name.to_owned(), first, last, leased: BTreeSet::new(), next: first }
    }

    /// Shares it.
    pub fn shared(self) -> SharedPool {
        Arc::new(Mutex::new(self))
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Addresses in the pool.
    pub fn size(&self) -> u64 {
        u64::from(self.last - self.first) + 1
    }

    /// Addresses leased now.
    pub fn in_use(&self) -> usize {
        self.leased.len()
    }

    /// The pool's range.
    pub fn range(&self) -> (Ipv4Addr, Ipv4Addr) {
        (Ipv4Addr::from(self.first), Ipv4Addr::from(self.last))
    }

    fn take(&mut self) -> Option<u32> {
        if self.leased.len() as u64 >= self.size() {
            return None;
        }
        let mut a = self.next.clamp(self.first, self.last);
        loop {
            if !self.leased.contains(&a) {
                self.leased.insert(a);
                self.next = if a == self.last { self.first } else { a + 1 };
                return Some(a);
            }
            a = if a == self.last { self.first } else { a + 1 };
        }
    }
}

/// An address leased from a pool, returned to it on drop.
pub struct PoolLease {
    pool: SharedPool,
    addr: Ipv4Addr,
}

impl fmt::Debug for PoolLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PoolLease({})", self.addr)
    }
}

impl PoolLease {
    /// Leases the next free address of `pool`; `None` when it is exhausted.
    pub fn take(pool: &SharedPool) -> Option<PoolLease> {
        // A poisoned lock only means another thread panicked while holding it; the set of
        // leases is still consistent (every mutation is a single insert or remove).
        let mut p = pool.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let a = p.take()?;
        Some(PoolLease { pool: Arc::clone(pool), addr: Ipv4Addr::from(a) })
    }

    /// The leased address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }
}

impl Drop for PoolLease {
    fn drop(&mut self) {
        let mut p = self.pool.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        p.leased.remove(&u32::from(self.addr));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_unique_round_robin_and_come_back_on_drop() {
        let pool =
            Ipv4Pool::new("ra", Ipv4Addr::new(10, 9, 0, 10), Ipv4Addr::new(10, 9, 0, 12)).shared();
        let a = PoolLease::take(&pool).unwrap();
        let b = PoolLease::take(&pool).unwrap();
        let c = PoolLease::take(&pool).unwrap();
        assert_eq!(
            [a.addr(), b.addr(), c.addr()],
            [Ipv4Addr::new(10, 9, 0, 10), Ipv4Addr::new(10, 9, 0, 11), Ipv4Addr::new(10, 9, 0, 12)]
        );
        assert!(PoolLease::take(&pool).is_none(), "exhausted");
        drop(b);
        assert_eq!(pool.lock().unwrap().in_use(), 2);
        let d = PoolLease::take(&pool).unwrap();
        assert_eq!(d.addr(), Ipv4Addr::new(10, 9, 0, 11), "the only free one");
        drop((a, c, d));
        assert_eq!(pool.lock().unwrap().in_use(), 0);
        // Round robin: after .11 the search goes on at .12, not back at .10.
        let e = PoolLease::take(&pool).unwrap();
        assert_eq!(e.addr(), Ipv4Addr::new(10, 9, 0, 12));
    }

    #[test]
    fn a_single_address_pool_and_a_reversed_range() {
        let pool =
            Ipv4Pool::new("one", Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 5)).shared();
        let l = PoolLease::take(&pool).unwrap();
        assert!(PoolLease::take(&pool).is_none());
        drop(l);
        assert!(PoolLease::take(&pool).is_some());
        let r = Ipv4Pool::new("r", Ipv4Addr::new(10, 0, 0, 9), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(r.size(), 9);
        let full =
            Ipv4Pool::new("all", Ipv4Addr::new(0, 0, 0, 0), Ipv4Addr::new(255, 255, 255, 255));
        assert_eq!(full.size(), 1 << 32);
    }

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
