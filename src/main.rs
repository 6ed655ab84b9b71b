use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = onramp::cli::Cli::parse();
    // `discover` is one connection doing one thing: a single-threaded runtime keeps
    // its memory to what the snapshot needs (no worker threads, one malloc arena).
    let mut runtime = if cli.single_threaded() {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = runtime
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    runtime.block_on(async {
        let result = onramp::cli::run(cli).await;
        // Spans still buffered are exported before the process ends.
        tokio::task::spawn_blocking(onramp::telemetry::shutdown)
            .await
            .ok();
        match result {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                // The people's commands say whose fault a failure was (see client).
                match e.downcast_ref::<onramp::client::Failure>() {
                    Some(f) => std::process::ExitCode::from(f.exit),
                    None => std::process::ExitCode::FAILURE,
                }
            }
        }
    })
}
