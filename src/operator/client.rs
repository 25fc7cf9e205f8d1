//! The client side of the operator socket, used by `ferrogate show ...`.

use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::model::{Request, Response};

/// Where appliances put their operator sockets.
pub const SOCKET_DIR: &str = "/run/ferrogate";
/// The instance name when the profile's `[eal] file_prefix` is not known to the caller.
pub const DEFAULT_INSTANCE: &str = "ferrogate";
/// The longest response accepted (a snapshot of tens of thousands of SAs fits easily).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// The socket of the appliance whose EAL file prefix is `instance`:
/// `/run/ferrogate/<instance>.sock`.
pub fn default_socket_path(instance: &str) -> PathBuf {
    Path::new(SOCKET_DIR).join(format!("{instance}.sock"))
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket.
    #[error(
        "no ferrogate running with socket {} (is `ferrogate run` started? use --socket or \
         --instance)",
        path.display()
    )]
    NotRunning {
        /// The socket tried.
        path: PathBuf,
    },
    /// The socket is there but this user may not connect.
    #[error(
        "permission denied on {}: the operator socket is root-only (run as root, e.g. with sudo)",
        path.display()
    )]
    PermissionDenied {
        /// The socket tried.
        path: PathBuf,
    },
    /// The appliance did not answer in time.
    #[error("ferrogate on {} did not answer within {} ms", path.display(), timeout.as_millis())]
    Timeout {
        /// The socket tried.
        path: PathBuf,
        /// The time allowed.
        timeout: Duration,
    },
    /// A socket error other than the above.
    #[error("talking to ferrogate on {}: {source}", path.display())]
    Io {
        /// The socket tried.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The answer was not a valid response (a different program or version on the socket?).
    #[error("ferrogate on {} sent a response this client does not understand: {reason}", path.display())]
    Protocol {
        /// The socket tried.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// Sends `req` to the appliance listening on `path` and waits at most `timeout` in all for
/// its response. A [`Response::Error`] is returned as `Ok`: the appliance did answer.
pub fn request(path: &Path, req: &Request, timeout: Duration) -> Result<Response, ClientError> {
    let deadline = Instant::now() + timeout;
    let io_err = |source: io::Error| classify(path, timeout, source);
    let mut stream = UnixStream::connect(path).map_err(io_err)?;
    let mut line = serde_json::to_vec(req).map_err(|e| ClientError::Protocol {
        path: path.to_path_buf(),
        reason: format!("cannot encode the request: {e}"),
    })?;
    line.push(b'\n');
    set_remaining(&stream, deadline, path, timeout)?;
    stream.write_all(&line).map_err(io_err)?;

    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        set_remaining(&stream, deadline, path, timeout)?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                let got = &chunk[..n];
                if let Some(nl) = got.iter().position(|&b| b == b'\n') {
                    buf.extend_from_slice(&got[..nl]);
                    break;
                }
                buf.extend_from_slice(got);
                if buf.len() > MAX_RESPONSE_BYTES {
                    return Err(ClientError::Protocol {
                        path: path.to_path_buf(),
                        reason: format!("response longer than {MAX_RESPONSE_BYTES} bytes"),
                    });
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(e)),
        }
    }
    if buf.is_empty() {
        return Err(ClientError::Protocol {
            path: path.to_path_buf(),
            reason: "the connection closed without a response".into(),
        });
    }
    serde_json::from_slice(&buf)
        .map_err(|e| ClientError::Protocol { path: path.to_path_buf(), reason: e.to_string() })
}

/// Gives the socket the time left until `deadline` for its next read or write.
fn set_remaining(
    stream: &UnixStream,
    deadline: Instant,
    path: &Path,
    timeout: Duration,
) -> Result<(), ClientError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(ClientError::Timeout { path: path.to_path_buf(), timeout });
    }
    stream
        .set_read_timeout(Some(left))
        .and_then(|()| stream.set_write_timeout(Some(left)))
        .map_err(|e| classify(path, timeout, e))
}

fn classify(path: &Path, timeout: Duration, source: io::Error) -> ClientError {
    let path = path.to_path_buf();
    match source.kind() {
        ErrorKind::NotFound | ErrorKind::ConnectionRefused => ClientError::NotRunning { path },
        ErrorKind::PermissionDenied => ClientError::PermissionDenied { path },
        ErrorKind::WouldBlock | ErrorKind::TimedOut => ClientError::Timeout { path, timeout },
        _ => ClientError::Io { path, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_path_is_per_file_prefix() {
        assert_eq!(default_socket_path("fg-lab"), PathBuf::from("/run/ferrogate/fg-lab.sock"));
        assert_eq!(
            default_socket_path(DEFAULT_INSTANCE),
            PathBuf::from("/run/ferrogate/ferrogate.sock")
        );
    }

    #[test]
    fn missing_socket_reads_as_not_running() {
        let path = std::env::temp_dir().join(format!("fg-op-missing-{}.sock", std::process::id()));
        let err = request(&path, &Request::Ping, Duration::from_millis(100)).unwrap_err();
        assert!(matches!(err, ClientError::NotRunning { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "no ferrogate running with socket {} (is `ferrogate run` started? use --socket \
                 or --instance)",
                path.display()
            )
        );
    }
}
