//! A compiled statement and the decision for one request: which statements apply (principal,
//! action, resource, conditions) and what they add up to ([`Evaluation`]).
//!
//! Nothing here parses or allocates, except to resolve policy variables.

use crate::condition::Condition;
use crate::pattern::{ArnPattern, Pattern};
use crate::principal::Principals;
use crate::{Allow, Evaluation, Request};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

/// Whom a statement is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Subject {
    /// An identity policy: the principal it is attached to.
    Holder,
    Principal(Principals),
    NotPrincipal(Principals),
}

/// `Action`/`NotAction` or `Resource`/`NotResource`: the patterns, and whether the element is
/// the `Not` form (applies to everything the patterns do not match).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Element<T> {
    pub(crate) negated: bool,
    pub(crate) patterns: Vec<T>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub(crate) effect: Effect,
    pub(crate) subject: Subject,
    /// None: the element is missing, which a key policy accepts but then matches nothing.
    pub(crate) actions: Option<Element<Pattern>>,
    pub(crate) resources: Option<Element<ArnPattern>>,
    pub(crate) conditions: Vec<Condition>,
}

impl Statement {
    /// How this statement names the caller: `Allow::None` when it does not apply to the caller.
    fn subject_level(&self, req: &Request<'_>) -> Allow {
        match &self.subject {
            Subject::Holder => Allow::Principal,
            Subject::Principal(p) => p.level(req.principal),
            Subject::NotPrincipal(p) if p.exclude(req.principal) => Allow::None,
            Subject::NotPrincipal(_) => Allow::Principal,
        }
    }

    fn matches_rest(&self, req: &Request<'_>) -> bool {
        let Some(actions) = &self.actions else {
            return false;
        };
        let Some(resources) = &self.resources else {
            return false;
        };
        let action = actions
            .patterns
            .iter()
            .any(|p| p.matches(req.action, true, req.context));
        if action == actions.negated {
            return false;
        }
        let resource = resources
            .patterns
            .iter()
            .any(|p| p.matches(req.resource, req.context));
        if resource == resources.negated {
            return false;
        }
        self.conditions.iter().all(|c| c.holds(req.context))
    }
}

pub(crate) fn evaluate(statements: &[Statement], req: &Request<'_>) -> Evaluation {
    let mut explicit_deny = false;
    let mut allow = Allow::None;
    for st in statements {
        let done = match st.effect {
            Effect::Deny => explicit_deny,
            Effect::Allow => allow == Allow::Principal,
        };
        if done {
            continue;
        }
        let level = st.subject_level(req);
        if level == Allow::None || !st.matches_rest(req) {
            continue;
        }
        match st.effect {
            Effect::Deny => explicit_deny = true,
            Effect::Allow => allow = allow.max(level),
        }
    }
    Evaluation {
        explicit_deny,
        allow,
    }
}
