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
    trials
}

/// Codes the generated trials prove, for the catalogue check.
pub fn codes() -> Vec<&'static str> {
    let mut codes: Vec<&str> = inputs().into_iter().map(|(_, _, code)| code).collect();
    codes.push("E0206");
    codes
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
