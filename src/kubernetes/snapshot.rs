//! The snapshot source (beyond CoreDNS): serve a file of cluster objects
//! instead of watching an API server.
//!
//! The file is what `kubectl get namespaces,services,endpointslices.discovery.k8s.io,pods -A -o yaml`
//! prints (a `v1 List`), or multi-document YAML of the same objects. It is
//! re-read when its content changes; an invalid file is logged and the last
//! good data keeps serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::reduce;
use super::source::Shared;
use super::store::{Key, Store};
use super::watch::key;
use crate::logging;

/// How often the file is checked for changes.
pub(crate) const POLL: Duration = Duration::from_secs(1);

/// The objects of a snapshot, reduced.
#[derive(Default)]
pub(crate) struct Objects {
    pub services: Vec<(Key, super::model::Service)>,
    pub slices: Vec<(Key, super::model::Slice)>,
    pub pods: Vec<(Key, super::model::Pod)>,
    pub namespaces: Vec<(Key, super::model::Namespace)>,
}

/// Parses snapshot text. Unknown kinds are ignored; a malformed object of
/// a known kind is an error.
pub(crate) fn parse(text: &str) -> Result<Objects, String> {
    let mut objects = Objects::default();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = serde_json::Value::deserialize(document).map_err(|e| e.to_string())?;
        add_value(&mut objects, value)?;
    }
    Ok(objects)
}

fn add_value(objects: &mut Objects, value: serde_json::Value) -> Result<(), String> {
    if value.is_null() {
        return Ok(());
    }
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("")
        .to_string();
    match kind.as_str() {
        "List" => {
            let items = value
                .get("items")
                .and_then(|i| i.as_array())
                .cloned()
                .unwrap_or_default();
            for item in items {
                add_value(objects, item)?;
            }
        }
        "Service" => decode(value, &kind, reduce::service, &mut objects.services)?,
        "EndpointSlice" => decode(value, &kind, reduce::slice, &mut objects.slices)?,
        "Pod" => decode(value, &kind, reduce::pod, &mut objects.pods)?,
        "Namespace" => decode(value, &kind, reduce::namespace, &mut objects.namespaces)?,
        _ => {}
    }
    Ok(())
}

/// Decodes one object of a known kind, reduces it and keeps it.
fn decode<K, T>(
    value: serde_json::Value,
    kind: &str,
    reduce: fn(&K) -> Option<T>,
    into: &mut Vec<(Key, T)>,
) -> Result<(), String>
where
    K: serde::de::DeserializeOwned + kube::Resource,
{
    let object: K =
        serde_json::from_value(value).map_err(|e| format!("{kind}: invalid object: {e}"))?;
    into.extend(reduce(&object).map(|reduced| (key(&object), reduced)));
    Ok(())
}

/// Replaces the store's content with a snapshot's.
pub(crate) fn load_into(store: &mut Store, objects: Objects) -> bool {
    let mut changed = store.services.replace(objects.services);
    changed |= store.slices.replace(objects.slices);
    changed |= store.pods.replace(objects.pods);
    store.namespaces.replace(objects.namespaces);
    changed
}

/// Reads the file now; errors are returned (startup) and logged (reloads).
/// Also returns the content's hash, so `follow` re-reads only on change.
pub(crate) fn read(path: &Path) -> Result<(Objects, u64), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("snapshot {}: {e}", path.display()))?;
    let objects = parse(&String::from_utf8_lossy(&bytes))
        .map_err(|e| format!("snapshot {}: {e}", path.display()))?;
    Ok((objects, content_hash(&bytes)))
}

fn content_hash(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

/// Polls the file and reloads it when its content changes, until aborted.
/// `loaded` is the hash of the content already loaded at setup.
pub(crate) async fn follow(path: PathBuf, shared: Arc<Shared>, loaded: u64) {
    let mut last = Some(loaded);
    let mut last_error: Option<String> = None;
    loop {
        tokio::time::sleep(POLL).await;
        let outcome = match std::fs::read(&path) {
            Ok(bytes) if last != Some(content_hash(&bytes)) => {
                last = Some(content_hash(&bytes));
                let parsed = parse(&String::from_utf8_lossy(&bytes));
                drop(bytes);
                match parsed {
                    Ok(objects) => {
                        shared.update(|store| load_into(store, objects));
                        shared.publish();
                        Ok(())
                    }
                    Err(error) => Err(error),
                }
            }
            Ok(_) => Ok(()),
            Err(error) => Err(error.to_string()),
        };
        match outcome {
            Ok(()) => last_error = None,
            Err(error) if last_error.as_ref() != Some(&error) => {
                logging::error(
                    "kubernetes",
                    &format!(
                        "snapshot {}: {error}; keeping the last good data",
                        path.display()
                    ),
                );
                last_error = Some(error);
            }
            Err(_) => {}
        }
    }
}
