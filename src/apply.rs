//! The one executor every fix shares: pre-flight access review, backup, writes with
//! preconditions and bounded retries, and rollback from a backup.

use crate::error::{Error, Result};
use crate::kube::{Kube, Res};
use crate::plan::{Change, ObjectRef, Op, Plan, guarded_merge_patch};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The verb each change needs.
fn verb(op: &Op) -> &'static str {
    match op {
        Op::Create => "create",
        Op::MergePatch { .. } => "patch",
        Op::Delete { .. } => "delete",
    }
}

fn res_of(o: &ObjectRef) -> Result<Res> {
    Res::by_plural(&o.plural)
        .ok_or_else(|| Error::Other(format!("internal: unknown resource {}", o.plural)))
}

/// Ask the API server, before the first write, whether every write of the plan is allowed; list
/// every denied one at once.
pub async fn preflight(kube: &Kube, plan: &Plan) -> Result<()> {
    let checks = plan.changes.iter().map(|c| async move {
        let res = res_of(&c.object)?;
        let name = match c.op {
            Op::Create => None,
            _ => Some(c.object.name.as_str()),
        };
        let ok = kube
            .can_i(verb(&c.op), &res, None, c.object.namespace.as_deref(), name)
            .await?;
        Ok::<_, Error>((!ok).then(|| {
            format!(
                "{} {}{} (needed to {})",
                verb(&c.op),
                c.object.plural,
                c.object
                    .namespace
                    .as_ref()
                    .map(|n| format!(" in namespace {n}"))
                    .unwrap_or_default(),
                c.object.display()
            )
        }))
    });
    let mut denied: Vec<String> = Vec::new();
    for r in futures::future::join_all(checks).await {
        if let Some(d) = r?
            && !denied.contains(&d)
        {
            denied.push(d);
        }
    }
    if denied.is_empty() {
        Ok(())
    } else {
        Err(Error::Forbidden(denied))
    }
}

/// One entry of a backup: the object as it was (None: it did not exist; rollback deletes it).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BackupItem {
    pub api_version: String,
    pub kind: String,
    pub plural: String,
    pub namespace: Option<String>,
    pub name: String,
    pub before: Option<Value>,
}

/// The backup file: every object a plan touches, as it was before.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Backup {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub context: String,
    pub created: String,
    pub items: Vec<BackupItem>,
}

/// Write the backup of a plan (mode 0600: it can hold key material) and return its path.
pub fn write_backup(plan: &Plan, context: &str, dir: &Path, command: &str) -> Result<PathBuf> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let backup = Backup {
        api_version: "promfix.kubectl/v1".into(),
        kind: "Backup".into(),
        context: context.into(),
        created: now.to_string(),
        items: plan
            .changes
            .iter()
            .map(|c| BackupItem {
                api_version: c.object.api_version.clone(),
                kind: c.object.kind.clone(),
                plural: c.object.plural.clone(),
                namespace: c.object.namespace.clone(),
                name: c.object.name.clone(),
                before: c.before.clone(),
            })
            .collect(),
    };
    let text = serde_yaml_ng::to_string(&backup)
        .map_err(|e| Error::Other(format!("internal: backup: {e}")))?;
    // A second backup in the same second (a re-planned round after 409, a quick re-run) gets
    // its own file: never overwrite, never fail on an existing one.
    let mut n = 0u32;
    loop {
        let path = if n == 0 {
            dir.join(format!("promfix-backup-{command}-{now}.yaml"))
        } else {
            dir.join(format!("promfix-backup-{command}-{now}-{n}.yaml"))
        };
        match write_private(&path, text.as_bytes()) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(source) => return Err(Error::Backup { path, source }),
        }
    }
}

/// Create a file readable only by its owner.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

pub fn read_backup(path: &Path) -> Result<Backup> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Input(format!(
            "cannot read the backup file {}: {e}",
            path.display()
        ))
    })?;
    let b: Backup = serde_yaml_ng::from_str(&text).map_err(|e| {
        Error::Input(format!(
            "{} is not a kubectl-promfix backup file: {e}",
            path.display()
        ))
    })?;
    if b.kind != "Backup" {
        return Err(Error::Input(format!(
            "{} is not a kubectl-promfix backup file (kind {})",
            path.display(),
            b.kind
        )));
    }
    Ok(b)
}

/// Whether an error is worth retrying the same write for (throttling, server errors, a dropped
/// connection), with the delay the server asked for.
fn transient(e: &kube::Error) -> Option<Option<Duration>> {
    match e {
        kube::Error::Api(s) if s.code == 429 => Some(
            s.details
                .as_ref()
                .map(|d| Duration::from_secs(u64::from(d.retry_after_seconds)))
                .filter(|d| !d.is_zero()),
        ),
        kube::Error::Api(s) if s.code >= 500 => Some(None),
        kube::Error::Api(_) => None,
        kube::Error::HyperError(_) | kube::Error::Service(_) => Some(None),
        _ => None,
    }
}

/// How many times one write is tried on transient errors.
pub const WRITE_ATTEMPTS: u32 = 5;

/// Write one change, retrying transient failures with backoff. A 409 is returned to the caller,
/// which re-reads and re-plans.
pub async fn write(
    kube: &Kube,
    change: &Change,
) -> std::result::Result<Option<Value>, kube::Error> {
    let res = Res::by_plural(&change.object.plural).ok_or_else(|| {
        kube::Error::Service(format!("unknown resource {}", change.object.plural).into())
    })?;
    let ns = change.object.namespace.as_deref();
    let mut delay = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let r = match &change.op {
            Op::Create => kube
                .create(&res, change.after.as_ref().unwrap_or(&Value::Null))
                .await
                .map(Some),
            Op::MergePatch { patch } => kube
                .merge_patch(&res, ns, &change.object.name, patch)
                .await
                .map(Some),
            Op::Delete {
                uid,
                resource_version,
            } => {
                match kube
                    .delete(&res, ns, &change.object.name, uid, resource_version)
                    .await
                {
                    Ok(()) => Ok(None),
                    // already gone: the goal is reached
                    Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
                    Err(e) => Err(e),
                }
            }
        };
        match r {
            Ok(v) => return Ok(v),
            Err(e) => match transient(&e) {
                Some(wait) if attempt < WRITE_ATTEMPTS => {
                    tokio::time::sleep(wait.unwrap_or(delay)).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                _ => return Err(e),
            },
        }
    }
}

/// Server-owned metadata removed before an object is re-created from a backup.
pub fn strip_server_fields(mut v: Value) -> Value {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "managedFields",
            "generation",
            "selfLink",
        ] {
            m.remove(k);
        }
    }
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
    }
    v
}

/// The plan that restores a backup, given each object's current state (None: absent now).
pub fn rollback_plan(backup: &Backup, current: &[Option<Value>]) -> Plan {
    let mut plan = Plan::default();
    // Undo in reverse order of the original writes.
    for (item, cur) in backup.items.iter().zip(current).rev() {
        let object = ObjectRef::of(
            &item.api_version,
            &item.kind,
            &item.plural,
            item.namespace.as_deref(),
            &item.name,
        );
        match (&item.before, cur) {
            (Some(before), Some(cur)) => {
                let mut target = strip_server_fields(before.clone());
                target["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"].clone();
                let mut cur_cmp = cur.clone();
                if let Some(m) = cur_cmp.as_object_mut() {
                    m.remove("status");
                }
                if let Some(patch) = guarded_merge_patch(&cur_cmp, &target) {
                    plan.changes.push(Change {
                        object,
                        before: Some(cur.clone()),
                        after: Some(target),
                        op: Op::MergePatch { patch },
                        reason: "restore from the backup".into(),
                        helm: None,
                    });
                }
            }
            (Some(before), None) => plan.changes.push(Change {
                object,
                before: None,
                after: Some(strip_server_fields(before.clone())),
                op: Op::Create,
                reason: "re-create from the backup".into(),
                helm: None,
            }),
            (None, Some(cur)) => plan.changes.push(Change {
                object,
                before: Some(cur.clone()),
                after: None,
                op: Op::Delete {
                    uid: cur["metadata"]["uid"].as_str().unwrap_or("").into(),
                    resource_version: cur["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap_or("")
                        .into(),
                },
                reason: "it did not exist before".into(),
                helm: None,
            }),
            (None, None) => {}
        }
    }
    plan
}

/// A short, key-free description of a JSON value for messages.
pub fn summary(v: &Value) -> String {
    json!({"kind": v["kind"], "name": v["metadata"]["name"], "namespace": v["metadata"]["namespace"]}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_are_private_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut plan = Plan::default();
        plan.changes.push(Change {
            object: ObjectRef::of(
                "v1",
                "Secret",
                "secrets",
                Some("monitoring"),
                "etcd-client-cert",
            ),
            before: None,
            after: Some(json!({"metadata": {"name": "etcd-client-cert"}})),
            op: Op::Create,
            reason: String::new(),
            helm: None,
        });
        let p = write_backup(&plan, "ctx", dir.path(), "etcd").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        // A second backup in the same second (a round re-planned after 409) gets its own file.
        let p2 = write_backup(&plan, "ctx", dir.path(), "etcd").unwrap();
        assert_ne!(p, p2);
        assert!(p.is_file() && p2.is_file());
        let b = read_backup(&p).unwrap();
        assert_eq!(b.items.len(), 1);
        // created by the run → rollback deletes it
        let cur =
            json!({"metadata": {"name": "etcd-client-cert", "uid": "u", "resourceVersion": "5"}});
        let rb = rollback_plan(&b, &[Some(cur)]);
        assert!(matches!(rb.changes[0].op, Op::Delete { .. }));
    }

    #[test]
    fn rollback_restores_a_removed_selector() {
        let before = json!({"metadata": {"name": "etcd", "namespace": "kube-system", "resourceVersion": "3"},
                            "spec": {"selector": {"component": "etcd"}, "ports": [{"port": 2381}]}});
        let cur = json!({"metadata": {"name": "etcd", "namespace": "kube-system", "resourceVersion": "9"},
                         "spec": {"ports": [{"port": 2379}]}});
        let b = Backup {
            api_version: "promfix.kubectl/v1".into(),
            kind: "Backup".into(),
            context: "c".into(),
            created: "0".into(),
            items: vec![BackupItem {
                api_version: "v1".into(),
                kind: "Service".into(),
                plural: "services".into(),
                namespace: Some("kube-system".into()),
                name: "etcd".into(),
                before: Some(before),
            }],
        };
        let rb = rollback_plan(&b, &[Some(cur)]);
        let Op::MergePatch { patch } = &rb.changes[0].op else {
            panic!("patch expected")
        };
        assert_eq!(patch["spec"]["selector"], json!({"component": "etcd"}));
        assert_eq!(patch["metadata"]["resourceVersion"], "9");
    }
}
