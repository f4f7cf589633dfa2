//! Maps settings to the lines of the configuration file, so that every error can say `file:line: setting: ...`
//! even for checks made after parsing (files that do not exist, keys that do not match their certificates).
//!
//! A light line scanner: table headers (`[a.b]`, `[[peers]]`) and `key = value` lines. It only serves error
//! messages; the TOML parser proper is `toml`.

use std::collections::HashMap;

/// Setting path (`server.listen`, `peers[1].endpoint`) to 1-based line, and the reverse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingLines {
    by_setting: HashMap<String, usize>,
    /// (line, setting) in file order.
    by_line: Vec<(usize, String)>,
    /// (line, table) of every table header, in file order.
    headers: Vec<(usize, String)>,
}

impl SettingLines {
    pub fn scan(source: &str) -> SettingLines {
        let mut lines = SettingLines::default();
        let mut table = String::new();
        let mut array_counts: HashMap<String, usize> = HashMap::new();
        for (index, raw) in source.lines().enumerate() {
            let line_no = index + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(inner) = line.strip_prefix("[[").and_then(|l| l.split("]]").next()) {
                let name = clean_key(inner);
                let n = array_counts.entry(name.clone()).or_insert(0);
                table = format!("{name}[{n}]");
                *n += 1;
                lines.record(line_no, table.clone());
                lines.headers.push((line_no, table.clone()));
            } else if let Some(inner) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
                table = clean_key(inner);
                lines.record(line_no, table.clone());
                lines.headers.push((line_no, table.clone()));
            } else if let Some((key, _)) = line.split_once('=') {
                let key = clean_key(key);
                if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
                    let path = if table.is_empty() {
                        key
                    } else {
                        format!("{table}.{key}")
                    };
                    lines.record(line_no, path);
                }
            }
        }
        lines
    }

    fn record(&mut self, line: usize, setting: String) {
        self.by_setting.entry(setting.clone()).or_insert(line);
        self.by_line.push((line, setting));
    }

    /// The line of a setting, or of the nearest enclosing table (`keys.tls.cert` falls back to `keys.tls`, then
    /// `keys`).
    pub fn line_of(&self, setting: &str) -> Option<usize> {
        let mut s = setting;
        loop {
            if let Some(line) = self.by_setting.get(s) {
                return Some(*line);
            }
            s = &s[..s.rfind('.')?];
        }
    }

    /// The setting written on `line`, or on the nearest line above it (values spanning lines).
    pub fn setting_at(&self, line: usize) -> Option<&str> {
        self.by_line
            .iter()
            .rev()
            .find(|(l, _)| *l <= line)
            .map(|(_, s)| s.as_str())
    }

    /// The table (header) in force at `line`, for errors such as `missing field` reported on a table.
    pub fn table_at(&self, line: usize) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(l, _)| *l <= line)
            .map(|(_, s)| s.as_str())
    }
}

fn clean_key(key: &str) -> String {
    key.trim()
        .split('.')
        .map(|part| part.trim().trim_matches('"').trim_matches('\''))
        .collect::<Vec<_>>()
        .join(".")
}

/// 1-based line of a byte offset.
pub fn line_of_offset(source: &str, offset: usize) -> usize {
    let end = offset.min(source.len());
    source.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# comment\n[node]\nparty_id = \"AP1\"\n\n[keys.message]\nkey = \"k.pem\"\ncert = \"c.pem\"\n\
                          [[peers]]\nparty_id = \"AP2\"\n[[peers]]\nparty_id = \"AP3\"\ncrls = [\n  \"a.pem\",\n]\n";

    #[test]
    fn finds_lines_of_settings_and_tables() {
        let lines = SettingLines::scan(SAMPLE);
        assert_eq!(lines.line_of("node.party_id"), Some(3));
        assert_eq!(lines.line_of("keys.message.cert"), Some(7));
        assert_eq!(lines.line_of("keys.message.chain"), Some(5));
        assert_eq!(lines.line_of("peers[1].party_id"), Some(11));
        assert_eq!(lines.line_of("peers[0]"), Some(8));
        assert_eq!(lines.line_of("server.listen"), None);
        assert_eq!(lines.setting_at(13), Some("peers[1].crls"));
        assert_eq!(lines.setting_at(6), Some("keys.message.key"));
    }
}
