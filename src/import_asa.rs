//! `ferrogate import-asa FILE`: a Cisco ASA running-config's crypto sections as a ferrogate
//! config (control::asa_import), with every line it could not map reported.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Arguments of `import-asa`.
#[derive(Debug, clap::Args)]
pub struct ImportAsaArgs {
    /// The ASA running-config (`show running-config` or `more system:running-config`, which
    /// shows the pre-shared keys).
    pub file: PathBuf,
    /// Write the ferrogate config here (mode 0600: it holds the pre-shared keys) instead
    /// of to stdout; an existing file is not overwritten.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Runs the import: the summary for stderr (unmapped lines, notes, validation), or why it
/// failed.
pub fn run(args: &ImportAsaArgs) -> Result<String, String> {
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| format!("{}: cannot read: {e}", args.file.display()))?;
    let name = args.file.display().to_string();
    let out = control::asa_import::import_named(&name, &text);
    let mut summary = String::new();
    for u in &out.unmapped {
        summary.push_str(&format!("{name}:{}: not mapped: {}\n    {}\n", u.line, u.reason, u.text));
    }
    for n in &out.notes {
        summary.push_str(&format!("note: {n}\n"));
    }
    summary.push_str(&check(&out.toml));
    summary.push_str(&format!(
        "{name}: {} line(s) not mapped, {} note(s)\n",
        out.unmapped.len(),
        out.notes.len()
    ));
    match &args.output {
        Some(path) => write_private(path, &out.toml)?,
        None => {
            let mut stdout = std::io::stdout();
            stdout
                .write_all(out.toml.as_bytes())
                .map_err(|e| format!("writing the config: {e}"))?;
        }
    }
    Ok(summary)
}

/// What the policy validator says of the converted file: the interfaces its crypto
/// settings name exist in the full config the user builds around it, so they are taken as
/// known here.
fn check(toml_text: &str) -> String {
    let doc: toml::Table = match toml_text.parse() {
        Ok(d) => d,
        Err(e) => return format!("the converted config is not valid TOML (a bug): {e}\n"),
    };
    let interfaces: Vec<&str> = doc
        .get("crypto_interface")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|i| i.get("interface")?.as_str()).collect())
        .unwrap_or_default();
    match control::policy::parse(Path::new("<converted>"), toml_text, &interfaces) {
        Ok(l) if l.warnings.is_empty() => "the converted policy validates\n".into(),
        Ok(l) => format!("the converted policy validates, with warnings:\n{}\n", l.warnings),
        Err(d) => format!("the converted policy needs attention before it loads:\n{d}\n"),
    }
}

fn write_private(path: &Path, text: &str) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}
