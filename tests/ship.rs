//! Shipping: the krew manifest (checked with krew's own validation rules), the release script,
//! the committed completion scripts and man page, kubectl's plugin completion through the
//! `kubectl_complete-promfix` shim, and usage text through kubectl's plugin mechanism.
//!
//! krew's rules come from kubernetes-sigs/krew: internal/index/validation/validate.go
//! (ValidatePlugin, validatePlatform, validateSelector, IsSafePluginName) and
//! cmd/validate-krew-manifest/main.go (name from the file name, every platform selector matches a
//! supported os/arch, no os/arch selected by two platforms, line lengths, a licence file among
//! the installed files).

mod common_completions;
use common_completions as generate;
use promfix_testcluster::harness::{Options, TestCluster};
use serde_yaml_ng::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promfix");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SEED: &str = "a-seed-stable-prometheus-operator.yaml";

fn root() -> &'static Path {
    Path::new(ROOT)
}

fn bin_dir() -> PathBuf {
    Path::new(BIN).parent().expect("binary dir").to_path_buf()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// The release script with the environment of a plain shell: `cargo test` sets CARGO_* variables
/// that some build scripts watch, and any difference would make cargo redo the slow release build.
fn release_sh(target_dir: &Path) -> Command {
    let mut c = Command::new(root().join("krew/release.sh"));
    c.env_clear().env("CARGO_TARGET_DIR", target_dir);
    for k in [
        "PATH",
        "HOME",
        "CARGO_HOME",
        "RUSTUP_HOME",
        "RUSTUP_AUTO_INSTALL",
        "TMPDIR",
    ] {
        if let Some(v) = std::env::var_os(k) {
            c.env(k, v);
        }
    }
    c
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// krew manifest validation (the same checks as krew)

/// krew's list of supported platforms (validate-krew-manifest allPlatforms).
const KREW_PLATFORMS: &[(&str, &str)] = &[
    ("windows", "386"),
    ("windows", "amd64"),
    ("windows", "arm64"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("linux", "ppc64le"),
    ("darwin", "386"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
];

const WINDOWS_FORBIDDEN: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

/// krew's IsSafePluginName: `^[\w-]+$` and no Windows device name.
fn is_safe_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        && !WINDOWS_FORBIDDEN
            .iter()
            .any(|f| f.eq_ignore_ascii_case(name))
}

/// krew's semver.Parse: a leading `v`, then semantic version 2.0.0.
fn is_krew_semver(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let (rest, build) = match rest.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (rest, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let nums: Vec<&str> = core.split('.').collect();
    let numeric = |n: &str| {
        !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) && (n == "0" || !n.starts_with('0'))
    };
    let ident = |i: &str| !i.is_empty() && i.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    nums.len() == 3
        && nums.iter().all(|n| numeric(n))
        && pre.is_none_or(|p| {
            p.split('.')
                .all(|i| ident(i) && (!i.chars().all(|c| c.is_ascii_digit()) || numeric(i)))
        })
        && build.is_none_or(|b| b.split('.').all(ident))
}

/// metav1.LabelSelectorAsSelector(sel).Matches({os, arch}).
fn selector_matches(sel: &Value, os: &str, arch: &str) -> bool {
    let labels: BTreeMap<&str, &str> = [("os", os), ("arch", arch)].into();
    if let Some(ml) = sel.get("matchLabels").and_then(Value::as_mapping) {
        for (k, v) in ml {
            if labels.get(k.as_str().unwrap_or("")).copied() != v.as_str() {
                return false;
            }
        }
    }
    if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_sequence) {
        for e in exprs {
            let key = s(e, &["key"]).unwrap_or("");
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_sequence)
                .map(|vs| vs.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let have = labels.get(key).copied();
            let ok = match s(e, &["operator"]).unwrap_or("") {
                "In" => have.is_some_and(|h| values.contains(&h)),
                "NotIn" => have.is_none_or(|h| !values.contains(&h)),
                "Exists" => have.is_some(),
                "DoesNotExist" => have.is_none(),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

/// validateSelector: present, not empty, only the keys os and arch, no empty matchLabels/Expressions.
fn validate_selector(sel: Option<&Value>) -> Result<(), String> {
    let sel = sel
        .filter(|v| !v.is_null())
        .ok_or("nil selector is not supported")?;
    let ml = sel.get("matchLabels");
    let me = sel.get("matchExpressions");
    let ml_map = ml.and_then(Value::as_mapping);
    let me_seq = me.and_then(Value::as_sequence);
    if ml_map.is_none() && me_seq.is_none_or(|s| s.is_empty()) {
        return Err("empty selector is not supported".into());
    }
    let mut keys: Vec<String> = Vec::new();
    if let Some(m) = ml_map {
        keys.extend(m.keys().map(|k| k.as_str().unwrap_or("").to_string()));
    }
    if let Some(seq) = me_seq {
        keys.extend(seq.iter().map(|e| s(e, &["key"]).unwrap_or("").to_string()));
    }
    if let Some(k) = keys.iter().find(|k| *k != "os" && *k != "arch") {
        return Err(format!("key {k:?} not supported"));
    }
    if ml_map.is_some_and(|m| m.is_empty()) {
        return Err("`matchLabels` specified but empty".into());
    }
    if me_seq.is_some_and(|s| s.is_empty()) {
        return Err("`matchExpressions` specified but empty".into());
    }
    Ok(())
}

/// validate-krew-manifest's line length rule: lines over max are allowed only as one word.
fn lines_fit(s: &str, max: usize) -> bool {
    s.lines()
        .all(|l| l.chars().count() <= max || !l.trim().contains(' '))
}

/// Every check krew makes on a manifest file (plus: no `files:`, so krew installs the archive's
/// top level, and sha256 values are lower-case hex). Returns every problem found.
fn validate_manifest(file_name: &str, yaml: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let p: Value = match serde_yaml_ng::from_str(yaml) {
        Ok(v) => v,
        Err(e) => return vec![format!("not YAML: {e}")],
    };
    let Some(name_from_file) = file_name.strip_suffix(".yaml") else {
        return vec![format!(
            "expected manifest extension \".yaml\": {file_name}"
        )];
    };
    if s(&p, &["apiVersion"]) != Some("krew.googlecontainertools.github.com/v1alpha2") {
        errs.push(format!(
            "unsupported apiVersion {:?}",
            s(&p, &["apiVersion"])
        ));
    }
    if s(&p, &["kind"]) != Some("Plugin") {
        errs.push(format!(
            "kind {:?}, only \"Plugin\" is supported",
            s(&p, &["kind"])
        ));
    }
    if !is_safe_plugin_name(name_from_file) {
        errs.push(format!("the plugin name {name_from_file:?} is not allowed"));
    }
    let name = s(&p, &["metadata", "name"]).unwrap_or("");
    if name != name_from_file {
        errs.push(format!(
            "plugin should be named {name_from_file:?}, not {name:?}"
        ));
    }
    let short = s(&p, &["spec", "shortDescription"]).unwrap_or("");
    if short.is_empty() {
        errs.push("should have a short description".into());
    }
    if short.contains(['\r', '\n']) {
        errs.push("should not have line breaks in short description".into());
    }
    if !lines_fit(short, 70) {
        errs.push("line length in `shortDescription` exceeds 70 characters".into());
    }
    for field in ["description", "caveats"] {
        if !lines_fit(s(&p, &["spec", field]).unwrap_or(""), 80) {
            errs.push(format!("line length in `{field}` exceeds 80 characters"));
        }
    }
    let version = s(&p, &["spec", "version"]).unwrap_or("");
    if version.is_empty() {
        errs.push("should have a version specified".into());
    } else if !is_krew_semver(version) {
        errs.push(format!("failed to parse plugin version {version:?}"));
    }
    let platforms = p
        .get("spec")
        .and_then(|s| s.get("platforms"))
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    if platforms.is_empty() {
        errs.push("should have a platform specified".into());
    }
    for (i, pl) in platforms.iter().enumerate() {
        let mut bad = |m: String| errs.push(format!("platform[{i}]: {m}"));
        if s(pl, &["uri"]).unwrap_or("").is_empty() {
            bad("`uri` has to be set".into());
        }
        let sha = s(pl, &["sha256"]).unwrap_or("");
        if sha.is_empty() {
            bad("`sha256` sum has to be set".into());
        } else if sha.len() != 64 || !sha.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
            bad(format!(
                "`sha256` value {sha} is not valid, must match ^[a-f0-9]{{64}}$"
            ));
        }
        if s(pl, &["bin"]).unwrap_or("").is_empty() {
            bad("`bin` has to be set".into());
        }
        if pl.get("files").is_some() {
            bad("`files` is set: krew would then install only the listed files".into());
        }
        if let Err(e) = validate_selector(pl.get("selector")) {
            bad(format!("invalid platform selector: {e}"));
        } else if !KREW_PLATFORMS
            .iter()
            .any(|(os, arch)| selector_matches(&pl["selector"], os, arch))
        {
            bad("selector doesn't match any supported platforms".into());
        }
    }
    for (os, arch) in KREW_PLATFORMS {
        let idx: Vec<usize> = platforms
            .iter()
            .enumerate()
            .filter(|(_, pl)| {
                pl.get("selector").is_some_and(|sel| {
                    validate_selector(Some(sel)).is_ok() && selector_matches(sel, os, arch)
                })
            })
            .map(|(i, _)| i)
            .collect();
        if idx.len() > 1 {
            errs.push(format!(
                "multiple spec.platforms (at indexes {idx:?}) have overlapping selectors that select os={os}/arch={arch}"
            ));
        }
    }
    errs
}

fn manifest_text() -> String {
    std::fs::read_to_string(root().join("krew/promfix.yaml")).expect("krew/promfix.yaml")
}

fn cargo_version() -> String {
    let toml = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    toml.lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("version in Cargo.toml")
        .to_string()
}

/// (os, arch) → (uri, sha256, bin) of every platform.
fn platforms(yaml: &str) -> BTreeMap<(String, String), (String, String, String)> {
    let p: Value = serde_yaml_ng::from_str(yaml).unwrap();
    p["spec"]["platforms"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|pl| {
            (
                (
                    s(pl, &["selector", "matchLabels", "os"])
                        .unwrap()
                        .to_string(),
                    s(pl, &["selector", "matchLabels", "arch"])
                        .unwrap()
                        .to_string(),
                ),
                (
                    s(pl, &["uri"]).unwrap().to_string(),
                    s(pl, &["sha256"]).unwrap().to_string(),
                    s(pl, &["bin"]).unwrap().to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn krew_manifest_passes_krews_validation() {
    let yaml = manifest_text();
    let errs = validate_manifest("promfix.yaml", &yaml);
    assert!(errs.is_empty(), "krew/promfix.yaml: {errs:#?}");

    let p: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let version = format!("v{}", cargo_version());
    assert_eq!(
        s(&p, &["spec", "version"]),
        Some(version.as_str()),
        "version follows Cargo.toml"
    );
    let short = s(&p, &["spec", "shortDescription"]).unwrap();
    assert!(
        short.split_whitespace().count() <= 8,
        "a few words: {short:?}"
    );
    assert!(s(&p, &["spec", "homepage"]).is_some_and(|h| h.starts_with("https://")));
    assert!(s(&p, &["spec", "caveats"]).is_some_and(|c| !c.trim().is_empty()));
    // The description says what it does, not which commands exist (krew-index's guide).
    let desc = s(&p, &["spec", "description"]).unwrap();
    for sub in [
        "etcd",
        "secret",
        "endpoints",
        "servicemonitor",
        "verify",
        "doctor",
        "rollback",
    ] {
        assert!(
            !desc.contains(&format!("promfix {sub}")) && !desc.contains(&format!("`{sub}`")),
            "the description lists the command {sub}"
        );
    }

    let pl = platforms(&yaml);
    let want = [
        ("linux", "amd64"),
        ("linux", "arm64"),
        ("darwin", "amd64"),
        ("darwin", "arm64"),
        ("windows", "amd64"),
    ];
    assert_eq!(pl.len(), want.len(), "{pl:#?}");
    for (os, arch) in want {
        let (uri, _, bin) = pl
            .get(&(os.to_string(), arch.to_string()))
            .unwrap_or_else(|| panic!("no platform {os}/{arch}"));
        let ext = if os == "windows" { "zip" } else { "tar.gz" };
        assert_eq!(
            uri,
            &format!(
                "https://github.com/kubectl-promfix/kubectl-promfix/releases/download/{version}/kubectl-promfix-{os}-{arch}.{ext}"
            )
        );
        let want_bin = if os == "windows" {
            "kubectl-promfix.exe"
        } else {
            "kubectl-promfix"
        };
        assert_eq!(bin, want_bin);
    }
}

/// The checks can fail: each broken variant of the manifest is rejected for its reason.
#[test]
fn krew_validation_rejects_broken_manifests() {
    let good = manifest_text();
    let cases: Vec<(&str, String, &str)> = vec![
        ("other.yaml", good.clone(), "should be named"),
        (
            "promfix.yaml",
            good.replace("version: v0.1.0", "version: 0.1.0"),
            "version",
        ),
        (
            "promfix.yaml",
            good.replace("version: v0.1.0", "version: v0.1"),
            "version",
        ),
        (
            "promfix.yaml",
            good.replacen("sha256: ", "sha256: A", 1),
            "sha256",
        ),
        (
            "promfix.yaml",
            good.replacen("        arch: arm64\n", "", 1),
            "overlapping",
        ),
        (
            "promfix.yaml",
            good.replacen("        os: linux\n", "        os: plan9\n", 1),
            "supported platforms",
        ),
        (
            "promfix.yaml",
            good.replacen(
                "      matchLabels:\n",
                "      matchLabels:\n        cpu: x\n",
                1,
            ),
            "not supported",
        ),
        (
            "promfix.yaml",
            good.replacen(
                "    bin: kubectl-promfix\n",
                "    bin: kubectl-promfix\n    files:\n    - from: '*'\n      to: .\n",
                1,
            ),
            "files",
        ),
        (
            "promfix.yaml",
            good.replacen("    bin: kubectl-promfix\n", "", 1),
            "`bin`",
        ),
        (
            "promfix.yaml",
            good.replace("kind: Plugin", "kind: Plugins"),
            "kind",
        ),
        (
            "promfix.yaml",
            good.replace(
                "  shortDescription: Fix Prometheus scrapes of the control plane\n",
                "",
            ),
            "short description",
        ),
        (
            "CON.yaml",
            good.replace("name: promfix", "name: CON"),
            "not allowed",
        ),
    ];
    for (file, yaml, want) in cases {
        let errs = validate_manifest(file, &yaml);
        assert!(
            errs.iter().any(|e| e.contains(want)),
            "{file} with a {want:?} problem passed: {errs:?}"
        );
    }
    assert!(is_krew_semver("v1.2.3-rc.1+build.5"));
    assert!(!is_krew_semver("v01.2.3"));
    let sel: Value = serde_yaml_ng::from_str(
        "matchExpressions: [{key: os, operator: In, values: [linux, darwin]}]",
    )
    .unwrap();
    assert!(selector_matches(&sel, "darwin", "arm64"));
    assert!(!selector_matches(&sel, "windows", "amd64"));
}

// ---------------------------------------------------------------------------------------------
// release script

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The one release build of the suite (slow: LTO, one codegen unit). It reuses this build's
/// target directory, so a second run only relinks when the sources changed.
#[test]
fn release_script_packs_the_host_archive_and_writes_its_sha256() {
    let out = tempfile::tempdir().unwrap();
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| bin_dir().parent().expect("target dir").to_path_buf());
    let r = run(release_sh(&target_dir)
        .args(["--platforms", "linux-amd64", "--out"])
        .arg(out.path()));
    assert!(
        r.status.success(),
        "krew/release.sh failed ({}):\n{}{}",
        r.status,
        text(&r.stdout),
        text(&r.stderr)
    );

    let archive = out.path().join("kubectl-promfix-linux-amd64.tar.gz");
    let bytes = std::fs::read(&archive).expect("the archive");
    // Top level only: the binary `bin` names, and the licence krew requires.
    let list = run(Command::new("tar").arg("-tzvf").arg(&archive));
    assert!(list.status.success());
    let listing = text(&list.stdout);
    let mut entries: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    entries.sort();
    assert_eq!(entries, ["LICENSE", "kubectl-promfix"], "{listing}");
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("-rwxr-xr-x") && l.ends_with(" kubectl-promfix")),
        "the binary is executable: {listing}"
    );

    let manifest =
        std::fs::read_to_string(out.path().join("promfix.yaml")).expect("written manifest");
    assert!(validate_manifest("promfix.yaml", &manifest).is_empty());
    let pl = platforms(&manifest);
    let (uri, sha, bin) = &pl[&("linux".to_string(), "amd64".to_string())];
    assert_eq!(
        sha,
        &sha256_hex(&bytes),
        "the manifest's sha256 is the archive's"
    );
    assert!(uri.ends_with("/kubectl-promfix-linux-amd64.tar.gz"));
    assert!(entries.contains(&bin.as_str()));
    // The committed manifest is left alone without --in-place.
    assert_eq!(
        platforms(&manifest_text())[&("darwin".to_string(), "arm64".to_string())],
        pl[&("darwin".to_string(), "arm64".to_string())]
    );

    // The binary in the archive runs.
    let x = tempfile::tempdir().unwrap();
    assert!(
        run(Command::new("tar")
            .arg("-xzf")
            .arg(&archive)
            .arg("-C")
            .arg(x.path()))
        .status
        .success()
    );
    let v = run(Command::new(x.path().join("kubectl-promfix")).arg("--version"));
    assert!(v.status.success());
    assert!(
        text(&v.stdout).contains(&cargo_version()),
        "{}",
        text(&v.stdout)
    );
    assert!(
        std::fs::read(x.path().join("LICENSE")).unwrap()
            == std::fs::read(root().join("LICENSE")).unwrap()
    );

    // A platform it cannot build here is skipped, loudly, with exit status 3.
    let r = run(release_sh(&target_dir)
        .args(["--platforms", "darwin-arm64", "--out"])
        .arg(out.path().join("cross")));
    let err = text(&r.stderr);
    if !text(&run(Command::new("rustup").args(["target", "list", "--installed"])).stdout)
        .contains("aarch64-apple-darwin")
    {
        assert_eq!(r.status.code(), Some(3), "{err}");
        assert!(err.contains("SKIPPED darwin-arm64"), "{err}");
        assert!(err.contains("aarch64-apple-darwin"), "{err}");
    }
    // ... unless a prebuilt binary is given (Windows: a zip holding the .exe and LICENSE).
    let pre = tempfile::tempdir().unwrap();
    for name in [
        "kubectl-promfix-darwin-arm64",
        "kubectl-promfix-windows-amd64.exe",
    ] {
        std::fs::copy(x.path().join("kubectl-promfix"), pre.path().join(name)).unwrap();
    }
    let r = run(release_sh(&target_dir)
        .args(["--platforms", "darwin-arm64 windows-amd64", "--out"])
        .arg(out.path().join("pre"))
        .arg("--prebuilt")
        .arg(pre.path()));
    assert!(r.status.success(), "{}", text(&r.stderr));
    let m = std::fs::read_to_string(out.path().join("pre/promfix.yaml")).unwrap();
    assert!(validate_manifest("promfix.yaml", &m).is_empty());
    let tgz = std::fs::read(out.path().join("pre/kubectl-promfix-darwin-arm64.tar.gz")).unwrap();
    assert_eq!(
        platforms(&m)[&("darwin".to_string(), "arm64".to_string())].1,
        sha256_hex(&tgz)
    );
    let zip_path = out.path().join("pre/kubectl-promfix-windows-amd64.zip");
    let zip = std::fs::read(&zip_path).unwrap();
    let (_, sha, bin) = &platforms(&m)[&("windows".to_string(), "amd64".to_string())];
    assert_eq!(sha, &sha256_hex(&zip));
    let l = Command::new("unzip")
        .arg("-Z1")
        .arg(&zip_path)
        .output()
        .expect("unzip (Debian package: unzip)");
    let mut names: Vec<String> = text(&l.stdout).lines().map(str::to_string).collect();
    names.sort();
    assert_eq!(names, ["LICENSE", bin.as_str()]);
}

// ---------------------------------------------------------------------------------------------
// completions and man page

const REGENERATE: &str = "cargo run --example write-completions -- completions";

#[test]
fn committed_completions_and_man_page_are_current() {
    let tmp = tempfile::tempdir().unwrap();
    generate::write_all(tmp.path()).expect("writing the generated completions");
    let mut names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "_kubectl-promfix",
            "_kubectl-promfix.ps1",
            "kubectl-promfix.1",
            "kubectl-promfix.bash",
            "kubectl-promfix.fish",
            "kubectl_complete-promfix"
        ]
    );
    let mut stale = Vec::new();
    for n in &names {
        let want = std::fs::read(tmp.path().join(n)).unwrap();
        let have = std::fs::read(root().join("completions").join(n)).unwrap_or_default();
        if want != have {
            stale.push(n.clone());
        }
    }
    assert!(
        stale.is_empty(),
        "completions/ is out of date ({stale:?}); regenerate with `{REGENERATE}` and commit"
    );
    // `completion <shell>` prints the same scripts.
    for (shell, file) in [
        ("bash", "kubectl-promfix.bash"),
        ("zsh", "_kubectl-promfix"),
        ("fish", "kubectl-promfix.fish"),
        ("powershell", "_kubectl-promfix.ps1"),
    ] {
        let r = run(Command::new(BIN).args(["completion", shell]));
        assert!(r.status.success());
        assert_eq!(
            r.stdout,
            std::fs::read(tmp.path().join(file)).unwrap(),
            "{shell}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(root().join("completions/kubectl_complete-promfix"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "the shim must be executable");
    }
    let man = std::fs::read_to_string(tmp.path().join("kubectl-promfix.1")).unwrap();
    assert!(
        man.starts_with(".ie"),
        "roff: {}",
        &man[..man.len().min(80)]
    );
    assert!(
        man.contains("rollback") && man.contains("Exit codes"),
        "{man}"
    );
    // One page: every subcommand is in it, nothing points at pages that are not installed.
    assert!(man.contains(".SS \"kubectl promfix etcd\""), "{man}");
    assert!(man.contains(".SH \"EXIT STATUS\""), "{man}");
    assert!(!man.contains("(1)\n"), "{man}");
}

/// The protocol kubectl speaks with `kubectl_complete-<plugin>`, straight from the binary.
#[test]
fn complete_protocol_without_a_cluster() {
    let r = run(Command::new(BIN).args(["__complete", ""]));
    assert!(r.status.success());
    let out = text(&r.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.last(), Some(&":4"), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("etcd\t")), "{out}");
    assert!(!out.contains("__complete"), "{out}");

    let r = run(Command::new(BIN).args(["__complete", "etcd", "--tls"]));
    assert_eq!(
        text(&r.stdout).lines().next().map(|l| l.split('\t').next()),
        Some(Some("--tls-from"))
    );

    // A cluster that does not answer: no candidates, quickly (the timeout), still a directive.
    let dead = tempfile::tempdir().unwrap();
    let kc = dead.path().join("kubeconfig");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\ncurrent-context: dead\nclusters:\n- name: dead\n  cluster: {server: 'https://127.0.0.1:1'}\n\
contexts:\n- name: dead\n  context: {cluster: dead, user: u}\nusers:\n- name: u\n  user: {token: t}\n",
    )
    .unwrap();
    let t = std::time::Instant::now();
    let r = run(Command::new(BIN)
        .args(["__complete", "-n", ""])
        .env("KUBECONFIG", &kc));
    assert_eq!(text(&r.stdout), ":4\n");
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    // Contexts come from the kubeconfig alone.
    let r = run(Command::new(BIN)
        .args(["__complete", "--kubeconfig"])
        .arg(&kc)
        .args(["--context", "d"]));
    assert_eq!(text(&r.stdout), "dead\n:4\n");
    // Run as kubectl_complete-promfix (a link to the binary), it answers the same.
    let link = dead.path().join("kubectl_complete-promfix");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let r = run(Command::new(&link).arg(""));
    assert_eq!(
        r.stdout,
        run(Command::new(BIN).args(["__complete", ""])).stdout
    );
}

/// A PATH holding the plugin and the shim, as after the README's install steps.
fn plugin_path() -> (tempfile::TempDir, std::ffi::OsString) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(BIN, dir.path().join("kubectl-promfix")).unwrap();
    std::fs::copy(
        root().join("completions/kubectl_complete-promfix"),
        dir.path().join("kubectl_complete-promfix"),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["kubectl-promfix", "kubectl_complete-promfix"] {
            std::fs::set_permissions(dir.path().join(f), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
    }
    let mut paths = vec![dir.path().to_path_buf()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let path = std::env::join_paths(paths).unwrap();
    (dir, path)
}

async fn start() -> TestCluster {
    start_version(None).await
}

/// Scenario a (kubectl's dispatcher runs the kubectl matching the server's minor: 1.27 unless
/// `version` says otherwise).
async fn start_version(version: Option<&str>) -> TestCluster {
    TestCluster::start_builtin(
        SEED,
        Options {
            without_etcd: true,
            version: version.map(str::to_string),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("starting the test cluster: {e:#}"))
}

async fn kubectl(tc: &TestCluster, path: &std::ffi::OsStr, args: &[&str]) -> Output {
    let mut cmd = tc.kubectl();
    cmd.env("PATH", path).args(args);
    tokio::task::spawn_blocking(move || {
        cmd.stdin(Stdio::null())
            .output()
            .expect("kubectl (Debian: install kubectl; it must be on PATH)")
    })
    .await
    .unwrap()
}

/// kubectl 1.26+ completes plugins through `kubectl_complete-<plugin>` on PATH: real kubectl,
/// the committed shim, the built binary, a live namespace list from the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_completes_the_plugin_through_the_shim() {
    // the oldest kubectl the dispatcher runs
    completes_through_the_shim(Some("v1.27.16")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_33_completes_the_plugin_through_the_shim() {
    completes_through_the_shim(Some("v1.33.1")).await;
}

async fn completes_through_the_shim(version: Option<&str>) {
    let tc = start_version(version).await;
    // The kubectl that answers is the one meant.
    let v = kubectl(
        &tc,
        std::ffi::OsStr::new(&std::env::var_os("PATH").unwrap_or_default()),
        &["version", "-o", "json"],
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&v.stdout).expect("kubectl version -o json");
    let want_minor = version
        .unwrap_or("v1.27")
        .split('.')
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(
        v["clientVersion"]["minor"]
            .as_str()
            .map(|m| m.trim_end_matches('+')),
        Some(want_minor.as_str())
    );
    let (_dir, path) = plugin_path();
    let answer = |out: &Output| {
        assert!(
            out.status.success(),
            "kubectl __complete failed: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    };

    // Subcommands, with descriptions, and cobra's NoFileComp directive.
    let out = answer(&kubectl(&tc, &path, &["__complete", "promfix", ""]).await);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.last(), Some(&":4"), "{out}");
    for sub in ["etcd", "verify", "doctor", "rollback", "completion"] {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("{sub}\t"))),
            "{sub}: {out}"
        );
    }

    // Namespaces from the API.
    for args in [
        &["__complete", "promfix", "etcd", "-n", ""][..],
        &["__complete", "promfix", "etcd", "--namespace", "mon"][..],
    ] {
        let out = answer(&kubectl(&tc, &path, args).await);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.contains(&"monitoring"), "{args:?}: {out}");
        assert_eq!(lines.last(), Some(&":4"), "{out}");
        if args.last() == Some(&"") {
            assert!(lines.contains(&"kube-system"), "{out}");
        }
    }
    // `--namespace=` form: candidates carry the flag.
    let out = answer(&kubectl(&tc, &path, &["__complete", "promfix", "--namespace=kube-"]).await);
    assert!(out.lines().any(|l| l == "--namespace=kube-system"), "{out}");

    // Prometheus resources of the namespace given with -n.
    let out = answer(
        &kubectl(
            &tc,
            &path,
            &[
                "__complete",
                "promfix",
                "etcd",
                "-n",
                "monitoring",
                "--prometheus",
                "",
            ],
        )
        .await,
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("prom-prometheus-operator-prometheus\t")),
        "{out}"
    );
    // Contexts of the kubeconfig.
    let out = answer(&kubectl(&tc, &path, &["__complete", "promfix", "--context", ""]).await);
    assert!(out.lines().any(|l| l == tc.context("admin")), "{out}");
    // A file argument: the shell completes files (directive 0, ShellCompDirectiveDefault).
    let out = answer(&kubectl(&tc, &path, &["__complete", "promfix", "rollback", ""]).await);
    assert_eq!(out.lines().last(), Some(":0"), "{out}");
}

/// krew asks that usage says `kubectl promfix`, as the user types it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_through_kubectl_says_kubectl_promfix() {
    let tc = start().await;
    let (_dir, path) = plugin_path();
    let out = kubectl(&tc, &path, &["promfix", "--help"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    assert!(
        help.contains("Usage: kubectl promfix [OPTIONS] <COMMAND>"),
        "{help}"
    );
    assert!(!help.contains("kubectl-promfix"), "{help}");
    let out = kubectl(&tc, &path, &["promfix", "etcd", "--help"]).await;
    assert!(
        text(&out.stdout).contains("Usage: kubectl promfix etcd [OPTIONS]"),
        "{}",
        text(&out.stdout)
    );
    // Usage errors too (exit code 2).
    let out = kubectl(&tc, &path, &["promfix", "etcd", "--no-such-flag"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("Usage: kubectl promfix etcd"),
        "{}",
        text(&out.stderr)
    );
}

/// Issue 17, item 7, through the built binary: each subcommand's help lists its own flags, then
/// the global ones in their own block, then Examples; `-n` is described for the command;
/// `completion` offers only the shells it writes; `version` answers as kubectl's does.
#[test]
fn help_is_per_command_and_ends_with_examples() {
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .output()
            .expect("running kubectl-promfix")
    };
    let h = text(&run(&["etcd", "--help"]).stdout);
    let (own, global, examples) = (
        h.find("Options:").expect("own options"),
        h.find("Global options:").expect("global block"),
        h.find("Examples:").expect("examples"),
    );
    assert!(own < global && global < examples, "{h}");
    assert!(
        h[own..global].contains("--from-dir") && !h[own..global].contains("--kubeconfig"),
        "{h}"
    );
    assert!(
        h[global..examples].contains("where the Prometheus resource is found"),
        "{h}"
    );
    assert!(
        h[examples..].contains("kubectl promfix etcd --from-dir"),
        "{h}"
    );
    let kp = text(&run(&["kube-proxy", "--help"]).stdout);
    assert!(kp.contains("Not used: kube-proxy's ConfigMap"), "{kp}");
    for step in ["secret", "endpoints", "servicemonitor"] {
        let h = text(&run(&[step, "--help"]).stdout);
        assert!(
            !h.contains("--no-verify") && !h.contains("--timeout"),
            "{step}: {h}"
        );
    }
    let c = run(&["completion", "elvish"]);
    assert_eq!(c.status.code(), Some(2));
    assert!(
        text(&c.stderr).contains("possible values: bash, zsh, fish, powershell"),
        "{}",
        text(&c.stderr)
    );
    let v = run(&["version", "--client"]);
    assert!(v.status.success(), "{}", text(&v.stderr));
    assert_eq!(
        text(&v.stdout),
        format!("Plugin Version: v{}\n", env!("CARGO_PKG_VERSION"))
    );
    let v = run(&["version", "--client", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&v.stdout).expect("one JSON document");
    assert_eq!(
        doc["pluginVersion"],
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
    // Against an unreachable server: the plugin's line, then kubectl's kind of error, exit 1.
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("config");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
    )
    .unwrap();
    let v = run(&["version", "--kubeconfig", kc.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(1), "{}", text(&v.stderr));
    assert!(
        text(&v.stdout).starts_with("Plugin Version: v"),
        "{}",
        text(&v.stdout)
    );
    assert!(
        text(&v.stderr).contains("127.0.0.1:1"),
        "{}",
        text(&v.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// README

/// The README states what the code has: the set-up commands first, the exit codes of
/// `cli::EXIT_CODES`, a ClusterRole under `## RBAC`, the regeneration command.
#[test]
fn readme_matches_the_code() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    // The first two commands of the first code block.
    let block = readme.split("```").nth(1).expect("a code block");
    let cmds: Vec<&str> = block
        .lines()
        .skip(1)
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        cmds.get(..2),
        Some(&["tests/sandbox --demo", "tests/run"][..]),
        "{block}"
    );
    // Exit codes: one table row per line of cli::EXIT_CODES.
    for line in kubectl_promfix::cli::EXIT_CODES.lines().skip(1) {
        let (code, text) = line.trim().split_once("  ").expect("code and text");
        let row = format!("| {code} | {} |", text.trim());
        assert!(
            readme.contains(&row),
            "README lacks the exit code row {row:?}"
        );
    }
    // RBAC: a ClusterRole named kubectl-promfix in a yaml block under `## RBAC`.
    let rbac = readme.split("\n## RBAC\n").nth(1).expect("## RBAC");
    let yaml = rbac
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a ```yaml block under ## RBAC");
    let role: Value = serde_yaml_ng::from_str(yaml).expect("the ClusterRole parses");
    assert_eq!(s(&role, &["kind"]), Some("ClusterRole"));
    assert_eq!(s(&role, &["metadata", "name"]), Some("kubectl-promfix"));
    assert!(readme.contains(REGENERATE));
    assert!(readme.contains("RUSTSEC-2025-0134"));
    assert!(readme.contains("0600"));
}
