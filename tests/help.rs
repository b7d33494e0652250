//! The documentation of the command line against its definition: every
//! option and argument of every command (from the clap definitions in
//! `src/cli.rs`) is used, with a concrete value, in an example command line
//! in docs/usage.md. The examples are parsed with those definitions, so a
//! mention in prose or a synopsis (`--top N`) does not count. (That
//! `--help` gives each one an example is checked next to the definitions,
//! in `src/cli.rs`.)

use std::collections::BTreeSet;

use aelm::cli::Cli;
use clap::CommandFactory;
use clap::parser::ValueSource;

/// `attach`, `run` and `watch` share their options: an example under any of
/// them documents the option for all three.
fn family(sub: &str) -> &str {
    match sub {
        "attach" | "run" | "watch" => "attach|run|watch",
        other => other,
    }
}

/// The aelm command lines of a Markdown text: in indented code lines and in
/// `inline code`, from `aelm` up to the first shell operator, with the
/// synopsis brackets and shell quotes taken off each word.
fn command_lines(md: &str) -> Vec<Vec<String>> {
    let mut pieces = Vec::new();
    for line in md.lines() {
        if line.starts_with("    ") {
            pieces.push(line.to_string());
        } else {
            pieces.extend(line.split('`').skip(1).step_by(2).map(str::to_string));
        }
    }
    let mut lines = Vec::new();
    for piece in pieces {
        let words: Vec<&str> = piece.split_whitespace().collect();
        for (at, _) in words.iter().enumerate().filter(|(_, w)| **w == "aelm") {
            let mut args = vec!["aelm".to_string()];
            for w in &words[at + 1..] {
                let operator = ["|", "||", "&&", ";", "<", "&"].contains(w)
                    || w.starts_with('>')
                    || w.starts_with("2>")
                    || w.starts_with("&>");
                if operator {
                    break;
                }
                let end = w.ends_with(';');
                args.push(
                    w.trim_end_matches(';')
                        .trim_matches(|c| "[]'\"".contains(c))
                        .to_string(),
                );
                if end {
                    break;
                }
            }
            lines.push(args);
        }
    }
    lines
}

/// A placeholder rather than a value: `N`, `HOST:PORT`, `FILE...`.
fn placeholder(value: &str) -> bool {
    let v = value.trim_end_matches("...");
    v.is_empty()
        || (v.chars().any(|c| c.is_ascii_uppercase())
            && v.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || ":_-".contains(c)))
}

/// The (command family, argument id) pairs that the command lines of `md`
/// use with a concrete value.
fn shown_in(md: &str) -> BTreeSet<(String, String)> {
    let cmd = Cli::command().ignore_errors(true);
    let mut shown = BTreeSet::new();
    for line in command_lines(md) {
        let Ok(matches) = cmd.clone().try_get_matches_from(&line) else {
            continue;
        };
        let Some((sub, m)) = matches.subcommand() else {
            continue;
        };
        for id in m.ids() {
            if m.value_source(id.as_str()) != Some(ValueSource::CommandLine) {
                continue;
            }
            // A value that did not parse is kept with no raw value.
            let concrete = m.get_raw(id.as_str()).is_none_or(|v| {
                let v: Vec<_> = v.map(|v| v.to_string_lossy()).collect();
                !v.is_empty() && v.iter().all(|v| !placeholder(v))
            });
            if concrete {
                shown.insert((family(sub).to_string(), id.to_string()));
            }
        }
    }
    shown
}

#[test]
fn usage_md_shows_every_option_in_an_example() {
    let usage = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/usage.md"))
        .expect("docs/usage.md");
    let shown = shown_in(&usage);
    let mut cmd = Cli::command();
    cmd.build();
    let mut checked = 0;
    let mut missing = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        for arg in sub
            .get_arguments()
            .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
        {
            checked += 1;
            let key = (family(sub.get_name()).to_string(), arg.get_id().to_string());
            if !shown.contains(&key) {
                let name = arg
                    .get_long()
                    .map(|l| format!("--{l}"))
                    .unwrap_or_else(|| format!("<{}>", arg.get_id()));
                missing.push(format!("aelm {} {name}", sub.get_name()));
            }
        }
    }
    assert!(checked > 30, "only {checked} arguments walked");
    assert!(
        missing.is_empty(),
        "docs/usage.md has no example command line using: {missing:?}"
    );
}

#[test]
fn the_docs_check_tells_a_use_from_a_mention() {
    let has = |md: &str, fam: &str, id: &str| shown_in(md).contains(&(fam.into(), id.into()));
    assert!(has(
        "    $ aelm summarize --top 3 a.jsonl",
        "summarize",
        "top"
    ));
    assert!(has(
        "    $ aelm summarize --top 3 a.jsonl",
        "summarize",
        "files"
    ));
    assert!(has("or `cat a | aelm summarize -`.", "summarize", "files"));
    assert!(!has("`--top N` sets how many", "summarize", "top"));
    assert!(!has(
        "    aelm summarize [--top N] [FILE...]",
        "summarize",
        "top"
    ));
    assert!(!has(
        "    aelm summarize [--top N] [FILE...]",
        "summarize",
        "files"
    ));
    assert!(!has("`aelm man` prints a page", "man", "command"));
    assert!(has("`aelm man attach | man -l -`", "man", "command"));
    assert!(has(
        "    aelm run -- python3 app.py",
        "attach|run|watch",
        "command"
    ));
    assert!(!has(
        "    aelm run [options] -- COMMAND [ARGS...]",
        "attach|run|watch",
        "command"
    ));
    assert!(has(
        "    aelm watch --max-cpu 5 > x",
        "attach|run|watch",
        "max_cpu"
    ));
    assert!(has(
        "    aelm attach --pid 1 --subprocesses",
        "attach|run|watch",
        "subprocesses"
    ));
    assert!(!has("    aelm attach --pid PID", "attach|run|watch", "pid"));
}
