//! The `haven` binary: parses the command line and the environment, then hands over to the
//! library.

use std::process::ExitCode;

use clap::Parser;
use haven::cli::Cli;
use haven::config::Config;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("haven: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    haven::telemetry::init(config.log_format, &config.log_filter);
    let result = haven::commands::run(cli.command, config).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %haven::telemetry::loggable(&*error), "haven stopped on an error");
            eprintln!("haven: {error:#}");
            ExitCode::FAILURE
        }
    }
}
