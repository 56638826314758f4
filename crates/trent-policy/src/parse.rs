//! The grammar: from a [`Json`] document to compiled [`Statement`]s, refusing what AWS refuses
//! with a sentence fit for `MalformedPolicyDocumentException`.
//!
//! Rules, as AWS documents them:
//! - top level: `Version` (`2012-10-17` or `2008-10-17`; absent means `2008-10-17`, under which
//!   `${...}` is literal text), optional `Id`, and `Statement` (an object or a non-empty list);
//! - a statement: optional `Sid` (in an identity policy letters and digits only, and unique, as
//!   IAM requires; any string in a key policy), `Effect` (`Allow` or `Deny`), exactly one of
//!   `Principal`/`NotPrincipal` in a key policy and neither in an identity policy, at most one
//!   of `Action`/`NotAction` and of `Resource`/`NotResource` (both required in an identity
//!   policy; a key-policy statement without them is accepted and matches nothing, as KMS does),
//!   and an optional `Condition`;
//! - the same member twice, an unknown member, a wrong JSON type or an empty list is refused;
//! - a key policy may not use `ForAllValues` with the single-valued `kms:EncryptionContext:<k>`
//!   or `aws:RequestTag/<k>` (KMS's `OverlyPermissiveCondition`).

use crate::condition::{Condition, Operator};
use crate::evaluate::{Effect, Element, Statement, Subject};
use crate::json::Json;
use crate::pattern::{ArnPattern, Pattern, Syntax};
use crate::principal::{valid_other, AwsPrincipal, Principals};
use crate::{PolicyError, PolicyKind};

/// AWS's sentence for any principal it cannot accept.
pub(crate) const INVALID_PRINCIPALS: &str =
    "Policy contains a statement with one or more invalid principals.";

/// A parsed document: its statements and the AWS principals it names, as written.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) statements: Vec<Statement>,
    pub(crate) named: Vec<String>,
}

fn err(message: impl Into<String>) -> PolicyError {
    PolicyError::new(message.into())
}

pub(crate) fn parse(text: &str, kind: PolicyKind) -> Result<Parsed, PolicyError> {
    let json = Json::parse(text).map_err(|e| err(format!("The policy is not valid JSON: {e}.")))?;
    let Json::Object(members) = json else {
        return Err(err(format!(
            "The policy must be a JSON object, not {}.",
            json.kind()
        )));
    };
    let mut version = None;
    let mut statements = None;
    for (name, value) in &members {
        match name.as_str() {
            "Version" => version = Some(string(value, "Version")?),
            "Id" => {
                string(value, "Id")?;
            }
            "Statement" => statements = Some(value),
            other => return Err(err(format!("The policy has an unknown element: {other}."))),
        }
    }
    let variables = match version {
        Some("2012-10-17") => true,
        None | Some("2008-10-17") => false,
        Some(v) => {
            return Err(err(format!(
                "The policy Version \"{v}\" is not supported; use \"2012-10-17\"."
            )))
        }
    };
    let statements = match statements {
        None => return Err(err("The policy has no Statement.")),
        Some(Json::Array(list)) if list.is_empty() => {
            return Err(err("The policy's Statement list is empty."))
        }
        Some(Json::Array(list)) => list.iter().collect(),
        Some(one @ Json::Object(_)) => vec![one],
        Some(other) => {
            return Err(err(format!(
                "The policy's Statement must be an object or a list of objects, not {}.",
                other.kind()
            )))
        }
    };
    let mut parser = Parser {
        kind,
        variables,
        sids: Vec::new(),
        named: Vec::new(),
    };
    let statements = statements
        .into_iter()
        .map(|s| parser.statement(s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Parsed {
        statements,
        named: parser.named,
    })
}

struct Parser<'a> {
    kind: PolicyKind,
    variables: bool,
    sids: Vec<&'a str>,
    named: Vec<String>,
}

impl<'a> Parser<'a> {
    fn statement(&mut self, json: &'a Json) -> Result<Statement, PolicyError> {
        let Json::Object(members) = json else {
            return Err(err(format!(
                "Each statement must be an object, not {}.",
                json.kind()
            )));
        };
        let mut effect = None;
        let mut subject = None;
        let mut actions = None;
        let mut resources = None;
        let mut conditions = Vec::new();
        for (name, value) in members {
            match name.as_str() {
                "Sid" => self.sid(string(value, "Sid")?)?,
                "Effect" => {
                    effect = Some(match string(value, "Effect")? {
                        "Allow" => Effect::Allow,
                        "Deny" => Effect::Deny,
                        other => {
                            return Err(err(format!(
                            "A statement's Effect must be \"Allow\" or \"Deny\", not \"{other}\"."
                        )))
                        }
                    })
                }
                "Principal" | "NotPrincipal" => {
                    if self.kind == PolicyKind::Identity {
                        return Err(err(format!(
                            "An identity policy cannot have a {name} element."
                        )));
                    }
                    if subject.is_some() {
                        return Err(err(
                            "A statement cannot have both Principal and NotPrincipal.",
                        ));
                    }
                    let set = self.principals(value)?;
                    subject = Some(if name == "Principal" {
                        Subject::Principal(set)
                    } else {
                        Subject::NotPrincipal(set)
                    });
                }
                "Action" | "NotAction" => {
                    if actions.is_some() {
                        return Err(err("A statement cannot have both Action and NotAction."));
                    }
                    actions = Some(Element {
                        negated: name == "NotAction",
                        patterns: strings(value, name)?
                            .into_iter()
                            .map(action)
                            .collect::<Result<_, _>>()?,
                    });
                }
                "Resource" | "NotResource" => {
                    if resources.is_some() {
                        return Err(err(
                            "A statement cannot have both Resource and NotResource.",
                        ));
                    }
                    resources = Some(Element {
                        negated: name == "NotResource",
                        patterns: strings(value, name)?
                            .into_iter()
                            .map(|r| self.resource(r))
                            .collect::<Result<_, _>>()?,
                    });
                }
                "Condition" => conditions = self.conditions(value)?,
                other => return Err(err(format!("A statement has an unknown element: {other}."))),
            }
        }
        let effect = effect.ok_or_else(|| err("Each statement needs an Effect."))?;
        let subject = match (subject, self.kind) {
            (Some(s), _) => s,
            (None, PolicyKind::Identity) => Subject::Holder,
            (None, PolicyKind::Resource) => {
                return Err(err(
                    "Each statement of a key policy needs a Principal or NotPrincipal.",
                ))
            }
        };
        if self.kind == PolicyKind::Identity {
            if actions.is_none() {
                return Err(err("Each statement needs an Action or NotAction."));
            }
            if resources.is_none() {
                return Err(err("Each statement needs a Resource or NotResource."));
            }
        }
        Ok(Statement {
            effect,
            subject,
            actions,
            resources,
            conditions,
        })
    }

    fn sid(&mut self, sid: &'a str) -> Result<(), PolicyError> {
        if self.kind == PolicyKind::Resource {
            return Ok(());
        }
        if !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(err(format!(
                "The Sid \"{sid}\" may contain only letters and digits."
            )));
        }
        if self.sids.contains(&sid) {
            return Err(err(format!(
                "The Sid \"{sid}\" appears in more than one statement; each must be unique."
            )));
        }
        self.sids.push(sid);
        Ok(())
    }

    fn principals(&mut self, json: &Json) -> Result<Principals, PolicyError> {
        let mut set = Principals::default();
        match json {
            Json::String(s) if s == "*" => set.everyone = true,
            Json::Object(members) if !members.is_empty() => {
                for (name, value) in members {
                    let values = strings(value, name).map_err(|_| err(INVALID_PRINCIPALS))?;
                    match name.as_str() {
                        "AWS" => {
                            for v in values {
                                match AwsPrincipal::parse(v)
                                    .ok_or_else(|| err(INVALID_PRINCIPALS))?
                                {
                                    AwsPrincipal::Any => set.everyone = true,
                                    p => {
                                        self.named.push(v.to_owned());
                                        set.aws.push(p);
                                    }
                                }
                            }
                        }
                        // Valid, but no Trent caller is a service or a federated identity.
                        "Service" | "Federated" if values.iter().all(|v| valid_other(v)) => {}
                        _ => return Err(err(INVALID_PRINCIPALS)),
                    }
                }
            }
            _ => return Err(err(INVALID_PRINCIPALS)),
        }
        Ok(set)
    }

    fn resource(&self, text: &str) -> Result<ArnPattern, PolicyError> {
        ArnPattern::parse(text, self.variables).ok_or_else(|| {
            err(format!(
                "Policy contains an invalid resource \"{text}\": a resource is \"*\" or an ARN."
            ))
        })
    }

    fn conditions(&self, json: &Json) -> Result<Vec<Condition>, PolicyError> {
        let Json::Object(operators) = json else {
            return Err(err(format!(
                "A statement's Condition must be an object, not {}.",
                json.kind()
            )));
        };
        let mut conditions = Vec::new();
        for (op_name, block) in operators {
            let op = Operator::parse(op_name).map_err(err)?;
            let Json::Object(keys) = block else {
                return Err(err(format!(
                    "The condition operator {op_name} must map keys to values, not be {}.",
                    block.kind()
                )));
            };
            if keys.is_empty() {
                return Err(err(format!(
                    "The condition operator {op_name} names no key."
                )));
            }
            for (key, values) in keys {
                condition_key(key)?;
                if self.kind == PolicyKind::Resource && op.is_for_all_values() {
                    overly_permissive(key)?;
                }
                let values = condition_values(values, op_name, key)?;
                conditions
                    .push(Condition::new(op, key, &values, self.variables, op_name).map_err(err)?);
            }
        }
        Ok(conditions)
    }
}

fn string<'j>(json: &'j Json, element: &str) -> Result<&'j str, PolicyError> {
    match json {
        Json::String(s) => Ok(s),
        other => Err(err(format!(
            "The element {element} must be a string, not {}.",
            other.kind()
        ))),
    }
}

/// A string or a non-empty list of strings.
fn strings<'j>(json: &'j Json, element: &str) -> Result<Vec<&'j str>, PolicyError> {
    let wrong = |kind: &str| {
        err(format!(
            "The element {element} must be a string or a non-empty list of strings, not {kind}."
        ))
    };
    match json {
        Json::String(s) => Ok(vec![s]),
        Json::Array(items) if items.is_empty() => Err(wrong("an empty list")),
        Json::Array(items) => items
            .iter()
            .map(|i| match i {
                Json::String(s) => Ok(s.as_str()),
                other => Err(wrong(&format!("a list holding {}", other.kind()))),
            })
            .collect(),
        other => Err(wrong(other.kind())),
    }
}

/// `*` or `service:name`, the name possibly with wildcards; matched case-insensitively.
fn action(text: &str) -> Result<Pattern, PolicyError> {
    let valid = text == "*"
        || text.split_once(':').is_some_and(|(service, name)| {
            !service.is_empty()
                && service
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'*' | b'?' | b'-' | b'_'))
        });
    if !valid {
        return Err(err(format!(
            "Policy contains an invalid action \"{text}\": an action is \"*\" or service:name, such as kms:Encrypt."
        )));
    }
    Ok(Pattern::parse(
        text,
        Syntax {
            wildcards: true,
            variables: false,
        },
    ))
}

/// `prefix:name`, such as `aws:SourceIp` or `kms:EncryptionContext:Department`.
fn condition_key(key: &str) -> Result<(), PolicyError> {
    let valid = key.split_once(':').is_some_and(|(prefix, name)| {
        !prefix.is_empty()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !name.is_empty()
    }) && !key.contains("${");
    if valid {
        Ok(())
    } else {
        Err(err(format!(
            "Policy contains an invalid condition key \"{key}\": a key is prefix:name, such as aws:SourceIp."
        )))
    }
}

fn overly_permissive(key: &str) -> Result<(), PolicyError> {
    let lower = key.to_ascii_lowercase();
    if lower.starts_with("kms:encryptioncontext:") {
        return Err(err("OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a single-valued condition key matches requests without the specified encryption context or with an unspecified encryption context. To fix, remove ForAllValues."));
    }
    if lower.starts_with("aws:requesttag/") {
        return Err(err("OverlyPermissiveCondition:RequestTag: Using the ForAllValues set operator with a single-valued condition key matches requests without the specified tag or with an unspecified tag. To fix, remove ForAllValues."));
    }
    Ok(())
}

/// A condition's value or values: strings, numbers or booleans, as text; a list must not be empty.
fn condition_values(json: &Json, op: &str, key: &str) -> Result<Vec<String>, PolicyError> {
    let scalar = |j: &Json| match j {
        Json::String(s) | Json::Number(s) => Some(s.clone()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let wrong = || {
        err(format!(
            "The values for {key} under {op} must be a string, number or boolean, or a non-empty list of them."
        ))
    };
    match json {
        Json::Array(items) if items.is_empty() => Err(wrong()),
        Json::Array(items) => items.iter().map(|i| scalar(i).ok_or_else(wrong)).collect(),
        one => scalar(one).map(|v| vec![v]).ok_or_else(wrong),
    }
}
