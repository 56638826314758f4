//! Matching text against policy patterns: `*` (any run) and `?` (one character) wildcards,
//! literal text, and policy variables resolved per request; and ARNs matched segment by segment,
//! as IAM matches `Resource` and the `Arn*` operators.
//!
//! Patterns are compiled once at parse time (literal runs merged, variables located, case
//! folding decided by the caller), so matching allocates nothing unless a pattern holds a
//! variable or the text and pattern exhaust the backtracking budget (see [`glob`]).

use std::borrow::Cow;

use crate::context::Context;
use crate::variables::{placeholder, Placeholder, Variable};

/// How to read pattern text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Syntax {
    /// `*` and `?` are wildcards (else they are literal characters).
    pub wildcards: bool,
    /// `${...}` is a policy variable (Version 2012-10-17 in an element that allows them).
    pub variables: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(Box<str>),
    /// `*`: any run of characters, possibly empty.
    Star,
    /// `?`: exactly one character.
    One,
    /// Index into [`Pattern::vars`].
    Var(usize),
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    pieces: Box<[Piece]>,
    vars: Box<[Variable]>,
}

impl Pattern {
    pub(crate) fn parse(text: &str, syntax: Syntax) -> Pattern {
        let mut pieces = Vec::new();
        let mut vars = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if syntax.variables && rest.starts_with("${") {
                if let Some((found, len)) = placeholder(rest) {
                    match found {
                        Placeholder::Literal(c) => lit.push(c),
                        Placeholder::Variable(v) => {
                            flush(&mut lit, &mut pieces);
                            pieces.push(Piece::Var(vars.len()));
                            vars.push(v);
                        }
                    }
                    rest = &rest[len..];
                    continue;
                }
            }
            match c {
                '*' if syntax.wildcards => {
                    flush(&mut lit, &mut pieces);
                    // `**` means the same as `*`; one piece keeps backtracking linear.
                    if pieces.last() != Some(&Piece::Star) {
                        pieces.push(Piece::Star);
                    }
                }
                '?' if syntax.wildcards => {
                    flush(&mut lit, &mut pieces);
                    pieces.push(Piece::One);
                }
                c => lit.push(c),
            }
            rest = &rest[c.len_utf8()..];
        }
        flush(&mut lit, &mut pieces);
        Pattern {
            pieces: pieces.into(),
            vars: vars.into(),
        }
    }

    /// Whether `text` matches. `fold`: compare letters case-insensitively. A variable that does
    /// not resolve makes the pattern match nothing (AWS: the value is null).
    pub(crate) fn matches(&self, text: &str, fold: bool, ctx: &dyn Context) -> bool {
        match &*self.vars {
            [] => glob(&self.pieces, &[], text, fold),
            // the common case, without a heap allocation
            [var] => var
                .resolve(ctx)
                .is_some_and(|v| glob(&self.pieces, &[v], text, fold)),
            vars => {
                let mut values = Vec::with_capacity(vars.len());
                for var in vars {
                    match var.resolve(ctx) {
                        Some(v) => values.push(v),
                        None => return false,
                    }
                }
                glob(&self.pieces, &values, text, fold)
            }
        }
    }
}

fn flush(lit: &mut String, pieces: &mut Vec<Piece>) {
    if !lit.is_empty() {
        pieces.push(Piece::Lit(std::mem::take(lit).into()));
    }
}

/// Wildcard matching, exact either way. Backtracking to the last `*` is linear in the usual
/// case and allocates nothing, but a text and pattern chosen to nearly match everywhere (many
/// `?` or a long piece after a `*`) cost it O(len(text) × len(pattern)): a policy author could
/// make every request that a condition reads take seconds. So it runs within a budget of steps
/// proportional to its input, and past the budget the match is made bit-parallel
/// ([`bit_parallel`]), O(len(text) + len(pattern) × (len(text) / 64 + 64)) at worst.
fn glob(pieces: &[Piece], vars: &[Cow<'_, str>], text: &str, fold: bool) -> bool {
    let pattern_len: usize = pieces
        .iter()
        .map(|p| match p {
            Piece::Lit(s) => s.len(),
            Piece::Var(i) => vars[*i].len(),
            Piece::Star | Piece::One => 1,
        })
        .sum();
    let budget = 8 * (text.len() + pattern_len) + 64;
    backtrack(pieces, vars, text, fold, budget)
        .unwrap_or_else(|| bit_parallel(pieces, vars, text, fold))
}

/// Matching with backtracking to the last `*` only: every non-star piece consumes a fixed
/// sequence of characters, so this is exact. `None` once it has taken `budget` steps (a step
/// per piece tried, plus the bytes a literal may compare there).
fn backtrack(
    pieces: &[Piece],
    vars: &[Cow<'_, str>],
    text: &str,
    fold: bool,
    budget: usize,
) -> Option<bool> {
    let (mut p, mut t) = (0, 0);
    let mut steps = 0usize;
    // (the piece after the last star, where that star's match currently ends)
    let mut back: Option<(usize, usize)> = None;
    loop {
        steps += 1;
        if steps > budget {
            return None;
        }
        if let Some(piece) = pieces.get(p) {
            let advanced = match piece {
                Piece::Star => {
                    back = Some((p + 1, t));
                    p += 1;
                    continue;
                }
                Piece::One => text[t..].chars().next().map(char::len_utf8),
                Piece::Lit(s) => {
                    steps += s.len().min(text.len() - t);
                    prefix(&text[t..], s, fold)
                }
                Piece::Var(i) => {
                    steps += vars[*i].len().min(text.len() - t);
                    prefix(&text[t..], &vars[*i], fold)
                }
            };
            if let Some(n) = advanced {
                t += n;
                p += 1;
                continue;
            }
        } else if t == text.len() {
            return Some(true);
        }
        match back {
            Some((bp, bt)) if bt < text.len() => {
                let nt = bt + text[bt..].chars().next().map_or(1, char::len_utf8);
                back = Some((bp, nt));
                p = bp;
                t = nt;
            }
            _ => return Some(false),
        }
    }
}

/// What matching compares of a character: itself, or when folding its lower case (at most
/// three characters), so that two characters match exactly when their classes are equal, as
/// [`prefix`] compares them.
fn class(c: char, fold: bool) -> [char; 3] {
    let mut out = ['\0'; 3];
    if fold {
        for (slot, lower) in out.iter_mut().zip(c.to_lowercase()) {
            *slot = lower;
        }
    } else {
        out[0] = c;
    }
    out
}

/// Matching as a set of positions: bit `i` says that the pattern read so far matches the
/// text's first `i` characters. A `*` sets every position from the first one set; a `?` moves
/// every position one character on; a literal character moves on the positions followed by a
/// character of its class. A class that occurs more than 64 times in the text keeps the
/// positions after its occurrences as bits, ANDed a word at a time; a rarer one is checked at
/// its few positions, so the work is bounded whatever the text and pattern.
fn bit_parallel(pieces: &[Piece], vars: &[Cow<'_, str>], text: &str, fold: bool) -> bool {
    use std::collections::HashMap;
    const DENSE: usize = 64;
    let mut after: HashMap<[char; 3], Vec<usize>> = HashMap::new();
    let mut n = 0;
    for (i, c) in text.chars().enumerate() {
        after.entry(class(c, fold)).or_default().push(i + 1);
        n = i + 1;
    }
    let words = n / 64 + 1;
    let bits_of = |positions: &[usize]| {
        let mut bits = vec![0u64; words];
        for &p in positions {
            bits[p / 64] |= 1 << (p % 64);
        }
        bits
    };
    let dense: HashMap<[char; 3], Vec<u64>> = after
        .iter()
        .filter(|(_, positions)| positions.len() > DENSE)
        .map(|(c, positions)| (*c, bits_of(positions)))
        .collect();
    // Bits past position n are never set.
    let last_mask = if n % 64 == 63 {
        u64::MAX
    } else {
        (1u64 << (n % 64 + 1)) - 1
    };
    let mut d = vec![0u64; words];
    d[0] = 1;
    let mut next = vec![0u64; words];
    let mut advance = |d: &mut Vec<u64>, want: Option<char>| -> bool {
        let mut carry = 0;
        for w in d.iter_mut() {
            let out = *w >> 63;
            *w = (*w << 1) | carry;
            carry = out;
        }
        d[words - 1] &= last_mask;
        if let Some(c) = want {
            let c = class(c, fold);
            match dense.get(&c) {
                Some(bits) => d.iter_mut().zip(bits).for_each(|(w, b)| *w &= b),
                None => {
                    next.fill(0);
                    for &p in after.get(&c).map_or(&[][..], Vec::as_slice) {
                        next[p / 64] |= d[p / 64] & (1 << (p % 64));
                    }
                    std::mem::swap(d, &mut next);
                }
            }
        }
        d.iter().any(|w| *w != 0)
    };
    for piece in pieces {
        let alive = match piece {
            Piece::Star => {
                let Some(first) = d.iter().position(|w| *w != 0) else {
                    return false;
                };
                d[first] |= u64::MAX << d[first].trailing_zeros();
                d[first + 1..].fill(u64::MAX);
                d[words - 1] &= last_mask;
                true
            }
            Piece::One => advance(&mut d, None),
            Piece::Lit(s) => s.chars().all(|c| advance(&mut d, Some(c))),
            Piece::Var(i) => vars[*i].chars().all(|c| advance(&mut d, Some(c))),
        };
        if !alive {
            return false;
        }
    }
    d[n / 64] >> (n % 64) & 1 == 1
}

/// If `text` starts with `lit`, the number of bytes of `text` it spans.
fn prefix(text: &str, lit: &str, fold: bool) -> Option<usize> {
    if !fold {
        return text.starts_with(lit).then_some(lit.len());
    }
    if lit.is_ascii() {
        // Between ASCII texts, comparing bytes is exact and fast (actions are always ASCII).
        // A text with other characters there is compared character by character: one of them
        // may fold to an ASCII letter (the Kelvin sign to `k`).
        if let Some(head) = text.as_bytes().get(..lit.len()).filter(|h| h.is_ascii()) {
            return head
                .eq_ignore_ascii_case(lit.as_bytes())
                .then_some(lit.len());
        }
    }
    let mut chars = text.char_indices();
    for want in lit.chars() {
        let (_, got) = chars.next()?;
        if got != want && !got.to_lowercase().eq(want.to_lowercase()) {
            return None;
        }
    }
    Some(chars.next().map_or(text.len(), |(i, _)| i))
}

/// An ARN pattern: `*` alone, or six colon-separated segments each matched on its own (a
/// wildcard never spans a colon between segments; the last segment, the resource, is
/// everything after the fifth colon and may itself contain colons). Case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArnPattern {
    Any,
    Segments(Box<[Pattern; 6]>),
}

impl ArnPattern {
    /// None when the text is neither `*` nor six segments starting with `arn`.
    pub(crate) fn parse(text: &str, variables: bool) -> Option<ArnPattern> {
        if text == "*" {
            return Some(ArnPattern::Any);
        }
        let parts = split_segments(text, variables)?;
        let syntax = Syntax {
            wildcards: true,
            variables,
        };
        if parts[0] != "arn" {
            return None;
        }
        Some(ArnPattern::Segments(Box::new(
            parts.map(|part| Pattern::parse(part, syntax)),
        )))
    }

    pub(crate) fn matches(&self, arn: &str, ctx: &dyn Context) -> bool {
        let ArnPattern::Segments(patterns) = self else {
            return true;
        };
        let mut parts = arn.splitn(6, ':');
        patterns
            .iter()
            .all(|p| parts.next().is_some_and(|part| p.matches(part, false, ctx)))
    }
}

/// Splits at the first five colons that are not inside a `${...}` placeholder.
fn split_segments(text: &str, variables: bool) -> Option<[&str; 6]> {
    let mut parts = [""; 6];
    let (mut start, mut i, mut n) = (0, 0, 0);
    let bytes = text.as_bytes();
    while i < bytes.len() && n < 5 {
        if variables && text[i..].starts_with("${") {
            if let Some((_, len)) = placeholder(&text[i..]) {
                i += len;
                continue;
            }
        }
        if bytes[i] == b':' {
            parts[n] = &text[start..i];
            n += 1;
            start = i + 1;
        }
        i += 1;
    }
    if n < 5 {
        return None;
    }
    parts[5] = &text[start..];
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::MapContext;

    const WILD: Syntax = Syntax {
        wildcards: true,
        variables: false,
    };
    const EXACT: Syntax = Syntax {
        wildcards: false,
        variables: false,
    };
    const VARS: Syntax = Syntax {
        wildcards: true,
        variables: true,
    };

    fn m(pattern: &str, text: &str) -> bool {
        Pattern::parse(pattern, WILD).matches(text, false, &MapContext::default())
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("a*c", "abbbc"));
        assert!(m("a*c", "ac"));
        assert!(!m("a*c", "acb"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*b*b*", "abxbz"));
        assert!(!m("*b*b*", "abxz"));
        assert!(m("a*b?d", "aXbYbcd"));
        assert!(m("?", "é"));
        assert!(!m("??", "é"));
        assert!(m("*é", "aé"));
        assert!(!m("abc", "abcd"));
        assert!(!m("abc", "ab"));
        assert!(m("", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn literal_mode_keeps_star_and_question_mark() {
        let ctx = MapContext::default();
        let p = Pattern::parse("a*?", EXACT);
        assert!(p.matches("a*?", false, &ctx));
        assert!(!p.matches("abc", false, &ctx));
    }

    #[test]
    fn folding_is_case_insensitive() {
        let ctx = MapContext::default();
        let p = Pattern::parse("kms:generate*", WILD);
        assert!(p.matches("kms:GenerateDataKey", true, &ctx));
        assert!(p.matches("KMS:GENERATEMAC", true, &ctx));
        assert!(!p.matches("kms:GenerateDataKey", false, &ctx));
        assert!(!p.matches("kms:Encrypt", true, &ctx));
        assert!(Pattern::parse("ÄbC", EXACT).matches("äBc", true, &ctx));
    }

    #[test]
    fn variables_substitute_literally_and_unresolved_match_nothing() {
        let mut ctx = MapContext::default();
        ctx.insert("aws:username", "a*");
        let p = Pattern::parse("home/${aws:username}/*", VARS);
        assert!(p.matches("home/a*/x", false, &ctx));
        // the substituted `*` is literal, not a wildcard
        assert!(!p.matches("home/abc/x", false, &ctx));
        let p = Pattern::parse("${aws:userid}", VARS);
        assert!(!p.matches("", false, &ctx));
        assert!(!p.matches("${aws:userid}", false, &ctx));
        // escapes
        let p = Pattern::parse("a${*}b${?}", VARS);
        assert!(p.matches("a*b?", false, &ctx));
        assert!(!p.matches("axxb?", false, &ctx));
        // without variables the text is literal, and its `*` is still a wildcard
        let p = Pattern::parse("home/${aws:username}", WILD);
        assert!(p.matches("home/${aws:username}", false, &ctx));
        assert!(!p.matches("home/a*", false, &ctx));
    }

    fn arn(pattern: &str, text: &str) -> bool {
        ArnPattern::parse(pattern, true)
            .unwrap()
            .matches(text, &MapContext::default())
    }

    const KEY: &str = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn arns_match_segment_by_segment() {
        assert!(arn("*", KEY));
        assert!(arn("*", "not an arn"));
        assert!(arn(KEY, KEY));
        assert!(arn("arn:aws:kms:*:111122223333:key/*", KEY));
        assert!(arn("arn:aws:kms:us-west-?:111122223333:*", KEY));
        assert!(arn("arn:*:*:*:*:*", KEY));
        assert!(!arn("arn:aws:kms:*:444455556666:key/*", KEY));
        assert!(!arn("arn:aws:kms:us-west-2:111122223333:alias/*", KEY));
        // a wildcard never spans the colon between segments
        assert!(ArnPattern::parse("arn:aws:kms:*:key/*", true).is_none());
        assert!(!arn(
            "arn:aws:kms:*:111122223333:key/*",
            "arn:aws:kms:us-west-2:extra:111122223333:key/x"
        ));
        // case-sensitive
        assert!(!arn("arn:aws:KMS:us-west-2:111122223333:key/*", KEY));
        // the resource segment keeps its own colons
        assert!(arn(
            "arn:aws:logs:us-east-1:111122223333:log-group:app:*",
            "arn:aws:logs:us-east-1:111122223333:log-group:app:log-stream:x"
        ));
        assert!(!arn(KEY, "arn:aws:kms:us-west-2"));
    }

    #[test]
    fn arn_shape_is_checked() {
        assert!(ArnPattern::parse("arn:aws:kms:us-west-2:111122223333", true).is_none());
        assert!(ArnPattern::parse("key/abc", true).is_none());
        assert!(ArnPattern::parse("urn:aws:kms:r:1:key/x", true).is_none());
        // a colon inside a variable does not split
        assert!(ArnPattern::parse("arn:aws:s3:::bucket/${aws:username}", true).is_some());
        let p = ArnPattern::parse("arn:aws:iam::${aws:PrincipalAccount}:user/*", true).unwrap();
        let mut ctx = MapContext::default();
        ctx.insert("aws:PrincipalAccount", "111122223333");
        assert!(p.matches("arn:aws:iam::111122223333:user/alice", &ctx));
        assert!(!p.matches("arn:aws:iam::444455556666:user/alice", &ctx));
    }

    /// The two ways of matching agree on every text and pattern: random ones over a small
    /// alphabet (so that they nearly match often) with characters whose case folds unusually
    /// (the Kelvin sign folds to `k`, `İ` to two characters, `ß` to itself), folding or not;
    /// and the budget sends the pathological case to the bit-parallel way, which finds it.
    #[test]
    fn backtracking_and_bit_parallel_matching_agree() {
        let alphabet = ['a', 'b', 'A', 'k', 'K', '\u{212a}', 'İ', 'i', 'ß', '/'];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let vars = [Cow::Borrowed("ab")];
        for round in 0..20_000 {
            // Mostly short texts; one in eight spans several words of positions (63, 64, 127
            // and 128 characters among them), with the carry between words and the last
            // word's mask.
            // Those draw from three letters, so that a class occurs more than 64 times (the
            // dense path) and the others fewer (the rare one).
            let (len, letters) = if round % 8 == 0 {
                ([63, 64, 65, 127, 128, 129, 200][next(7)], 3)
            } else {
                (next(12), alphabet.len())
            };
            let text: String = (0..len).map(|_| alphabet[next(letters)]).collect();
            let pieces: Vec<Piece> = (0..next(7))
                .map(|_| match next(6) {
                    0 => Piece::Star,
                    1 => Piece::One,
                    2 => Piece::Var(0),
                    _ => Piece::Lit(
                        (0..1 + next(3))
                            .map(|_| alphabet[next(alphabet.len())])
                            .collect::<String>()
                            .into(),
                    ),
                })
                .collect();
            for fold in [false, true] {
                let slow = backtrack(&pieces, &vars, &text, fold, usize::MAX);
                let fast = bit_parallel(&pieces, &vars, &text, fold);
                assert_eq!(
                    slow,
                    Some(fast),
                    "round {round}: {pieces:?} {text:?} fold {fold}"
                );
            }
        }
        // Texts longer than a word of positions, with classes dense and rare.
        let long = format!("{}b{}", "a".repeat(150), "a".repeat(100));
        let after_b = |n: usize| format!("*b{}", "?".repeat(n));
        for (pattern, expected) in [
            ("*a?a?a?b*".to_owned(), true),
            ("a*b".to_owned(), false),
            ("a*ba*".to_owned(), true),
            (after_b(100), true),
            (after_b(99), false),
            (after_b(101), false),
        ] {
            let p = Pattern::parse(&pattern, WILD);
            assert_eq!(
                bit_parallel(&p.pieces, &[], &long, false),
                expected,
                "{pattern}"
            );
            assert_eq!(
                backtrack(&p.pieces, &[], &long, false, usize::MAX),
                Some(expected)
            );
        }
        // Nearly matching at every position: over budget, and still answered.
        let text = "a".repeat(4_000);
        let pattern = format!("*{}b", "a?".repeat(1_000));
        let p = Pattern::parse(&pattern, WILD);
        assert_eq!(
            backtrack(
                &p.pieces,
                &[],
                &text,
                false,
                8 * (text.len() + pattern.len()) + 64
            ),
            None
        );
        assert!(!m(&pattern, &text));
        assert!(m(&pattern, &format!("{text}b")));
    }

    #[test]
    fn folding_is_the_same_for_ascii_and_other_literals() {
        let fold = |pattern: &str, text: &str| {
            Pattern::parse(pattern, WILD).matches(text, true, &MapContext::default())
        };
        assert!(fold("kms", "KMS"));
        assert!(fold("kms", "\u{212a}MS"), "the Kelvin sign folds to k");
        assert!(fold("\u{212a}ms", "kms"));
        assert!(!fold("kms", "KM"));
    }
}
