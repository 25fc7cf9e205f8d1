//! The little HTTP/1.1 the metrics endpoint speaks (RFC 9112): one request head in, one
//! response out, then the connection closes (`Connection: close`), which is what Prometheus
//! and curl expect from a scrape target that does not keep connections alive.
//!
//! Only the request line is interpreted; header lines are checked for shape and otherwise
//! ignored, and a request body is never read.

use std::fmt::Write as _;

/// The only path served.
pub const METRICS_PATH: &str = "/metrics";

/// The responses this endpoint gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The metrics.
    Ok,
    /// Not an HTTP/1.x request head.
    BadRequest,
    /// A path other than [`METRICS_PATH`].
    NotFound,
    /// A method other than GET or HEAD.
    MethodNotAllowed,
    /// The request head did not arrive within the read deadline.
    RequestTimeout,
    /// The request head is larger than the limit (RFC 6585 section 5).
    HeaderFieldsTooLarge,
    /// Too many connections in progress.
    ServiceUnavailable,
    /// An HTTP version other than 1.x.
    VersionNotSupported,
}

impl Status {
    /// Every status, for counting by code.
    pub const ALL: [Status; 8] = [
        Status::Ok,
        Status::BadRequest,
        Status::NotFound,
        Status::MethodNotAllowed,
        Status::RequestTimeout,
        Status::HeaderFieldsTooLarge,
        Status::ServiceUnavailable,
        Status::VersionNotSupported,
    ];

    /// The status code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RequestTimeout => 408,
            Status::HeaderFieldsTooLarge => 431,
            Status::ServiceUnavailable => 503,
            Status::VersionNotSupported => 505,
        }
    }

    /// The reason phrase.
    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::RequestTimeout => "Request Timeout",
            Status::HeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::ServiceUnavailable => "Service Unavailable",
            Status::VersionNotSupported => "HTTP Version Not Supported",
        }
    }

    /// Position in [`Status::ALL`].
    pub fn index(self) -> usize {
        Status::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// A request the endpoint will answer with the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scrape {
    /// GET: headers and body.
    Get,
    /// HEAD: the same headers, no body.
    Head,
}

/// The length of the request head in `buf` (through the empty line that ends it), if it is
/// complete. Bare LF line ends are accepted (RFC 9112 section 2.2).
pub fn head_len(buf: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
        let line = &buf[start..start + nl];
        let end = start + nl + 1;
        if line.is_empty() || line == b"\r" {
            // Empty lines before the request line are to be ignored (RFC 9112 section 2.2).
            if start > 0 && !only_blank_lines(&buf[..start]) {
                return Some(end);
            }
        }
        start = end;
    }
    None
}

fn only_blank_lines(b: &[u8]) -> bool {
    b.iter().all(|&c| c == b'\r' || c == b'\n')
}

/// What to answer to a complete request head: the scrape to serve, or the error status.
pub fn parse_head(head: &[u8]) -> Result<Scrape, Status> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .skip_while(|l| l.is_empty());
    let request_line = lines.next().ok_or(Status::BadRequest)?;
    let mut parts = request_line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Status::BadRequest);
    };
    if method.is_empty() || !method.iter().copied().all(is_tchar) {
        return Err(Status::BadRequest);
    }
    let path = request_path(target).ok_or(Status::BadRequest)?;
    check_version(version)?;
    for line in lines {
        if line.is_empty() {
            break;
        }
        check_header_line(line)?;
    }
    let scrape = match method {
        b"GET" => Scrape::Get,
        b"HEAD" => Scrape::Head,
        _ => return Err(Status::MethodNotAllowed),
    };
    if path != METRICS_PATH.as_bytes() {
        return Err(Status::NotFound);
    }
    Ok(scrape)
}

/// The path of an origin-form (`/p?q`) or absolute-form (`http://host/p?q`) target.
fn request_path(target: &[u8]) -> Option<&[u8]> {
    if target.is_empty() || !target.iter().all(|&b| b.is_ascii_graphic()) {
        return None;
    }
    let path = if target.starts_with(b"/") {
        target
    } else if target == b"*" {
        // OPTIONS *: well formed, but not something this endpoint serves.
        target
    } else {
        let lower = target.to_ascii_lowercase();
        let rest = if lower.starts_with(b"http://") {
            &target[7..]
        } else if lower.starts_with(b"https://") {
            &target[8..]
        } else {
            return None;
        };
        match rest.iter().position(|&b| b == b'/' || b == b'?') {
            Some(i) if rest[i] == b'/' => &rest[i..],
            _ => b"/",
        }
    };
    let end = path.iter().position(|&b| b == b'?' || b == b'#').unwrap_or(path.len());
    Some(&path[..end])
}

fn check_version(version: &[u8]) -> Result<(), Status> {
    match version {
        b"HTTP/1.0" | b"HTTP/1.1" => Ok(()),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(Status::VersionNotSupported)
        }
        [b'H', b'T', b'T', b'P', b'/', major] if major.is_ascii_digit() => {
            Err(Status::VersionNotSupported)
        }
        _ => Err(Status::BadRequest),
    }
}

/// `name: value` with a token name and no whitespace before the colon; obsolete line
/// folding (a line starting with whitespace) is refused (RFC 9112 section 5.2).
fn check_header_line(line: &[u8]) -> Result<(), Status> {
    let colon = line.iter().position(|&b| b == b':').ok_or(Status::BadRequest)?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().copied().all(is_tchar) {
        return Err(Status::BadRequest);
    }
    if line[colon + 1..].iter().any(|&b| b == 0 || b == b'\r') {
        return Err(Status::BadRequest);
    }
    Ok(())
}

/// A token character (RFC 9110 section 5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The head of a response with a body of `content_length` bytes of `content_type`.
pub fn response_head(status: Status, content_type: &str, content_length: usize) -> Vec<u8> {
    let mut h = String::with_capacity(160);
    let _ = write!(
        h,
        "HTTP/1.1 {} {}\r\nContent-Type: {content_type}\r\nContent-Length: {content_length}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n",
        status.code(),
        status.reason()
    );
    if status == Status::MethodNotAllowed {
        h.push_str("Allow: GET, HEAD\r\n");
    }
    h.push_str("\r\n");
    h.into_bytes()
}

/// A complete error response: head and a one-line plain-text body saying why.
pub fn error_response(status: Status, head_only: bool) -> Vec<u8> {
    let body = match status {
        Status::NotFound => format!("404 Not Found: only {METRICS_PATH} is served\n"),
        Status::MethodNotAllowed => "405 Method Not Allowed: use GET or HEAD\n".to_owned(),
        other => format!("{} {}\n", other.code(), other.reason()),
    };
    let mut out = response_head(status, "text/plain; charset=utf-8", body.len());
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_end_at_the_first_empty_line() {
        assert_eq!(head_len(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody"), Some(27));
        assert_eq!(head_len(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(head_len(b"GET / HTTP/1.1\r\nHost: a\r\n"), None);
        assert_eq!(head_len(b"\r\n\r\nGET / HTTP/1.0\r\n\r\n"), Some(22));
        assert_eq!(head_len(b"\r\n\r\n"), None);
        assert_eq!(head_len(b""), None);
    }

    #[test]
    fn requests_map_to_statuses() {
        let p = |s: &str| parse_head(s.as_bytes());
        assert_eq!(p("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), Ok(Scrape::Get));
        assert_eq!(p("HEAD /metrics HTTP/1.0\r\n\r\n"), Ok(Scrape::Head));
        assert_eq!(p("GET /metrics?x=1 HTTP/1.1\r\n\r\n"), Ok(Scrape::Get));
        assert_eq!(p("GET http://h:9/metrics HTTP/1.1\r\n\r\n"), Ok(Scrape::Get));
        assert_eq!(p("\r\nGET /metrics HTTP/1.1\r\n\r\n"), Ok(Scrape::Get));
        assert_eq!(p("GET / HTTP/1.1\r\n\r\n"), Err(Status::NotFound));
        assert_eq!(p("GET /metrics/ HTTP/1.1\r\n\r\n"), Err(Status::NotFound));
        assert_eq!(p("GET http://h HTTP/1.1\r\n\r\n"), Err(Status::NotFound));
        assert_eq!(p("POST /metrics HTTP/1.1\r\n\r\n"), Err(Status::MethodNotAllowed));
        assert_eq!(p("OPTIONS * HTTP/1.1\r\n\r\n"), Err(Status::MethodNotAllowed));
        assert_eq!(p("GET /metrics HTTP/2.0\r\n\r\n"), Err(Status::VersionNotSupported));
        assert_eq!(p("GET /metrics HTTP/2\r\n\r\n"), Err(Status::VersionNotSupported));
        for bad in [
            "\r\n\r\n",
            "GET /metrics\r\n\r\n",
            "GET  /metrics HTTP/1.1\r\n\r\n",
            "GET /metrics HTTP/1.1 x\r\n\r\n",
            "G(T /metrics HTTP/1.1\r\n\r\n",
            "GET metrics HTTP/1.1\r\n\r\n",
            "GET /metrics FTP/1.1\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nno colon\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
            "\u{16}\u{3}\u{1}\u{2}\u{0}\u{1}\r\n\r\n",
        ] {
            assert_eq!(p(bad), Err(Status::BadRequest), "{bad:?}");
        }
        assert_eq!(parse_head(b"GET /m\xff HTTP/1.1\r\n\r\n"), Err(Status::BadRequest));
    }

    #[test]
    fn responses_close_and_say_why() {
        let r = String::from_utf8(error_response(Status::MethodNotAllowed, false)).unwrap();
        assert!(r.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{r}");
        assert!(r.contains("\r\nAllow: GET, HEAD\r\n"), "{r}");
        assert!(r.contains("\r\nConnection: close\r\n"), "{r}");
        let body = "405 Method Not Allowed: use GET or HEAD\n";
        assert!(r.contains(&format!("\r\nContent-Length: {}\r\n", body.len())), "{r}");
        assert!(r.ends_with(&format!("\r\n\r\n{body}")), "{r}");
        let h = String::from_utf8(error_response(Status::NotFound, true)).unwrap();
        assert!(h.ends_with("\r\n\r\n"), "{h}");
        assert!(h.contains("Content-Length: 39\r\n"), "{h}");
        for s in Status::ALL {
            assert_eq!(Status::ALL[s.index()], s);
        }
    }
}
