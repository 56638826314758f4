//! Policy variables (`${aws:username}`, `${aws:PrincipalTag/team, 'default'}`, and the escapes
//! `${*}` `${?}` `${$}`): recognising a placeholder in policy text, and resolving it from the
//! request's [`Context`] at evaluation time.
//!
//! Whether a string may hold variables at all (Version 2012-10-17, and which elements and
//! operators) is the parser's decision, not this module's.

use std::borrow::Cow;

use crate::context::{context_key, Context, Values};

/// A variable: the context key it reads and the default used when that key is absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Variable {
    /// Normalized by [`context_key`].
    key: Box<str>,
    default: Option<Box<str>>,
}

/// What one `${...}` stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placeholder {
    /// `${*}`, `${?}`, `${$}`: the character itself, never a wildcard.
    Literal(char),
    Variable(Variable),
}

impl Variable {
    /// The value for this request. None when the key is absent and there is no default, or
    /// when the key is multi-valued (AWS: multi-valued keys cannot be variables): the value
    /// that holds this variable then matches nothing.
    pub(crate) fn resolve<'a>(&'a self, ctx: &'a dyn Context) -> Option<Cow<'a, str>> {
        match ctx.get(&self.key) {
            Some(Values::One(v)) => Some(v),
            Some(Values::Many(_)) => None,
            None => self.default.as_deref().map(Cow::Borrowed),
        }
    }
}

/// Reads a placeholder at the start of `text` (which starts with `${`). Returns it and the
/// number of bytes it spans, or None when the text there is not a placeholder (no closing
/// brace, an empty name, a malformed default): it is then literal text, as in AWS.
pub(crate) fn placeholder(text: &str) -> Option<(Placeholder, usize)> {
    let body_start = 2;
    let close = text[body_start..].find('}')? + body_start;
    let body = &text[body_start..close];
    let len = close + 1;
    let found = match body {
        "*" => Placeholder::Literal('*'),
        "?" => Placeholder::Literal('?'),
        "$" => Placeholder::Literal('$'),
        _ => {
            let (name, default) = match body.split_once(',') {
                None => (body.trim(), None),
                Some((name, rest)) => {
                    let rest = rest.trim();
                    let quoted = rest.strip_prefix('\'')?.strip_suffix('\'')?;
                    (name.trim(), Some(quoted.into()))
                }
            };
            if name.is_empty() || name.contains(['$', '{', '\'']) {
                return None;
            }
            Placeholder::Variable(Variable {
                key: context_key(name).into(),
                default,
            })
        }
    };
    Some((found, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::MapContext;

    fn var(text: &str) -> Variable {
        match placeholder(text) {
            Some((Placeholder::Variable(v), _)) => v,
            other => panic!("not a variable: {other:?}"),
        }
    }

    #[test]
    fn escapes_are_literal_characters() {
        assert_eq!(placeholder("${*}x"), Some((Placeholder::Literal('*'), 4)));
        assert_eq!(placeholder("${?}"), Some((Placeholder::Literal('?'), 4)));
        assert_eq!(placeholder("${$}"), Some((Placeholder::Literal('$'), 4)));
    }

    #[test]
    fn names_are_case_insensitive_and_defaults_quoted() {
        let v = var("${aws:UserName}/rest");
        assert_eq!(&*v.key, "aws:username");
        assert_eq!(v.default, None);
        let v = var("${aws:PrincipalTag/team, 'company-wide'}");
        assert_eq!(&*v.key, "aws:principaltag/team");
        assert_eq!(v.default.as_deref(), Some("company-wide"));
    }

    #[test]
    fn malformed_placeholders_are_not_variables() {
        assert_eq!(placeholder("${aws:username"), None);
        assert_eq!(placeholder("${}"), None);
        assert_eq!(placeholder("${aws:x, unquoted}"), None);
    }

    #[test]
    fn resolves_from_context_default_or_nothing() {
        let mut ctx = MapContext::default();
        ctx.insert("aws:username", "alice");
        ctx.insert_many("aws:TagKeys", vec!["a".into()]);
        assert_eq!(
            var("${aws:username}").resolve(&ctx).as_deref(),
            Some("alice")
        );
        assert_eq!(var("${aws:userid}").resolve(&ctx), None);
        assert_eq!(
            var("${aws:userid, 'x'}").resolve(&ctx).as_deref(),
            Some("x")
        );
        assert_eq!(var("${aws:TagKeys}").resolve(&ctx), None);
    }
}
