//! The second stage: lines of tokens become a tree of statements and `{ }` blocks.
//! A block may open on the keyword's line or alone on the next line, and may close
//! on the same line (`url { path / }`).

use super::diag::{Diags, Loc};
use super::lexer::{Line, Tok};

/// One statement: its words (keyword first; never empty) and, if it opened one, its
/// block.
#[derive(Debug, Clone)]
pub struct Node {
    pub loc: Loc,
    pub words: Vec<String>,
    pub block: Option<Vec<Node>>,
}

impl Node {
    pub fn keyword(&self) -> &str {
        self.words.first().map(String::as_str).unwrap_or("")
    }

    /// The words after the keyword.
    pub fn args(&self) -> &[String] {
        self.words.get(1..).unwrap_or(&[])
    }

    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args().get(i).map(String::as_str)
    }

    pub fn children(&self) -> &[Node] {
        self.block.as_deref().unwrap_or(&[])
    }
}

struct Open {
    node: Node,
    children: Vec<Node>,
}

pub fn build(lines: Vec<Line>, diags: &mut Diags) -> Vec<Node> {
    let mut top: Vec<Node> = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    // Line of the last statement finished at this level, for a `{` on the next line.
    for line in lines {
        let mut cur: Vec<String> = Vec::new();
        for tok in line.toks {
            match tok {
                Tok::Word(w) => cur.push(w),
                Tok::Open => {
                    let level = match stack.last_mut() {
                        Some(o) => &mut o.children,
                        None => &mut top,
                    };
                    let node = if !cur.is_empty() {
                        Node {
                            loc: line.loc.clone(),
                            words: std::mem::take(&mut cur),
                            block: None,
                        }
                    } else if level.last().is_some_and(|n| n.block.is_none()) {
                        // `{` alone: it opens the block of the previous statement.
                        level.pop().expect("checked non-empty")
                    } else {
                        diags.error(&line.loc, "'{' without a keyword before it");
                        Node {
                            loc: line.loc.clone(),
                            words: Vec::new(),
                            block: None,
                        }
                    };
                    stack.push(Open {
                        node,
                        children: Vec::new(),
                    });
                }
                Tok::Close => {
                    flush(&mut cur, &line.loc, &mut stack, &mut top);
                    match stack.pop() {
                        Some(mut o) => {
                            o.node.block = Some(o.children);
                            let level = match stack.last_mut() {
                                Some(p) => &mut p.children,
                                None => &mut top,
                            };
                            if !o.node.words.is_empty() {
                                level.push(o.node);
                            }
                        }
                        None => diags.error(&line.loc, "'}' without a matching '{'"),
                    }
                }
            }
        }
        flush(&mut cur, &line.loc, &mut stack, &mut top);
    }
    while let Some(o) = stack.pop() {
        diags.error(
            &o.node.loc,
            format!(
                "block '{}' is not closed (missing '}}')",
                o.node.words.join(" ")
            ),
        );
        let mut n = o.node;
        n.block = Some(o.children);
        if n.words.is_empty() {
            continue;
        }
        match stack.last_mut() {
            Some(p) => p.children.push(n),
            None => top.push(n),
        }
    }
    top
}

fn flush(cur: &mut Vec<String>, loc: &Loc, stack: &mut [Open], top: &mut Vec<Node>) {
    if cur.is_empty() {
        return;
    }
    let node = Node {
        loc: loc.clone(),
        words: std::mem::take(cur),
        block: None,
    };
    match stack.last_mut() {
        Some(o) => o.children.push(node),
        None => top.push(node),
    }
}
