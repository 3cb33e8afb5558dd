//! The `[[runners]]` template a pool's runner registers with (`gitlab-runner register
//! --template-config`, which merges one `[[runners]]` entry under what the command line sets),
//! written at boot by the pool's user data: an autoscaler pool's `[runners.autoscaler]`, and the
//! distributed cache's `[runners.cache]`. Keys and their meaning: gitlab-runner common/config.go
//! (`AutoscalerConfig`, `ConnectorConfig`, `AutoscalerPolicyConfig`),
//! cache/cacheconfig/cacheconfig.go and docs/configuration/advanced-configuration.md ("The
//! [runners.autoscaler] section", "The [runners.cache] section").
//!
//! A topology adds its own section (an autoscaler pool's `[runners.autoscaler]`), and may have
//! [`live`] settings: what changes on a running runner without replacing its instance.

use crate::model::{Fleet, Pool};
use crate::quote::toml_string;

/// The pool's template, when its runner needs more than the command line gives: every string a
/// TOML basic string, numbers as numbers.
pub fn render(fleet: &Fleet, pool: &Pool) -> Option<String> {
    let own = pool.topology.kind().runner_section(fleet, pool);
    let cache = cache(fleet, pool);
    if own.is_none() && cache.is_none() {
        return None;
    }
    let what = own.as_ref().map_or("The cache", |(what, _)| what);
    let mut out = format!(
        "# {what} of pool {}, merged into config.toml at registration.\n",
        crate::quote::comment_text(&pool.name)
    );
    out.push_str("[[runners]]\n");
    if let Some(cache) = cache {
        out.push_str(&cache);
    }
    if let Some((_, section)) = own {
        out.push_str(&section);
    }
    Some(out)
}

/// `[runners.cache]`: S3 in the fleet's region, the manager's (or instance's) own role signing
/// the URLs the jobs' helpers use (`AuthenticationType = "iam"`, no keys). `BucketLocation` is
/// set, so the runner never asks S3 where the bucket is (cache/s3v2/s3.go). `Path` has no
/// slashes at either end, so the keys are exactly under the prefix the role may use.
fn cache(fleet: &Fleet, pool: &Pool) -> Option<String> {
    let cache = fleet.cache.as_ref()?;
    let path = fleet.cache_path(pool)?;
    let mut out = String::new();
    out.push_str("  [runners.cache]\n");
    out.push_str("    Type = \"s3\"\n");
    out.push_str(&format!("    Path = {}\n", toml_string(&path)));
    out.push_str(&format!("    Shared = {}\n", cache.shared));
    out.push_str("    [runners.cache.s3]\n");
    out.push_str(&format!("      BucketName = {}\n", toml_string(&cache.bucket)));
    out.push_str(&format!("      BucketLocation = {}\n", toml_string(&fleet.region)));
    out.push_str("      AuthenticationType = \"iam\"\n");
    Some(out)
}

/// The runner's live settings, for a topology that has them.
pub fn live(fleet: &Fleet, pool: &Pool) -> Option<String> {
    pool.topology.kind().live_settings(fleet, pool)
}
