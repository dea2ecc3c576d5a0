//! Tells systemd how the service stands (`Type=notify`): ready once the ports serve, stopping
//! when a stop begins. The protocol is one datagram of `KEY=value` lines to the socket named
//! in `NOTIFY_SOCKET`; outside systemd the variable is unset and nothing is sent.

use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The ports are bound, the keys proven, the server accepting: `systemctl start` returns.
pub fn ready(status: &str) {
    send(&format!("READY=1\nSTATUS={status}\nMAINPID={}", std::process::id()));
}

/// A stop has begun; systemd waits for the process rather than treating its exit as a crash.
pub fn stopping() {
    send("STOPPING=1\nSTATUS=Stopping");
}

fn send(message: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = send_to(&target.to_string_lossy(), message) {
        tracing::warn!(socket = %target.to_string_lossy(), "cannot tell systemd the service's state: {e}");
    }
}

fn send_to(target: &str, message: &str) -> std::io::Result<()> {
    let address = match target.strip_prefix('@') {
        // An abstract socket: its name is not a path on disk.
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())?
        }
        None => SocketAddr::from_pathname(target)?,
    };
    let socket = UnixDatagram::unbound()?;
    socket.send_to_addr(message.as_bytes(), &address)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_reaches_a_listening_socket_by_path_and_by_abstract_name() {
        let dir = std::env::temp_dir().join(format!("outpost-notify-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        send_to(path.to_str().unwrap(), "READY=1").unwrap();
        let mut buffer = [0u8; 64];
        let read = listener.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..read], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("outpost-notify-{}", rand::random::<u64>());
        let abstract_listener =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        send_to(&format!("@{name}"), "STOPPING=1").unwrap();
        let read = abstract_listener.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..read], b"STOPPING=1");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_panic() {
        assert!(send_to("/nonexistent/notify", "READY=1").is_err());
    }
}
