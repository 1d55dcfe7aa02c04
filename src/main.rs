//! The `borderless` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod operator_cli;
use operator_cli::{
    AssertionKeyCommand, ConfigArg, GroupsCommand, GuestsCommand, InviteArgs, KeysCommand,
    WhatIfArgs,
};

// glibc malloc showed up at ~9 % of CPU under load (malloc_consolidate, _int_free);
// mimalloc keeps the many short-lived per-request allocations thread-local.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "borderless",
    version,
    about = "Federation gateway: guest sign-in in front of legacy web apps"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Config file [default: $BORDERLESS_CONFIG, else /etc/borderless/borderless.toml].
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate config files; prints file, line and key of every error and exits 1 on any.
    CheckConfig {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Invite a guest by email, or many with --csv.
    Invite(Box<InviteArgs>),
    /// List and manage directory users (guests and members).
    Guests {
        #[command(subcommand)]
        command: GuestsCommand,
        #[command(flatten)]
        common: ConfigArg,
    },
    /// Manage groups, their members and app assignments.
    Groups {
        #[command(subcommand)]
        command: GroupsCommand,
        #[command(flatten)]
        common: ConfigArg,
    },
    /// What the gateway would decide for a user opening an app (Conditional Access what-if).
    Whatif(Box<WhatIfArgs>),
    /// Print audit events.
    Audit {
        /// 30m, 24h, 7d, a Unix time or YYYY-MM-DD.
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 1000)]
        limit: i64,
        #[command(flatten)]
        common: ConfigArg,
    },
    /// Manage admin API keys.
    AdminKeys {
        #[command(subcommand)]
        command: KeysCommand,
        #[command(flatten)]
        common: ConfigArg,
    },
    /// Rotate the key that signs the assertions apps verify.
    AssertionKey {
        #[command(subcommand)]
        command: AssertionKeyCommand,
        #[command(flatten)]
        common: ConfigArg,
    },
    /// Run the demo upstream app that shows the headers it receives.
    DemoApp {
        #[arg(long, default_value = "127.0.0.1:9080")]
        listen: SocketAddr,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::CheckConfig { files } => check_config(&files),
        Command::Serve { config } => {
            let path = config.unwrap_or_else(|| {
                let p = borderless::config::default_path();
                eprintln!("using config {}", p.display());
                p
            });
            rt.block_on(serve(path))
        }
        Command::Invite(args) => rt.block_on(operator_cli::invite(*args)),
        Command::Guests { command, common } => rt.block_on(operator_cli::guests(command, common)),
        Command::Groups { command, common } => rt.block_on(operator_cli::groups(command, common)),
        Command::Whatif(args) => rt.block_on(operator_cli::whatif(*args)),
        Command::Audit {
            since,
            limit,
            common,
        } => rt.block_on(operator_cli::audit(since, limit, common)),
        Command::AdminKeys { command, common } => {
            rt.block_on(operator_cli::admin_keys(command, common))
        }
        Command::AssertionKey { command, common } => {
            rt.block_on(operator_cli::assertion_key(command, common))
        }
        Command::DemoApp { listen } => {
            init_logging(borderless::config::file::LogFormat::Text);
            match rt.block_on(borderless::demo_app::bind_and_serve(listen)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("demo app: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn check_config(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for f in files {
        match borderless::config::load(f) {
            Ok(_) => println!("{}: ok", f.display()),
            Err(errs) => {
                failed = true;
                for e in errs.0 {
                    eprintln!("{e}");
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn init_logging(format: borderless::config::file::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BORDERLESS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(borderless::DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        borderless::config::file::LogFormat::Json => builder.json().init(),
        borderless::config::file::LogFormat::Text => builder.init(),
    }
}

/// Tells the kernel not to back this process with transparent huge pages. mimalloc asks for
/// them on its arenas (`MADV_HUGEPAGE`), and the first touch of each 2 MB page then zeroes
/// all of it while a worker thread waits. After a restart, when every cold session read goes
/// into the cache and the heap grows, those stalls made most of the p99 of first requests;
/// with small pages the same cost comes 4 KB at a time (docs/benchmarks.md).
fn small_pages_only() {
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        tracing::warn!(error = %e, "cannot turn off transparent huge pages; cold-session latency may spike");
    }
}

async fn serve(path: PathBuf) -> ExitCode {
    let config = match borderless::config::load(&path) {
        Ok(c) => c,
        Err(errs) => {
            eprintln!("{errs}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(config.log_format);
    small_pages_only();
    match run(path, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(path: PathBuf, config: borderless::config::Config) -> anyhow::Result<()> {
    let listeners = borderless::server::bind(&config).await?;
    for l in &listeners {
        tracing::info!(addr = %l.local_addr()?, "listening");
    }
    let limits = config.limits.clone();
    let workers = config.workers;
    let public_url = config.public_url.clone();
    let gw = borderless::build(config).await?;
    if let Ok(mut certs) = gw.tls_certs.lock() {
        certs.extend(listeners.iter().filter_map(|l| l.cert.clone()));
    }
    borderless::reload_on_sighup(gw.clone(), path)?;
    borderless::purge_expired_sessions(gw.clone());
    tracing::info!(%public_url, workers, "gateway ready");

    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
        tracing::info!("shutting down");
        trigger.cancel();
    });
    borderless::server::serve_threaded(gw, listeners, limits, shutdown, workers).await
}
