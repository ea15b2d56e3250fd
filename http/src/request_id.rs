//! The id of the request being handled, in task-local scope, so an internal error can quote it
//! without being handed it. Set by [`crate::middleware::request_context`].

use std::future::Future;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled on this task, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs `f` with `id` as the current request id.
pub async fn scope<F: Future>(id: String, f: F) -> F::Output {
    REQUEST_ID.scope(id, f).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_id_is_there_only_inside_the_scope() {
        assert_eq!(current_request_id(), None);
        let inside = scope("r-1".into(), async { current_request_id() }).await;
        assert_eq!(inside.as_deref(), Some("r-1"));
        assert_eq!(current_request_id(), None);
    }
}
