//! The appliance side of the operator socket.
//!
//! The control thread calls [`OperatorServer::poll`] every few milliseconds. Nothing in it
//! blocks: the listener and every connection are non-blocking, each connection is a small
//! state machine (read one request line, write one response line, close) advanced as far as
//! the socket allows on each call, and a connection that does not finish within its
//! deadline is dropped. A slow or hostile client therefore costs the control thread a few
//! system calls per poll, never a wait, and the request handler always runs on the caller's
//! thread.
//!
//! The socket file is created mode 0600 (only root, or the user running the appliance, may
//! connect): snapshots expose addresses, SPIs and traffic volumes, and later requests will
//! change state.

use std::fs::{self, DirBuilder};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::baseline::Baselines;
use super::model::{Request, Response};

/// How long a client has, from being accepted, to send its whole request line.
pub const READ_DEADLINE: Duration = Duration::from_millis(200);
/// How long a client has to read its whole response (a snapshot of thousands of SAs is a
/// few megabytes; a client that reads at all drains it in milliseconds).
pub const WRITE_DEADLINE: Duration = Duration::from_secs(2);
/// The longest request line accepted, newline excluded.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Connections in progress at once; further ones are closed at once (and counted).
pub const MAX_PENDING: usize = 64;
/// Connections accepted per poll, so that a connect flood cannot hold the control thread.
const MAX_ACCEPTS_PER_POLL: usize = 256;
/// `sun_path` holds 108 bytes including the terminating NUL (unix(7)).
const MAX_SOCKET_PATH: usize = 107;
/// Mode of the socket's directory when this server creates it.
const DIR_MODE: u32 = 0o755;
/// Mode of the socket file: owner only.
const SOCKET_MODE: u32 = 0o600;

/// What the server has seen since it was bound.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Well-formed requests handed to the handler and answered.
    pub answered: u64,
    /// Unparseable or oversize requests, answered with [`Response::Error`].
    pub bad_requests: u64,
    /// Connections dropped because the client was too slow to send or to read.
    pub timed_out: u64,
    /// Connections closed at once because [`MAX_PENDING`] were in progress.
    pub refused: u64,
    /// Connections lost to socket errors (peer gone before its answer, accept failures).
    pub io_errors: u64,
}

enum Phase {
    Reading { buf: Vec<u8> },
    Writing { out: Vec<u8>, pos: usize },
}

struct Conn {
    stream: UnixStream,
    phase: Phase,
    deadline: Instant,
}

/// What one step of a connection came to.
enum Step {
    /// Waiting for the socket; keep the connection.
    Pending,
    /// Finished (answered, or the client left); close it.
    Done,
}

/// The listening operator socket. Dropping it removes the socket file (if it is still the
/// one this server created).
pub struct OperatorServer {
    path: PathBuf,
    listener: UnixListener,
    /// Device and inode of the socket file, to recognise it at drop.
    file_id: (u64, u64),
    conns: Vec<Conn>,
    stats: ServerStats,
    baselines: Baselines,
}

impl std::fmt::Debug for OperatorServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorServer")
            .field("path", &self.path)
            .field("pending", &self.conns.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl OperatorServer {
    /// Listens on `path`: creates its directory (mode 0755) if needed, refuses if a live
    /// process already listens there or if the path is not a socket, replaces a stale
    /// socket file left by a crashed process, and creates the socket mode 0600.
    pub fn bind(path: &Path) -> io::Result<OperatorServer> {
        let len = path.as_os_str().len();
        if len == 0 || len > MAX_SOCKET_PATH {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "operator socket path {} is {len} bytes; Unix socket paths must be 1 to \
                     {MAX_SOCKET_PATH} bytes",
                    path.display()
                ),
            ));
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.exists() {
            // set_permissions as well: the mode given to mkdir is narrowed by the umask.
            DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(&dir)
                .and_then(|()| fs::set_permissions(&dir, fs::Permissions::from_mode(DIR_MODE)))
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot create directory {}: {e}", dir.display()),
                    )
                })?;
        }
        check_not_in_use(path)?;

        // Bind under a temporary name, restrict it, then rename it into place: no client can
        // reach the socket before its mode is 0600, and a stale file is replaced atomically.
        static BINDS: AtomicU32 = AtomicU32::new(0);
        let n = BINDS.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".fg-{}-{n}.bind", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let listener = UnixListener::bind(&tmp)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {}: {e}", tmp.display())))?;
        let placed = fs::set_permissions(&tmp, fs::Permissions::from_mode(SOCKET_MODE))
            .and_then(|()| fs::rename(&tmp, path))
            .and_then(|()| listener.set_nonblocking(true))
            .and_then(|()| fs::symlink_metadata(path));
        let meta = match placed {
            Ok(m) => m,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot set up operator socket {}: {e}", path.display()),
                ));
            }
        };
        Ok(OperatorServer {
            path: path.to_path_buf(),
            listener,
            file_id: (meta.dev(), meta.ino()),
            conns: Vec::new(),
            stats: ServerStats::default(),
            baselines: Baselines::default(),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Counters since bind.
    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    /// Connections in progress.
    pub fn pending(&self) -> usize {
        self.conns.len()
    }

    /// Accepts pending connections and advances every connection as far as its socket
    /// allows without waiting; calls `handle` (on this thread) for each complete request.
    /// Returns the number of responses produced by this call (answers and errors).
    ///
    /// `handle` sees only [`Request::Snapshot`] (it answers with the raw counters, or an
    /// error) and [`Request::Ping`]; the server serves [`Request::ClearCounters`] itself by
    /// asking `handle` for a snapshot and remembering its counters as the new zero.
    pub fn poll(&mut self, handle: &mut dyn FnMut(&Request) -> Response) -> usize {
        let now = Instant::now();
        self.accept_all(now);
        let mut produced = 0;
        let mut i = 0;
        while i < self.conns.len() {
            let mut ctx = Ctx {
                handle: &mut *handle,
                stats: &mut self.stats,
                baselines: &mut self.baselines,
                produced: &mut produced,
            };
            let step = advance(&mut self.conns[i], now, &mut ctx);
            match step {
                Step::Pending => i += 1,
                Step::Done => {
                    let conn = self.conns.swap_remove(i);
                    let _ = conn.stream.shutdown(std::net::Shutdown::Both);
                }
            }
        }
        produced
    }

    fn accept_all(&mut self, now: Instant) {
        for _ in 0..MAX_ACCEPTS_PER_POLL {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    self.stats.accepted += 1;
                    if self.conns.len() >= MAX_PENDING {
                        self.stats.refused += 1;
                        continue;
                    }
                    if stream.set_nonblocking(true).is_err() {
                        self.stats.io_errors += 1;
                        continue;
                    }
                    self.conns.push(Conn {
                        stream,
                        phase: Phase::Reading { buf: Vec::new() },
                        deadline: now + READ_DEADLINE,
                    });
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => {
                    // EMFILE, ECONNABORTED, ...: try again on the next poll.
                    self.stats.io_errors += 1;
                    return;
                }
            }
        }
    }
}

impl Drop for OperatorServer {
    fn drop(&mut self) {
        // Remove the file only if it is still ours: a successor may have replaced it.
        if let Ok(meta) = fs::symlink_metadata(&self.path)
            && (meta.dev(), meta.ino()) == self.file_id
        {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Refuses `path` if it is not a socket or if a process accepts connections on it.
fn check_not_in_use(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot inspect {}: {e}", path.display()),
            ));
        }
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket; not replacing it", path.display()),
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            ErrorKind::AddrInUse,
            format!(
                "another process already serves {} (is a ferrogate with this file prefix \
                 running?)",
                path.display()
            ),
        )),
        // Nobody listens: a stale file from a process that did not clean up.
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => Ok(()),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot check whether {} is in use: {e}", path.display()),
        )),
    }
}

/// What [`advance`] needs besides the connection.
struct Ctx<'a> {
    handle: &'a mut dyn FnMut(&Request) -> Response,
    stats: &'a mut ServerStats,
    baselines: &'a mut Baselines,
    produced: &'a mut usize,
}

/// Answers one well-formed request.
fn serve(req: &Request, ctx: &mut Ctx<'_>) -> Response {
    match req {
        Request::Ping
        | Request::Reload
        | Request::Debug { .. }
        | Request::UndebugAll
        | Request::ShowDebug
        | Request::RunningConfig
        | Request::CryptoMap
        | Request::Ikev2Sa
        | Request::Ikev1Sa
        | Request::ClearSa { .. }
        | Request::Initiate { .. }
        | Request::ShowFailover
        | Request::Failover { .. } => (ctx.handle)(req),
        Request::Snapshot => match (ctx.handle)(req) {
            Response::Ok(mut snap) => {
                ctx.baselines.apply(&mut snap);
                Response::Ok(snap)
            }
            other => other,
        },
        Request::ClearCounters { scope } => match (ctx.handle)(&Request::Snapshot) {
            Response::Ok(snap) => {
                ctx.baselines.clear(*scope, &snap);
                Response::Cleared
            }
            err @ Response::Error { .. } => err,
            Response::Pong
            | Response::Cleared
            | Response::Reloaded { .. }
            | Response::Debug { .. }
            | Response::RunningConfig { .. }
            | Response::CryptoMaps { .. }
            | Response::Ikev2Sas { .. }
            | Response::Ikev1Sas { .. }
            | Response::SasCleared { .. }
            | Response::Initiated { .. }
            | Response::Failover { .. }
            | Response::FailoverDone { .. } => {
                Response::error("the appliance answered a snapshot request without a snapshot")
            }
        },
    }
}

/// Advances one connection as far as its socket allows.
fn advance(conn: &mut Conn, now: Instant, ctx: &mut Ctx<'_>) -> Step {
    if let Phase::Reading { buf } = &mut conn.phase {
        let response = match read_request(&mut conn.stream, buf) {
            ReadOutcome::Line(line) => match parse_request(&line) {
                Ok(req) => {
                    ctx.stats.answered += 1;
                    serve(&req, ctx)
                }
                Err(message) => {
                    ctx.stats.bad_requests += 1;
                    Response::error(message)
                }
            },
            ReadOutcome::TooLong => {
                ctx.stats.bad_requests += 1;
                Response::error(format!("request longer than {MAX_REQUEST_BYTES} bytes"))
            }
            ReadOutcome::Closed => return Step::Done,
            ReadOutcome::Failed => {
                ctx.stats.io_errors += 1;
                return Step::Done;
            }
            ReadOutcome::Incomplete if now >= conn.deadline => {
                ctx.stats.timed_out += 1;
                // One try at telling the client why; the socket buffer is empty, so a short
                // line goes through without waiting or not at all.
                let _ = conn.stream.write(&encode(&Response::error(format!(
                    "no complete request line within {} ms",
                    READ_DEADLINE.as_millis()
                ))));
                return Step::Done;
            }
            ReadOutcome::Incomplete => return Step::Pending,
        };
        *ctx.produced += 1;
        conn.phase = Phase::Writing { out: encode(&response), pos: 0 };
        conn.deadline = now + WRITE_DEADLINE;
    }
    let Phase::Writing { out, pos } = &mut conn.phase else {
        return Step::Pending;
    };
    while *pos < out.len() {
        match conn.stream.write(&out[*pos..]) {
            Ok(0) => {
                ctx.stats.io_errors += 1;
                return Step::Done;
            }
            Ok(n) => *pos += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if now >= conn.deadline {
                    ctx.stats.timed_out += 1;
                    return Step::Done;
                }
                return Step::Pending;
            }
            Err(_) => {
                ctx.stats.io_errors += 1;
                return Step::Done;
            }
        }
    }
    Step::Done
}

enum ReadOutcome {
    /// A complete request (without its line end).
    Line(Vec<u8>),
    /// More than [`MAX_REQUEST_BYTES`] without a line end.
    TooLong,
    /// Not complete yet.
    Incomplete,
    /// The client closed without sending anything (e.g. a liveness probe).
    Closed,
    /// A socket error.
    Failed,
}

/// Reads what is available into `buf` until a line end, end of stream or the size cap.
fn read_request(stream: &mut UnixStream, buf: &mut Vec<u8>) -> ReadOutcome {
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return ReadOutcome::Closed,
            // A client that half-closes after its request need not send the newline.
            Ok(0) => return ReadOutcome::Line(std::mem::take(buf)),
            Ok(n) => {
                let got = &chunk[..n];
                if let Some(nl) = got.iter().position(|&b| b == b'\n') {
                    if buf.len() + nl > MAX_REQUEST_BYTES {
                        return ReadOutcome::TooLong;
                    }
                    buf.extend_from_slice(&got[..nl]);
                    return ReadOutcome::Line(std::mem::take(buf));
                }
                if buf.len() + n > MAX_REQUEST_BYTES {
                    return ReadOutcome::TooLong;
                }
                buf.extend_from_slice(got);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return ReadOutcome::Incomplete,
            Err(_) => return ReadOutcome::Failed,
        }
    }
}

fn parse_request(line: &[u8]) -> Result<Request, String> {
    let text = std::str::from_utf8(line).map_err(|_| "request is not UTF-8".to_string())?;
    let text = text.trim();
    if text.is_empty() {
        return Err(
            "empty request; send one JSON object per line, e.g. {\"request\":\"ping\"}".to_string()
        );
    }
    serde_json::from_str(text).map_err(|e| format!("bad request: {e}"))
}

/// One response line. A snapshot that cannot be encoded as JSON becomes an error answer.
fn encode(response: &Response) -> Vec<u8> {
    let mut out = serde_json::to_vec(response).unwrap_or_else(|e| {
        serde_json::to_vec(&Response::error(format!("cannot encode the response: {e}")))
            .unwrap_or_else(|_| br#"{"response":"error","message":"encoding failed"}"#.to_vec())
    });
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_or_explain() {
        assert_eq!(parse_request(br#" {"request":"ping"} "#), Ok(Request::Ping));
        assert_eq!(parse_request(b"{\"request\":\"snapshot\"}\r"), Ok(Request::Snapshot));
        assert!(parse_request(b"").unwrap_err().starts_with("empty request"));
        assert_eq!(parse_request(&[0xff, 0xfe]).unwrap_err(), "request is not UTF-8");
        assert!(parse_request(b"show all").unwrap_err().starts_with("bad request: "));
    }

    #[test]
    fn encoded_responses_are_one_line() {
        let out = encode(&Response::Pong);
        assert_eq!(out, b"{\"response\":\"pong\"}\n");
    }

    #[test]
    fn too_long_paths_are_refused_with_a_reason() {
        let long = PathBuf::from(format!("/tmp/{}.sock", "x".repeat(120)));
        let err = OperatorServer::bind(&long).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("must be 1 to 107 bytes"), "{err}");
    }
}
