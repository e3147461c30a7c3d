//! Glob patterns over dotted parameter paths.

use crate::error::{PruneError, Result};

/// A glob pattern over dotted parameter paths such as `layers.0.conv.weight`.
///
/// - `*` matches any run of characters inside one path segment (no `.`),
/// - `**` matches any run of characters across segments (dots included),
/// - `?` matches one character other than `.`,
/// - everything else matches itself.
///
/// ```
/// use burn_prune_core::PathPattern;
///
/// let p = PathPattern::new("layers.*.conv.weight").unwrap();
/// assert!(p.matches("layers.0.conv.weight"));
/// assert!(!p.matches("layers.0.block.conv.weight"));
/// assert!(PathPattern::new("**.weight").unwrap().matches("layers.0.block.conv.weight"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPattern {
    source: String,
    tokens: Vec<Token>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Char(char),
    AnyChar,
    Star,
    DoubleStar,
}

impl PathPattern {
    /// Parse a pattern. An empty pattern or a `***` run is an error.
    pub fn new(pattern: &str) -> Result<Self> {
        if pattern.is_empty() {
            return Err(PruneError::InvalidPattern {
                pattern: pattern.into(),
                reason: "the pattern is empty".into(),
            });
        }
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::with_capacity(chars.len());
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => {
                    let run = chars[i..].iter().take_while(|&&c| c == '*').count();
                    match run {
                        1 => tokens.push(Token::Star),
                        2 => tokens.push(Token::DoubleStar),
                        _ => {
                            return Err(PruneError::InvalidPattern {
                                pattern: pattern.into(),
                                reason: format!(
                                    "`{}` is not a wildcard; use `*` or `**`",
                                    "*".repeat(run)
                                ),
                            });
                        }
                    }
                    i += run;
                }
                '?' => {
                    tokens.push(Token::AnyChar);
                    i += 1;
                }
                c => {
                    tokens.push(Token::Char(c));
                    i += 1;
                }
            }
        }
        Ok(Self {
            source: pattern.into(),
            tokens,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `path` matches the whole pattern.
    pub fn matches(&self, path: &str) -> bool {
        let text: Vec<char> = path.chars().collect();
        // Dynamic programming over (token, char): `reach[j]` = the prefix of length j is matched.
        let mut reach = vec![false; text.len() + 1];
        reach[0] = true;
        for token in &self.tokens {
            let mut next = vec![false; text.len() + 1];
            match token {
                Token::Char(c) => {
                    for j in 0..text.len() {
                        if reach[j] && text[j] == *c {
                            next[j + 1] = true;
                        }
                    }
                }
                Token::AnyChar => {
                    for j in 0..text.len() {
                        if reach[j] && text[j] != '.' {
                            next[j + 1] = true;
                        }
                    }
                }
                Token::Star | Token::DoubleStar => {
                    let crosses = matches!(token, Token::DoubleStar);
                    let mut open = false;
                    for j in 0..=text.len() {
                        open |= reach[j];
                        next[j] = open;
                        if j < text.len() && text[j] == '.' && !crosses {
                            open = false;
                        }
                    }
                }
            }
            reach = next;
        }
        reach[text.len()]
    }
}

impl std::fmt::Display for PathPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        PathPattern::new(p).unwrap().matches(s)
    }

    #[test]
    fn literal_and_wildcards() {
        assert!(m("fc.weight", "fc.weight"));
        assert!(!m("fc.weight", "fc.weights"));
        assert!(m("*.weight", "fc.weight"));
        assert!(!m("*.weight", "a.fc.weight"));
        assert!(m("**.weight", "a.fc.weight"));
        assert!(m("**weight", "weight"));
        assert!(m("layers.?.conv.*", "layers.3.conv.bias"));
        assert!(!m("layers.?.conv.*", "layers.12.conv.bias"));
        assert!(m("layers.*", "layers.12"));
        assert!(!m("layers.*", "layers.12.conv"));
        assert!(m("**", "anything.at.all"));
        assert!(m("a.**.b", "a.x.y.b"));
    }

    #[test]
    fn rejects_bad_patterns() {
        assert!(matches!(
            PathPattern::new(""),
            Err(PruneError::InvalidPattern { .. })
        ));
        assert!(matches!(
            PathPattern::new("a.***"),
            Err(PruneError::InvalidPattern { .. })
        ));
    }
}
