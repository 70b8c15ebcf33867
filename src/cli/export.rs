//! `export`: an existing Qualys subscription as manifests (one file per
//! object, or one stream), ready to be reviewed, committed and applied. The
//! first apply adopts every object by its id and writes nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Value, json};

use super::manifests::ConnectionArgs;
use super::progress::ProgressReporter;
use super::workspace::{CliError, Workspace};
use crate::metrics::Metrics;
use crate::reconcile::export::{Exported, Filter, export};
use crate::reconcile::object::Kind;
use crate::reconcile::snapshot::Snapshot;

#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// Manifests holding the QualysAccount (and its credentials Secret) to export
    /// from; not needed with --qualys-url and QUALYS_USERNAME / QUALYS_PASSWORD.
    #[arg(short = 'f', long = "filename")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Directory to write into (one file per object and a kustomization.yaml), or
    /// `-` for one YAML stream on stdout.
    #[arg(long)]
    pub output_dir: PathBuf,
    /// Only these kinds (repeatable), e.g. `--kind AwsConnector`.
    #[arg(long = "kind")]
    pub kinds: Vec<String>,
    /// Only objects whose Qualys name matches this regular expression.
    #[arg(long)]
    pub name_regex: Option<String>,
    /// Namespace of the written objects.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// List what would be written, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The credentials Secret the exported QualysAccount references.
const CREDENTIALS: &str = "qualys-credentials";

fn filter(args: &ExportArgs) -> Result<Filter, CliError> {
    let mut kinds = BTreeSet::new();
    for name in &args.kinds {
        let kind = Kind::ALL
            .into_iter()
            .find(|k| k.kind_name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                CliError::Account(format!(
                    "--kind {name}: not a kind; one of {}",
                    Kind::ALL.map(Kind::kind_name).join(", ")
                ))
            })?;
        kinds.insert(kind);
    }
    let name = args
        .name_regex
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| CliError::Account(format!("--name-regex: {e}")))?;
    Ok(Filter { kinds, name })
}

fn yaml(value: &Value) -> Result<String, CliError> {
    serde_norway::to_string(value).map_err(|e| CliError::Account(format!("writing YAML: {e}")))
}

fn comment(lines: &[String]) -> String {
    lines.iter().map(|l| format!("# {l}\n")).collect()
}

/// One file: a comment, then the documents.
struct File {
    name: String,
    text: String,
}

fn secret_file(namespace: &str, name: &str, keys: &[String], hint: &str) -> Result<File, CliError> {
    let data: serde_json::Map<String, Value> = keys.iter().map(|k| (k.clone(), json!(""))).collect();
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": name, "namespace": namespace },
        "type": "Opaque",
        "stringData": data,
    });
    Ok(File {
        name: format!("secret-{name}.yaml"),
        text: format!(
            "{}{}",
            comment(&[
                format!("Qualys never returns secrets: fill in {hint}."),
                "Until then plan and apply treat it as unknown and never send it.".into(),
            ]),
            yaml(&secret)?
        ),
    })
}

fn object_file(e: &Exported, namespace: &str) -> Result<Vec<File>, CliError> {
    let mut header = vec![format!("Exported from Qualys {} {}.", e.kind.kind_name(), e.id)];
    header.extend(e.notes.iter().cloned());
    let mut files = vec![File {
        name: format!("{}-{}.yaml", e.kind.kind_name().to_lowercase(), e.name),
        text: format!("{}{}", comment(&header), yaml(&e.manifest)?),
    }];
    if let Some(s) = &e.secret {
        files.push(secret_file(namespace, &s.name, &s.keys, &s.hint)?);
    }
    Ok(files)
}

fn account_file(account: Value, namespace: &str) -> Result<Vec<File>, CliError> {
    let mut files = vec![File {
        name: "00-account.yaml".into(),
        text: format!(
            "{}{}",
            comment(&["The Qualys subscription the objects were exported from.".into()]),
            yaml(&account)?
        ),
    }];
    files.push(secret_file(
        namespace,
        CREDENTIALS,
        &["username".into(), "password".into()],
        "the Qualys API user's username and password",
    )?);
    Ok(files)
}

fn write(files: &[File], dir: &Path) -> Result<(), CliError> {
    let io = |path: &Path, e: std::io::Error| CliError::Account(format!("{}: {e}", path.display()));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut resources: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    resources.sort_unstable();
    let kustomization = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    });
    for f in files {
        let path = dir.join(&f.name);
        std::fs::write(&path, &f.text).map_err(|e| io(&path, e))?;
    }
    let path = dir.join("kustomization.yaml");
    std::fs::write(&path, yaml(&kustomization)?).map_err(|e| io(&path, e))
}

pub async fn run(args: ExportArgs) -> Result<ExitCode, CliError> {
    let metrics = Metrics::new();
    let progress = ProgressReporter::new(metrics.clone());
    let filter = filter(&args)?;
    progress
        .clone()
        .run(args.connection.timeout, async {
            let ws = Workspace::accounts_only(&args.paths)?;
            let options = args.connection.account_options();
            let conn = ws.connect(&options, progress.clone())?;
            progress.set_endpoints(conn.endpoints.clone());
            let to_stdout = args.output_dir.as_os_str() == "-";
            if !to_stdout {
                print!("{}", conn.endpoints.render());
            }
            let kinds: BTreeSet<Kind> = if filter.kinds.is_empty() {
                Kind::ALL.into_iter().collect()
            } else {
                filter.kinds.clone()
            };
            let snap = Snapshot::observe(&conn.client, &kinds)
                .await
                .map_err(|e| CliError::Account(format!("reading Qualys: {e}")))?;
            let exported = export(&snap, &filter, &args.namespace);
            let mut account_spec = match ws.chosen_account(&options)? {
                Some((_, spec)) => serde_json::to_value(spec).unwrap_or(Value::Null),
                None => json!({
                    "apiUrl": conn.endpoints.url(crate::qualys::Family::Qps),
                    "gatewayUrl": conn.endpoints.url(crate::qualys::Family::Gateway),
                    "cloudviewUrl": conn.endpoints.url(crate::qualys::Family::CloudView),
                }),
            };
            account_spec["credentialsSecretRef"] = json!({ "name": CREDENTIALS });
            // URLs from the command line: an http:// one was opted into there.
            let cleartext = ["apiUrl", "gatewayUrl", "cloudviewUrl"]
                .iter()
                .any(|k| account_spec[*k].as_str().is_some_and(|u| u.starts_with("http://")));
            if cleartext {
                account_spec["allowInsecureHttp"] = json!(true);
            }
            let account = json!({
                "apiVersion": format!("{}/v1alpha1", crate::crd::GROUP),
                "kind": "QualysAccount",
                "metadata": { "name": "default", "namespace": args.namespace },
                "spec": account_spec,
            });
            let mut files = account_file(account, &args.namespace)?;
            for e in &exported {
                files.extend(object_file(e, &args.namespace)?);
            }
            if args.dry_run {
                for f in &files {
                    println!("would write {}", f.name);
                }
            } else if to_stdout {
                let stream: Vec<&str> = files.iter().map(|f| f.text.as_str()).collect();
                print!("{}", stream.join("---\n"));
            } else {
                write(&files, &args.output_dir)?;
            }
            let summary = format!(
                "exported {} object(s) with {} Qualys API calls{}",
                exported.len(),
                metrics.total_qualys_calls(),
                if args.dry_run {
                    " (dry run: nothing written)"
                } else {
                    ""
                }
            );
            if to_stdout {
                eprintln!("{summary}");
            } else {
                println!("{summary}");
            }
            Ok(ExitCode::SUCCESS)
        })
        .await
}
