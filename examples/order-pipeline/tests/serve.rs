//! `order-pipeline serve`: the real binary on 127.0.0.1, driven over HTTP (the order routes
//! and the REST API through `WorkflowsRestClient`), stopped with SIGTERM in the middle of work
//! and started again on the same journal, where the waiting order carries on.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lunora_runtime::rest::{workflows_base_url, ListInstances, WorkflowsRestClient};
use lunora_runtime::InstanceStatusKind;

/// The server process; killed if the test ends early.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(db: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_order-pipeline"))
        .args(["serve", "--port", "0", "--db"])
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the server prints where it listens").unwrap();
        if let Some(url) = line.strip_prefix("listening on http://") {
            break url.to_owned();
        }
    };
    // Keep reading what it prints: a closed pipe would fail its next line.
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, addr }
}

fn post(addr: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let request =
        format!("POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap_or_else(|e| panic!("POST {path} {body}: {e}"));
    answer
}

fn client(addr: &str) -> WorkflowsRestClient {
    WorkflowsRestClient::new("local", "any-local-token-123")
        .with_base_url(workflows_base_url(&format!("http://{addr}/client/v4"), "local"))
}

async fn status_of(addr: &str, id: &str) -> InstanceStatusKind {
    client(addr).get_instance("order-pipeline", id).await.unwrap().status
}

async fn until(addr: &str, id: &str, want: InstanceStatusKind) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while status_of(addr, id).await != want {
        assert!(Instant::now() < deadline, "{id} never became {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_stops_on_sigterm_and_carries_on_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orders.db");
    let mut server = start(&db);
    let created = post(&server.addr, "/orders", r#"{"order_id": "7", "cool_off": "300 milliseconds"}"#);
    assert!(created.starts_with("HTTP/1.1 200") && created.contains(r#"{"id":"order-7"}"#), "{created}");
    let bad = post(&server.addr, "/orders", "{nope");
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    until(&server.addr, "order-7", InstanceStatusKind::Waiting).await;
    // A second order still in its cool-off sleep when the server stops.
    post(&server.addr, "/orders", r#"{"order_id": "8", "cool_off": "2 seconds"}"#);

    let term = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let exited = server.child.wait().unwrap();
    assert!(exited.success(), "a clean exit on SIGTERM: {exited:?}");
    assert!(!Path::new(&format!("{}-wal", db.display())).exists(), "the journal was closed cleanly");

    let server = start(&db);
    let page = client(&server.addr).list_instances(&ListInstances::new("order-pipeline")).await.unwrap();
    let ids: Vec<&str> = page.instances.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["order-7", "order-8"]);
    let shipped = post(&server.addr, "/orders/order-7/shipment", r#"{"tracking_id": "1Z"}"#);
    assert!(shipped.starts_with("HTTP/1.1 200"), "{shipped}");
    until(&server.addr, "order-7", InstanceStatusKind::Complete).await;
    until(&server.addr, "order-8", InstanceStatusKind::Waiting).await;
    let missing = post(&server.addr, "/orders/order-99/shipment", r#"{"tracking_id": "1Z"}"#);
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
}
