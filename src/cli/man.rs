//! `snowbridge man [--dir DIR]`: manual pages rendered by `clap_mangen` from the same clap
//! definitions the binary parses: the top page on stdout, or one page per command in a folder.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, roman};
use snowbridge::{Error, Result};

use super::{Cli, Context, output};

/// Arguments of `man`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  snowbridge man | man -l -
  # snowbridge.1 and one page per command (snowbridge-connect.1, ...), for `man snowbridge-connect`
  snowbridge man --dir ~/.local/share/man/man1")]
pub struct Args {
    /// Write snowbridge.1 and one page per command (snowbridge-connect.1, ...) into this folder,
    /// made if missing.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn run(ctx: &Context, args: Args) -> Result<()> {
    let mut top = Cli::command().disable_help_subcommand(true);
    top.build();
    let Some(dir) = args.dir else {
        if ctx.json {
            return Err(Error::usage(
                "--json applies to `man --dir` (the pages written); the page itself is roff",
            )
            .with_hint("leave out --json, or add --dir DIR to write the pages and list them"));
        }
        let mut page = Vec::new();
        render(&top, &mut page).map_err(|e| Error::internal(format!("cannot render: {e}")))?;
        return std::io::stdout()
            .lock()
            .write_all(&page)
            .map_err(output::write_error);
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot make", &dir, e))?;
    let mut written = Vec::new();
    write_pages(&top, &dir, &mut written)?;
    if ctx.json {
        return output::json(&written);
    }
    for path in &written {
        output::line(&path.display().to_string())?;
    }
    Ok(())
}

/// Writes the page of `cmd` and of each of its commands into `dir`.
fn write_pages(cmd: &clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    let path = dir.join(Man::new(cmd.clone()).get_filename());
    let mut page = Vec::new();
    render(cmd, &mut page).map_err(|e| Error::internal(format!("cannot render: {e}")))?;
    std::fs::write(&path, page).map_err(|e| Error::io("cannot write", &path, e))?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, written)?;
    }
    Ok(())
}

/// The page of `cmd` (built, so a command's page is named `snowbridge-NAME`): clap_mangen's
/// sections, with the `--help` examples as an EXAMPLES section kept line by line (its own
/// EXTRA section would run them together into one paragraph).
pub fn render(cmd: &clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    let man = Man::new(cmd.clone()).date(env!("SNOWBRIDGE_COMMIT_DATE"));
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(out)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(out)?;
    }
    if let Some(after) = cmd.get_after_help() {
        let text = after.to_string();
        let body = text.strip_prefix("Examples:\n").unwrap_or(&text);
        let mut roff = Roff::new();
        roff.control("SH", ["EXAMPLES"]).control("nf", []);
        for line in body.lines() {
            roff.text([roman(line.trim_start())]);
        }
        roff.control("fi", []);
        roff.to_writer(out)?;
    }
    man.render_version_section(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The `snowbridge ...` invocations in examples: comments skipped, lines shell-split and cut
    /// at `|`, `&&`, `;` and redirections.
    fn invocations(text: &str) -> Vec<Vec<String>> {
        let mut found = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('#') || line == "Examples:" {
                continue;
            }
            let words = shlex::split(line).unwrap_or_else(|| panic!("not shell words: {line}"));
            for part in words.split(|w| matches!(w.as_str(), "|" | "&&" | ";")) {
                let run: Vec<String> = part
                    .iter()
                    .take_while(|w| !w.starts_with('>') && !w.starts_with('<'))
                    .cloned()
                    .collect();
                if run.first().is_some_and(|w| w == "snowbridge") {
                    found.push(run);
                }
            }
        }
        found
    }

    #[test]
    fn every_command_has_examples_its_arguments_accept() {
        let mut top = Cli::command();
        top.build();
        for sub in top.get_subcommands().filter(|s| s.get_name() != "help") {
            let name = sub.get_name();
            let text = sub
                .get_after_help()
                .unwrap_or_else(|| panic!("`snowbridge {name} --help` shows no examples"))
                .to_string();
            assert!(text.starts_with("Examples:\n"), "{name}: {text}");
            let runs = invocations(&text);
            let own = runs
                .iter()
                .filter(|run| run.get(1).is_some_and(|w| w == name));
            assert!(
                own.count() >= 2,
                "{name} has fewer than two examples: {runs:?}"
            );
            for run in &runs {
                if let Err(e) = Cli::try_parse_from(run) {
                    panic!("the example `{}` does not parse:\n{e}", run.join(" "));
                }
            }
        }
    }

    #[test]
    fn a_page_keeps_the_examples_line_by_line() {
        let mut top = Cli::command();
        top.build();
        let connect = top.find_subcommand("connect").unwrap();
        let mut page = Vec::new();
        render(connect, &mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.contains(".TH snowbridge-connect 1"), "{page}");
        let examples = page
            .split(".SH EXAMPLES\n")
            .nth(1)
            .expect("an EXAMPLES section");
        assert!(examples.starts_with(".nf\n"), "{examples}");
        assert!(
            examples.contains("\nsnowbridge connect dev \\-\\-login\n"),
            "{examples}"
        );
    }
}
