//! `docs/LOSSES.md` holds every loss of the registry, and its key tables are the registry's:
//! each loss has one block `<!-- registry:NAME -->` ... `<!-- /registry -->` whose content is
//! [`segloss::registry::key_table`]. A key added to a declaration without regenerating the
//! document fails here; `SEGLOSS_BLESS=1 cargo test --test docs` rewrites the blocks.

use std::path::PathBuf;

const END: &str = "<!-- /registry -->";

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/LOSSES.md")
}

/// The document with every block filled from the registry, and the names of the blocks found.
fn regenerate(doc: &str) -> Result<(String, Vec<String>), String> {
    let mut out = String::new();
    let mut names = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find("<!-- registry:") {
        let open_end = rest[i..].find("-->").ok_or("unclosed block marker")? + i + 3;
        let name = rest[i + "<!-- registry:".len()..open_end - 3].trim().to_string();
        let close = rest[open_end..].find(END).ok_or(format!("block {name} has no {END}"))? + open_end;
        let decl = segloss::info(&name).ok_or(format!("docs/LOSSES.md has a block for `{name}`, which the registry does not know"))?;
        out += &rest[..open_end];
        out += "\n";
        out += &segloss::registry::key_table(decl);
        out += END;
        names.push(name);
        rest = &rest[close + END.len()..];
    }
    out += rest;
    Ok((out, names))
}

#[test]
fn every_loss_has_its_generated_key_table() {
    let doc = std::fs::read_to_string(path()).expect("docs/LOSSES.md");
    let (fresh, names) = regenerate(&doc).unwrap();
    for d in segloss::catalogue() {
        let n = names.iter().filter(|x| *x == d.name).count();
        assert_eq!(n, 1, "docs/LOSSES.md must hold exactly one block <!-- registry:{} -->, found {n}", d.name);
    }
    if fresh != doc {
        if std::env::var_os("SEGLOSS_BLESS").is_some() {
            std::fs::write(path(), &fresh).unwrap();
        } else {
            let line = doc.lines().zip(fresh.lines()).position(|(a, b)| a != b).unwrap_or(0) + 1;
            panic!("docs/LOSSES.md key tables differ from the registry (first at line {line}); run SEGLOSS_BLESS=1 cargo test --test docs");
        }
    }
    // and each key and default really is in the document
    for d in segloss::catalogue() {
        for k in d.keys() {
            assert!(fresh.contains(&format!("| `{}` | `{}` |", k.key, k.default)), "{}.{}", d.name, k.key);
        }
    }
}

#[test]
fn a_missing_key_is_caught() {
    // the check above fails for a document whose table lacks a key: drop one row and compare
    let d = &segloss::catalogue()[0];
    let table = segloss::registry::key_table(d);
    let k = &d.keys()[0];
    let row = format!("| `{}` | `{}` | {} |\n", k.key, k.default, k.doc);
    let doc = format!("<!-- registry:{} -->\n{}{END}", d.name, table.replace(&row, ""));
    let (fresh, _) = regenerate(&doc).unwrap();
    assert_ne!(fresh, doc);
}

#[test]
fn the_rustdoc_points_at_the_project_document() {
    // no source file cites a LOSSES.md other than docs/LOSSES.md
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut bad = Vec::new();
    let mut stack = vec![root.join("src"), root.join("crates"), root.join("tools")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                if !p.ends_with("target") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                for (i, l) in text.lines().enumerate() {
                    if l.contains("LOSSES.md") && !l.contains("docs/LOSSES.md") {
                        bad.push(format!("{}:{}", p.display(), i + 1));
                    }
                }
            }
        }
    }
    assert!(bad.is_empty(), "bare LOSSES.md citations: {bad:?}");
}
