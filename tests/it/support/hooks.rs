//! A loopback HTTP double for veille's channels (Teams, Slack and webhook endpoints, a
//! Matrix homeserver): records every request with its body, answers each path from a
//! programmed sequence (the last repeats; 200 by default), and, like a homeserver, keeps
//! the Matrix events it is sent by transaction id: the same `txnId` again stores nothing
//! and answers the same `event_id`.
//!
//! One thread, one connection at a time, `Connection: close`; stops when dropped.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One programmed answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Send the status line, the headers and half the body, then nothing (until the
    /// client goes away): the client has its 2xx and is still reading.
    pub stall_in_body: bool,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
            stall_in_body: false,
        }
    }
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn body(mut self, body: &str) -> Reply {
        self.body = body.into();
        self
    }
    pub fn stall_in_body(mut self) -> Reply {
        self.stall_in_body = true;
        self
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
    /// The status answered.
    pub status: u16,
}

impl Hit {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body of {} {} is not JSON ({e}): {}",
                self.method,
                self.path,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

#[derive(Debug, Default)]
struct State {
    routes: HashMap<String, (Vec<Reply>, usize)>,
    hits: Vec<Hit>,
    /// Matrix events by txnId: (event_id, content).
    events: BTreeMap<String, (String, serde_json::Value)>,
}

#[derive(Debug)]
pub struct Hooks {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hooks {
    pub fn start() -> Hooks {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !sp.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => serve(s, &st, &sp),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Hooks {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answer `path` with these replies in turn (the last repeats).
    pub fn route(&self, path: &str, replies: Vec<Reply>) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .routes
            .insert(path.to_string(), (replies, 0));
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .hits
            .clone()
    }

    pub fn hits_to(&self, prefix: &str) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.path.starts_with(prefix))
            .collect()
    }

    /// The Matrix events stored, by txnId.
    pub fn matrix_events(&self) -> BTreeMap<String, (String, serde_json::Value)> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .events
            .clone()
    }
}

impl Drop for Hooks {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A request's method, path, headers and body.
type Request = (String, String, Vec<(String, String)>, Vec<u8>);

fn read_request(s: &mut TcpStream) -> Option<Request> {
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = s.read(&mut chunk).ok()?;
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
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[end + 4..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((method, path, headers, body))
}

/// `/_matrix/client/v3/rooms/{room}/send/m.room.message/{txnId}` → txnId.
fn matrix_txn(method: &str, path: &str) -> Option<String> {
    if method != "PUT" || !path.starts_with("/_matrix/client/v3/rooms/") {
        return None;
    }
    let (before, txn) = path.rsplit_once('/')?;
    before
        .ends_with("/send/m.room.message")
        .then(|| txn.to_string())
}

fn serve(mut s: TcpStream, state: &Mutex<State>, stop: &AtomicBool) {
    let _ = s.set_nonblocking(false);
    let Some((method, path, headers, body)) = read_request(&mut s) else {
        return;
    };
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    let route_key = path.split('?').next().unwrap_or("").to_string();
    let wildcard = route_key
        .rsplit_once('/')
        .map(|(p, _)| format!("{p}/*"))
        .unwrap_or_default();
    let key = if st.routes.contains_key(&route_key) {
        Some(route_key.clone())
    } else if st.routes.contains_key(&wildcard) {
        Some(wildcard)
    } else {
        None
    };
    let mut reply = key
        .and_then(|k| st.routes.get_mut(&k))
        .map(|(seq, next)| {
            let r = seq[(*next).min(seq.len() - 1)].clone();
            *next += 1;
            r
        })
        .unwrap_or_else(|| Reply::status(200).body("ok"));
    if (200..300).contains(&reply.status) {
        if let Some(txn) = matrix_txn(&method, &path) {
            let n = st.events.len() + 1;
            let content: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let (event_id, _) = st
                .events
                .entry(txn)
                .or_insert_with(|| (format!("$event{n}"), content))
                .clone();
            if reply.body.is_empty() || reply.body == "ok" {
                reply.body = format!("{{\"event_id\":\"{event_id}\"}}");
            }
        }
    }
    st.hits.push(Hit {
        method,
        path,
        headers,
        body,
        at: Instant::now(),
        status: reply.status,
    });
    drop(st);
    let mut head = format!("HTTP/1.1 {} X\r\n", reply.status);
    for (n, v) in &reply.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.body.len()
    ));
    let _ = s.write_all(head.as_bytes());
    if reply.stall_in_body {
        let _ = s.write_all(&reply.body.as_bytes()[..reply.body.len() / 2]);
        let _ = s.flush();
        // Hold the connection until the client is gone (or the double stops).
        let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
        let mut b = [0u8; 64];
        while !stop.load(Ordering::Relaxed) {
            match s.read(&mut b) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return,
            }
        }
        return;
    }
    let _ = s.write_all(reply.body.as_bytes());
    let _ = s.flush();
}
