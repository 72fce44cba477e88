//! The dispatch endpoint's load figure: dispatches per second through the native endpoint
//! (axum on 127.0.0.1, keep-alive connections) with deduplication on (a SQLite file, WAL) and
//! off (`NoDedup`), in the same process, and what the dedup store costs per call.
//!
//! Run with `cargo bench -p lunora-tests --bench functions`. Prints one line per figure.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lunora_runtime::functions::{server, DedupStore, NoDedup, SqliteDedupStore};
use lunora_runtime::{DispatchEndpoint, Env, FunctionContext, FunctionError, FunctionRef, Functions};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const TOKEN: &str = "bench-admin-token-0123456789";
const ECHO: FunctionRef<u64, u64> = FunctionRef::new("bench:echo");
/// Concurrent keep-alive connections.
const CLIENTS: usize = 4;
/// Requests per connection per run.
const REQUESTS: usize = 2_000;
/// On and off runs alternate (on off, off on, …) so drift hits both alike.
const ROUNDS: usize = 6;
const DEADLINE: Duration = Duration::from_secs(120);

async fn serve(store: Arc<dyn DedupStore>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let functions =
        Functions::new().register(&ECHO, |_: FunctionContext, n: u64| async move { Ok::<_, FunctionError>(n) });
    let endpoint = DispatchEndpoint::new(functions, Env::new().with_var("LUNORA_ADMIN_TOKEN", TOKEN), store).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, tokio::spawn(async move { server::serve(listener, endpoint).await.unwrap() }))
}

/// One keep-alive connection sending `REQUESTS` dispatches with ids `<prefix>.<n>`.
async fn client(addr: SocketAddr, prefix: String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut stream = BufReader::new(stream);
    for n in 0..REQUESTS {
        let body = format!("{{\"args\":{n},\"functionPath\":\"bench:echo\",\"id\":\"{prefix}.{n}\"}}");
        let request = format!(
            "POST /_lunora/scheduler/dispatch HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {TOKEN}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.get_mut().write_all(request.as_bytes()).await.unwrap();
        let mut line = String::new();
        stream.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        let mut length = 0;
        loop {
            line.clear();
            stream.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.unwrap();
        assert_eq!(body, format!("{{\"result\":{n}}}").as_bytes());
    }
}

/// Dispatches per second of one run against `addr`.
async fn run(addr: SocketAddr, run: usize) -> f64 {
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS).map(|c| tokio::spawn(client(addr, format!("run{run}/c{c}")))).collect();
    for c in clients {
        tokio::time::timeout(DEADLINE, c).await.expect("a run finishes").unwrap();
    }
    (CLIENTS * REQUESTS) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let (on, on_task) = serve(Arc::new(SqliteDedupStore::open(dir.path().join("dedup.db")).unwrap())).await;
    let (off, off_task) = serve(Arc::new(NoDedup)).await;
    // Warm-up: connections, page cache, the table's first pages.
    run(on, 1_000).await;
    run(off, 1_001).await;
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        if round % 2 == 0 {
            with.push(run(on, round).await);
            without.push(run(off, round).await);
        } else {
            without.push(run(off, round).await);
            with.push(run(on, round).await);
        }
    }
    let (with, without) = (median(with), median(without));
    println!(
        "dispatch, dedup on (SQLite, WAL): {with:.0} dispatches/s ({CLIENTS} connections, median of {ROUNDS} runs)"
    );
    println!("dispatch, dedup off (NoDedup):    {without:.0} dispatches/s");
    println!(
        "dedup store cost: {:.1} µs of endpoint time per call ({:.2}× a call without it)",
        (1.0 / with - 1.0 / without) * 1e6,
        without / with
    );
    on_task.abort();
    off_task.abort();
}
