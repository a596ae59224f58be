//! deploy/ against the real apiserver: the manifests pass server-side
//! validation, and the ServiceAccount's RBAC covers every list and watch the
//! server makes (the kubernetes plugin syncs with its token). Without the
//! binding, the server stays not-ready and says why.

mod support;

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use support::dns::{addresses, query, udp};
use support::peers::{cluster, eventually, kubeconfig_text};
use support::process::Clusterdns;
use support::{free_port, http_get};

fn manifests() -> String {
    format!("{}/deploy", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_manifests_pass_server_side_validation() {
    let cluster = cluster();
    let output = cluster.kubectl(&["apply", "-k", &manifests(), "--dry-run=server"]);
    for object in [
        "serviceaccount/coredns",
        "clusterrole.rbac.authorization.k8s.io/system:coredns",
        "clusterrolebinding.rbac.authorization.k8s.io/system:coredns",
        "configmap/coredns",
        "service/kube-dns",
        "deployment.apps/coredns",
        "poddisruptionbudget.policy/coredns",
    ] {
        assert!(output.contains(object), "{object} missing from:\n{output}");
    }
    let swap = format!("{}/swap", manifests());
    let output = cluster.kubectl(&["apply", "-k", &swap, "--dry-run=server"]);
    assert!(output.contains("deployment.apps/coredns"), "{output}");
    assert!(
        !output.contains("configmap/"),
        "swap/ leaves the ConfigMap alone:\n{output}"
    );
    let autoscaler = format!("{}/autoscaler", manifests());
    let output = cluster.kubectl(&["apply", "-k", &autoscaler, "--dry-run=server"]);
    assert!(
        output.contains("deployment.apps/coredns-autoscaler"),
        "{output}"
    );
}

/// `kubectl apply -k deploy/` installs the seed's Corefile exactly, `log`
/// included, and it passes `-check`; the other-address overlay moves only
/// the Service's clusterIP; the Deployment leaves replicas to others.
#[test]
fn the_configmap_is_the_seeds_corefile_and_the_overlay_moves_the_cluster_ip() {
    let cluster = cluster();
    let rendered = cluster.kubectl(&["kustomize", &manifests()]);
    let seed = std::fs::read_to_string(format!(
        "{}/tests/fixtures/corefiles/seed.Corefile",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let seed_lines: Vec<&str> = seed.lines().filter(|l| !l.starts_with('#')).collect();
    let start = rendered.find("Corefile: |").expect("a Corefile key") + "Corefile: |".len();
    let corefile: Vec<String> = rendered[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("    ") || l.is_empty())
        .map(|l| l.strip_prefix("    ").unwrap_or(l).to_string())
        .collect();
    assert_eq!(corefile, seed_lines, "deploy/ carries the seed's Corefile");
    assert_passes_check(&corefile.join("\n"));
    assert!(
        !rendered.contains("replicas:"),
        "replicas left to an autoscaler"
    );
    let overlay = format!("{}/overlays/cluster-ip-10.96.0.10", manifests());
    let moved = cluster.kubectl(&["kustomize", &overlay]);
    assert!(moved.contains("clusterIP: 10.96.0.10"), "{moved}");
    assert_eq!(
        moved.replace("clusterIP: 10.96.0.10", "clusterIP: 10.32.0.10"),
        rendered,
        "only the address differs"
    );
}

/// Applies deploy/swap's ServiceAccount and its RBAC.
fn apply_rbac(cluster: &support::peers::Cluster) {
    for file in [
        "serviceaccount.yaml",
        "clusterrole.yaml",
        "clusterrolebinding.yaml",
    ] {
        cluster.kubectl(&["apply", "-f", &format!("{}/swap/{file}", manifests())]);
    }
}

/// A kubeconfig carrying a fresh token of `account` in kube-system.
fn kubeconfig_for(account: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let cluster = cluster();
    let token = cluster.kubectl(&["create", "token", account, "-n", "kube-system"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, kubeconfig_text(cluster.api_port, token.trim())).unwrap();
    (dir, path)
}

fn corefile(kubeconfig: &std::path::Path, ready: u16) -> String {
    support::block(
        ".",
        &format!(
            " ready 127.0.0.1:{ready}\n kubernetes cluster.local in-addr.arpa ip6.arpa {{\n  kubeconfig {}\n  pods verified\n  startup_timeout 2s\n }}\n",
            kubeconfig.display()
        ),
    )
}

#[test]
fn the_service_account_rbac_covers_every_watch() {
    let cluster = cluster();
    apply_rbac(cluster);
    let (_dir, kubeconfig) = kubeconfig_for("coredns");
    let ready = free_port();
    let server = Clusterdns::start(&corefile(&kubeconfig, ready));
    eventually(
        Duration::from_secs(20),
        "ready with the ServiceAccount token",
        || http_get(ready, "/ready").and_then(|(status, _)| (status == 200).then_some(())),
    );
    let reply = udp(
        server.addr(),
        &query("kubernetes.default.svc.cluster.local.", RecordType::A),
    );
    assert_eq!(
        addresses(&reply),
        vec!["10.32.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert!(
        !server.lines().iter().any(|l| l.contains("forbidden")),
        "{:?}",
        server.lines()
    );
}

#[test]
fn without_rbac_the_server_is_not_ready_and_logs_forbidden() {
    let cluster = cluster();
    cluster.kubectl(&["create", "serviceaccount", "unbound", "-n", "kube-system"]);
    let (_dir, kubeconfig) = kubeconfig_for("unbound");
    let ready = free_port();
    let server = Clusterdns::start(&corefile(&kubeconfig, ready));
    let line = server.wait_for_line("forbidden");
    assert!(
        line.starts_with("[ERROR] plugin/kubernetes: watch "),
        "{line}"
    );
    assert_eq!(http_get(ready, "/ready").map(|r| r.0), Some(503));
    let reply = udp(
        server.addr(),
        &query("missing.default.svc.cluster.local.", RecordType::A),
    );
    assert_eq!(
        reply.metadata.response_code,
        ResponseCode::ServFail,
        "unsynced: no NXDOMAIN"
    );
}

/// Going back: CoreDNS 1.14.7 runs with this narrowed ClusterRole (it
/// watches EndpointSlices too), so only a rollback to 1.8.0 needs
/// `endpoints` again (deploy/README.md).
#[test]
fn coredns_runs_with_the_narrowed_cluster_role() {
    let cluster = cluster();
    apply_rbac(cluster);
    let (_dir, kubeconfig) = kubeconfig_for("coredns");
    let corefile = &support::block(
        ".",
        " ready 127.0.0.1:READY\n kubernetes cluster.local in-addr.arpa ip6.arpa {\n  kubeconfig KUBECONFIG\n  pods insecure\n }\n",
    );
    let coredns = support::peers::Coredns::start(corefile, &kubeconfig);
    let reply = udp(
        coredns.addr(),
        &query("kubernetes.default.svc.cluster.local.", RecordType::A),
    );
    assert_eq!(
        addresses(&reply),
        vec!["10.32.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
}

fn chart() -> String {
    format!("{}/charts/clusterdns", env!("CARGO_MANIFEST_DIR"))
}

fn helm(args: &[&str]) -> String {
    let helm = support::peers::PeerBins::locate().helm();
    let output = std::process::Command::new(&helm)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "helm {args:?}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `helm template coredns charts/clusterdns -n kube-system` with these flags.
fn render(flags: &[&str]) -> String {
    let chart = chart();
    let mut args = vec![
        "template",
        "coredns",
        chart.as_str(),
        "--namespace",
        "kube-system",
    ];
    args.extend_from_slice(flags);
    helm(&args)
}

/// The rendered objects, as YAML values.
fn objects(rendered: &str) -> Vec<serde_yaml::Value> {
    serde_yaml::Deserializer::from_str(rendered)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .filter(|v: &serde_yaml::Value| !v.is_null())
        .collect()
}

fn kinds_and_names(rendered: &str) -> Vec<String> {
    objects(rendered)
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

/// The Corefile of the rendered ConfigMap, checked with `clusterdns -check`.
fn checked_corefile(rendered: &str) -> String {
    let objects = objects(rendered);
    let configmap = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap")
        .expect("a ConfigMap");
    let corefile = configmap["data"]["Corefile"].as_str().unwrap().to_string();
    assert_passes_check(&corefile);
    corefile
}

/// `clusterdns -conf FILE -check` accepts this Corefile.
fn assert_passes_check(corefile: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Corefile");
    std::fs::write(&file, corefile).unwrap();
    let check = std::process::Command::new(support::process::binary())
        .arg("-conf")
        .arg(&file)
        .arg("-check")
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}\n{corefile}");
}

/// `helm lint` passes, and by default the chart renders what `deploy/`
/// holds: the seed's Corefile line for line, the cluster add-on's names,
/// no `replicas`.
#[test]
fn the_chart_lints_and_renders_the_seeds_corefile() {
    let lint = helm(&["lint", "--strict", &chart()]);
    assert!(lint.contains("0 chart(s) failed"), "{lint}");
    let rendered = render(&[]);
    let seed = std::fs::read_to_string(format!(
        "{}/tests/fixtures/corefiles/seed.Corefile",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let words = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|l| !l.is_empty())
            .collect()
    };
    assert_eq!(words(&checked_corefile(&rendered)), words(&seed));
    let names = kinds_and_names(&rendered);
    for object in [
        "ServiceAccount/coredns",
        "ClusterRole/system:coredns",
        "ClusterRoleBinding/system:coredns",
        "ConfigMap/coredns",
        "Service/kube-dns",
        "Deployment/coredns",
        "PodDisruptionBudget/coredns",
    ] {
        assert!(
            names.contains(&object.to_string()),
            "{object} missing: {names:?}"
        );
    }
    assert!(
        !rendered.contains("replicas:"),
        "replicas left to an autoscaler"
    );
    let kept = render(&["--set", "existingConfigMap=coredns"]);
    assert!(
        !kinds_and_names(&kept)
            .iter()
            .any(|n| n.starts_with("ConfigMap/")),
        "existingConfigMap keeps the user's ConfigMap"
    );
}

/// Every option set renders objects the real apiserver accepts
/// (server-side dry-run), a coredns chart values file included.
#[test]
fn the_chart_passes_server_side_validation() {
    let cluster = cluster();
    let crd = format!(
        "{}/tests/fixtures/helm/servicemonitor-crd.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    cluster.kubectl(&["apply", "-f", &crd]);
    cluster.kubectl(&[
        "wait",
        "--for=condition=Established",
        "crd/servicemonitors.monitoring.coreos.com",
        "--timeout=60s",
    ]);
    let values = format!(
        "{}/tests/fixtures/helm/coredns-chart-values.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let sets: [(&[&str], &[&str]); 4] = [
        (&[], &["deployment.apps/coredns", "service/kube-dns"]),
        (
            &[
                "--set",
                "hpa.enabled=true,prometheus.service.enabled=true,prometheus.monitor.enabled=true,service.clusterIP=10.32.0.10",
            ],
            &[
                "horizontalpodautoscaler.autoscaling/coredns",
                "service/coredns-metrics",
                "servicemonitor.monitoring.coreos.com/coredns",
            ],
        ),
        (
            &[
                "--set",
                "autoscaler.enabled=true,existingConfigMap=coredns,isClusterService=false",
            ],
            &[
                "deployment.apps/coredns-clusterdns-autoscaler",
                "service/coredns-clusterdns",
            ],
        ),
        (
            &["-f", &values],
            &["service/kube-dns", "service/coredns-metrics"],
        ),
    ];
    for (flags, expected) in sets {
        let rendered = render(flags);
        if rendered.contains("kind: ConfigMap") {
            checked_corefile(&rendered);
        }
        let output = cluster
            .kubectl_try(&["apply", "--dry-run=server", "-f", "-"], Some(&rendered))
            .unwrap_or_else(|e| panic!("dry-run of {flags:?}: {e}\n{rendered}"));
        for object in expected {
            assert!(
                output.contains(object),
                "{flags:?}: {object} missing from:\n{output}"
            );
        }
    }
    let both = std::process::Command::new(support::peers::PeerBins::locate().helm())
        .args([
            "template",
            "coredns",
            &chart(),
            "--set",
            "hpa.enabled=true,autoscaler.enabled=true",
        ])
        .output()
        .unwrap();
    assert!(
        !both.status.success(),
        "hpa and autoscaler together are refused"
    );
}
