//! Each case's expected output is what Go 1.26's text/template prints for
//! the same template and data (template's `templateData`).

use super::*;

fn data() -> Data {
    let matches = vec!["ip-10-1-2-3.example.".to_string(), "10".into(), "3".into()];
    let mut groups: Groups = matches
        .iter()
        .enumerate()
        .map(|(i, m)| (i.to_string(), m.clone()))
        .collect();
    groups.insert("a".into(), "10".into());
    groups.insert("d".into(), "3".into());
    Data {
        zone: "example.".into(),
        name: "ip-10-1-2-3.example.".into(),
        regex: "^ip-(?P<a>[0-9]+)-.*-(?P<d>[0-9]+)".into(),
        class: "IN".into(),
        qtype: "A".into(),
        remote: "127.0.0.1".into(),
        matches,
        groups,
        question: Question {
            name: "ip-10-1-2-3.example.".into(),
            qtype: 1,
            qclass: 1,
            text: ";ip-10-1-2-3.example.\tIN\t A".into(),
        },
    }
}

fn run(text: &str) -> Result<String, String> {
    GoTemplate::parse("answer", text)?.execute(&data())
}

#[test]
fn fields_functions_and_pipes_print_as_go_prints_them() {
    let cases = [
        (
            "{{ .Name }} 60 IN A 127.0.0.1",
            "ip-10-1-2-3.example. 60 IN A 127.0.0.1",
        ),
        (
            "{{.Zone}}|{{ .Class }}|{{ .Type }}|{{ .Remote }}",
            "example.|IN|A|127.0.0.1",
        ),
        ("{{ index .Match 1 }}.{{ .Group.d }}", "10.3"),
        ("{{ .Group.missing }}", "<no value>"),
        ("[{{ index .Group \"missing\" }}]", "[]"),
        ("{{ .Match }}", "[ip-10-1-2-3.example. 10 3]"),
        ("{{ parseInt \"0a\" 16 8 }}", "10"),
        ("{{ parseInt .Group.a 10 8 | printf \"%03d\" }}", "010"),
        ("{{ printf \"%s-%d-%x\" .Zone 7 255 }}", "example.-7-ff"),
        ("{{ printf \"%d\" }}", "%!d(MISSING)"),
        ("{{ print 1 2 \"a\" 3 }}", "1 2a3"),
        ("{{ len .Match }}", "3"),
        (
            "{{ .Question.Name }} {{ .Question.Qtype }}",
            "ip-10-1-2-3.example. 1",
        ),
        ("{{ .Meta \"kubernetes/client-namespace\" }}x", "x"),
        ("{{ if eq .Type \"A\" }}four{{ else }}six{{ end }}", "four"),
        (
            "{{ if eq .Type \"AAAA\" }}six{{ else if .Zone }}zone{{ end }}",
            "zone",
        ),
        ("{{ if not .Group.missing }}empty{{ end }}", "empty"),
        ("a  {{- .Type -}}  b", "aAb"),
        ("{{/* a comment */}}c", "c"),
        ("{{ (index .Match 2) }}{{ \"}}\" }}", "3}}"),
        ("{{ and .Zone 0 }} {{ or 0 .Type }}", "0 A"),
        ("{{ lt 1 2 }} {{ ge \"a\" \"b\" }}", "true false"),
    ];
    for (text, want) in cases {
        assert_eq!(run(text).as_deref(), Ok(want), "{text}");
    }
}

#[test]
fn go_runtime_errors_are_errors() {
    for text in [
        "{{ index .Match 9 }}",
        "{{ .Nope }}",
        "{{ .Name.Inner }}",
        "{{ parseInt \"zz\" 16 8 }}",
        "{{ parseInt \"300\" 10 8 }}",
        "{{ eq .Type 1 }}",
    ] {
        assert!(run(text).is_err(), "{text}: {:?}", run(text));
    }
}

#[test]
fn what_go_refuses_to_parse_and_what_is_not_supported_are_setup_errors() {
    for text in [
        "{{ .Name ",
        "{{ nosuch .Name }}",
        "{{ if .Name }}x",
        "{{ end }}",
        "{{ range .Match }}{{ . }}{{ end }}",
        "{{ $x := .Name }}",
        "{{ with .Name }}{{ end }}",
        "{{ \"open }}",
        "{{ .Message }}",
        "{{ .Message.Id }}",
        "{{ \u{feff}x }}",
        "{{ é",
    ] {
        assert!(GoTemplate::parse("answer", text).is_err(), "{text}");
    }
}

#[test]
fn render_writes_actions_back_without_padding() {
    let template = GoTemplate::parse("answer", "{{ .Name }} 60 IN A {{ index .Match 1 }}").unwrap();
    assert_eq!(template.render(), "{{.Name}} 60 IN A {{index .Match 1}}");
}
