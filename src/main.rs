use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = onramp::cli::Cli::parse();
    let result = onramp::cli::run(cli).await;
    // Spans still buffered are exported before the process ends.
    tokio::task::spawn_blocking(onramp::telemetry::shutdown)
        .await
        .ok();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
