//! The shipped `.obp` files never rot: every blueprint module checks on its own, every
//! example validates, and all of them are formatted canonically. So does every complete
//! stack shown in the README (a fenced `obp` block that starts with `stack`).

use std::path::{Path, PathBuf};

use libtest_mimic::{Failed, Trial};

fn obp_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !path.ends_with("out") {
                obp_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "obp") {
            out.push(path);
        }
    }
}

pub fn trials() -> Vec<Trial> {
    let mut trials = Vec::new();
    let mut modules = Vec::new();
    obp_files(Path::new("blueprints"), &mut modules);
    modules.sort();
    for module in modules {
        let name = format!("library/{}", module.display());
        trials.push(Trial::test(name, move || check_module(&module)));
    }
    let mut examples: Vec<PathBuf> = std::fs::read_dir("examples")
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    examples.sort();
    for example in examples {
        let name = format!("library/{}", example.display());
        trials.push(Trial::test(name, move || check_example(&example)));
    }
    let readme = std::fs::read_to_string("README.md").unwrap_or_default();
    for (n, block) in obp_blocks(&readme).into_iter().enumerate() {
        let name = format!("library/README.md/stack-{}", n + 1);
        trials.push(Trial::test(name, move || check_snippet(&block)));
    }
    trials
}

/// The fenced `obp` blocks of a Markdown text that are whole stacks.
fn obp_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```obp") => current = Some(String::new()),
            (Some(block), "```") => {
                if block.starts_with("stack ") {
                    blocks.push(std::mem::take(block));
                }
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

fn check_snippet(source: &str) -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("stack.obp");
    std::fs::write(&file, source).map_err(|e| e.to_string())?;
    formatted(&file)?;
    let checked = obp_lang::check_stack(dir.path(), &obp_lang::Options::default());
    errors(&checked)?;
    if checked.config.is_none() {
        return Err("the stack did not evaluate".into());
    }
    Ok(())
}

fn formatted(file: &Path) -> Result<(), Failed> {
    let source = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let formatted = obp_lang::fmt::format_source(obp_lang::span::FileId(0), &source)
        .map_err(|e| format!("{}: does not parse: {e:?}", file.display()))?;
    if formatted != source {
        return Err(format!(
            "{} is not formatted: run `obp fmt {}`",
            file.display(),
            file.display()
        )
        .into());
    }
    Ok(())
}

fn errors(checked: &obp_lang::Checked) -> Result<(), Failed> {
    if checked.has_errors() {
        let text =
            obp_lang::diagnostics::render::to_text(&checked.diagnostics, &checked.sources, false);
        return Err(text.into());
    }
    Ok(())
}

fn check_module(file: &Path) -> Result<(), Failed> {
    formatted(file)?;
    let checked = obp_lang::check_stack(file, &obp_lang::Options::default());
    errors(&checked)?;
    if !checked.is_module {
        return Err(format!("{} has no `module` header", file.display()).into());
    }
    Ok(())
}

fn check_example(dir: &Path) -> Result<(), Failed> {
    let mut files = Vec::new();
    obp_files(dir, &mut files);
    for file in &files {
        formatted(file)?;
    }
    if !dir.join("README.md").is_file() {
        return Err(format!("{} has no README.md", dir.display()).into());
    }
    let checked = obp_lang::check_stack(dir, &obp_lang::Options::default());
    errors(&checked)?;
    if checked.config.is_none() {
        return Err(format!("{} did not evaluate", dir.display()).into());
    }
    Ok(())
}
