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
pub struct WatchOptions {
    pub labels: Option<String>,
    pub namespace_labels: Option<String>,
    pub slices: bool,
    pub pods: bool,
}

/// The field selector CoreDNS puts on its Pod watch.
pub const POD_FIELD_SELECTOR: &str =
    "status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown";

/// Starts one watch task per kind; they run until aborted.
pub fn spawn_watches(
    client: Client,
    options: &WatchOptions,
    shared: &Arc<Shared>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let labelled = |config: watcher::Config| match &options.labels {
        Some(selector) => config.labels(selector),
        None => config,
    };
    let mut tasks = vec![tokio::spawn(watch_kind(
        Api::<core::Service>::all(client.clone()),
        labelled(watcher::Config::default()),
        shared.clone(),
        |store| &mut store.services,
        reduce::service,
        ignore_event,
    ))];
    let namespace_config = match &options.namespace_labels {
        Some(selector) => watcher::Config::default().labels(selector),
        None => watcher::Config::default(),
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
            labelled(watcher::Config::default()),
            shared.clone(),
            |store| &mut store.slices,
            reduce::slice,
            super::metrics::record_slice,
        )));
    }
    if options.pods {
        tasks.push(tokio::spawn(watch_kind(
            Api::<core::Pod>::all(client),
            labelled(watcher::Config::default()).fields(POD_FIELD_SELECTOR),
            shared.clone(),
            |store| &mut store.pods,
            reduce::pod,
            ignore_event,
        )));
    }
    tasks
}

/// The store key of an object.
pub fn key<K: Resource>(object: &K) -> Key {
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
            Err(error) => logging::error("kubernetes", &format!("watch {kind}: {error}")),
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

/// The observer for kinds with no metric.
fn ignore_event<K>(_: &K, _: &Shared) {}
