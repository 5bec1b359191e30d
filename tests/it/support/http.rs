//! A small programmable HTTP/1.1 server on 127.0.0.1 for veille's tests: routes by path
//! (with query) to canned responses, can gzip, delay, hang or truncate them, answers 304 to
//! matching conditional requests, and records every request.
//!
//! Two ways to run it:
//! - `TestServer::start().await` inside the test's tokio runtime;
//! - `TestServer::start_background()` from a sync test (or one that spawns the `veille`
//!   binary): the server gets its own thread and runtime.
//!
//! Each response is sent with `Connection: close`; the server stops when dropped.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

/// One canned response.
#[derive(Debug, Clone)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Arc<Vec<u8>>,
    gzip: bool,
    delay: Option<Duration>,
    hang: bool,
    truncate_at: Option<usize>,
    etag: Option<String>,
    last_modified: Option<String>,
    conditional: bool,
}

impl Response {
    pub fn status(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Arc::new(Vec::new()),
            gzip: false,
            delay: None,
            hang: false,
            truncate_at: None,
            etag: None,
            last_modified: None,
            conditional: true,
        }
    }

    /// `200 OK` with this body.
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Response::status(200).body(body)
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Arc::new(body.into());
        self
    }

    /// Add a header (sent as given, also on a 304).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn content_type(self, value: &str) -> Self {
        self.header("Content-Type", value)
    }

    /// Send this `ETag` and answer 304 to a matching `If-None-Match`.
    pub fn etag(mut self, value: &str) -> Self {
        self.etag = Some(value.to_string());
        self
    }

    /// Send this `Last-Modified` and answer 304 to an `If-Modified-Since` not older.
    pub fn last_modified(mut self, value: &str) -> Self {
        self.last_modified = Some(value.to_string());
        self
    }

    /// Send the validators but never answer 304 (a server without conditional GET).
    pub fn ignore_conditional(mut self) -> Self {
        self.conditional = false;
        self
    }

    /// Gzip the body on the wire (`Content-Encoding: gzip`).
    pub fn gzip(mut self) -> Self {
        self.gzip = true;
        self
    }

    /// Wait this long before answering.
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = Some(d);
        self
    }

    /// Read the request and never answer (until the server is dropped).
    pub fn hang(mut self) -> Self {
        self.hang = true;
        self
    }

    /// Declare the full Content-Length but send only the first `n` body bytes, then close.
    pub fn truncate_at(mut self, n: usize) -> Self {
        self.truncate_at = Some(n);
        self
    }
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path with query, as in the request line.
    pub path: String,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// When the server had read the request head.
    pub at: Instant,
}

impl Recorded {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct State {
    /// Path → responses served in order; the last one repeats.
    routes: Mutex<HashMap<String, (Vec<Response>, usize)>>,
    requests: Mutex<Vec<Recorded>>,
    arrived: Notify,
}

/// The server; stops when dropped.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Start on 127.0.0.1:0 in the current tokio runtime.
    pub async fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State::default());
        let (shutdown, rx) = watch::channel(false);
        tokio::spawn(accept_loop(listener, state.clone(), rx));
        TestServer {
            addr,
            state,
            shutdown,
            thread: None,
        }
    }

    /// Start on 127.0.0.1:0 on a thread of its own with its own runtime (for sync tests
    /// and tests that run the `veille` binary).
    pub fn start_background() -> TestServer {
        let state = Arc::new(State::default());
        let (shutdown, rx) = watch::channel(false);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread_state = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("test server runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind 127.0.0.1:0");
                addr_tx
                    .send(listener.local_addr().expect("local addr"))
                    .expect("send addr");
                accept_loop(listener, thread_state, rx).await;
            });
        });
        let addr = addr_rx.recv().expect("test server started");
        TestServer {
            addr,
            state,
            shutdown,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Serve `response` at `path` (with query, if any), replacing any previous route.
    pub fn route(&self, path: &str, response: Response) {
        self.route_sequence(path, vec![response]);
    }

    /// Serve these responses at `path` one after another; the last one repeats.
    pub fn route_sequence(&self, path: &str, responses: Vec<Response>) {
        assert!(!responses.is_empty(), "route_sequence needs a response");
        self.state
            .routes
            .lock()
            .unwrap()
            .insert(path.to_string(), (responses, 0));
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Requests received so far for one path.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Wait until at least `n` requests have arrived (no polling sleeps).
    pub async fn wait_for_requests(&self, n: usize) {
        loop {
            let notified = self.state.arrived.notified();
            if self.state.requests.lock().unwrap().len() >= n {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                let mut conn_shutdown = shutdown.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = conn_shutdown.changed() => {}
                        _ = serve(stream, state) => {}
                    }
                });
            }
        }
    }
}

/// Serve one request on one connection, then close it.
async fn serve(mut stream: TcpStream, state: Arc<State>) {
    let Some(request) = read_head(&mut stream).await else {
        return;
    };
    let response = {
        let mut routes = state.routes.lock().unwrap();
        routes.get_mut(&request.path).map(|(seq, next)| {
            let r = seq[(*next).min(seq.len() - 1)].clone();
            *next += 1;
            r
        })
    };
    state.requests.lock().unwrap().push(request.clone());
    state.arrived.notify_waiters();

    let response = response.unwrap_or_else(|| Response::status(404).body("no such route"));
    if let Some(d) = response.delay {
        tokio::time::sleep(d).await;
    }
    if response.hang {
        std::future::pending::<()>().await;
    }
    let bytes = render(&request, &response);
    let _ = stream.write_all(&bytes).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

/// Read a request head (and discard any body announced by Content-Length).
async fn read_head(stream: &mut TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let request = Recorded {
        method,
        path,
        headers,
        at: Instant::now(),
    };
    let body_len: usize = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut have = buf.len() - (end + 4);
    while have < body_len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        have += n;
    }
    Some(request)
}

fn not_modified(request: &Recorded, response: &Response) -> bool {
    if !response.conditional {
        return false;
    }
    if let (Some(inm), Some(etag)) = (request.header("if-none-match"), &response.etag) {
        return inm.split(',').any(|t| t.trim() == etag || t.trim() == "*");
    }
    if let (Some(ims), Some(lm)) = (request.header("if-modified-since"), &response.last_modified) {
        let parse = |s: &str| chrono::DateTime::parse_from_rfc2822(s.trim()).ok();
        return match (parse(ims), parse(lm)) {
            (Some(ims), Some(lm)) => lm <= ims,
            _ => ims.trim() == lm.trim(),
        };
    }
    false
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn render(request: &Recorded, response: &Response) -> Vec<u8> {
    let is_304 = not_modified(request, response);
    let status = if is_304 { 304 } else { response.status };
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (n, v) in &response.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(e) = &response.etag {
        head.push_str(&format!("ETag: {e}\r\n"));
    }
    if let Some(lm) = &response.last_modified {
        head.push_str(&format!("Last-Modified: {lm}\r\n"));
    }
    head.push_str("Connection: close\r\n");
    let mut out;
    if is_304 {
        head.push_str("\r\n");
        out = head.into_bytes();
    } else {
        let body: Vec<u8> = if response.gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&response.body).expect("gzip");
            head.push_str("Content-Encoding: gzip\r\n");
            enc.finish().expect("gzip")
        } else {
            response.body.as_ref().clone()
        };
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        out = head.into_bytes();
        let sent = response.truncate_at.unwrap_or(body.len()).min(body.len());
        out.extend_from_slice(&body[..sent]);
    }
    out
}

/// A loopback port free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// GET a path from a listener on a loopback port, blocking: (status code, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::Read as _;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}
