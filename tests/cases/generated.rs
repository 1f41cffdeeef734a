//! Cases too big or too binary to keep as files: generated into a temporary directory.
//! Each must end in a clear diagnostic with the expected code, never a panic or overflow.

use libtest_mimic::{Failed, Trial};

/// (name, source bytes, expected code)
fn inputs() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let deep = |open: &str, close: &str| {
        format!("let x = {}1{}", open.repeat(10_000), close.repeat(10_000)).into_bytes()
    };
    let mut garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    garbage[0] = 0xff;
    let mut huge = b"let x = \"".to_vec();
    huge.resize(50 * 1024 * 1024, b'a');
    huge.extend_from_slice(b"\"\n");
    vec![
        ("limits/empty_file", Vec::new(), "E0111"),
        (
            "limits/whitespace_only",
            b"  \n\n // nothing\n".to_vec(),
            "E0111",
        ),
        ("limits/binary_garbage", garbage, "E0108"),
        ("limits/nul_byte", b"let x = 1\0".to_vec(), "E0108"),
        ("limits/deep_lists", deep("[", "]"), "E0105"),
        ("limits/deep_parens", deep("(", ")"), "E0105"),
        (
            "limits/deep_records",
            format!("let x = {}{}", "{ a = ".repeat(10_000), "}".repeat(10_000)).into_bytes(),
            "E0105",
        ),
        (
            "limits/deep_interpolation",
            format!("let x = {}1{}", "\"${".repeat(10_000), "}\"".repeat(10_000)).into_bytes(),
            "E0105",
        ),
        (
            "limits/long_operator_chain",
            format!("let x = 1{}", " + 1".repeat(10_000)).into_bytes(),
            "E0105",
        ),
        (
            "limits/many_prefixes",
            format!("let x = {}true", "!".repeat(10_000)).into_bytes(),
            "E0105",
        ),
        ("limits/fifty_megabytes", huge, "E0106"),
        (
            "limits/unclosed_at_eof",
            b"resource a.b c {\n  x = [1, 2\n".to_vec(),
            "E0109",
        ),
    ]
}

pub fn trials() -> Vec<Trial> {
    let mut trials: Vec<Trial> = inputs()
        .into_iter()
        .map(|(name, bytes, code)| Trial::test(name, move || run(&bytes, code)))
        .collect();
    trials.push(Trial::test("limits/module_chain_too_deep", module_chain));
    trials.push(Trial::test(
        "state/postgres_stale_write",
        postgres_stale_write,
    ));
    trials.push(Trial::test(
        "state/postgres_backend_cli",
        postgres_backend_cli,
    ));
    trials.push(Trial::test("cli/broken_pipe_is_a_quiet_exit", broken_pipe));
    trials.push(Trial::test("cli/full_disk_output_is_e0908", full_output));
    trials.push(Trial::test("state/postgres_lock_lost", postgres_lock_lost));
    trials.push(Trial::test(
        "engine/create_finds_its_object",
        create_finds_its_object,
    ));
    trials
}

/// Every command that prints, with standard output a pipe whose reader has already gone
/// (`obp show | head`): no panic, and the command's own exit code.
fn broken_pipe() -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::write(
        dir.path().join("main.obp"),
        "stack s {}\nresource k8s.namespace ns { metadata = { name = \"odoo-pipe\" } }\noutput name = \"odoo-pipe\"\n",
    )
    .map_err(|e| e.to_string())?;
    let commands: &[&[&str]] = &[
        &["explain"],
        &["explain", "E0301"],
        &["validate", "."],
        &["eval", "."],
        &["graph", "."],
        &["show", "."],
        &["output", "--json", "."],
        &["plan", "."],
        &["providers", "."],
    ];
    for args in commands {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_obp"))
            .args(*args)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env_remove("OBP_PATH")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run obp: {e}"))?;
        // Close the reading end before obp writes anything.
        drop(child.stdout.take());
        let output = child.wait_with_output().map_err(|e| e.to_string())?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.code() != Some(0) || stderr.contains("panicked") {
            return Err(format!(
                "obp {} into a closed pipe: exit {:?}\n{stderr}",
                args.join(" "),
                output.status.code()
            )
            .into());
        }
    }
    Ok(())
}

/// Output that cannot be written (standard output on a full disk) is a coded error.
fn full_output() -> Result<(), Failed> {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return Err("/dev/full is needed for this test".into());
    };
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_obp"))
        .arg("explain")
        .env("NO_COLOR", "1")
        .stdout(full)
        .output()
        .map_err(|e| format!("cannot run obp: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() != Some(1) || !stderr.contains("error[E0908]") {
        return Err(format!(
            "exit {:?}, expected 1 and E0908:\n{stderr}",
            output.status.code()
        )
        .into());
    }
    Ok(())
}

/// Codes the generated trials prove, for the catalogue check.
pub fn codes() -> Vec<&'static str> {
    let mut codes: Vec<&str> = inputs().into_iter().map(|(_, _, code)| code).collect();
    codes.push("E0206");
    codes.push("E0613");
    codes.push("E0908");
    codes.push("E0618");
    codes.push("E0721");
    // No input can trigger an internal error (a panic is a bug): its mapping is proven by the
    // binary's unit test `a_panicking_command_is_a_coded_internal_error` (src/cli/interrupt.rs).
    codes.push("E0910");
    codes
}

/// The PostgreSQL test server's URL (`scripts/servers/postgres.sh`); never skips.
fn pg_url() -> Result<String, Failed> {
    std::env::var("OBP_TEST_PG_URL").map_err(|_| {
        "OBP_TEST_PG_URL is not set: start the test server with `bash scripts/servers/postgres.sh start DIR` \
         and load DIR/postgres.env; `bash scripts/test` does both"
            .into()
    })
}

fn unique_workspace(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{tag}-{}-{:x}", std::process::id(), nanos % 0xffff_ffff)
}

/// E0613: the postgres backend refuses a state older than the stored one, with the code and
/// a message naming where the state lives (never the URL's password).
fn postgres_stale_write() -> Result<(), Failed> {
    use obp_engine::pg::Target;
    use obp_engine::state::postgres::PostgresBackend;
    use obp_engine::state::{Backend, State};
    use obp_lang::diagnostics::IntoDiagnostic;

    let url = pg_url()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime
        .block_on(async {
            let target = Target::parse(&url, None, None)?;
            let backend = PostgresBackend::new(target, "obp_cases", &unique_workspace("stale"))?;
            let mut state = State::new();
            state.ensure_lineage();
            backend.write(&state).await.map_err(|e| e.to_string())?;
            let stale = state.clone();
            state.serial += 2;
            backend.write(&state).await.map_err(|e| e.to_string())?;
            let Err(error) = backend.write(&stale).await else {
                return Err("a stale write was accepted".to_owned());
            };
            let diagnostic = error.into_diagnostic();
            if diagnostic.code != "E0613"
                || !diagnostic
                    .message
                    .contains("older than the stored serial 2")
            {
                return Err(format!(
                    "unexpected diagnostic: {} {}",
                    diagnostic.code, diagnostic.message
                ));
            }
            let password = url
                .split_once("://")
                .and_then(|(_, r)| r.split_once('@'))
                .and_then(|(c, _)| c.split_once(':'))
                .map(|(_, p)| p.to_owned())
                .unwrap_or_default();
            if !password.is_empty() && diagnostic.message.contains(&password) {
                return Err("the message shows the password".to_owned());
            }
            Ok(())
        })
        .map_err(Failed::from)
}

/// E0618: a held postgres lock whose session ends is noticed; nothing more is written.
fn postgres_lock_lost() -> Result<(), Failed> {
    use obp_engine::pg::Target;
    use obp_engine::state::postgres::PostgresBackend;
    use obp_engine::state::{Backend, LockInfo};
    use obp_lang::diagnostics::IntoDiagnostic;

    let url = pg_url()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime
        .block_on(async {
            let target = Target::parse(&url, None, None)?;
            let backend =
                PostgresBackend::new(target.clone(), "obp_cases", &unique_workspace("lost"))?;
            let _guard = backend
                .lock(LockInfo::new("apply"))
                .await
                .map_err(|e| e.to_string())?;
            let admin = target.connect().await?;
            admin
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks
                     WHERE locktype = 'advisory' AND objsubid = 1
                       AND ((classid::bigint << 32) | objid::bigint) = $1",
                    &[&backend.lock_key()],
                )
                .await
                .map_err(|e| e.to_string())?;
            let Err(error) = backend.write(&obp_engine::state::State::new()).await else {
                return Err("a write without the lock was accepted".to_owned());
            };
            let diagnostic = error.into_diagnostic();
            if diagnostic.code != "E0618" || !diagnostic.message.contains("lost") {
                return Err(format!(
                    "unexpected diagnostic: {} {}",
                    diagnostic.code, diagnostic.message
                ));
            }
            if backend.lost().is_none() {
                return Err("the backend does not remember the loss".to_owned());
            }
            Ok(())
        })
        .map_err(Failed::from)
}

/// E0721: a create that finds its object already there (as after an apply killed between
/// `CREATE ROLE` and recording it) names the `obp import` command, which then adopts it.
fn create_finds_its_object() -> Result<(), Failed> {
    use obp_engine::pg::Target;

    let url = pg_url()?;
    let role = unique_workspace("obp_exists").replace('-', "_");
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let stack = format!(
        "stack demo {{}}\nprovider postgres {{ url = secret(\"env:OBP_TEST_PG_URL\") }}\nresource postgres.role app {{\n  name = \"{role}\"\n  login = false\n}}\n"
    );
    std::fs::write(dir.path().join("stack.obp"), stack).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let sql = |statement: String| -> Result<(), String> {
        runtime.block_on(async {
            let admin = Target::parse(&url, None, None)?.connect().await?;
            admin
                .batch_execute(&statement)
                .await
                .map_err(|e| e.to_string())
        })
    };
    sql(format!("CREATE ROLE \"{role}\" NOLOGIN"))?;
    let obp = |args: &[&str]| -> Result<(Option<i32>, String), String> {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_obp"))
            .args(args)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .output()
            .map_err(|e| format!("cannot run obp: {e}"))?;
        Ok((
            output.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        ))
    };
    let result = (|| -> Result<(), String> {
        let (code, text) = obp(&["apply", "-auto-approve", "."])?;
        let import = format!("obp import 'postgres.role.app' '{role}'");
        if code != Some(1) || !text.contains("E0721") || !text.contains(&import) {
            return Err(format!(
                "expected E0721 naming `{import}`, got {code:?}:\n{text}"
            ));
        }
        let (code, text) = obp(&["import", "postgres.role.app", &role, "."])?;
        if code != Some(0) {
            return Err(format!("import failed:\n{text}"));
        }
        let (code, text) = obp(&["plan", ".", "-detailed-exitcode"])?;
        if code != Some(0) {
            return Err(format!("the adopted role still plans changes:\n{text}"));
        }
        Ok(())
    })();
    let cleanup = sql(format!("DROP ROLE IF EXISTS \"{role}\""));
    result?;
    cleanup?;
    Ok(())
}

/// `backend postgres { … }` through the real binary: apply, an empty plan, a second apply
/// blocked by a held lock, and destroy.
fn postgres_backend_cli() -> Result<(), Failed> {
    let _ = pg_url()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let workspace = unique_workspace("cli");
    let stack = format!(
        r#"stack demo {{}}
backend postgres {{
  url = secret("env:OBP_TEST_PG_URL")
  schema = "obp_cases"
  workspace = "{workspace}"
}}
provider gitops {{ dir = "out" }}
resource file.text conf {{
  path = "odoo.conf"
  content = "[options]\nproxy_mode = True\n"
}}
"#
    );
    std::fs::write(dir.path().join("stack.obp"), stack).map_err(|e| e.to_string())?;
    let obp = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_obp"))
            .args(args)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env_remove("OBP_PATH")
            .output()
            .map_err(|e| format!("cannot run obp: {e}"))
    };
    let expect = |args: &[&str], code: i32| -> Result<String, Failed> {
        let output = obp(args)?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if output.status.code() != Some(code) {
            return Err(format!(
                "obp {}: exit {:?}, expected {code}\n{text}",
                args.join(" "),
                output.status.code()
            )
            .into());
        }
        Ok(text)
    };
    expect(&["apply", "-auto-approve", "."], 0)?;
    if !dir.path().join("out/odoo.conf").is_file() {
        return Err("apply did not write the file".into());
    }
    if dir.path().join("obp.state.json").exists() {
        return Err("state went to a local file instead of PostgreSQL".into());
    }
    expect(&["plan", ".", "-detailed-exitcode"], 0)?;
    expect(&["destroy", "-auto-approve", "."], 0)?;
    if dir.path().join("out/odoo.conf").exists() {
        return Err("destroy left the file".into());
    }
    // A missing secret is a clear configuration error naming the variable.
    let text = std::fs::read_to_string(dir.path().join("stack.obp")).map_err(|e| e.to_string())?;
    std::fs::write(
        dir.path().join("stack.obp"),
        text.replace("env:OBP_TEST_PG_URL", "env:OBP_TEST_UNSET_STATE_URL"),
    )
    .map_err(|e| e.to_string())?;
    let text = expect(&["plan", "."], 1)?;
    if !(text.contains("E0703") && text.contains("OBP_TEST_UNSET_STATE_URL")) {
        return Err(format!("unclear error for a missing URL:\n{text}").into());
    }
    Ok(())
}

/// A chain of 40 modules, each importing the next: stops at the module depth limit.
fn module_chain() -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let lib = dir.path().join("blueprints/chain");
    std::fs::create_dir_all(&lib).map_err(|e| e.to_string())?;
    for level in 0..40 {
        let body = format!("module chain.m{level}\nuse chain.m{} as next\n", level + 1);
        std::fs::write(lib.join(format!("m{level}.obp")), body).map_err(|e| e.to_string())?;
    }
    std::fs::write(lib.join("m40.obp"), "module chain.m40\n").map_err(|e| e.to_string())?;
    std::fs::write(
        dir.path().join("stack.obp"),
        "stack s {}\nuse chain.m0 as start\n",
    )
    .map_err(|e| e.to_string())?;
    let checked = obp_lang::check_stack(dir.path(), &obp_lang::Options::default());
    let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.code).collect();
    if codes != ["E0206"] {
        return Err(format!("expected exactly [E0206], got {codes:?}").into());
    }
    Ok(())
}

fn run(bytes: &[u8], code: &str) -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("stack.obp");
    std::fs::write(&file, bytes).map_err(|e| e.to_string())?;
    let checked = obp_lang::check_stack(&file, &obp_lang::Options::default());
    let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.code).collect();
    if codes != [code] {
        return Err(format!("expected exactly [{code}], got {codes:?}").into());
    }
    let rendered =
        obp_lang::diagnostics::render::to_text(&checked.diagnostics, &checked.sources, false);
    if !rendered.contains("stack.obp") || !rendered.contains(code) {
        return Err(format!("diagnostic does not name the file and code:\n{rendered}").into());
    }
    Ok(())
}
