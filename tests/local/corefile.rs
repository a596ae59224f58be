//! Corefile grammar: one test per rule of CoreDNS's parser, and one per
//! error message (reference §1.2–1.5, §1.9).

use clusterdns::corefile::{CorefileError, ServerBlock, parse};
use clusterdns::is_known;

fn known(name: &str) -> bool {
    is_known(name) || ["cache", "forward", "kubernetes", "loop", "reload"].contains(&name)
}

fn blocks(text: &str) -> Vec<ServerBlock> {
    parse(text, "Corefile", &known).expect("parses")
}

fn error(text: &str) -> String {
    parse(text, "Corefile", &known).expect_err("fails").0
}

fn keys(block: &ServerBlock) -> Vec<&str> {
    block.keys.iter().map(|k| k.text.as_str()).collect()
}

fn args(block: &ServerBlock, name: &str) -> Vec<String> {
    block
        .tokens(name)
        .unwrap_or_default()
        .iter()
        .map(|t| t.text.clone())
        .collect()
}

#[test]
fn several_keys_and_trailing_comma_continuation() {
    let parsed = blocks("a.org b.org:5353 {\n whoami\n}\nc.org,\n d.org {\n log\n}\n");
    assert_eq!(keys(&parsed[0]), vec!["a.org", "b.org:5353"]);
    assert_eq!(keys(&parsed[1]), vec!["c.org", "d.org"]);
}

#[test]
fn brace_may_start_on_the_next_line_for_server_blocks() {
    let parsed = blocks(".:53\n{\n whoami\n}\n");
    assert_eq!(args(&parsed[0], "whoami"), vec!["whoami"]);
}

#[test]
fn block_without_braces_runs_to_eof() {
    let parsed = blocks(".:53\nwhoami\nlog\n");
    assert_eq!(parsed.len(), 1);
    assert!(parsed[0].tokens("log").is_some());
}

#[test]
fn directives_are_grouped_by_name_in_file_order() {
    let parsed = blocks(".:53 {\n log a.org\n whoami\n log b.org\n}\n");
    assert_eq!(
        args(&parsed[0], "log"),
        vec!["log", "a.org", "log", "b.org"]
    );
    assert_eq!(parsed[0].directives[0].0, "log");
}

#[test]
fn each_line_starts_a_new_directive() {
    let parsed = blocks(".:53 {\n errors log\n}\n");
    assert_eq!(args(&parsed[0], "errors"), vec!["errors", "log"]);
    assert!(parsed[0].tokens("log").is_none());
}

#[test]
fn directive_blocks_may_nest_braces() {
    let parsed = blocks(".:53 {\n log {\n class denial\n }\n whoami\n}\n");
    assert_eq!(
        args(&parsed[0], "log"),
        vec!["log", "{", "class", "denial", "}"]
    );
}

#[test]
fn comments_anywhere_and_quotes() {
    let parsed = blocks("# top\n.:53 { # after brace\n log \"a b\"#c\n whoami#x\n}\n");
    assert_eq!(args(&parsed[0], "log"), vec!["log", "a b"]);
    assert!(parsed[0].tokens("whoami").is_some());
}

#[test]
fn env_vars_replaced_per_token_and_stay_one_token() {
    // SAFETY: only this test reads these variables.
    unsafe {
        std::env::set_var("CDNS_T_ZONE", "example.org");
        std::env::set_var("CDNS_T_SPACED", "1.1.1.1 8.8.8.8");
    }
    let parsed = blocks("{$CDNS_T_ZONE}:53 {\n log {$CDNS_T_SPACED} \"{$CDNS_T_ZONE}\"\n}\n");
    assert_eq!(keys(&parsed[0]), vec!["example.org:53"]);
    assert_eq!(
        args(&parsed[0], "log"),
        vec!["log", "1.1.1.1 8.8.8.8", "example.org"]
    );
}

#[test]
fn snippets_are_imported_and_not_servers() {
    let parsed = blocks("(common) {\n errors\n log\n}\n.:53 {\n import common\n whoami\n}\n");
    assert_eq!(parsed.len(), 1);
    assert!(parsed[0].tokens("errors").is_some());
    assert!(parsed[0].tokens("log").is_some());
}

#[test]
fn import_files_relative_to_the_importing_file_and_globs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("custom")).unwrap();
    std::fs::write(dir.path().join("custom/a.override"), "log\n").unwrap();
    std::fs::write(
        dir.path().join("custom/b.server"),
        "example.org:53 {\n whoami\n}\n",
    )
    .unwrap();
    let main = dir.path().join("Corefile");
    std::fs::write(
        &main,
        ".:53 {\n import custom/*.override\n whoami\n}\nimport custom/*.server\n",
    )
    .unwrap();
    let text = std::fs::read_to_string(&main).unwrap();
    let parsed = parse(&text, main.to_str().unwrap(), &known).unwrap();
    assert_eq!(parsed.len(), 2);
    assert!(parsed[0].tokens("log").is_some());
    assert_eq!(keys(&parsed[1]), vec!["example.org:53"]);
    // A glob that matches nothing is only a warning.
    let none = parse(
        ".:53 {\n import nothing/*.x\n whoami\n}\n",
        main.to_str().unwrap(),
        &known,
    )
    .unwrap();
    assert_eq!(none.len(), 1);
}

#[test]
fn empty_file_gives_no_blocks() {
    assert!(blocks("  # only a comment\n").is_empty());
}

// --- error messages (reference §1.9) ---

#[test]
fn unknown_directive() {
    assert_eq!(
        error(".:53 {\n whoami\n foo bar\n}\n"),
        "Corefile:3 - Error during parsing: Unknown directive 'foo'"
    );
}

#[test]
fn directive_brace_on_next_line_still_opens_its_block() {
    // CoreDNS 1.14.7 accepts this (checked against the real binary), although
    // the reference text says otherwise.
    let parsed = blocks(".:53 {\n log\n {\n class all\n }\n}\n");
    assert_eq!(
        args(&parsed[0], "log"),
        vec!["log", "{", "class", "all", "}"]
    );
}

#[test]
fn unmatched_closing_brace() {
    assert_eq!(
        error(".:53 {\n log }\n}\n"),
        "Corefile:2 - Error during parsing: Unexpected '}' because no matching opening brace"
    );
}

#[test]
fn missing_final_brace() {
    assert_eq!(
        error(".:53 {\n whoami\n"),
        "Corefile:2 - Syntax error: Unexpected token 'whoami', expecting '}'"
    );
}

#[test]
fn unexpected_eof_inside_directive_block() {
    assert_eq!(
        error(".:53 {\n log {\n class all\n"),
        "Corefile:3 - Error during parsing: Unexpected EOF"
    );
}

#[test]
fn extra_comma_before_brace() {
    assert_eq!(
        error("a.org, {\n whoami\n}\n"),
        "Corefile:1 - Error during parsing: Expected another address but had '{' - check for extra comma"
    );
}

#[test]
fn snippet_redeclared() {
    assert_eq!(
        error("(s) {\n log\n}\n(s) {\n log\n}\n"),
        "Corefile:4 - Error during parsing: redeclaration of previously declared snippet s"
    );
}

#[test]
fn import_errors() {
    assert_eq!(
        error(".:53 {\n import \"\"\n}\n"),
        "Corefile:2 - Error during parsing: Import requires a non-empty filepath"
    );
    assert_eq!(
        error(".:53 {\n import a b\n}\n"),
        "Corefile:2 - Error during parsing: Import takes only one argument (glob pattern or file)"
    );
    assert_eq!(
        error(".:53 {\n import /nonexistent/clusterdns-file\n}\n"),
        "Corefile:2 - Error during parsing: File to import not found: /nonexistent/clusterdns-file"
    );
    assert_eq!(
        error(".:53 {\n import /tmp\n}\n"),
        "Corefile:2 - Error during parsing: Could not import /tmp: is a directory"
    );
    assert_eq!(
        error(".:53 {\n import /tmp/*/*.x\n}\n"),
        "Corefile:2 - Error during parsing: Glob pattern may only contain one wildcard (*), but has others: /tmp/*/*.x"
    );
    assert_eq!(
        error(".:53 {\n import\n}\n"),
        "Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'import'"
    );
}

#[test]
fn self_importing_snippet_hits_the_expansion_cap() {
    let message = error("(loop) {\n import loop\n}\n.:53 {\n import loop\n}\n");
    assert!(
        message.ends_with("maximum snippet import depth (10000) exceeded"),
        "{message}"
    );
}

#[test]
fn errors_display_as_their_text() {
    let e = CorefileError::parsing("f", 7, "x");
    assert_eq!(e.to_string(), "f:7 - Error during parsing: x");
}
