//! The first stage of reading keepalived.conf: files, `include` globs, `@` conditional
//! lines, `$PARAM` definitions and substitution, comments, quotes. Its output is a flat
//! list of lines of tokens, each with the file and line it came from.

use super::diag::{Diags, Loc};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One token of a line: a word (quotes already removed) or a block brace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Word(String),
    Open,
    Close,
}

#[derive(Debug, Clone)]
pub struct Line {
    pub loc: Loc,
    pub toks: Vec<Tok>,
}

/// How deep includes and parameter expansions may nest before we call it a loop.
const MAX_INCLUDE_DEPTH: usize = 32;
const MAX_SUBST_ROUNDS: usize = 64;

#[derive(Debug, Clone)]
enum Param {
    Single(String),
    /// A multiline definition (`$NAME= \` followed by `\`-continued lines): expands to lines.
    Lines(Vec<String>),
}

pub struct Lexer<'d> {
    config_id: Option<String>,
    params: HashMap<String, Param>,
    out: Vec<Line>,
    diags: &'d mut Diags,
    include_depth: usize,
}

impl<'d> Lexer<'d> {
    /// `config_id` selects `@id` lines (keepalived's `-i`); `None` matches no `@id` line
    /// and every `@^id` line.
    pub fn new(config_id: Option<String>, diags: &'d mut Diags) -> Self {
        Lexer {
            config_id,
            params: HashMap::new(),
            out: Vec::new(),
            diags,
            include_depth: 0,
        }
    }

    pub fn finish(self) -> Vec<Line> {
        self.out
    }

    /// Reads one file; `from` is the `include` line that asked for it, if any.
    pub fn read_file(&mut self, path: &Path, from: Option<&Loc>) {
        let file: Arc<Path> = Arc::from(path);
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                let loc = from.cloned().unwrap_or(Loc {
                    file: file.clone(),
                    line: 0,
                });
                self.diags
                    .error(&loc, format!("cannot read {}: {e}", path.display()));
                return;
            }
        };
        // ${_PWD} is the directory of the file being read, as in keepalived.
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let saved_pwd = self.params.insert(
            "_PWD".to_string(),
            Param::Single(dir.to_string_lossy().into_owned()),
        );
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let loc = Loc {
                file: file.clone(),
                line: (i + 1) as u32,
            };
            let mut text = lines[i].to_string();
            i += 1;
            if let Some((cond, name)) = multiline_definition(&text) {
                let mut body = Vec::new();
                while i < lines.len() {
                    let (content, more) = strip_continuation(lines[i]);
                    body.push(content.to_string());
                    i += 1;
                    if !more {
                        break;
                    }
                }
                if cond.is_none_or(|c| self.condition_holds(c)) {
                    self.params.insert(name, Param::Lines(body));
                }
                continue;
            }
            // A line ending in '\' continues on the next one.
            while let (content, true) = strip_continuation(&text) {
                if i >= lines.len() {
                    text = content.to_string();
                    break;
                }
                text = format!("{content} {}", lines[i]);
                i += 1;
            }
            self.process_line(&text, &loc, 0, &dir);
        }
        match saved_pwd {
            Some(p) => self.params.insert("_PWD".to_string(), p),
            None => self.params.remove("_PWD"),
        };
    }

    fn condition_holds(&self, cond: &str) -> bool {
        let (negate, id) = match cond.strip_prefix('^') {
            Some(id) => (true, id),
            None => (false, cond),
        };
        let matches = self.config_id.as_deref() == Some(id);
        matches != negate
    }

    /// Applies `@id` conditions; returns the rest of the line if it is to be read.
    fn apply_condition<'a>(&self, text: &'a str) -> Option<&'a str> {
        let t = text.trim_start();
        match t.strip_prefix('@') {
            Some(rest) => {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                self.condition_holds(&rest[..end]).then(|| &rest[end..])
            }
            None => Some(text),
        }
    }

    fn process_line(&mut self, text: &str, loc: &Loc, depth: usize, dir: &Path) {
        if depth > MAX_INCLUDE_DEPTH {
            self.diags.error(
                loc,
                "parameter expansion nests too deeply (recursive definition?)",
            );
            return;
        }
        let Some(text) = self.apply_condition(text) else {
            return;
        };
        if let Some((name, value)) = definition(text) {
            let value = strip_comment(value).trim().to_string();
            self.params.insert(name, Param::Single(value));
            return;
        }
        // A line that is only `$NAME` of a multiline definition becomes its lines.
        if let Some(name) = whole_line_reference(text) {
            if let Some(Param::Lines(body)) = self.params.get(name).cloned() {
                for l in &body {
                    self.process_line(l, loc, depth + 1, dir);
                }
                return;
            }
        }
        let substituted = self.substitute(text, loc);
        let text = if substituted.trim_start().starts_with('@') {
            match self.apply_condition(&substituted) {
                Some(t) => t.to_string(),
                None => return,
            }
        } else {
            substituted
        };
        let toks = match tokenize(&text) {
            Ok(t) => t,
            Err(msg) => {
                self.diags.error(loc, msg);
                return;
            }
        };
        if toks.is_empty() {
            return;
        }
        if let Tok::Word(w) = &toks[0] {
            if let Some(strict) = include_keyword(w) {
                self.include(&toks[1..], loc, strict, dir);
                return;
            }
        }
        self.out.push(Line {
            loc: loc.clone(),
            toks,
        });
    }

    fn include(&mut self, args: &[Tok], loc: &Loc, strict: bool, dir: &Path) {
        let pattern = match args {
            [Tok::Word(p)] => p,
            _ => {
                self.diags
                    .error(loc, "include needs exactly one file name or pattern");
                return;
            }
        };
        if self.include_depth >= MAX_INCLUDE_DEPTH {
            self.diags
                .error(loc, format!("include of '{pattern}' nests too deeply"));
            return;
        }
        // Relative names are relative to the directory of the including file.
        let full: PathBuf = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            dir.join(pattern)
        };
        let mut files: Vec<PathBuf> = match glob::glob(&full.to_string_lossy()) {
            Ok(paths) => paths
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect(),
            Err(e) => {
                self.diags
                    .error(loc, format!("invalid include pattern '{pattern}': {e}"));
                return;
            }
        };
        files.sort();
        if files.is_empty() {
            let msg = format!("include '{pattern}' matches no file");
            if strict {
                self.diags.error(loc, msg);
            } else {
                self.diags.warn(loc, msg);
            }
            return;
        }
        self.include_depth += 1;
        for f in files {
            self.read_file(&f, Some(loc));
        }
        self.include_depth -= 1;
    }

    /// Replaces `${NAME}` and `$NAME` (followed by whitespace or the end of the line)
    /// by their single-line values, again and again until nothing changes.
    fn substitute(&mut self, text: &str, loc: &Loc) -> String {
        let mut cur = text.to_string();
        for _ in 0..MAX_SUBST_ROUNDS {
            match self.substitute_once(&cur) {
                Some(next) => cur = next,
                None => return cur,
            }
        }
        self.diags.error(
            loc,
            "parameter substitution does not terminate (recursive definition?)",
        );
        cur
    }

    fn substitute_once(&self, text: &str) -> Option<String> {
        let mut out = String::with_capacity(text.len());
        let mut changed = false;
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            let (name, consumed) = if let Some(inner) = after.strip_prefix('{') {
                match inner.find('}') {
                    Some(end) => (&inner[..end], end + 2),
                    None => ("", 0),
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                let followed_ok = after[end..].chars().next().is_none_or(char::is_whitespace);
                if followed_ok {
                    (&after[..end], end)
                } else {
                    ("", 0)
                }
            };
            match self.params.get(name) {
                Some(Param::Single(v)) if valid_name(name) => {
                    out.push_str(v);
                    rest = &after[consumed..];
                    changed = true;
                }
                _ => {
                    out.push('$');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        changed.then_some(out)
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `$NAME=VALUE` (only whitespace before the `$`, nothing between NAME and `=`).
fn definition(text: &str) -> Option<(String, &str)> {
    let t = text.trim_start().strip_prefix('$')?;
    let eq = t.find('=')?;
    let name = &t[..eq];
    valid_name(name).then(|| (name.to_string(), &t[eq + 1..]))
}

/// `[@cond] $NAME= \` starts a multiline definition.
fn multiline_definition(text: &str) -> Option<(Option<&str>, String)> {
    let t = text.trim_start();
    let (cond, t) = match t.strip_prefix('@') {
        Some(rest) => {
            let end = rest.find(char::is_whitespace)?;
            (Some(&rest[..end]), &rest[end..])
        }
        None => (None, t),
    };
    let (name, value) = definition(t)?;
    (value.trim() == "\\").then_some((cond, name))
}

/// Removes a final `\` (line continuation); tells whether there was one.
fn strip_continuation(line: &str) -> (&str, bool) {
    let t = line.trim_end();
    match t.strip_suffix('\\') {
        Some(c) => (c, true),
        None => (line, false),
    }
}

fn whole_line_reference(text: &str) -> Option<&str> {
    let t = text.trim().strip_prefix('$')?;
    let name = t
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(t);
    valid_name(name).then_some(name)
}

/// The include keywords; the bool tells whether a pattern matching nothing is an error.
fn include_keyword(w: &str) -> Option<bool> {
    match w {
        "include" | "includer" => Some(false),
        "includem" | "includew" | "includeb" | "includea" => Some(true),
        _ => None,
    }
}

/// Cuts a `!` or `#` comment that is outside quotes.
fn strip_comment(text: &str) -> &str {
    let mut quote = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '!' | '#') => return &text[..i],
            _ => {}
        }
    }
    text
}

/// Splits a line into words and braces. Quotes (`"` or `'`) group text with its spaces
/// and are removed; `\` escapes work inside them. `!` and `#` outside quotes start a
/// comment.
pub fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => flush(&mut toks, &mut cur, &mut in_word),
            '!' | '#' => break,
            // An unsubstituted `${NAME}` stays one word: its braces are not a block.
            '$' if chars.peek() == Some(&'{') => {
                in_word = true;
                cur.push('$');
                for n in chars.by_ref() {
                    cur.push(n);
                    if n == '}' {
                        break;
                    }
                }
            }
            '{' | '}' => {
                flush(&mut toks, &mut cur, &mut in_word);
                toks.push(if c == '{' { Tok::Open } else { Tok::Close });
            }
            '"' | '\'' => {
                in_word = true;
                let mut closed = false;
                while let Some(q) = chars.next() {
                    if q == c {
                        closed = true;
                        break;
                    }
                    if q == '\\' {
                        match chars.next() {
                            Some(e) => cur.push(unescape(e, &mut chars)),
                            None => break,
                        }
                    } else {
                        cur.push(q);
                    }
                }
                if !closed {
                    return Err(format!("unterminated quoted string (missing {c})"));
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    flush(&mut toks, &mut cur, &mut in_word);
    Ok(toks)
}

fn flush(toks: &mut Vec<Tok>, cur: &mut String, in_word: &mut bool) {
    if *in_word {
        toks.push(Tok::Word(std::mem::take(cur)));
        *in_word = false;
    }
}

/// The character of an escape sequence inside quotes (after the backslash).
fn unescape(e: char, rest: &mut std::iter::Peekable<std::str::Chars<'_>>) -> char {
    match e {
        'a' => '\x07',
        'b' => '\x08',
        'E' => '\x1b',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        'x' => {
            let mut v = 0u32;
            for _ in 0..2 {
                match rest.peek().and_then(|c| c.to_digit(16)) {
                    Some(d) => {
                        v = v * 16 + d;
                        rest.next();
                    }
                    None => break,
                }
            }
            char::from_u32(v).unwrap_or('?')
        }
        '0'..='7' => {
            let mut v = e.to_digit(8).unwrap_or(0);
            for _ in 0..2 {
                match rest.peek().and_then(|c| c.to_digit(8)) {
                    Some(d) => {
                        v = v * 8 + d;
                        rest.next();
                    }
                    None => break,
                }
            }
            char::from_u32(v).unwrap_or('?')
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap()
    }

    #[test]
    fn quotes_group_and_join() {
        let w = |s: &str| Tok::Word(s.to_string());
        assert_eq!(
            words("abcd\" efg h jkl \"mnop"),
            vec![w("abcd efg h jkl mnop")]
        );
        assert_eq!(
            words("abcd \"efg h jkl\" mnop"),
            vec![w("abcd"), w("efg h jkl"), w("mnop")]
        );
        assert_eq!(words("a \"\\x41\\n\" b"), vec![w("a"), w("A\n"), w("b")]);
    }

    #[test]
    fn braces_and_comments() {
        let w = |s: &str| Tok::Word(s.to_string());
        assert_eq!(
            words("url{ path / } # trailing"),
            vec![w("url"), Tok::Open, w("path"), w("/"), Tok::Close]
        );
        assert_eq!(words("weight 1 ! note"), vec![w("weight"), w("1")]);
        assert_eq!(words("x \"a # b\""), vec![w("x"), w("a # b")]);
        assert!(tokenize("x \"open").is_err());
    }
}
