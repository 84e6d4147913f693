//! A command-line tokenizer that behaves like libpopt as ipvsadm 1.31 uses it:
//! clustered short options (`-Ln`), attached values (`-p30`, `-srr`, `-s=rr`),
//! `--long=value`, optional values that never swallow a following `-option`,
//! `--` ending option processing, and every other word kept as a leftover.

/// Whether an option takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    None,
    Required,
    /// Taken when attached, or when the next word does not start with `-`.
    Optional,
}

/// One entry of the option table.
#[derive(Debug, Clone, Copy)]
pub struct OptSpec<T> {
    pub long: &'static str,
    pub short: Option<char>,
    pub arg: ArgKind,
    pub tag: T,
}

/// popt's error codes that ipvsadm can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoptErrorKind {
    NoArg,
    BadOpt,
    UnwantedArg,
}

impl PoptErrorKind {
    /// `poptStrerror`'s wording.
    pub fn message(self) -> &'static str {
        match self {
            PoptErrorKind::NoArg => "missing argument",
            PoptErrorKind::BadOpt => "unknown option",
            PoptErrorKind::UnwantedArg => "option does not take an argument",
        }
    }
}

/// A failed option, with the command-line word it came from (`poptBadOption`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoptError {
    pub kind: PoptErrorKind,
    pub word: String,
}

/// One step of [`Popt::next_opt`]: an option's tag and value, or the failure.
pub type PoptResult<T> = Result<(T, Option<String>), PoptError>;

pub struct Popt<'a, T: Copy> {
    table: &'a [OptSpec<T>],
    args: &'a [String],
    /// Index of the next word to read (args[0] is the program name).
    next: usize,
    /// Rest of a cluster of short options being read, and the word it came from.
    cluster: Option<(usize, usize)>,
    rest_leftover: bool,
    leftovers: Vec<String>,
}

impl<'a, T: Copy> Popt<'a, T> {
    pub fn new(table: &'a [OptSpec<T>], args: &'a [String]) -> Self {
        Popt {
            table,
            args,
            next: 1,
            cluster: None,
            rest_leftover: false,
            leftovers: Vec::new(),
        }
    }

    /// The next option and its value; `None` once every word is read.
    pub fn next_opt(&mut self) -> Option<PoptResult<T>> {
        loop {
            if let Some((word, pos)) = self.cluster.take() {
                return Some(self.short_at(word, pos));
            }
            if self.next >= self.args.len() {
                return None;
            }
            let word = self.next;
            self.next += 1;
            let text = self.args[word].as_str();
            if self.rest_leftover || !text.starts_with('-') {
                self.leftovers.push(text.to_string());
                continue;
            }
            if text == "--" {
                self.rest_leftover = true;
                continue;
            }
            if text == "-" {
                return Some(Err(self.error(PoptErrorKind::BadOpt, word)));
            }
            if let Some(long) = text.strip_prefix("--") {
                return Some(self.long(word, long));
            }
            return Some(self.short_at(word, 1));
        }
    }

    /// The last word read (`poptBadOption`): for an option with a separate value,
    /// that value.
    pub fn last_word(&self) -> &str {
        self.args
            .get(self.next.saturating_sub(1))
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Words that were not options, in order (`poptGetArg`).
    pub fn leftovers(&self) -> &[String] {
        &self.leftovers
    }

    fn error(&self, kind: PoptErrorKind, word: usize) -> PoptError {
        PoptError {
            kind,
            word: self.args[word].clone(),
        }
    }

    fn long(&mut self, word: usize, long: &str) -> Result<(T, Option<String>), PoptError> {
        let (name, attached) = match long.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (long, None),
        };
        let Some(spec) = self.table.iter().find(|s| s.long == name) else {
            return Err(self.error(PoptErrorKind::BadOpt, word));
        };
        let spec = *spec;
        match spec.arg {
            ArgKind::None if attached.is_some() => {
                Err(self.error(PoptErrorKind::UnwantedArg, word))
            }
            ArgKind::None => Ok((spec.tag, None)),
            _ if attached.is_some() => Ok((spec.tag, attached)),
            kind => self.following(word, kind).map(|v| (spec.tag, v)),
        }
    }

    /// The short option at byte `pos` of word `word`.
    fn short_at(&mut self, word: usize, pos: usize) -> Result<(T, Option<String>), PoptError> {
        let text = self.args[word].as_str();
        let Some(c) = text[pos..].chars().next() else {
            return Err(self.error(PoptErrorKind::BadOpt, word));
        };
        let Some(spec) = self.table.iter().find(|s| s.short == Some(c)).copied() else {
            return Err(self.error(PoptErrorKind::BadOpt, word));
        };
        let rest_at = pos + c.len_utf8();
        let rest = &text[rest_at..];
        match spec.arg {
            ArgKind::None => {
                if rest.starts_with('=') {
                    return Err(self.error(PoptErrorKind::UnwantedArg, word));
                }
                if !rest.is_empty() {
                    self.cluster = Some((word, rest_at));
                }
                Ok((spec.tag, None))
            }
            kind => {
                if !rest.is_empty() {
                    let value = rest.strip_prefix('=').unwrap_or(rest);
                    return Ok((spec.tag, Some(value.to_string())));
                }
                self.following(word, kind).map(|v| (spec.tag, v))
            }
        }
    }

    /// The value of an option given as the next word.
    fn following(&mut self, word: usize, kind: ArgKind) -> Result<Option<String>, PoptError> {
        match self.args.get(self.next) {
            None if kind == ArgKind::Optional => Ok(None),
            None => Err(self.error(PoptErrorKind::NoArg, word)),
            Some(next) if kind == ArgKind::Optional && next.starts_with('-') => Ok(None),
            Some(next) => {
                self.next += 1;
                Ok(Some(next.clone()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum T {
        L,
        N,
        P,
        S,
    }

    const TABLE: &[OptSpec<T>] = &[
        OptSpec {
            long: "list",
            short: Some('L'),
            arg: ArgKind::None,
            tag: T::L,
        },
        OptSpec {
            long: "numeric",
            short: Some('n'),
            arg: ArgKind::None,
            tag: T::N,
        },
        OptSpec {
            long: "persistent",
            short: Some('p'),
            arg: ArgKind::Optional,
            tag: T::P,
        },
        OptSpec {
            long: "scheduler",
            short: Some('s'),
            arg: ArgKind::Required,
            tag: T::S,
        },
    ];

    fn run(words: &[&str]) -> (Vec<PoptResult<T>>, Vec<String>) {
        let args: Vec<String> = std::iter::once("prog")
            .chain(words.iter().copied())
            .map(String::from)
            .collect();
        let mut p = Popt::new(TABLE, &args);
        let mut out = Vec::new();
        while let Some(r) = p.next_opt() {
            let stop = r.is_err();
            out.push(r);
            if stop {
                break;
            }
        }
        (out, p.leftovers().to_vec())
    }

    fn ok(t: T, v: Option<&str>) -> PoptResult<T> {
        Ok((t, v.map(String::from)))
    }

    #[test]
    fn clusters_and_attached_values() {
        assert_eq!(run(&["-Ln"]).0, vec![ok(T::L, None), ok(T::N, None)]);
        assert_eq!(run(&["-srr"]).0, vec![ok(T::S, Some("rr"))]);
        assert_eq!(run(&["-s=rr"]).0, vec![ok(T::S, Some("rr"))]);
        assert_eq!(
            run(&["-Lsrr"]).0,
            vec![ok(T::L, None), ok(T::S, Some("rr"))]
        );
        assert_eq!(run(&["--scheduler=wlc"]).0, vec![ok(T::S, Some("wlc"))]);
        assert_eq!(run(&["--scheduler", "-x"]).0, vec![ok(T::S, Some("-x"))]);
    }

    #[test]
    fn optional_value_never_takes_an_option() {
        assert_eq!(run(&["-p", "-L"]).0, vec![ok(T::P, None), ok(T::L, None)]);
        assert_eq!(run(&["-p", "30"]).0, vec![ok(T::P, Some("30"))]);
        assert_eq!(run(&["-p"]).0, vec![ok(T::P, None)]);
        assert_eq!(run(&["-pL"]).0, vec![ok(T::P, Some("L"))]);
    }

    #[test]
    fn errors_name_the_word() {
        let (r, _) = run(&["-Lq"]);
        assert_eq!(
            r[1],
            Err(PoptError {
                kind: PoptErrorKind::BadOpt,
                word: "-Lq".into()
            })
        );
        let (r, _) = run(&["-s"]);
        assert_eq!(
            r[0],
            Err(PoptError {
                kind: PoptErrorKind::NoArg,
                word: "-s".into()
            })
        );
        let (r, _) = run(&["--list=x"]);
        assert_eq!(r[0].as_ref().unwrap_err().kind, PoptErrorKind::UnwantedArg);
        let (r, _) = run(&["--lis"]);
        assert_eq!(r[0].as_ref().unwrap_err().kind, PoptErrorKind::BadOpt);
    }

    #[test]
    fn leftovers_and_double_dash() {
        let (r, left) = run(&["a", "-L", "--", "-n", "b"]);
        assert_eq!(r, vec![ok(T::L, None)]);
        assert_eq!(left, vec!["a", "-n", "b"]);
    }
}
