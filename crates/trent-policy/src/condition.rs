//! The `Condition` element: the operators (String, Numeric, Date, Bool, Binary, IpAddress, Arn,
//! Null), the `IfExists` suffix, the `ForAllValues:`/`ForAnyValue:` set prefixes, reading an
//! operator's values at parse time, and deciding one condition against a request.
//!
//! AWS's rules, in one place:
//! - several values for one key are OR'd; a negated operator (`StringNotEquals`, `NotIpAddress`,
//!   `ArnNotLike`, ...) is true when the request value matches none of them (NOR);
//! - a key absent from the request makes a condition false, or true for a negated operator;
//!   `...IfExists` makes it true either way; `Null` tests exactly presence;
//! - `ForAllValues:` is true when every request value passes, and when the key is absent or its
//!   set empty; `ForAnyValue:` is true when some request value passes, false when absent or empty
//!   (true when absent with `IfExists`);
//! - without a set prefix, a multi-valued key passes a positive operator when any value
//!   matches, and a negated one when no value matches (Trent's choice; AWS documents set
//!   operators for such keys);
//! - a value holding a policy variable that does not resolve matches nothing.

use crate::context::{context_key, Context, Values};
use crate::pattern::{ArnPattern, Pattern, Syntax};
use crate::scalar::{self, Cidr};

/// How numbers and dates are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Cmp::Eq => request == policy,
            Cmp::Lt => request < policy,
            Cmp::Le => request <= policy,
            Cmp::Gt => request > policy,
            Cmp::Ge => request >= policy,
        }
    }
}

/// Which family an operator belongs to; decides how its values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// StringEquals (fold: IgnoreCase).
    StringEquals {
        fold: bool,
    },
    StringLike,
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// The base operators: name, family, negated.
const OPERATORS: &[(&str, Family, bool)] = &[
    ("StringEquals", Family::StringEquals { fold: false }, false),
    (
        "StringNotEquals",
        Family::StringEquals { fold: false },
        true,
    ),
    (
        "StringEqualsIgnoreCase",
        Family::StringEquals { fold: true },
        false,
    ),
    (
        "StringNotEqualsIgnoreCase",
        Family::StringEquals { fold: true },
        true,
    ),
    ("StringLike", Family::StringLike, false),
    ("StringNotLike", Family::StringLike, true),
    ("NumericEquals", Family::Numeric(Cmp::Eq), false),
    ("NumericNotEquals", Family::Numeric(Cmp::Eq), true),
    ("NumericLessThan", Family::Numeric(Cmp::Lt), false),
    ("NumericLessThanEquals", Family::Numeric(Cmp::Le), false),
    ("NumericGreaterThan", Family::Numeric(Cmp::Gt), false),
    ("NumericGreaterThanEquals", Family::Numeric(Cmp::Ge), false),
    ("DateEquals", Family::Date(Cmp::Eq), false),
    ("DateNotEquals", Family::Date(Cmp::Eq), true),
    ("DateLessThan", Family::Date(Cmp::Lt), false),
    ("DateLessThanEquals", Family::Date(Cmp::Le), false),
    ("DateGreaterThan", Family::Date(Cmp::Gt), false),
    ("DateGreaterThanEquals", Family::Date(Cmp::Ge), false),
    ("Bool", Family::Bool, false),
    ("BinaryEquals", Family::Binary, false),
    ("IpAddress", Family::Ip, false),
    ("NotIpAddress", Family::Ip, true),
    ("ArnEquals", Family::Arn, false),
    ("ArnLike", Family::Arn, false),
    ("ArnNotEquals", Family::Arn, true),
    ("ArnNotLike", Family::Arn, true),
    ("Null", Family::Null, false),
];

/// A set prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Single,
    ForAllValues,
    ForAnyValue,
}

/// An operator as written: `[ForAllValues:|ForAnyValue:]<Base>[IfExists]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Operator {
    family: Family,
    negated: bool,
    set: SetOp,
    if_exists: bool,
}

impl Operator {
    /// Reads an operator name (letter case ignored). The error says why it is not one.
    pub(crate) fn parse(name: &str) -> Result<Operator, String> {
        let (set, rest) = if let Some(rest) = strip_prefix_ci(name, "ForAllValues:") {
            (SetOp::ForAllValues, rest)
        } else if let Some(rest) = strip_prefix_ci(name, "ForAnyValue:") {
            (SetOp::ForAnyValue, rest)
        } else {
            (SetOp::Single, name)
        };
        let unknown = || format!("Policy contains an unknown condition operator: {name}.");
        let find = |base: &str| {
            OPERATORS
                .iter()
                .find(|(n, _, _)| n.eq_ignore_ascii_case(base))
                .map(|&(_, family, negated)| (family, negated))
        };
        let (family, negated, if_exists) = match find(rest) {
            Some((family, negated)) => (family, negated, false),
            None => {
                let base = strip_suffix_ci(rest, "IfExists").ok_or_else(unknown)?;
                let (family, negated) = find(base).ok_or_else(unknown)?;
                if family == Family::Null {
                    return Err(format!(
                        "Policy contains the condition operator {name}: Null has no IfExists form."
                    ));
                }
                (family, negated, true)
            }
        };
        if family == Family::Null && set != SetOp::Single {
            return Err(format!(
                "Policy contains the condition operator {name}: Null takes no set operator."
            ));
        }
        Ok(Operator {
            family,
            negated,
            set,
            if_exists,
        })
    }

    pub(crate) fn is_for_all_values(&self) -> bool {
        self.set == SetOp::ForAllValues
    }
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn strip_suffix_ci<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = text.len().checked_sub(suffix.len())?;
    let tail = text.get(cut..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &text[..cut])
}

/// An operator's values, read once.
#[derive(Debug, Clone, PartialEq)]
enum Operands {
    Strings(Vec<Pattern>),
    Numbers(Vec<f64>),
    Dates(Vec<i64>),
    Bools(Vec<bool>),
    Bytes(Vec<Vec<u8>>),
    Ips(Vec<Cidr>),
    Arns(Vec<ArnPattern>),
}

/// One condition: an operator, a key and its values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    op: Operator,
    /// Normalized by [`context_key`].
    key: Box<str>,
    operands: Operands,
}

impl Condition {
    /// Builds a condition from the operator, the key as written and the values as text.
    /// `variables`: the policy's Version allows `${...}` (it applies to the String, Arn operators).
    pub(crate) fn new(
        op: Operator,
        key: &str,
        values: &[String],
        variables: bool,
        op_name: &str,
    ) -> Result<Condition, String> {
        // Every value must read as the operator's type; the error names the first that does not.
        fn typed<T>(
            values: &[String],
            read: impl Fn(&str) -> Option<T>,
            what: &str,
            op_name: &str,
            key: &str,
        ) -> Result<Vec<T>, String> {
            values
                .iter()
                .map(|v| {
                    read(v).ok_or_else(|| {
                        format!("Policy contains an invalid value for {op_name} on {key}: \"{v}\" is not {what}.")
                    })
                })
                .collect()
        }
        let operands = match op.family {
            Family::StringEquals { .. } | Family::StringLike => {
                let syntax = Syntax {
                    wildcards: op.family == Family::StringLike,
                    variables,
                };
                Operands::Strings(values.iter().map(|v| Pattern::parse(v, syntax)).collect())
            }
            Family::Numeric(_) => {
                Operands::Numbers(typed(values, scalar::number, "a number", op_name, key)?)
            }
            Family::Date(_) => {
                Operands::Dates(typed(values, scalar::date, "a date", op_name, key)?)
            }
            Family::Bool | Family::Null => Operands::Bools(typed(
                values,
                scalar::boolean,
                "true or false",
                op_name,
                key,
            )?),
            Family::Binary => {
                use base64::Engine as _;
                let decode = |v: &str| base64::engine::general_purpose::STANDARD.decode(v).ok();
                Operands::Bytes(typed(values, decode, "base64", op_name, key)?)
            }
            Family::Ip => Operands::Ips(typed(
                values,
                Cidr::parse,
                "an IP address or CIDR range",
                op_name,
                key,
            )?),
            Family::Arn => {
                let read = |v: &str| ArnPattern::parse(v, variables);
                Operands::Arns(typed(values, read, "an ARN", op_name, key)?)
            }
        };
        Ok(Condition {
            op,
            key: context_key(key).into(),
            operands,
        })
    }

    /// Whether the condition holds for this request.
    pub(crate) fn holds(&self, ctx: &dyn Context) -> bool {
        let found = ctx.get(&self.key);
        if self.op.family == Family::Null {
            let Operands::Bools(wanted) = &self.operands else {
                return false;
            };
            return wanted.iter().any(|&absent| absent == found.is_none());
        }
        let op = self.op;
        let passes = |v: &str| self.any_operand_matches(v, ctx) != op.negated;
        match (op.set, found) {
            (SetOp::ForAllValues, None) => true,
            (_, None) => op.if_exists || (op.set == SetOp::Single && op.negated),
            (SetOp::ForAllValues, Some(values)) => match values {
                Values::One(v) => passes(&v),
                Values::Many(vs) => vs.iter().all(|v| passes(v)),
            },
            (SetOp::ForAnyValue, Some(values)) => match values {
                Values::One(v) => passes(&v),
                Values::Many(vs) => vs.iter().any(|v| passes(v)),
            },
            (SetOp::Single, Some(values)) => match values {
                Values::One(v) => passes(&v),
                Values::Many(vs) => {
                    vs.iter().any(|v| self.any_operand_matches(v, ctx)) != op.negated
                }
            },
        }
    }

    /// The positive test: does the request value match any of the policy's values?
    fn any_operand_matches(&self, value: &str, ctx: &dyn Context) -> bool {
        match (&self.operands, self.op.family) {
            (Operands::Strings(patterns), Family::StringEquals { fold }) => {
                patterns.iter().any(|p| p.matches(value, fold, ctx))
            }
            (Operands::Strings(patterns), _) => {
                patterns.iter().any(|p| p.matches(value, false, ctx))
            }
            (Operands::Numbers(ns), Family::Numeric(cmp)) => {
                scalar::number(value).is_some_and(|v| ns.iter().any(|&n| cmp.holds(v, n)))
            }
            (Operands::Dates(ds), Family::Date(cmp)) => {
                scalar::date(value).is_some_and(|v| ds.iter().any(|&d| cmp.holds(v, d)))
            }
            (Operands::Bools(bs), _) => scalar::boolean(value).is_some_and(|v| bs.contains(&v)),
            (Operands::Bytes(bs), _) => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(value)
                    .is_ok_and(|v| bs.contains(&v))
            }
            (Operands::Ips(cidrs), _) => cidrs.iter().any(|c| c.contains(value)),
            (Operands::Arns(arns), _) => arns.iter().any(|a| a.matches(value, ctx)),
            _ => false,
        }
    }
}
