//! In-process tests of `log`: a chain keeps remembering replies behind it,
//! and the line written for a reply sent from memory is the line the chain
//! writes, with the hit's own client, ID and duration.

use hickory_proto::rr::RecordType;

use super::{Log, line_of, setup};
use crate::corefile::Dispenser;
use crate::dns::{Exchange, MemoHit, Proto};
use crate::plugin::pkg::test;

fn corefile(log_line: &str) -> String {
    format!(
        ".:53 {{\n {log_line}\n kubernetes cluster.local {{\n  snapshot {}/demo/seed-cluster.yaml\n }}\n}}\n",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn log(corefile: &str) -> Log {
    let tokens = test::directive_tokens(corefile, "log");
    setup(&mut Dispenser::new(&tokens)).expect("log setup")
}

fn served(corefile: &str, name: &str, client: &str) -> Exchange {
    let chain = test::chain(corefile);
    let mut msg = test::query(name, RecordType::A);
    msg.metadata.id = 4242;
    test::exchange(&chain, msg, client, Proto::Udp)
}

/// The line the plugin writes for `exchange`, and the line it would write
/// for a reply from memory to `hit`; `None` when the exchange is not logged.
fn lines(log: &Log, exchange: &Exchange, hit: &MemoHit) -> Option<(String, String)> {
    let rule = log.rule_for(&exchange.req)?;
    let now = std::time::Instant::now();
    let direct = line_of(rule, exchange, now, |written| {
        let mut out = Vec::new();
        rule.format.render(&mut out, &exchange.req, written);
        out
    })?;
    let template = line_of(rule, exchange, now, |written| {
        rule.format.template(&exchange.req, written)
    })?;
    let mut remembered = Vec::new();
    template.render(&mut remembered, hit);
    Some((
        String::from_utf8(direct).unwrap(),
        String::from_utf8(remembered).unwrap(),
    ))
}

/// The line without its duration field (seconds with an `s`), if any.
fn without_duration(line: &str) -> String {
    let is_duration = |field: &str| {
        field
            .strip_suffix('s')
            .is_some_and(|n| n.parse::<f64>().is_ok())
    };
    let fields: Vec<&str> = line.split(' ').filter(|f| !is_duration(f)).collect();
    fields.join(" ")
}

#[test]
fn a_chain_with_log_in_front_still_remembers_its_sources_replies() {
    let text = corefile("log");
    let chain = test::chain(&text);
    let exchange = test::exchange(
        &chain,
        test::query("kubernetes.default.svc.cluster.local.", RecordType::A),
        test::CLIENT,
        Proto::Udp,
    );
    assert!(exchange.req.reply.is_some());
    assert!(chain.memo_replays(&exchange).is_some());
    let over_tcp = test::exchange(
        &chain,
        test::query("kubernetes.default.svc.cluster.local.", RecordType::A),
        test::CLIENT,
        Proto::Tcp,
    );
    assert!(chain.memo_replays(&over_tcp).is_none(), "only UDP replies");
}

#[test]
fn a_line_from_memory_is_the_chains_line_with_the_hits_own_fields() {
    for format in [
        "log",
        "log . {combined}",
        "log . \"{local} {/log/type} {>rflags} {name}\"",
    ] {
        let text = corefile(format);
        let plugin = log(&text);
        for name in [
            "kubernetes.default.svc.cluster.local.",
            "nope.default.svc.cluster.local.",
        ] {
            let exchange = served(&text, name, "10.1.2.3:5353");
            let same_client = MemoHit {
                src: "10.1.2.3:5353".parse().unwrap(),
                id: 4242,
                request_size: 40,
                seconds: 0.000125,
            };
            let (direct, remembered) = lines(&plugin, &exchange, &same_client).unwrap();
            assert_eq!(
                without_duration(&remembered),
                without_duration(&direct),
                "{format}, {name}"
            );
            assert!(!direct.is_empty());
        }
    }
}

#[test]
fn a_line_from_memory_has_the_client_id_and_duration_of_the_hit() {
    let text = corefile("log");
    let plugin = log(&text);
    let exchange = served(&text, "kubernetes.default.svc.cluster.local.", test::CLIENT);
    for (client, id, seconds, start) in [
        ("10.200.7.9:40001", 7, 0.0001, "10.200.7.9:40001 - 7 \""),
        ("[fd00::9]:53", 65535, 2.5, "[fd00::9]:53 - 65535 \""),
    ] {
        let hit = MemoHit {
            src: client.parse().unwrap(),
            id,
            request_size: 40,
            seconds,
        };
        let (direct, remembered) = lines(&plugin, &exchange, &hit).unwrap();
        assert!(remembered.starts_with(start), "{remembered}");
        assert!(
            remembered.ends_with(&format!(" {seconds}s")),
            "{remembered}"
        );
        let fixed = |line: &str| {
            without_duration(line)
                .split_once(" - ")
                .unwrap()
                .1
                .split_once(' ')
                .unwrap()
                .1
                .to_string()
        };
        assert_eq!(fixed(&remembered), fixed(&direct));
    }
}

#[test]
fn an_exchange_out_of_scope_or_class_has_no_line_to_remember() {
    let text = corefile("log example.org");
    let exchange = served(&text, "kubernetes.default.svc.cluster.local.", test::CLIENT);
    let hit = MemoHit {
        src: test::CLIENT.parse().unwrap(),
        id: 1,
        request_size: 40,
        seconds: 0.0,
    };
    assert!(
        lines(&log(&text), &exchange, &hit).is_none(),
        "out of scope"
    );
    let text = corefile("log . {\n  class denial\n }");
    let exchange = served(&text, "kubernetes.default.svc.cluster.local.", test::CLIENT);
    assert!(
        lines(&log(&text), &exchange, &hit).is_none(),
        "a success, denials logged"
    );
}
