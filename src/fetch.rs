//! (temporary stub, replaced by the fetch branch)
use std::time::Duration;
#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub user_agent: String,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_body: u64,
    pub per_host_interval: Duration,
    pub per_host_concurrency: usize,
    pub global_concurrency: usize,
    pub max_redirects: usize,
}
