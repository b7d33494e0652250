//! `aelm man`: man pages (roff) generated from the clap definitions in
//! [`crate::cli`], one for aelm itself (aelm(1)) and one per command
//! (aelm-attach(1), aelm-run(1), ...), as git does. Prints one page to
//! stdout or writes them all into a directory.
//!
//! Owns only the rendering and the file names; the text of the pages is the
//! long `--help` text of each command and option. The pages list no `help`
//! command: clap's `help` has no page of its own.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::CommandFactory;

use crate::cli::Cli;

/// The command tree the pages are made from: aelm's, built (so that each
/// command has its `aelm-COMMAND` name), without clap's `help` command.
fn command_tree() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The page of one command; every page's footer says `aelm VERSION` (clap
/// would put the command's own name there, and no version).
fn man_page(cmd: clap::Command) -> clap_mangen::Man {
    clap_mangen::Man::new(cmd).source(concat!("aelm ", env!("CARGO_PKG_VERSION")))
}

/// The names of the commands that have a page of their own.
pub fn command_names() -> Vec<String> {
    command_tree()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .collect()
}

/// The roff text of aelm(1), or of aelm-COMMAND(1) when `command` is given.
pub fn page(command: Option<&str>) -> Result<Vec<u8>> {
    let tree = command_tree();
    let cmd = match command {
        None => tree,
        Some(name) => match tree
            .get_subcommands()
            .find(|c| c.get_name() == name && !c.is_hide_set())
        {
            Some(sub) => sub.clone(),
            None => bail!(
                "aelm has no command `{name}`; pages exist for: {}",
                command_names().join(", ")
            ),
        },
    };
    let mut out = Vec::new();
    man_page(cmd)
        .render(&mut out)
        .context("rendering the man page")?;
    Ok(out)
}

/// Writes aelm.1 and aelm-COMMAND.1 for every command into `dir`, creating
/// it if needed. Returns the paths written, aelm.1 first.
pub fn write_all(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    let tree = command_tree();
    let mut pages = vec![tree.clone()];
    pages.extend(tree.get_subcommands().filter(|c| !c.is_hide_set()).cloned());
    let mut written = Vec::with_capacity(pages.len());
    for cmd in pages {
        let man = man_page(cmd);
        let path = dir.join(man.get_filename());
        let mut text = Vec::new();
        man.render(&mut text)
            .with_context(|| format!("rendering {}", path.display()))?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// `aelm man [COMMAND] [--dir DIR]`: returns the exit status.
pub fn run(command: Option<&str>, dir: Option<&Path>) -> Result<i32> {
    if let Some(dir) = dir {
        let written = write_all(dir)?;
        eprintln!(
            "aelm: wrote {} man pages to {}",
            written.len(),
            dir.display()
        );
        return Ok(0);
    }
    let text = page(command)?;
    match io::stdout().lock().write_all(&text) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(0),
        r => r.map(|()| 0).context("writing the man page"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_a_page_and_help_has_none() {
        let mut names = command_names();
        let mut listed: Vec<String> = crate::cli::MAN_PAGES
            .iter()
            .map(|s| s.to_string())
            .collect();
        names.sort();
        listed.sort();
        // `aelm man COMMAND` accepts exactly the commands that have a page.
        assert_eq!(names, listed);
        assert!(!names.iter().any(|n| n == "help"));
    }

    #[test]
    fn a_command_page_is_named_after_the_command_and_has_its_options() {
        let text = String::from_utf8(page(Some("attach")).expect("page")).expect("utf8");
        assert!(
            text.lines().any(|l| l.starts_with(".TH aelm-attach 1 ")
                && l.contains(concat!("aelm ", env!("CARGO_PKG_VERSION")))),
            "{text}"
        );
        assert!(text.contains("threshold\\-ms"), "{text}");
        let top = String::from_utf8(page(None).expect("page")).expect("utf8");
        assert!(top.lines().any(|l| l.starts_with(".TH aelm 1 ")), "{top}");
        assert!(top.contains("aelm\\-attach(1)"), "{top}");
        assert!(!top.contains("aelm\\-help(1)"), "{top}");
    }

    #[test]
    fn an_unknown_command_lists_the_known_ones() {
        let err = format!("{:#}", page(Some("atach")).expect_err("no such command"));
        assert!(err.contains("`atach`"), "{err}");
        assert!(err.contains("attach, run, watch"), "{err}");
    }
}
