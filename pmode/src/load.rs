//! Loading P-Mode TOML files: parse, type, validate, and locate every error by file, line, P-Mode and field.

use crate::error::{PModeError, PModeErrors, Problem};
use crate::model::{PMode, PModeFile};
use crate::spans::SpanIndex;
use crate::validate::validate;
use serde::Deserialize;
use std::io::Read;
use std::path::Path;

/// Largest accepted P-Mode file, in bytes.
pub const MAX_PMODE_FILE_BYTES: usize = 1024 * 1024;
/// Most P-Modes in one file.
pub const MAX_PMODES_PER_FILE: usize = 1_000;

/// A loaded, validated P-Mode with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedPMode {
    pub pmode: PMode,
    /// `file:line` of its `[[pmode]]` header (or just the file name when built in code).
    pub origin: String,
}

/// Reads and validates one P-Mode file. Every error found is returned, each located.
pub fn load_file(path: &Path) -> Result<Vec<LoadedPMode>, PModeErrors> {
    let name = path.display().to_string();
    let whole_file = |problem| {
        PModeErrors(vec![PModeError {
            file: name.clone(),
            line: None,
            pmode_id: None,
            field: None,
            problem,
        }])
    };
    let file = std::fs::File::open(path).map_err(|e| whole_file(Problem::Io(e.to_string())))?;
    let mut bytes = Vec::new();
    // Read one byte more than the limit, so that an over-long file is detected without reading all of it.
    file.take(MAX_PMODE_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| whole_file(Problem::Io(e.to_string())))?;
    if bytes.len() > MAX_PMODE_FILE_BYTES {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(bytes.len() as u64);
        return Err(whole_file(Problem::FileTooLarge {
            size,
            max: MAX_PMODE_FILE_BYTES,
        }));
    }
    let text = String::from_utf8(bytes).map_err(|e| whole_file(Problem::Io(format!("not UTF-8: {e}"))))?;
    load_str(&text, &name)
}

/// Parses and validates P-Mode TOML text; `file` names it in errors.
pub fn load_str(text: &str, file: &str) -> Result<Vec<LoadedPMode>, PModeErrors> {
    let error = |line, pmode_id, field, problem| PModeError {
        file: file.to_string(),
        line,
        pmode_id,
        field,
        problem,
    };
    if text.len() > MAX_PMODE_FILE_BYTES {
        let problem = Problem::FileTooLarge {
            size: text.len() as u64,
            max: MAX_PMODE_FILE_BYTES,
        };
        return Err(PModeErrors(vec![error(None, None, None, problem)]));
    }
    let index = SpanIndex::parse(text).map_err(|e| {
        let line = e.span().map(|s| line_at(text, s.start));
        PModeErrors(vec![error(line, None, None, Problem::Toml(e.message().to_string()))])
    })?;
    if index.pmode_count() > MAX_PMODES_PER_FILE {
        let problem = Problem::TooManyPModes {
            count: index.pmode_count(),
            max: MAX_PMODES_PER_FILE,
        };
        return Err(PModeErrors(vec![error(None, None, None, problem)]));
    }

    let parsed: PModeFile = match toml::from_str(text) {
        Ok(parsed) => parsed,
        Err(e) => return Err(PModeErrors(typing_errors(text, file, &index, &e))),
    };

    let mut errors = Vec::new();
    let mut loaded = Vec::new();
    for (i, pmode) in parsed.pmode.into_iter().enumerate() {
        for issue in validate(&pmode) {
            let line = index.line_of_field(i, &issue.field);
            errors.push(error(line, Some(pmode.id.clone()), Some(issue.field), issue.problem));
        }
        let line = index.pmode_line(i);
        let origin = match line {
            Some(l) => format!("{file}:{l}"),
            None => file.to_string(),
        };
        if let Some(first) = loaded.iter().find(|l: &&LoadedPMode| l.pmode.id == pmode.id) {
            let problem = Problem::DuplicateId {
                id: pmode.id.clone(),
                first: first.origin.clone(),
            };
            errors.push(error(
                index.line_of_field(i, "id"),
                Some(pmode.id.clone()),
                Some("id".into()),
                problem,
            ));
        }
        loaded.push(LoadedPMode { pmode, origin });
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(PModeErrors(errors))
    }
}

/// Errors of the typing step. toml reports the first one with its span; the other P-Modes are typed one by one so
/// that their errors are reported too (those carry the P-Mode's line, as the per-table typing has no spans).
fn typing_errors(text: &str, file: &str, index: &SpanIndex<'_>, first: &toml::de::Error) -> Vec<PModeError> {
    let located = first.span().and_then(|s| index.locate(&s));
    let mut errors = vec![PModeError {
        file: file.to_string(),
        line: first.span().map(|s| line_at(text, s.start)),
        pmode_id: located.as_ref().and_then(|(i, _)| index.pmode_id(*i)),
        field: located.as_ref().map(|(_, f)| f.clone()).filter(|f| !f.is_empty()),
        problem: Problem::Toml(first.message().trim().to_string()),
    }];
    let Some((failed, _)) = located else { return errors };
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return errors;
    };
    let Some(toml::Value::Array(pmodes)) = table.get("pmode") else {
        return errors;
    };
    for (i, value) in pmodes.iter().enumerate().filter(|(i, _)| *i != failed) {
        if let Err(e) = PMode::deserialize(value.clone()) {
            errors.push(PModeError {
                file: file.to_string(),
                line: index.pmode_line(i),
                pmode_id: index.pmode_id(i),
                field: None,
                problem: Problem::Toml(e.message().trim().to_string()),
            });
        }
    }
    errors
}

fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Renders P-Modes as a TOML document that [`load_str`] reads back to the same values.
pub fn to_toml(pmodes: &[PMode]) -> String {
    let file = PModeFile { pmode: pmodes.to_vec() };
    toml::to_string(&file).expect("the P-Mode model always serialises to TOML")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::SDK_PROFILE_TOML;

    fn errors_of(text: &str) -> Vec<PModeError> {
        load_str(text, "pmodes.toml").expect_err("the text must be refused").0
    }

    fn line_containing(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).expect("needle in text") + 1
    }

    #[test]
    fn a_weak_algorithm_is_reported_with_file_line_pmode_and_field() {
        let text = SDK_PROFILE_TOML.replacen("algorithm = \"rsa-sha256\"", "algorithm = \"rsa-sha1\"", 1);
        let errors = errors_of(&text);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let e = &errors[0];
        assert_eq!(e.line, Some(line_containing(&text, "rsa-sha1")));
        assert_eq!(e.pmode_id.as_deref(), Some("sdk-message"));
        assert_eq!(e.field.as_deref(), Some("security.signature.algorithm"));
        assert!(matches!(e.problem, Problem::WeakAlgorithm { .. }));
        let shown = e.to_string();
        let expected = format!(
            "pmodes.toml:{}: pmode \"sdk-message\": security.signature.algorithm: \"rsa-sha1\" is not allowed",
            e.line.unwrap()
        );
        assert!(shown.starts_with(&expected), "{shown}");
    }

    #[test]
    fn every_pmode_with_a_validation_error_is_reported() {
        let text = SDK_PROFILE_TOML.replace("hash = \"sha256\"", "hash = \"sha1\"");
        let errors = errors_of(&text);
        let ids: Vec<_> = errors.iter().map(|e| e.pmode_id.clone().unwrap()).collect();
        assert_eq!(ids, ["sdk-message", "sdk-kvittens", "ebms-test-sdk"]);
        assert!(errors
            .iter()
            .all(|e| e.field.as_deref() == Some("security.signature.hash")));
    }

    #[test]
    fn an_unknown_algorithm_name_is_located() {
        let text = SDK_PROFILE_TOML.replacen("data = \"aes128-gcm\"", "data = \"aes256-ecb\"", 2);
        let errors = errors_of(&text);
        let first = &errors[0];
        assert_eq!(first.line, Some(line_containing(&text, "aes256-ecb")));
        assert_eq!(first.pmode_id.as_deref(), Some("sdk-message"));
        assert_eq!(first.field.as_deref(), Some("security.encryption.data"));
        assert!(
            first
                .to_string()
                .contains("unknown data encryption algorithm \"aes256-ecb\""),
            "{first}"
        );
        // The second P-Mode has the same mistake and is reported too.
        assert!(
            errors.iter().any(|e| e.pmode_id.as_deref() == Some("sdk-kvittens")),
            "{errors:?}"
        );
    }

    #[test]
    fn unknown_fields_are_refused_with_their_table() {
        let text = SDK_PROFILE_TOML.replacen(
            "[pmode.compression]\n",
            "[pmode.compression]\ncompress_outgoin = true\n",
            1,
        );
        let errors = errors_of(&text);
        assert_eq!(errors[0].field.as_deref(), Some("compression"));
        assert!(
            errors[0].to_string().contains("unknown field `compress_outgoin`"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let errors = errors_of("[[pmode]]\nid = \"x\"\nmep = \n");
        assert_eq!(errors[0].line, Some(3));
    }

    #[test]
    fn duplicate_ids_in_one_file_are_refused() {
        let text = SDK_PROFILE_TOML.replace("id = \"sdk-kvittens\"", "id = \"sdk-message\"");
        let errors = errors_of(&text);
        assert_eq!(errors.len(), 1);
        let second = text
            .lines()
            .enumerate()
            .filter(|(_, l)| *l == "id = \"sdk-message\"")
            .nth(1)
            .unwrap()
            .0
            + 1;
        assert_eq!(errors[0].line, Some(second));
        assert!(matches!(&errors[0].problem, Problem::DuplicateId { first, .. } if first.starts_with("pmodes.toml:")));
    }

    #[test]
    fn limits_are_enforced() {
        let big = "#".repeat(MAX_PMODE_FILE_BYTES + 1);
        assert!(matches!(errors_of(&big)[0].problem, Problem::FileTooLarge { .. }));
        let many = "[[pmode]]\n".repeat(MAX_PMODES_PER_FILE + 1);
        assert!(matches!(errors_of(&many)[0].problem, Problem::TooManyPModes { .. }));
    }

    #[test]
    fn rendering_and_loading_give_the_same_pmodes() {
        let pmodes: Vec<PMode> = load_str(SDK_PROFILE_TOML, "a")
            .unwrap()
            .into_iter()
            .map(|l| l.pmode)
            .collect();
        let again: Vec<PMode> = load_str(&to_toml(&pmodes), "b")
            .unwrap()
            .into_iter()
            .map(|l| l.pmode)
            .collect();
        assert_eq!(pmodes, again);
    }

    #[test]
    fn an_empty_file_holds_no_pmodes() {
        assert_eq!(load_str("", "empty.toml").unwrap(), vec![]);
    }
}
