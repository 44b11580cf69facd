//! Every example a user copies from this crate's docs, its `examples/` and the README must
//! compile for a project that depends on `mcpwire-smol` and the crates its examples need anyway
//! (`smol`, `serde`, `serde_json`, `schemars`), and nothing else. The doc tests and examples
//! compile with all of this crate's dependencies in scope, so that alone cannot show it: this
//! test reads each example's code and fails on a path through any other of its dependencies
//! (`mcpwire_core::...` most of all, whose types this crate re-exports).

use std::path::{Path, PathBuf};

/// What a user of mcpwire-smol has in their own Cargo.toml to write a server.
const A_USERS_CRATES: [&str; 5] = ["mcpwire_smol", "smol", "serde", "serde_json", "schemars"];

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The crates this package depends on, as paths name them (`-` as `_`).
fn dependencies() -> Vec<String> {
    let manifest = std::fs::read_to_string(manifest_dir().join("Cargo.toml")).unwrap();
    let mut in_dependencies = false;
    let mut names = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_dependencies = line.ends_with("dependencies]") && !line.contains("dev-");
            continue;
        }
        if !in_dependencies || line.starts_with('#') {
            continue;
        }
        if let Some((key, _)) = line.split_once('=') {
            let name = key.trim().split('.').next().unwrap_or("").replace('-', "_");
            if !name.is_empty() {
                names.push(name);
            }
        }
    }
    names
}

/// The code of every example in `text`: fenced blocks, with `strip` applied to each line
/// first (the doc comment's prefix) and only blocks that rustdoc compiles (or, in Markdown,
/// only `rust` blocks).
fn examples(text: &str, strip: impl Fn(&str) -> Option<String>, markdown: bool) -> Vec<String> {
    enum State {
        Outside,
        Inside(String),
        /// In a block that is not Rust, up to its closing fence.
        Skipping,
    }
    let mut blocks = Vec::new();
    let mut state = State::Outside;
    for line in text.lines() {
        let Some(line) = strip(line) else {
            // The doc comment ended, and with it any block.
            if let State::Inside(block) = std::mem::replace(&mut state, State::Outside) {
                blocks.push(block);
            }
            continue;
        };
        let trimmed = line.trim_start();
        let fence = trimmed
            .strip_prefix("```")
            .or_else(|| trimmed.strip_prefix("~~~"));
        state = match (state, fence) {
            (State::Outside, Some(info)) => {
                let language = info.split(',').next().unwrap_or("").trim();
                let compiled = if markdown {
                    language == "rust"
                } else {
                    // rustdoc compiles a block whose every attribute is one of its own.
                    info.split(',').map(str::trim).all(|attribute| {
                        matches!(
                            attribute,
                            "" | "rust"
                                | "no_run"
                                | "should_panic"
                                | "ignore"
                                | "compile_fail"
                                | "standalone_crate"
                                | "test_harness"
                        ) || attribute.starts_with("edition")
                    })
                };
                if compiled {
                    State::Inside(String::new())
                } else {
                    State::Skipping
                }
            }
            (State::Inside(block), Some(_)) => {
                blocks.push(block);
                State::Outside
            }
            (State::Skipping, Some(_)) => State::Outside,
            (State::Inside(mut block), None) => {
                block.push_str(&line);
                block.push('\n');
                State::Inside(block)
            }
            (other, None) => other,
        };
    }
    blocks
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            // The binary is not the library a user depends on.
            if path.file_name().is_some_and(|n| n == "bin") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every identifier in `code`: a crate is reached by naming it, as `name::`, `::name::`,
/// `use name as other`, `extern crate name` or a `use` split over lines, so any token equal to
/// a crate's name counts.
fn paths_through(code: &str) -> Vec<String> {
    code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|token| !token.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn examples_need_only_mcpwire_smol_and_the_crates_a_server_uses_anyway() {
    let others: Vec<String> = dependencies()
        .into_iter()
        .filter(|d| !A_USERS_CRATES.contains(&d.as_str()))
        .collect();
    assert!(
        others.iter().any(|d| d == "mcpwire_core"),
        "the manifest was not read: {others:?}"
    );
    let mut files = Vec::new();
    rust_files(&manifest_dir().join("src"), &mut files);
    let doc_line = |line: &str| {
        let trimmed = line.trim_start();
        trimmed
            .strip_prefix("///")
            .or_else(|| trimmed.strip_prefix("//!"))
            .map(|rest| rest.strip_prefix(' ').unwrap_or(rest).to_string())
    };
    let mut sources: Vec<(String, Vec<String>)> = files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            (file.display().to_string(), examples(&text, doc_line, false))
        })
        .collect();
    // The examples are whole programs: all of their code counts.
    let mut example_files = Vec::new();
    rust_files(&manifest_dir().join("examples"), &mut example_files);
    assert!(!example_files.is_empty(), "no examples found");
    for file in &example_files {
        let text = std::fs::read_to_string(file).unwrap();
        sources.push((file.display().to_string(), vec![text]));
    }
    let crate_readme = manifest_dir().join("README.md");
    let text = std::fs::read_to_string(&crate_readme).unwrap();
    sources.push((
        crate_readme.display().to_string(),
        examples(&text, |line| Some(line.to_string()), true),
    ));
    // The repository's README shows mcpwire-core too, to its own users: only its examples of
    // this crate count here.
    let readme = manifest_dir().join("../../README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    let ours = examples(&text, |line| Some(line.to_string()), true)
        .into_iter()
        .filter(|block| block.contains("mcpwire_smol"))
        .collect();
    sources.push((readme.display().to_string(), ours));
    let mut examples_seen = 0;
    let mut offences = Vec::new();
    for (source, blocks) in &sources {
        for block in blocks {
            examples_seen += 1;
            for name in paths_through(block) {
                if others.contains(&name) {
                    offences.push(format!("{source}: `{name}::` in\n{block}"));
                }
            }
        }
    }
    assert!(examples_seen >= 10, "only {examples_seen} examples found");
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

#[test]
fn the_scan_finds_a_path_through_another_crate() {
    for code in [
        "use mcpwire_core::time::Duration;",
        "let d = ::mcpwire_core::time::Duration::ZERO;",
        "use mcpwire_core as m;",
        "use mcpwire_core\n    ::time::Duration;",
        "extern crate mcpwire_core;",
    ] {
        assert!(
            paths_through(code).iter().any(|t| t == "mcpwire_core"),
            "{code}"
        );
    }
    let doc = "/// ```\n/// let x = mcpwire_core::x();\n/// ```\n/// ```text\n/// async_io::y\n/// ```\n/// ~~~edition2021\n/// let z = 1;\n/// ~~~\n";
    let strip = |line: &str| line.strip_prefix("/// ").map(str::to_string);
    assert_eq!(
        examples(doc, strip, false),
        ["let x = mcpwire_core::x();\n", "let z = 1;\n"]
    );
}
