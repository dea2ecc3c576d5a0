//! The generator's progress line: a bar, the count, and the rate, redrawn in place on a
//! terminal at most five times a second; in a log (no terminal) one line per tenth, so a
//! benchmark's output stays readable.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    what: &'static str,
    total: u64,
    done: u64,
    started: Instant,
    drawn_at: Instant,
    drawn_tenths: u64,
    terminal: bool,
}

const WIDTH: u64 = 30;

impl Progress {
    pub fn new(what: &'static str, total: u64) -> Progress {
        let now = Instant::now();
        Progress {
            what,
            total,
            done: 0,
            started: now,
            drawn_at: now,
            drawn_tenths: 0,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    pub fn advance(&mut self, by: u64) {
        self.done += by;
        let tenths = (self.done * 10).checked_div(self.total).unwrap_or(10);
        let due = if self.terminal {
            self.drawn_at.elapsed() >= Duration::from_millis(200)
        } else {
            tenths > self.drawn_tenths
        };
        if due {
            self.draw(false);
            self.drawn_tenths = tenths;
        }
    }

    fn rate(&self) -> f64 {
        self.done as f64 / self.started.elapsed().as_secs_f64().max(0.001)
    }

    fn draw(&mut self, last: bool) {
        self.drawn_at = Instant::now();
        let filled = (self.done * WIDTH).checked_div(self.total).unwrap_or(WIDTH).min(WIDTH) as usize;
        let bar = format!("{}{}", "#".repeat(filled), "-".repeat(WIDTH as usize - filled));
        let line = format!(
            "  {:<10} [{bar}] {:>10} of {:<10} {:>9.0}/s",
            self.what,
            thousands(self.done),
            thousands(self.total),
            self.rate()
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            write!(err, "\r{line}{}", if last { "\n" } else { "" })
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }

    /// Draws the final line and says how long it took.
    pub fn finish(mut self) -> Duration {
        if self.terminal || self.drawn_tenths < 10 {
            self.draw(true);
        }
        self.started.elapsed()
    }
}

/// 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_separated() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(1_234_567), "1,234,567");
    }
}
