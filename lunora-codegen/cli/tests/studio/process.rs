//! `lunora-codegen studio` as a child process against the fake account, killed on drop, and
//! plain HTTP to it (ureq for ordinary requests, a raw socket when a header must lie).

#![allow(dead_code)] // each suite uses its own part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::studio::fake_account::{FakeAccount, ACCOUNT, TOKEN};

pub struct Studio {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Studio {
    pub fn start(account: &FakeAccount) -> Studio {
        Studio::start_against(&account.server.url(), ACCOUNT, TOKEN)
    }

    /// The studio against the API at `api_base` (`…/client/v4`) for `account`.
    pub fn start_against(api_base: &str, account: &str, token: &str) -> Studio {
        Studio::spawn(&["--api-base", api_base], &[("CLOUDFLARE_ACCOUNT_ID", account), ("CLOUDFLARE_API_TOKEN", token)])
    }

    /// `lunora-codegen studio --port 0 <args>` with only `vars` of the credentials set.
    pub fn spawn(args: &[&str], vars: &[(&str, &str)]) -> Studio {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lunora-codegen"))
            .args(["studio", "--port", "0"])
            .args(args)
            .env_remove("CLOUDFLARE_ACCOUNT_ID")
            .env_remove("CLOUDFLARE_API_TOKEN")
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn lunora-codegen studio");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            let _ = stdout.read_line(&mut line);
            let _ = tx.send(line);
            // Keep reading what it prints: a closed pipe would fail its next line.
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        let mut studio = Studio { child, url: String::new() };
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("studio printed no URL within 30 s");
        let url = line
            .trim()
            .strip_prefix("studio: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        studio.url = url.trim_end_matches('/').to_owned();
        assert!(studio.url.starts_with("http://127.0.0.1:"), "binds loopback by default: {}", studio.url);
        studio
    }

    /// `host:port`.
    pub fn authority(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// One request over a raw socket, headers exactly as given; returns (status, head, body).
    pub fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
        let mut stream = TcpStream::connect(self.authority()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n", body.len());
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let response = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, head.to_owned(), body.to_owned())
    }

    /// GET with an honest Host header: (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        let (status, _, body) = self.raw("GET", path, &[("host", self.authority())], "");
        (status, body)
    }
}

impl Drop for Studio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
