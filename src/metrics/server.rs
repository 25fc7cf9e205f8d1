//! The metrics endpoint's TCP server, polled from the control thread.
//!
//! Like the operator socket, nothing here blocks: the listener and every connection are
//! non-blocking, each connection is a small state machine (read the request head, write the
//! response, then drain what the client still sends until it closes) advanced as far as its
//! socket allows on each [`MetricsServer::poll`], and every phase has a deadline. A slow or
//! hostile client costs a few system calls per poll, never a wait; at most
//! [`Limits::max_connections`] are in progress, further ones get a 503 and are closed.
//!
//! The exposition is rendered at most once per poll, and only when a scrape is waiting:
//! clients served in the same poll share it.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::exposition::{CONTENT_TYPE, Exposition, Kind};
use super::http::{self, Status};
use super::render::{Options, render_into};
use super::scrape::Scrape;

/// How much a client may send before its request head is complete, and how long each phase
/// of a connection may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest request head accepted; larger ones get a 431.
    pub max_request_bytes: usize,
    /// From accept to a complete request head; later, a 408.
    pub read_timeout: Duration,
    /// To write the whole response (a large exposition to a client that reads slowly).
    pub write_timeout: Duration,
    /// After the response, how long the client's leftovers are read and discarded before the
    /// socket closes (closing with unread data would reset the connection and could destroy
    /// the response before the client read it).
    pub linger: Duration,
    /// Connections in progress at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_request_bytes: 8 * 1024,
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            linger: Duration::from_millis(500),
            max_connections: 16,
        }
    }
}

/// Connections accepted per poll, so that a connect flood cannot hold the control thread.
const MAX_ACCEPTS_PER_POLL: usize = 64;
/// Bytes discarded per connection and poll while lingering.
const MAX_DRAIN_PER_POLL: usize = 64 * 1024;

/// What the server has seen since it was bound.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Responses by status, indexed like [`Status::ALL`].
    pub responses: [u64; Status::ALL.len()],
    /// Connections closed at once (with a 503) because the cap was reached.
    pub refused: u64,
    /// Connections dropped because the client was too slow to read its response.
    pub write_timeouts: u64,
    /// Connections lost to socket errors, and accept failures.
    pub io_errors: u64,
}

impl ServerStats {
    /// Responses given with `status`.
    pub fn responses(&self, status: Status) -> u64 {
        self.responses[status.index()]
    }

    fn render_into(&self, e: &mut Exposition) {
        let mut f = e.family(
            "ferrogate_metrics_http_responses_total",
            Kind::Counter,
            "Responses of this metrics endpoint, by status code.",
        );
        for s in Status::ALL {
            f.sample(&[("code", &s.code().to_string())], self.responses(s));
        }
        e.family(
            "ferrogate_metrics_connections_refused_total",
            Kind::Counter,
            "Connections to this endpoint refused because too many were in progress.",
        )
        .sample(&[], self.refused);
    }
}

enum Phase {
    /// Collecting the request head.
    Reading { buf: Vec<u8> },
    /// Sending `head` then `body`; `pos` counts bytes of both.
    Writing { head: Vec<u8>, body: Option<Arc<[u8]>>, pos: usize },
    /// Response sent and our side shut down: discarding input until the client closes.
    Draining,
}

struct Conn {
    stream: TcpStream,
    phase: Phase,
    deadline: Instant,
}

enum Step {
    Pending,
    Done,
}

/// The listening metrics endpoint.
pub struct MetricsServer {
    listener: TcpListener,
    local: SocketAddr,
    limits: Limits,
    options: Options,
    conns: Vec<Conn>,
    stats: ServerStats,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("local", &self.local)
            .field("pending", &self.conns.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl MetricsServer {
    /// Listens on `addr` (port 0: an ephemeral port, see [`MetricsServer::local_addr`]) with
    /// the default [`Limits`].
    pub fn bind(addr: SocketAddr) -> io::Result<MetricsServer> {
        MetricsServer::bind_with(addr, Limits::default())
    }

    /// Listens on `addr` with `limits`.
    pub fn bind_with(addr: SocketAddr, limits: Limits) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot listen for metrics on {addr}: {e}"))
        })?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        Ok(MetricsServer {
            listener,
            local,
            limits: Limits { max_connections: limits.max_connections.max(1), ..limits },
            options: Options::default(),
            conns: Vec::new(),
            stats: ServerStats::default(),
        })
    }

    /// Sets what the expositions hold from now on.
    pub fn set_options(&mut self, options: Options) {
        self.options = options;
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Counters since bind.
    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    /// Connections in progress.
    pub fn pending(&self) -> usize {
        self.conns.len()
    }

    /// Accepts what is waiting and advances every connection as far as its socket allows,
    /// without waiting. `scrape` is called (on this thread, at most once) only if a request
    /// for the metrics completed in this call. `now` decides the deadlines. Returns the
    /// number of responses started.
    pub fn poll(&mut self, now: Instant, scrape: &mut dyn FnMut() -> Scrape) -> usize {
        self.accept_all(now);
        let mut ctx = Ctx {
            scrape,
            body: None,
            stats: &mut self.stats,
            limits: self.limits,
            options: self.options,
        };
        let mut started = 0;
        let mut i = 0;
        while i < self.conns.len() {
            match advance(&mut self.conns[i], now, &mut ctx, &mut started) {
                Step::Pending => i += 1,
                Step::Done => {
                    // Dropping the stream closes it.
                    self.conns.swap_remove(i);
                }
            }
        }
        started
    }

    fn accept_all(&mut self, now: Instant) {
        for _ in 0..MAX_ACCEPTS_PER_POLL {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    self.stats.accepted += 1;
                    if stream.set_nonblocking(true).is_err() {
                        self.stats.io_errors += 1;
                        continue;
                    }
                    if self.conns.len() >= self.limits.max_connections {
                        self.stats.refused += 1;
                        self.stats.responses[Status::ServiceUnavailable.index()] += 1;
                        // One try: the send buffer of a new socket is empty, so this short
                        // response goes out at once or not at all.
                        let _ =
                            stream.write(&http::error_response(Status::ServiceUnavailable, false));
                        let _ = stream.shutdown(Shutdown::Both);
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    self.conns.push(Conn {
                        stream,
                        phase: Phase::Reading { buf: Vec::new() },
                        deadline: now + self.limits.read_timeout,
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

/// What [`advance`] needs besides the connection.
struct Ctx<'a> {
    scrape: &'a mut dyn FnMut() -> Scrape,
    /// The exposition rendered in this poll, shared by every client served in it.
    body: Option<Arc<[u8]>>,
    stats: &'a mut ServerStats,
    limits: Limits,
    options: Options,
}

impl Ctx<'_> {
    fn body(&mut self) -> Arc<[u8]> {
        if let Some(b) = &self.body {
            return Arc::clone(b);
        }
        let mut e = Exposition::new();
        render_into(&mut e, &(self.scrape)(), self.options);
        self.stats.render_into(&mut e);
        let b: Arc<[u8]> = Arc::from(e.into_string().into_bytes());
        self.body = Some(Arc::clone(&b));
        b
    }
}

fn advance(conn: &mut Conn, now: Instant, ctx: &mut Ctx<'_>, started: &mut usize) -> Step {
    if let Phase::Reading { buf } = &mut conn.phase {
        let response = match read_head(&mut conn.stream, buf, ctx.limits.max_request_bytes) {
            ReadOutcome::Head(len) => respond(&buf[..len], ctx),
            ReadOutcome::TooLarge => error(Status::HeaderFieldsTooLarge, false),
            ReadOutcome::Garbage => error(Status::BadRequest, false),
            ReadOutcome::Closed => return Step::Done,
            ReadOutcome::Failed => {
                ctx.stats.io_errors += 1;
                return Step::Done;
            }
            ReadOutcome::Incomplete if now >= conn.deadline => error(Status::RequestTimeout, false),
            ReadOutcome::Incomplete => return Step::Pending,
        };
        ctx.stats.responses[response.status.index()] += 1;
        *started += 1;
        conn.phase = Phase::Writing { head: response.head, body: response.body, pos: 0 };
        conn.deadline = now + ctx.limits.write_timeout;
    }
    if let Phase::Writing { head, body, pos } = &mut conn.phase {
        let body: &[u8] = body.as_deref().unwrap_or(&[]);
        let total = head.len() + body.len();
        while *pos < total {
            let chunk = if *pos < head.len() { &head[*pos..] } else { &body[*pos - head.len()..] };
            match conn.stream.write(chunk) {
                Ok(0) => {
                    ctx.stats.io_errors += 1;
                    return Step::Done;
                }
                Ok(n) => *pos += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if now >= conn.deadline {
                        ctx.stats.write_timeouts += 1;
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
        // Our side is finished: the FIN tells the client the response is complete.
        if conn.stream.shutdown(Shutdown::Write).is_err() {
            return Step::Done;
        }
        conn.phase = Phase::Draining;
        conn.deadline = now + ctx.limits.linger;
    }
    drain(conn, now)
}

/// A response about to be written.
struct Response {
    status: Status,
    head: Vec<u8>,
    /// The exposition, shared with the other clients served in the same poll.
    body: Option<Arc<[u8]>>,
}

/// A complete error response (no shared body).
fn error(status: Status, head_only: bool) -> Response {
    Response { status, head: http::error_response(status, head_only), body: None }
}

/// The response to a complete request head.
fn respond(head: &[u8], ctx: &mut Ctx<'_>) -> Response {
    match http::parse_head(head) {
        Ok(scrape) => {
            let body = ctx.body();
            let head = http::response_head(Status::Ok, CONTENT_TYPE, body.len());
            let body = match scrape {
                http::Scrape::Get => Some(body),
                http::Scrape::Head => None,
            };
            Response { status: Status::Ok, head, body }
        }
        Err(status) => error(status, head.starts_with(b"HEAD ")),
    }
}

/// Reads and discards what the client still sends, until it closes or the linger ends.
fn drain(conn: &mut Conn, now: Instant) -> Step {
    let mut chunk = [0u8; 4096];
    let mut discarded = 0;
    while discarded < MAX_DRAIN_PER_POLL {
        match conn.stream.read(&mut chunk) {
            Ok(0) => return Step::Done,
            Ok(n) => discarded += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(_) => return Step::Done,
        }
    }
    if now >= conn.deadline { Step::Done } else { Step::Pending }
}

enum ReadOutcome {
    /// A complete request head of this many bytes.
    Head(usize),
    /// More than the limit without a complete head.
    TooLarge,
    /// The client closed before completing its head.
    Garbage,
    /// The client closed without sending anything.
    Closed,
    /// Not complete yet.
    Incomplete,
    /// A socket error.
    Failed,
}

/// Reads what is available into `buf` until the head is complete or `max` is exceeded.
fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>, max: usize) -> ReadOutcome {
    let mut chunk = [0u8; 4096];
    loop {
        // One byte beyond the limit is enough to know it is exceeded.
        let room = (max + 1).saturating_sub(buf.len()).min(chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) if buf.is_empty() => return ReadOutcome::Closed,
            Ok(0) => return ReadOutcome::Garbage,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if let Some(len) = http::head_len(buf) {
                    return ReadOutcome::Head(len);
                }
                if buf.len() > max {
                    return ReadOutcome::TooLarge;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return ReadOutcome::Incomplete,
            Err(_) => return ReadOutcome::Failed,
        }
    }
}
