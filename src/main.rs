//! `streamhall`: the command line. `streamhall` alone serves.

use std::{io::Read, path::PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use sea_orm_migration::MigratorTrait;
use secrecy::ExposeSecret;
use streamhall::{backup, config::Config, startup, telemetry};
use streamhall_migration::Migrator;

/// A self-hostable live-streaming platform: RTMP in, adaptive HLS out, chat, follows.
///
/// Configuration comes from built-in defaults, then the config file, then environment
/// variables named STREAMHALL_SECTION__KEY (for example STREAMHALL_HTTP__LISTEN=127.0.0.1:0,
/// STREAMHALL_DATA_DIR=/var/lib/streamhall, STREAMHALL_DATABASE__URL=postgres://…,
/// STREAMHALL_REDIS__URL=redis://127.0.0.1:6379). See streamhall.example.toml for every key.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// Config file (TOML). Default: ./streamhall.toml when it exists.
    #[arg(
        long,
        short,
        global = true,
        env = "STREAMHALL_CONFIG",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default). On first start with an empty database it creates an
    /// `admin` account and prints its password once.
    Serve,
    /// Apply or revert database migrations, then exit.
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Back up the database, every object of the store and the generated secrets into a new
    /// directory, while the server runs.
    Backup {
        /// The directory to create. Default: {data_dir}/backups/streamhall-YYYYmmddTHHMMSSZ.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Restore a backup into the configured database, object store and data directory, then
    /// migrate. Run it with the server stopped.
    Restore {
        /// The backup directory (the one holding manifest.json).
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// Overwrite a database that already has accounts.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum MigrateAction {
    /// Apply every pending migration (the default).
    Up,
    /// Revert the last N migrations.
    Down {
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// Show which migrations are applied.
    Status,
}

#[derive(Subcommand)]
enum UserAction {
    /// Create an account. The password is read from stdin when --password-stdin is given,
    /// otherwise a random one is generated and printed.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Make the account a site administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Print a password reset link for an account, to hand over when the server sends no
    /// email. It works once, for accounts.reset_link_ttl_minutes; older links stop working.
    ResetLink {
        /// The account's username or email address.
        user: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config =
        Config::load(cli.config.as_deref()).map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    config
        .resolve_paths()
        .context("resolving data_dir against the current directory")?;
    telemetry::init(&config.log);
    let system = actix_web::rt::System::new();
    let result = system.block_on(run(cli.command.unwrap_or(Command::Serve), config));
    if let Err(e) = &result {
        // Say why before tearing down: actors that never ran may not stop cleanly.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    drop(system);
    result
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve(config).await,
        Command::Migrate { action } => {
            std::fs::create_dir_all(&config.data_dir)?;
            let db = startup::connect(&config).await?;
            match action.unwrap_or(MigrateAction::Up) {
                MigrateAction::Up => Migrator::up(&db, None).await?,
                MigrateAction::Down { steps } => Migrator::down(&db, Some(steps)).await?,
                MigrateAction::Status => Migrator::status(&db).await?,
            }
            db.close().await?;
            Ok(())
        }
        Command::User {
            action:
                UserAction::Create {
                    username,
                    email,
                    admin,
                    password_stdin,
                },
        } => {
            std::fs::create_dir_all(&config.data_dir)?;
            let db = startup::connect(&config).await?;
            Migrator::up(&db, None).await?;
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_to_string(&mut line)?;
                (line.lines().next().unwrap_or_default().to_owned(), false)
            } else {
                let mut buf = [0u8; 12];
                getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("random: {e}"))?;
                (hex::encode(buf), true)
            };
            let user = startup::create_user(&db, &username, &email, &password, admin)
                .await
                .context("creating the account")?;
            println!("created {} (id {}, {})", user.username, user.id, user.role);
            if generated {
                println!("password: {password}");
            }
            db.close().await?;
            Ok(())
        }
        Command::User {
            action: UserAction::ResetLink { user },
        } => {
            std::fs::create_dir_all(&config.data_dir)?;
            let db = startup::connect(&config).await?;
            Migrator::up(&db, None).await?;
            let (username, link) = streamhall::accounts::reset_link(&config, &db, &user).await?;
            println!(
                "password reset link for {username} (works once, for {} minutes; set public_url if this host is wrong):",
                config.accounts.reset_ttl().num_minutes()
            );
            println!("{link}");
            db.close().await?;
            Ok(())
        }
        Command::Backup { out } => backup::backup(&config, out).await.map(|_| ()),
        Command::Restore { from, force } => backup::restore(&config, &from, force).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Every viewer's chat socket is a file descriptor: take what the hard limit allows.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::info!(open_files = n, "file descriptor limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the file descriptor limit"),
    }
    let mut app = startup::Application::build(config).await?;
    // Before the banner: a Ctrl-C or SIGTERM right after it must stop gracefully, not kill.
    let first = Signals::install();
    let ingest = streamhall_http::api::server::rtmp_url(app.public_url(), app.rtmp_addr());
    if let Some(admin) = app.first_admin.take() {
        // Shown once on the terminal, never through the log pipeline.
        println!();
        println!("  streamhall is ready at {}", app.public_url());
        println!("  encoders push to {ingest}/STREAM_KEY");
        println!("  data directory: {}", app.data_dir().display());
        println!("  objects: {}", app.objects().describe());
        println!("  first start: created the administrator account");
        println!("    username: {}", admin.username);
        println!("    password: {}", admin.password.expose_secret());
        println!("  (shown only now; change it under Settings after signing in)");
        println!();
    } else {
        println!("streamhall is ready at {}", app.public_url());
        println!("encoders push to {ingest}/STREAM_KEY");
        println!("data directory: {}", app.data_dir().display());
        println!("objects: {}", app.objects().describe());
    }
    let handle = app.handle();
    actix_web::rt::spawn(async move {
        first.recv().await;
        tracing::info!("shutting down: finishing in-flight requests (signal again to exit now)");
        let second = Signals::install();
        let stop = handle.stop(true);
        actix_web::rt::spawn(async move {
            second.recv().await;
            tracing::warn!("second signal: exiting now");
            std::process::exit(130);
        });
        stop.await;
    });
    app.run_until_stopped().await
}

/// SIGTERM and SIGINT handlers, installed at once (from then on those signals no longer kill
/// the process) and awaited later.
struct Signals(Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>);

impl Signals {
    fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(int)) => Self(Some((term, int))),
            // Without handlers, Ctrl-C still kills the process the default way.
            _ => Self(None),
        }
    }

    async fn recv(self) {
        let Some((mut term, mut int)) = self.0 else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    }
}
