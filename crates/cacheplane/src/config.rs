//! Configuration of `cacheplane serve`: flags, environment, an optional TOML file, and the API credentials.
//!
//! Credentials come, in order, from `--access-key-id` (or `CACHEPLANE_ACCESS_KEY_ID`) with the secret in
//! `--secret-access-key-file` or `CACHEPLANE_SECRET_ACCESS_KEY`, the config file, or the data directory's
//! `credentials` file, which is generated with mode 0600 on first start when none of the others gives a pair.
//! Secrets are never taken as a flag's value: every local user reads a process's arguments (`/proc/PID/cmdline`),
//! while its environment is its owner's only.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use serde::Deserialize;

pub const DEFAULT_DATA_DIR: &str = "./cacheplane-data";

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address of the API (loopback by default).
    #[arg(long, default_value = "127.0.0.1:9736")]
    pub listen: SocketAddr,
    /// Where state, node data and secrets live.
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Keep the state in PostgreSQL (postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE) instead of the data
    /// directory's embedded SQLite file; several daemons may share it.
    #[arg(
        long,
        env = "CACHEPLANE_STORE",
        value_name = "URL",
        hide_env_values = true
    )]
    pub store: Option<String>,
    /// The AWS region this daemon answers as.
    #[arg(long, env = "CACHEPLANE_REGION")]
    pub region: Option<String>,
    /// The account id in ARNs.
    #[arg(long, env = "CACHEPLANE_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// API access key id (else environment, config file, or a generated pair).
    #[arg(long, env = "CACHEPLANE_ACCESS_KEY_ID")]
    pub access_key_id: Option<String>,
    /// Refused with a sentence: a secret given as a flag's value is in every local user's process list.
    #[arg(long = "secret-access-key", hide = true, value_name = "SECRET")]
    pub secret_access_key_flag: Option<String>,
    /// A file holding the API secret access key (else the environment's CACHEPLANE_SECRET_ACCESS_KEY, the config
    /// file, or a generated pair). Never a flag's value: every local user can read a process's arguments.
    #[arg(long, value_name = "PATH")]
    pub secret_access_key_file: Option<PathBuf>,
    /// A redis-server binary to register (repeatable); default: the one on PATH.
    #[arg(long = "engine-binary")]
    pub engine_binaries: Vec<PathBuf>,
    /// Availability zone names (comma-separated); default <region>a,b,c.
    #[arg(long, value_delimiter = ',')]
    pub availability_zones: Vec<String>,
    /// A TOML file with any of: region, account_id, access_key_id, secret_access_key, engine_binaries,
    /// availability_zones.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Stop every node when the daemon exits (for throw-away use). By default nodes keep running.
    #[arg(long)]
    pub stop_nodes_on_exit: bool,
    /// Seconds a migration target may take to start replicating from the source before the attempt is retried
    /// (three attempts, then the migration is abandoned). A sync that is making progress is never cut short.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub migration_attempt_timeout: u64,
    /// Manual snapshots kept at most; CreateSnapshot and CopySnapshot answer SnapshotQuotaExceededFault beyond.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=100000))]
    pub snapshot_quota: u64,
    /// Automatic failovers one replication group may have within --automatic-failover-window; past that, a
    /// failed primary is restarted in place (with an event) instead of failed over again: a storm of failovers
    /// helps no client.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub max_automatic_failovers: u32,
    /// The window, in seconds, of --max-automatic-failovers.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub automatic_failover_window: u64,
    /// The memory all nodes of this daemon may hold together (bytes, or with a unit: 512MB, 8GB, 4GiB). A restore
    /// or a replica add whose data would not fit in what is left (nor in what the kernel has available) is
    /// refused with InsufficientCacheClusterCapacity. By default only the kernel's MemAvailable counts.
    #[arg(long, value_parser = parse_bytes)]
    pub memory_limit: Option<u64>,
    /// Endpoints become DNS names under this zone, in AWS's shapes (`master.<group>.<id>.<region-short>.cache.ZONE`),
    /// served by this daemon's DNS server (--dns-listen) with a TTL of 5 s. Groups with TLS or dual stack keep
    /// addresses. Without it every endpoint is an address, as on one machine.
    #[arg(long, value_name = "ZONE", value_parser = parse_dns_zone)]
    pub dns_zone: Option<String>,
    /// Where the DNS server of --dns-zone answers (UDP; port 53 needs root or CAP_NET_BIND_SERVICE).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8053")]
    pub dns_listen: SocketAddr,
    /// Where Prometheus metrics are served (`GET /metrics`, OpenMetrics text), apart from the API and never
    /// signed: a loopback address by default, `off` for none. When the default port is taken the daemon runs
    /// without metrics and says so; an address given here must be free.
    #[arg(long, default_value = DEFAULT_METRICS_LISTEN)]
    pub metrics_listen: String,
    /// The nodes' INFO is read at most once per this many seconds, however many scrapers there are.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub metrics_interval: u64,
    /// A file holding a bearer token that every scrape of `/metrics` must present (`Authorization: Bearer
    /// TOKEN`; 401 otherwise). Read once at start; the token itself is never a flag, so it is not in the process
    /// list. Without it the metrics listener answers anyone who reaches it.
    #[arg(long, value_name = "PATH")]
    pub metrics_token_file: Option<std::path::PathBuf>,
    /// Refused with a sentence: a secret given as a flag's value is in every local user's process list.
    #[arg(long = "console-password", hide = true, value_name = "PASSWORD")]
    pub console_password_flag: Option<String>,
    /// A file holding a password of at least 16 characters that opens the web console (`/console/`) besides the
    /// API's key pair (else the environment's CACHEPLANE_CONSOLE_PASSWORD).
    #[arg(long, value_name = "PATH")]
    pub console_password_file: Option<PathBuf>,
    /// Serve no web console.
    #[arg(long)]
    pub no_console: bool,
    /// Serve the console on a --listen address that is not loopback, over plain HTTP: its logins and session
    /// cookies then cross the network in clear. Without it, such an address needs --no-console.
    #[arg(long)]
    pub console_insecure: bool,
    /// A host name the console and the metrics answer for (repeatable), besides the addresses the daemon listens
    /// on and, when it listens on loopback, localhost: a request naming another Host is refused (DNS rebinding).
    #[arg(long = "allowed-host", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,
}

/// The environment variable of the API's secret access key.
const SECRET_ENV: &str = "CACHEPLANE_SECRET_ACCESS_KEY";
/// The environment variable of the console password.
const CONSOLE_PASSWORD_ENV: &str = "CACHEPLANE_CONSOLE_PASSWORD";
/// The shortest console password accepted.
pub const MIN_CONSOLE_PASSWORD: usize = 16;

/// A secret from `file` (its first line) or else the environment variable `env`; `flag`, the refused flag that
/// would have put it in the process list.
fn secret(
    flag: (&str, Option<&String>),
    file: (&str, Option<&PathBuf>),
    env: &str,
) -> anyhow::Result<Option<(String, String)>> {
    if flag.1.is_some() {
        bail!(
            "{} takes no value on the command line, where every local user can read it in the process list \
             (/proc/PID/cmdline): give it in the environment variable {env} or in a file with {}",
            flag.0,
            file.0
        );
    }
    if let Some(path) = file.1 {
        let value = secret_file(path, file.0, &format!("use the environment variable {env}"))?;
        return Ok(Some((value, format!("the file given to {}", file.0))));
    }
    Ok(std::env::var(env)
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| (v, format!("the environment variable {env}"))))
}

/// The secret in the file `path` given to `flag`: its first line, without the line end. Warns when other users
/// may read the file; `otherwise` says what to do instead when it cannot be read.
pub fn secret_file(path: &Path, flag: &str, otherwise: &str) -> anyhow::Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {flag} {}: check the path, or {otherwise}",
            path.display()
        )
    })?;
    if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
        tracing::warn!(file = %path.display(), "the file given to {flag} can be read by other users: chmod 600 it");
    }
    let value = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if value.is_empty() {
        bail!(
            "the file {} given to {flag} is empty: write the secret on its first line",
            path.display()
        );
    }
    Ok(value.to_string())
}

/// The metrics listener's default address.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9737";

/// `4096`, `512MB`, `8GB`, `4GiB`, `1.5GB`: a size in bytes.
pub(crate) fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit '{other}' (use B, KB, MB, GB, KiB, MiB or GiB)"
            ))
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 8GB)"))?;
    if !n.is_finite() || n <= 0.0 {
        return Err(format!("'{s}' is not a positive size"));
    }
    Ok((n * scale as f64) as u64)
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    region: Option<String>,
    account_id: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    #[serde(default)]
    engine_binaries: Vec<PathBuf>,
    #[serde(default)]
    availability_zones: Vec<String>,
}

/// The resolved configuration.
#[derive(Debug)]
pub struct Resolved {
    pub listen: SocketAddr,
    /// The console's password, of at least [`MIN_CONSOLE_PASSWORD`] characters.
    pub console_password: Option<String>,
    /// Whether the console is served.
    pub console: bool,
    /// Whether the console is served over plain HTTP on an address other than loopback (`--console-insecure`).
    pub console_insecure: bool,
    /// `--allowed-host` names.
    pub allowed_hosts: Vec<String>,
    pub data_dir: PathBuf,
    pub store: control::store::StoreAt,
    pub region: String,
    pub account_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub engine_binaries: Vec<PathBuf>,
    pub availability_zones: Vec<String>,
    pub stop_nodes_on_exit: bool,
    pub migration_attempt_timeout: u64,
    pub snapshot_quota: u64,
    pub failover_budget: control::FailoverBudget,
    pub memory_limit: Option<u64>,
    /// `--dns-zone`.
    pub dns_zone: Option<String>,
    /// Where the DNS server of `--dns-zone` answers.
    pub dns_listen: SocketAddr,
    /// True when the credentials were generated on this start (so we print how to use them).
    pub generated_credentials: bool,
    /// This daemon's hold on the data directory: held, never read (dropping it releases the directory).
    #[allow(dead_code)]
    /// The data directory's lock, held for the daemon's life; on a shared store (PostgreSQL) taken only once the
    /// daemon leads (the daemons of one machine share its data directory: its nodes are the leader's to run).
    pub lock: Option<engine::private::DirLock>,
    /// On a shared store, held while the daemon sets up what the daemons of the machine share (secrets, the CA,
    /// credentials), until the control plane is open.
    pub init: Option<engine::private::InitLock>,
}

const CREDENTIALS_FILE: &str = "credentials";

fn read_credentials_file(path: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut id = None;
    let mut secret = None;
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "aws_access_key_id" => id = Some(v.trim().to_string()),
                "aws_secret_access_key" => secret = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    Some((id?, secret?))
}

/// `path` made absolute against the current directory, so that nothing later depends on where the daemon or a node
/// it starts happens to be (a node changes into its own directory).
pub fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| {
        format!(
            "the path {} cannot be made absolute (is the current directory still there?)",
            path.display()
        )
    })
}

/// An engine binary given by path (`./bin/redis-server`, made absolute) or by name (`redis-server`, looked up on
/// `PATH` as a shell would).
fn engine_binary(given: &Path) -> anyhow::Result<PathBuf> {
    let by_name = given.components().count() == 1 && !given.is_absolute();
    let path = if by_name {
        let name = given.to_string_lossy();
        engine::binary::find_named_on_path(&name).with_context(|| {
            format!(
                "the engine binary {name} is not on PATH: give its full path (--engine-binary, or the config \
                 file's engine_binaries)"
            )
        })?
    } else {
        absolute(given)?
    };
    if !path.is_file() {
        bail!(
            "the engine binary {} does not exist: give the path of a redis-server, valkey-server or memcached \
             binary (--engine-binary, or the config file's engine_binaries; a relative path is taken from the \
             current directory)",
            path.display()
        );
    }
    Ok(path)
}

/// A `--dns-zone`: a domain name of letters, digits and hyphens, lower-cased, without its trailing dot.
fn parse_dns_zone(s: &str) -> Result<String, String> {
    let zone = s.trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    // The longest endpoint name (a node of a 40-character group) leaves 100 characters of DNS's 253 to the zone.
    if zone.is_empty() || zone.len() > 100 || !zone.split('.').all(label_ok) {
        return Err(format!(
            "'{s}' is not a DNS zone: give a domain name of at most 100 characters such as cache.example.internal \
             (labels of letters, digits and hyphens, separated by dots)"
        ));
    }
    Ok(zone)
}

pub fn resolve(mut args: ServeArgs) -> anyhow::Result<Resolved> {
    let file = read_config_file(args.config.as_deref())?;
    let store = control::store::StoreAt::new(&absolute(&args.data_dir)?, args.store.as_deref())?;
    let (data_dir, lock) = lock_data_dir(&args.data_dir, args.listen, !store.shared())?;
    let init = match lock {
        None => Some(engine::private::InitLock::wait(&data_dir)?),
        Some(_) => None,
    };
    let (region, account_id) =
        region_and_account(args.region.take(), args.account_id.take(), &file)?;
    let (console_password, console) = console_settings(&args)?;
    let (access_key_id, secret_access_key, generated) =
        key_pair(&mut args, &file, &data_dir, &store)?;
    let engine_binaries = args
        .engine_binaries
        .iter()
        .chain(&file.engine_binaries)
        .map(|b| engine_binary(b))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut availability_zones = args.availability_zones;
    if availability_zones.is_empty() {
        availability_zones = file.availability_zones;
    }
    if availability_zones.is_empty() {
        availability_zones = control::Settings::default_zones(&region);
    }
    Ok(Resolved {
        listen: args.listen,
        console_password: console_password.map(|(p, _)| p),
        console,
        console_insecure: args.console_insecure,
        allowed_hosts: args.allowed_hosts,
        data_dir,
        store,
        region,
        account_id,
        access_key_id,
        secret_access_key,
        engine_binaries,
        availability_zones,
        stop_nodes_on_exit: args.stop_nodes_on_exit,
        migration_attempt_timeout: args.migration_attempt_timeout,
        snapshot_quota: args.snapshot_quota,
        failover_budget: control::FailoverBudget {
            count: args.max_automatic_failovers,
            window: std::time::Duration::from_secs(args.automatic_failover_window),
        },
        memory_limit: args.memory_limit,
        dns_zone: args.dns_zone,
        dns_listen: args.dns_listen,
        generated_credentials: generated,
        lock,
        init,
    })
}

/// The `--config` TOML file, or the defaults without one.
fn read_config_file(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    Ok(match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| {
                format!(
                    "cannot read the config file {}: check the path given to --config",
                    p.display()
                )
            })?;
            toml::from_str(&text).with_context(|| {
                format!(
                    "the config file {} is not valid: correct it or leave out --config",
                    p.display()
                )
            })?
        }
        None => FileConfig::default(),
    })
}

/// The data directory, created private, and the lock that keeps it this daemon's (when `take`).
fn lock_data_dir(
    given: &Path,
    listen: SocketAddr,
    take: bool,
) -> anyhow::Result<(PathBuf, Option<engine::private::DirLock>)> {
    let data_dir = absolute(given)?;
    if let Err(e) = engine::private::create_dir(&data_dir) {
        let why = match &e {
            engine::EngineError::Io { source, .. } => source.to_string(),
            other => other.to_string(),
        };
        bail!(
            "cannot create the data directory {} ({why}): choose a directory you can write with --data-dir",
            data_dir.display()
        );
    }
    if !take {
        return Ok((data_dir, None));
    }
    // One daemon per data directory, held for this process's life (before anything in it is read or written).
    Ok((data_dir.clone(), Some(lock_for(&data_dir, listen)?)))
}

/// Takes the data directory's lock for this process (API on `listen`), or says who holds it.
pub fn lock_for(
    data_dir: &Path,
    listen: SocketAddr,
) -> Result<engine::private::DirLock, engine::EngineError> {
    engine::private::DirLock::acquire(
        data_dir,
        &format!("pid {}, API on {}", std::process::id(), listen),
    )
}

/// The region and account id (flag, then config file, then the defaults), checked.
fn region_and_account(
    region: Option<String>,
    account_id: Option<String>,
    file: &FileConfig,
) -> anyhow::Result<(String, String)> {
    let region = region
        .or(file.region.clone())
        .unwrap_or_else(|| "us-east-1".to_string());
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        bail!("invalid region '{region}': use a name such as us-east-1");
    }
    let account_id = account_id
        .or(file.account_id.clone())
        .unwrap_or_else(|| "000000000000".to_string());
    if account_id.len() != 12 || !account_id.chars().all(|c| c.is_ascii_digit()) {
        bail!("invalid account id '{account_id}': it must be 12 digits");
    }
    Ok((region, account_id))
}

/// The console's password (checked for length) and whether the console is on (refused over plain HTTP off
/// loopback without `--console-insecure`).
fn console_settings(args: &ServeArgs) -> anyhow::Result<(Option<(String, String)>, bool)> {
    let console_password = secret(
        ("--console-password", args.console_password_flag.as_ref()),
        (
            "--console-password-file",
            args.console_password_file.as_ref(),
        ),
        CONSOLE_PASSWORD_ENV,
    )?;
    if let Some((p, from)) = &console_password {
        let n = p.chars().count();
        if n < MIN_CONSOLE_PASSWORD {
            bail!(
                "the console password ({from}) is {n} characters long; it must be at least \
                 {MIN_CONSOLE_PASSWORD} characters: choose a longer one (e.g. `openssl rand -base64 24`)"
            );
        }
    }
    let console = !args.no_console;
    if console && !args.listen.ip().is_loopback() && !args.console_insecure {
        bail!(
            "the console would be served over plain HTTP on {}, which is not a loopback address: its logins and \
             session cookies would cross the network in clear. Listen on a loopback address (and reach it through \
             an SSH tunnel or a TLS proxy), turn the console off with --no-console, or accept the risk with \
             --console-insecure",
            args.listen
        );
    }
    Ok((console_password, console))
}

/// The API's key pair: given (flags, environment or config file), or read from the data directory's credentials
/// file, or generated into it (then `true`); on a shared store, the deployment's pair (see
/// `control::store::shared_files`).
fn key_pair(
    args: &mut ServeArgs,
    file: &FileConfig,
    data_dir: &Path,
    store: &control::store::StoreAt,
) -> anyhow::Result<(String, String, bool)> {
    let flag_secret = secret(
        ("--secret-access-key", args.secret_access_key_flag.as_ref()),
        (
            "--secret-access-key-file",
            args.secret_access_key_file.as_ref(),
        ),
        SECRET_ENV,
    )?
    .map(|(s, _)| s);
    let mut generated = false;
    let (access_key_id, secret_access_key) = match (
        args.access_key_id.take().or(file.access_key_id.clone()),
        flag_secret.or(file.secret_access_key.clone()),
    ) {
        (Some(a), Some(s)) => (a, s),
        (Some(_), None) | (None, Some(_)) => {
            bail!("give both an access key id and a secret access key (flags, environment or config file), or neither")
        }
        (None, None) => {
            let path = data_dir.join(CREDENTIALS_FILE);
            if store.shared() {
                // Every daemon of the deployment answers to the pair the first one made.
                let mut shared = store.open()?;
                generated = control::store::shared_files::share(
                    &mut *shared,
                    data_dir,
                    &control::store::shared_files::API_CREDENTIALS,
                    || generate_credentials(&path),
                )?;
            } else if read_credentials_file(&path).is_none() {
                generate_credentials(&path)?;
                generated = true;
            }
            read_credentials_file(&path)
                .with_context(|| format!("{} holds no key pair", path.display()))?
        }
    };
    if access_key_id.is_empty() || secret_access_key.is_empty() {
        bail!("the access key id and secret access key must not be empty");
    }
    Ok((access_key_id, secret_access_key, generated))
}

/// Writes a new key pair into the credentials file `path` (0600).
fn generate_credentials(path: &Path) -> control::Result<()> {
    let id = format!(
        "AKCP{}",
        engine::secret::random_token(16).to_ascii_uppercase()
    );
    let secret = engine::secret::random_token(40);
    engine::secret::write_private(
        path,
        &format!("[default]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n"),
    )?;
    Ok(())
}

/// Shell lines that point the AWS CLI at a daemon using the generated credentials.
pub fn usage_lines(listen: SocketAddr, region: &str, id: &str, credentials_file: &Path) -> String {
    // Single-quoted for the shell: a checkout's path may hold spaces or `$`.
    let quoted = format!(
        "'{}'",
        credentials_file
            .display()
            .to_string()
            .replace('\'', "'\\''")
    );
    format!(
        "export AWS_ACCESS_KEY_ID={id}\n\
         export AWS_SECRET_ACCESS_KEY=$(sed -n 's/^aws_secret_access_key = //p' {quoted})\n\
         export AWS_DEFAULT_REGION={region}\n\
         export AWS_ENDPOINT_URL=http://{listen}\n\
         aws elasticache describe-replication-groups"
    )
}

pub fn print_credentials(data_dir: &Path, listen: SocketAddr, region: &str) -> anyhow::Result<()> {
    let path = data_dir.join(CREDENTIALS_FILE);
    let (id, _) = read_credentials_file(&path).with_context(|| {
        format!(
            "no generated credentials in {} (start `cacheplane serve` once, or configure your own)",
            path.display()
        )
    })?;
    println!("{}", usage_lines(listen, region, &id, &path));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn credentials_lines_survive_a_path_with_spaces_and_quotes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("my checkout's data");
        std::fs::create_dir(&data).expect("mkdir");
        let file = data.join("credentials");
        std::fs::write(
            &file,
            "[default]\naws_access_key_id = AKID\naws_secret_access_key = s3cr$t\n",
        )
        .expect("write");
        let lines = super::usage_lines(
            "127.0.0.1:9736".parse().expect("addr"),
            "us-east-1",
            "AKID",
            &file,
        );
        // Everything but the last line (the check that calls the API) evaluated by a shell, as a user does.
        let exports: Vec<&str> = lines.lines().filter(|l| l.starts_with("export ")).collect();
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "{}\necho \"$AWS_SECRET_ACCESS_KEY|$AWS_ENDPOINT_URL\"",
                exports.join("\n")
            ))
            .output()
            .expect("bash");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "s3cr$t|http://127.0.0.1:9736"
        );
    }

    #[test]
    fn sizes_with_and_without_units() {
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("512MB"), Ok(512_000_000));
        assert_eq!(parse_bytes("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_bytes("4GiB"), Ok(4 << 30));
        assert!(parse_bytes("4 parsecs").is_err());
        assert!(parse_bytes("-1GB").is_err());
        assert!(parse_bytes("0").is_err());
    }
}
