//! A problem with one field of a request: what the API's 400 answers list.

/// `field` is the path into the request (`credentials.port`); `problem` says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub problem: String,
}

impl FieldProblem {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> FieldProblem {
        FieldProblem {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The outcome of a type's checks: passed when they found nothing.
    pub fn none_or(problems: Vec<FieldProblem>) -> Result<(), Vec<FieldProblem>> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}
