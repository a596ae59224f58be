//! Every measured figure the READMEs quote comes from a committed results
//! file, and every results file says where it came from.
//!
//! Why: prose about results drifts from the results. A sentence claimed a
//! p99 bound that the committed table contradicted, and ratios from runs
//! long gone stayed quoted with nothing behind them. So the benchmark
//! parts of the READMEs may quote only figures that appear in
//! `bench/results/`, and each file there starts with the commit, machine
//! and command of its run (`benches/common/mod.rs`, `provenance`).
//!
//! A figure is a decimal number (`3.97`, `0.663`), or a number directly
//! followed by `×` or by ` MiB` or ` ms`. Version numbers (two dots or
//! more) and plain counts are not figures.

use std::path::{Path, PathBuf};

/// The files and sections that quote results; `None` is the whole file.
const QUOTING: &[(&str, Option<&str>)] = &[
    ("README.md", Some("## Benchmarks")),
    ("README.md", Some("### Soak")),
    ("bench/README.md", None),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn results_files() -> Vec<(PathBuf, String)> {
    let dir = root().join("bench/results");
    let mut files: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .expect("bench/results")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path, text)
        })
        .collect();
    files.sort();
    files
}

/// The lines from `heading` up to the next heading of the same or a
/// higher level.
fn section(text: &str, heading: &str) -> String {
    let level = heading.split(' ').next().unwrap_or("#");
    let mut lines = text.lines().skip_while(|l| l.trim_end() != heading);
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no section {heading}"));
    let ends = |l: &&str| {
        let hashes = l.chars().take_while(|c| *c == '#').count();
        hashes > 0 && hashes <= level.len() && l[hashes..].starts_with(' ')
    };
    std::iter::once(first)
        .chain(lines.take_while(|l| !ends(l)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The figures in `text`, as written without their unit.
fn figures(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        // A number glued to a word (`p99.9`, `v2`) is a name, not a figure.
        let starts_run = chars[i].is_ascii_digit()
            && (i == 0 || !(is_part(chars[i - 1]) || chars[i - 1].is_alphabetic()));
        if !starts_run {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_part(chars[i]) {
            i += 1;
        }
        let run: String = chars[start..i].iter().collect();
        let run = run.trim_end_matches('.').to_string();
        let after: String = chars[start + run.len()..].iter().take(4).collect();
        let dots = run.matches('.').count();
        let unit = after.starts_with('×') || after.starts_with(" MiB") || after.starts_with(" ms");
        if dots == 1 || (dots == 0 && unit) {
            found.push(run);
        }
    }
    found
}

fn is_part(c: char) -> bool {
    c.is_ascii_digit() || c == '.'
}

#[test]
fn every_quoted_figure_is_in_a_results_file() {
    let results = results_files();
    let all: String = results.iter().map(|(_, text)| text.as_str()).collect();
    let mut missing = Vec::new();
    let mut checked = 0;
    for (file, heading) in QUOTING {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let quoted = heading.map_or(text.clone(), |h| section(&text, h));
        for figure in figures(&quoted) {
            checked += 1;
            if !contains_number(&all, &figure) {
                missing.push(format!("{file}: {figure}"));
            }
        }
    }
    assert!(
        checked > 10,
        "only {checked} figures found: the scan is broken"
    );
    assert!(
        missing.is_empty(),
        "figures quoted with no results file behind them:\n{}",
        missing.join("\n")
    );
}

/// `figure` occurs in `text` as a whole number, not inside a longer one.
fn contains_number(text: &str, figure: &str) -> bool {
    text.match_indices(figure).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + figure.len()..].chars().next();
        !before.is_some_and(is_part) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

#[test]
fn every_results_file_names_its_commit_machine_and_command() {
    for (path, text) in results_files() {
        let line = text
            .lines()
            .find(|l| l.starts_with("Provenance: commit "))
            .unwrap_or_else(|| panic!("{} has no provenance line", path.display()));
        assert!(line.contains(" cores; "), "{}: {line}", path.display());
        assert!(line.contains("command `"), "{}: {line}", path.display());
    }
}

#[test]
fn the_scan_finds_figures_and_skips_versions() {
    let text = "CoreDNS 1.14.7 gave 3.97× and 4× at 0.663 ms, 22 MiB, 300 Services, p99.9.";
    assert_eq!(figures(text), ["3.97", "4", "0.663", "22"]);
    assert!(contains_number("| 3.97× |", "3.97"));
    assert!(!contains_number("13.97", "3.97"));
    assert!(!contains_number("3.975", "3.97"));
    let readme = "## A\nx 1.5\n### B\ny 2.5\n## C\nz 3.5\n";
    assert_eq!(figures(&section(readme, "## A")), ["1.5", "2.5"]);
    assert_eq!(section(readme, "### B"), "### B\ny 2.5");
    assert!(Path::new(&root().join("bench/results")).is_dir());
}
