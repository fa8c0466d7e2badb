//! Progress of long admin commands on stderr: a redrawn line with rate and ETA on a
//! terminal, a plain line now and then otherwise (logs and CI keep a readable record).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use eats_projections::handover::Progress;

/// Draws progress on stderr.
pub struct Stderr {
    terminal: bool,
    state: Mutex<State>,
}

struct State {
    phase: String,
    total: Option<u64>,
    done: u64,
    started: Instant,
    drawn: Instant,
}

impl Default for Stderr {
    fn default() -> Self {
        Self::new(std::io::stderr().is_terminal())
    }
}

impl Stderr {
    /// A bar on a terminal, plain lines otherwise.
    pub fn new(terminal: bool) -> Self {
        let now = Instant::now();
        Self {
            terminal,
            state: Mutex::new(State {
                phase: String::new(),
                total: None,
                done: 0,
                started: now,
                drawn: now,
            }),
        }
    }

    /// Ends the current phase's line.
    pub fn finish(&self) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if !state.phase.is_empty() {
            self.draw(&mut state, true);
            state.phase.clear();
        }
    }

    fn draw(&self, state: &mut State, last: bool) {
        let elapsed = state.started.elapsed().as_secs_f64().max(1e-3);
        let rate = state.done as f64 / elapsed;
        let counted = match state.total {
            Some(total) => {
                let left = total.saturating_sub(state.done);
                let eta = if rate > 0.0 { left as f64 / rate } else { 0.0 };
                let percent = if total == 0 {
                    100.0
                } else {
                    100.0 * state.done as f64 / total as f64
                };
                let filled = (percent / 5.0).round() as usize;
                format!(
                    "[{}{}] {}/{} ({percent:.0}%) {rate:.0}/s ETA {eta:.0}s",
                    "#".repeat(filled.min(20)),
                    " ".repeat(20 - filled.min(20)),
                    state.done,
                    total
                )
            }
            None => format!("{} done, {rate:.0}/s", state.done),
        };
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            write!(
                err,
                "\r\x1b[2K{}: {counted}{}",
                state.phase,
                if last { "\n" } else { "" }
            )
        } else {
            writeln!(err, "{}: {counted} after {elapsed:.1}s", state.phase)
        };
        let _ = err.flush();
        state.drawn = Instant::now();
    }
}

impl Progress for Stderr {
    fn phase(&self, name: &str, total: Option<u64>) {
        self.finish();
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let now = Instant::now();
        *state = State {
            phase: name.to_string(),
            total,
            done: 0,
            started: now,
            drawn: now,
        };
    }

    fn advance(&self, n: u64) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.done += n;
        let every = if self.terminal {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(5)
        };
        if state.drawn.elapsed() >= every {
            self.draw(&mut state, false);
        }
    }
}
