//! The scenarios of SPEC §10, one module each. A scenario seeds what it needs through the public
//! API, drives a load with [`crate::load`], and returns a [`Report`] rendered two ways.

mod login;

use serde_json::Value;

use crate::cli::ScenarioCommand;
use crate::target::Target;

/// A scenario's result: text for a terminal, or one JSON object (`--json`).
#[derive(Debug)]
pub struct Report {
    /// `label  value` rows, printed aligned.
    pub rows: Vec<(String, String)>,
    /// The same figures, machine-readable.
    pub json: Value,
}

impl Report {
    /// The rows as aligned text, one per line.
    #[must_use]
    pub fn to_text(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|(label, _)| label.len())
            .max()
            .unwrap_or(0);
        self.rows
            .iter()
            .map(|(label, value)| format!("{label:<width$}  {value}\n"))
            .collect()
    }
}

/// Runs the scenario named on the command line against `target`.
pub async fn run(scenario: &ScenarioCommand, target: &Target) -> anyhow::Result<Report> {
    match scenario {
        ScenarioCommand::Login(args) => login::run(target, args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_aligned_on_the_longest_label() {
        let report = Report {
            rows: vec![("a".into(), "1".into()), ("long".into(), "2".into())],
            json: Value::Null,
        };
        assert_eq!(report.to_text(), "a     1\nlong  2\n");
    }
}
