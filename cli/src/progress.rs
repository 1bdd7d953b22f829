//! Terminal progress on stderr ([`indicatif`]): a spinner line redrawn in place when stderr is
//! a terminal; anywhere else (CI logs, pipes) the spinner is hidden and every update is a
//! plain line instead.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal as _;
use std::time::Duration;

/// A live status line. Clones share the line.
#[derive(Debug, Clone)]
pub struct LiveLine {
    bar: ProgressBar,
    tty: bool,
}

impl Default for LiveLine {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveLine {
    /// A spinner on stderr if it is a terminal, else a hidden one (updates become lines).
    pub fn new() -> Self {
        Self::with_terminal(std::io::stderr().is_terminal())
    }

    /// As [`LiveLine::new`] with the terminal decision made by the caller.
    pub fn with_terminal(tty: bool) -> Self {
        let bar = if tty {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        } else {
            ProgressBar::hidden()
        };
        Self { bar, tty }
    }

    /// Whether the line is drawn in place (stderr is a terminal).
    pub fn is_terminal(&self) -> bool {
        self.tty
    }

    /// Replaces the line's text (a new line on stderr when not on a terminal).
    pub fn set(&self, text: impl Into<String>) {
        let text = text.into();
        if self.tty {
            self.bar.set_message(text);
        } else {
            eprintln!("{text}");
        }
    }

    /// Prints a line above the live line (a plain stderr line when not on a terminal).
    pub fn println(&self, text: impl AsRef<str>) {
        if self.tty {
            self.bar.println(text.as_ref());
        } else {
            eprintln!("{}", text.as_ref());
        }
    }

    /// Prints lines on stdout (the live line is hidden meanwhile, then redrawn below them).
    pub fn stdout(&self, lines: &[String]) {
        let print = || {
            for line in lines {
                println!("{line}");
            }
        };
        if self.tty {
            self.bar.suspend(print);
        } else {
            print();
        }
    }

    /// Stops the spinner, leaving its last text on the terminal.
    pub fn finish(&self) {
        if self.tty && !self.bar.is_finished() {
            self.bar.finish();
        }
    }

    /// Stops the spinner and erases its line.
    pub fn clear(&self) {
        if self.tty && !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_line_accepts_updates() {
        let line = LiveLine::with_terminal(false);
        assert!(!line.is_terminal());
        line.set("a");
        line.println("b");
        line.stdout(&["c".to_owned()]);
        line.finish();
        line.clear();
    }
}
