//! Started as root (to listen on 443, say), Outpost becomes its service user once its ports are
//! bound, before it opens a key, a file or a certificate: what it reads and writes from then on,
//! it reads and writes as that user, and it can never become root again.

use std::ffi::CString;

use nix::unistd::{initgroups, setgid, setuid, Uid, User};

/// The user that `server.user` names when it keeps root, against advice.
pub const ROOT: &str = "root";

/// What happened to the process's identity.
#[derive(Debug, PartialEq, Eq)]
pub enum Identity {
    /// Not started as root: nothing to drop.
    Unprivileged,
    /// Started as root and told to stay root.
    KeptRoot,
    /// Started as root, now `user` (with its groups).
    Became { user: String, uid: u32 },
}

/// Becomes `user` (its uid, primary group and supplementary groups) when running as root.
/// Refused with a sentence when the user does not exist or the switch does not hold.
pub fn drop_root(user: &str) -> Result<Identity, String> {
    if !Uid::effective().is_root() {
        return Ok(Identity::Unprivileged);
    }
    if user == ROOT {
        return Ok(Identity::KeptRoot);
    }
    let found = User::from_name(user)
        .map_err(|e| format!("server.user: cannot look up user {user}: {e}"))?
        .ok_or_else(|| {
            format!(
                "server.user: Outpost was started as root and becomes user {user} once its ports are bound, but there is \
                 no such user; create it (`adduser --system --group {user}`; the packages do) or name another in server.user"
            )
        })?;
    if found.uid.is_root() {
        return Err(format!("server.user: user {user} is root by another name (uid 0); name an unprivileged user"));
    }
    let name = CString::new(user).map_err(|_| "server.user: a user name has no NUL byte".to_owned())?;
    // Groups first: once the uid is no longer root, groups can no longer be changed.
    initgroups(&name, found.gid).map_err(|e| format!("server.user: cannot take the groups of {user}: {e}"))?;
    setgid(found.gid).map_err(|e| format!("server.user: cannot become group {}: {e}", found.gid))?;
    setuid(found.uid).map_err(|e| format!("server.user: cannot become user {user}: {e}"))?;
    if setuid(Uid::from_raw(0)).is_ok() {
        return Err(format!("server.user: became user {user}, yet root could be taken back; refusing to serve"));
    }
    Ok(Identity::Became { user: user.to_owned(), uid: found.uid.as_raw() })
}
