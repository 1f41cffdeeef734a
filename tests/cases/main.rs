//! The data-driven test runner: every `tests/cases/<area>/<name>.obp` (or `<name>/` directory)
//! is one trial. See `tests/cases/README.md` for the header format and how to review snapshots.

mod generated;
mod header;
mod library;

use std::path::{Path, PathBuf};
use std::process::Command;

use header::{Expect, Header};
use libtest_mimic::{Arguments, Failed, Trial};
use obp_lang::diagnostics::{codes, render};

fn main() {
    let args = Arguments::from_args();
    let root = Path::new("tests/cases");
    let mut cases = Vec::new();
    collect(root, &mut cases);
    cases.sort();
    let mut trials: Vec<Trial> = cases
        .iter()
        .map(|path| {
            let name = case_name(root, path);
            let path = path.clone();
            Trial::test(name.clone(), move || run_case(&name, &path))
        })
        .collect();
    let headers: Vec<(String, Header)> = cases
        .iter()
        .filter_map(|p| Header::read(p).ok().map(|h| (case_name(root, p), h)))
        .collect();
    trials.push(Trial::test("catalogue/every_code_has_a_case", move || {
        every_code_has_a_case(&headers)
    }));
    trials.extend(generated::trials());
    trials.extend(library::trials());
    libtest_mimic::run(&args, trials).exit();
}

/// Case files and directories under `root`, skipping `snapshots/` and a case's own modules.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name == "snapshots" {
                continue;
            }
            if path.join("main.obp").is_file() {
                out.push(path);
            } else {
                collect(&path, out);
            }
        } else if name.ends_with(".obp") {
            out.push(path);
        }
    }
}

fn case_name(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative
        .with_extension("")
        .to_string_lossy()
        .replace('\\', "/")
}

fn snapshot_name(name: &str) -> String {
    name.replace('/', "__")
}

fn run_case(name: &str, path: &Path) -> Result<(), Failed> {
    let header = Header::read(path).map_err(Failed::from)?;
    match header.expect {
        Expect::Cli => return run_cli(name, path, &header),
        Expect::Ok | Expect::Error => {}
    }
    let mut options = obp_lang::Options::default();
    if let Some(budget) = header.budget {
        options.eval.step_budget = budget;
    }
    let checked = obp_lang::check_stack(path, &options);
    let found: Vec<&str> = checked.diagnostics.iter().map(|d| d.code).collect();
    let rendered = render::to_text(&checked.diagnostics, &checked.sources, false);
    // A case lists every code it reports (warnings of a valid case included), and no others.
    let mut wanted = header.codes.clone();
    wanted.sort();
    let mut got: Vec<String> = found.iter().map(|c| (*c).to_owned()).collect();
    got.sort();
    got.dedup();
    let check_codes = || -> Result<(), Failed> {
        if wanted == got {
            Ok(())
        } else {
            Err(format!("expected codes {wanted:?}, got {got:?}:\n{rendered}").into())
        }
    };
    match header.expect {
        Expect::Ok => {
            if checked.has_errors() {
                return Err(format!("expected success, got:\n{rendered}").into());
            }
            check_codes()?;
            let output = match &checked.config {
                Some(config) => {
                    let again = obp_lang::check_stack(path, &options);
                    let second = again.config.map(|c| c.to_json_pretty());
                    if second.as_deref() != Some(config.to_json_pretty().as_str()) {
                        return Err("evaluating twice gave different output".into());
                    }
                    config.to_json_pretty()
                }
                None => "(module: checked, not evaluated)".to_owned(),
            };
            let snapshot = if rendered.is_empty() {
                output
            } else {
                format!("{rendered}\n{output}")
            };
            assert_snapshot(name, &snapshot);
        }
        Expect::Error => {
            if !checked.has_errors() {
                return Err("expected errors, the stack is valid".into());
            }
            check_codes()?;
            assert_snapshot(name, &rendered);
        }
        Expect::Cli => {}
    }
    fmt_round_trip(path)?;
    Ok(())
}

/// Formatting a case keeps its meaning and is stable (syntax errors excepted).
fn fmt_round_trip(path: &Path) -> Result<(), Failed> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files = Vec::new();
        collect_obp(path, &mut files);
        files
    } else {
        vec![path.to_path_buf()]
    };
    for file in files {
        let Ok(source) = std::fs::read_to_string(&file) else {
            continue;
        };
        let id = obp_lang::span::FileId(0);
        let Ok(once) = obp_lang::fmt::format_source(id, &source) else {
            continue;
        };
        let twice = obp_lang::fmt::format_source(id, &once)
            .map_err(|e| format!("{}: formatted text does not parse: {e:?}", file.display()))?;
        if once != twice {
            return Err(format!("{}: formatting is not idempotent", file.display()).into());
        }
        let before = obp_lang::parse::parse(id, &source).file;
        let after = obp_lang::parse::parse(id, &once).file;
        let json = |f: &Option<obp_lang::ast::File>| serde_json::to_string(f).unwrap_or_default();
        if json(&before) != json(&after) {
            return Err(format!("{}: formatting changed the meaning", file.display()).into());
        }
    }
    Ok(())
}

fn collect_obp(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_obp(&path, out);
        } else if path.extension().is_some_and(|e| e == "obp") {
            out.push(path);
        }
    }
}

/// Runs the real binary with the header's `args` (or each of its `steps`; `$CASE` is the case
/// path) and snapshots exit codes, stdout and stderr. With `workdir`, the case is copied to a
/// temporary directory first and paths into it print as `[WORKDIR]`.
fn run_cli(name: &str, path: &Path, header: &Header) -> Result<(), Failed> {
    let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (case, workdir) = if header.workdir {
        let target = temp.path().join("stack");
        copy_case(path, &target).map_err(|e| format!("cannot copy the case: {e}"))?;
        let case = if path.is_dir() {
            target.clone()
        } else {
            target.join("main.obp")
        };
        (case, Some(target))
    } else {
        (path.to_path_buf(), None)
    };
    let case_text = case.to_string_lossy().into_owned();
    let steps: Vec<Vec<String>> = if header.steps.is_empty() {
        vec![header.args.clone()]
    } else {
        header.steps.clone()
    };
    let exits: Vec<Option<i32>> = if header.steps.is_empty() {
        vec![header.exit]
    } else {
        header.exits.iter().map(|e| Some(*e)).collect()
    };
    if !header.steps.is_empty() {
        let commands = steps
            .iter()
            .filter(|s| !matches!(s.first().map(String::as_str), Some("$write" | "$symlink")))
            .count();
        if commands != header.exits.len() {
            return Err(
                format!("{commands} commands but {} exit codes", header.exits.len()).into(),
            );
        }
    }
    let mut snapshot = String::new();
    // `exits` counts commands only, not `$write` and `$symlink` steps.
    let mut n = 0;
    for step in &steps {
        let step: Vec<String> = step
            .iter()
            .map(|a| a.replace("$CASE", &case_text))
            .collect();
        if step.first().map(String::as_str) == Some("$write") {
            let (Some(file), Some(text), Some(dir)) = (step.get(1), step.get(2), workdir.as_ref())
            else {
                return Err("`$write` needs a path, a text and `workdir = true`".into());
            };
            std::fs::write(dir.join(file), text).map_err(|e| e.to_string())?;
            snapshot.push_str(&format!("$ (write {file})\n"));
            continue;
        }
        if step.first().map(String::as_str) == Some("$symlink") {
            let (Some(target), Some(link), Some(dir)) =
                (step.get(1), step.get(2), workdir.as_ref())
            else {
                return Err("`$symlink` needs a target, a link path and `workdir = true`".into());
            };
            let link_path = dir.join(link);
            if let Some(parent) = link_path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            std::os::unix::fs::symlink(target, &link_path).map_err(|e| e.to_string())?;
            snapshot.push_str(&format!("$ (symlink {link} -> {target})\n"));
            continue;
        }
        let mut command = Command::new(env!("CARGO_BIN_EXE_obp"));
        command
            .args(&step)
            .env("NO_COLOR", "1")
            .env_remove("OBP_PATH");
        if let Some(dir) = &workdir {
            command.current_dir(dir);
        }
        let output = command
            .output()
            .map_err(|e| format!("cannot run obp: {e}"))?;
        let code = output.status.code().unwrap_or(-1);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if let Some(Some(expected)) = exits.get(n) {
            if code != *expected {
                return Err(format!("command {n} `obp {}`: exit code {code}, expected {expected}\nstdout:\n{stdout}\nstderr:\n{stderr}", step.join(" ")).into());
            }
        }
        n += 1;
        snapshot.push_str(&format!(
            "$ obp {}\nexit: {code}\n--- stdout\n{stdout}--- stderr\n{stderr}",
            step.join(" ")
        ));
    }
    for code in &header.codes {
        if !snapshot.contains(&format!("error[{code}]"))
            && !snapshot.contains(&format!("warning[{code}]"))
        {
            return Err(format!("expected {code} in the output:\n{snapshot}").into());
        }
    }
    let snapshot = match &workdir {
        Some(dir) => snapshot.replace(&dir.to_string_lossy().into_owned(), "[WORKDIR]"),
        None => snapshot,
    };
    assert_snapshot(name, &normalise(&snapshot));
    Ok(())
}

/// Hides what changes from run to run: durations, lock ids, times.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut line = line.to_owned();
        if let Some(at) = line.find(" after ") {
            if line[at..].ends_with('s') {
                line.replace_range(at.., " after [TIME]");
            }
        }
        let about_a_lock = line.starts_with("error[E0601]") || line.starts_with("Removed the lock");
        let markers: &[&str] = if about_a_lock {
            &["lock id ", "since "]
        } else {
            &[]
        };
        for marker in markers {
            if let Some(at) = line.find(marker) {
                let start = at + marker.len();
                let end = line[start..]
                    .find([')', ','])
                    .map_or(line.len(), |e| start + e);
                line.replace_range(start..end, "[…]");
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn copy_case(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    if from.is_file() {
        std::fs::copy(from, to.join("main.obp"))?;
        return Ok(());
    }
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_case(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn assert_snapshot(name: &str, content: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(snapshot_name(name), content));
}

fn every_code_has_a_case(headers: &[(String, Header)]) -> Result<(), Failed> {
    let missing: Vec<&str> = codes::ALL
        .iter()
        .map(|c| c.code)
        .filter(|code| {
            !headers
                .iter()
                .any(|(_, h)| h.codes.iter().any(|c| c == code))
        })
        .filter(|code| !generated::codes().contains(code))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("codes without a case under tests/cases: {missing:?}").into())
    }
}
