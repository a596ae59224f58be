//! Watching the API server with kube's `watcher` streams (not reflector
//! stores): each event's object is reduced at once and only the compact
//! form is kept. A relist (restart, 410 Gone) is buffered between `Init`
//! and `InitDone` and then replaces the kind whole, so the old data keeps
//! answering until the new list is complete.

use std::fmt::Debug;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use super::reduce;
use super::source::Shared;
use super::store::{Key, Store, Table};
use crate::logging;

/// What to watch.
#[derive(Debug, Clone, Default)]
pub(crate) struct WatchOptions {
    pub labels: Option<String>,
    pub namespace_labels: Option<String>,
    pub slices: bool,
    pub pods: bool,
}

/// The field selector CoreDNS puts on its Pod watch.
pub(crate) const POD_FIELD_SELECTOR: &str =
    "status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown";

/// Starts one watch task per kind; they run until aborted.
pub(crate) fn spawn_watches(
    client: Client,
    options: &WatchOptions,
    shared: &Arc<Shared>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let labelled = |config: watcher::Config| match &options.labels {
        Some(selector) => config.labels(selector),
        None => config,
    };
    let timeout = watch_timeout();
    let mut tasks = vec![tokio::spawn(watch_kind(
        Api::<core::Service>::all(client.clone()),
        labelled(base_config(timeout)),
        shared.clone(),
        |store| &mut store.services,
        reduce::service,
        ignore_event,
    ))];
    let namespace_config = match &options.namespace_labels {
        Some(selector) => base_config(timeout).labels(selector),
        None => base_config(timeout),
    };
    tasks.push(tokio::spawn(watch_kind(
        Api::<core::Namespace>::all(client.clone()),
        namespace_config,
        shared.clone(),
        |store| &mut store.namespaces,
        reduce::namespace,
        ignore_event,
    )));
    if options.slices {
        tasks.push(tokio::spawn(watch_kind(
            Api::<discovery::EndpointSlice>::all(client.clone()),
            labelled(base_config(timeout)),
            shared.clone(),
            |store| &mut store.slices,
            reduce::slice,
            super::metrics::record_slice,
        )));
    }
    if options.pods {
        tasks.push(tokio::spawn(watch_kind(
            Api::<core::Pod>::all(client),
            labelled(base_config(timeout)).fields(POD_FIELD_SELECTOR),
            shared.clone(),
            |store| &mut store.pods,
            reduce::pod,
            ignore_event,
        )));
    }
    tasks
}

/// How long one watch request lasts (`timeoutSeconds`, default 60 s). The
/// watch then resumes from its resource version, so this costs no relist;
/// and a watch that hears nothing for this long plus 5 s is taken for dead
/// and reconnected. That bounds a silently stalled connection (a lost NAT
/// entry, a vanished apiserver) to about a minute, where it would otherwise
/// wait for kube's default of 290 s.
/// `CLUSTERDNS_WATCH_TIMEOUT` (seconds) overrides it.
pub(crate) fn watch_timeout() -> u32 {
    std::env::var("CLUSTERDNS_WATCH_TIMEOUT")
        .ok()
        .and_then(|value| value.parse().ok())
        .filter(|seconds| *seconds > 0)
        .unwrap_or(60)
}

fn base_config(timeout: u32) -> watcher::Config {
    watcher::Config::default().timeout(timeout)
}

/// The store key of an object.
pub(crate) fn key<K: Resource>(object: &K) -> Key {
    let meta = object.meta();
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or("")
    )
}

async fn watch_kind<K, T>(
    api: Api<K>,
    config: watcher::Config,
    shared: Arc<Shared>,
    table: fn(&mut Store) -> &mut Table<T>,
    reduce: fn(&K) -> Option<T>,
    observe: fn(&K, &Shared),
) where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
    T: PartialEq,
{
    let kind = K::kind(&()).to_string();
    let mut stream = watcher(api, config).default_backoff().boxed();
    let mut buffer: Vec<(Key, T)> = Vec::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Apply(object)) => {
                shared.update(|store| table(store).apply(key(&object), reduce(&object)));
                observe(&object, &shared);
            }
            Ok(Event::Delete(object)) => {
                shared.update(|store| table(store).delete(&key(&object)));
                observe(&object, &shared);
            }
            Ok(Event::Init) => buffer.clear(),
            Ok(Event::InitApply(object)) => {
                observe(&object, &shared);
                buffer.extend(reduce(&object).map(|value| (key(&object), value)))
            }
            Ok(Event::InitDone) => {
                let list = std::mem::take(&mut buffer);
                shared.update(|store| table(store).replace(list));
            }
            Err(error) => logging::error("kubernetes", &watch_error_text(&kind, &error)),
        }
    }
}

fn watcher<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl futures::Stream<Item = watcher::Result<Event<K>>>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    watcher::watcher(api, config)
}

/// The log text of a watch error. 410 Gone (history compacted past the
/// watch's resource version) is named as such, since it means a relist.
fn watch_error_text(kind: &str, error: &watcher::Error) -> String {
    match error {
        watcher::Error::WatchError(status) if status.code == 410 => {
            format!("watch {kind}: 410 Gone ({}), relisting", status.message)
        }
        other => format!("watch {kind}: {other}"),
    }
}

/// The observer for kinds with no metric.
fn ignore_event<K>(_: &K, _: &Shared) {}
