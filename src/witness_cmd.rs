//! `auditlog witness`: wiring of the `witness` crate (docs/OPERATIONS.md,
//! "Running a witness").

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use auditlog_config::Config;

use crate::output::outln;

/// Runs the witness, or with `print_vkey` prints its verifier key.
pub async fn witness(config: Config, print_vkey: bool) -> Result<ExitCode> {
    let wc = &config.witness;
    let name = wc.require_name()?;
    let key = witness::keys::load_signing_key(&wc.key_file)?;
    if print_vkey {
        let signer =
            tlog::CosignatureSigner::new(name, key).map_err(witness::WitnessError::Config)?;
        outln!("{}", signer.verifier().vkey())?;
        return Ok(ExitCode::SUCCESS);
    }
    let handle = crate::commands::install_metrics(
        witness::telemetry::STATE_WRITE_SECONDS,
        witness::telemetry::STATE_WRITE_BUCKETS,
    )?;
    witness::telemetry::describe();
    crate::telemetry::spawn_process_metrics();
    if let Some(addr) = wc.metrics_listen {
        crate::commands::serve_metrics("witness.metrics_listen", addr, handle).await?;
    }
    let service = witness::Witness::new(name, key, wc.logs.clone(), &wc.state_dir)?;
    let addr = wc.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| witness::WitnessError::Bind { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    tracing::info!(
        listen = %local,
        vkey = %service.vkey(),
        logs = wc.logs.len(),
        state_dir = %wc.state_dir.display(),
        "witness listening"
    );
    witness::service::serve(
        listener,
        Arc::new(service),
        crate::commands::shutdown_signal(),
    )
    .await?;
    tracing::info!("witness stopped");
    Ok(ExitCode::SUCCESS)
}
