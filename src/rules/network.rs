//! The rules of a fleet in a landing zone: its proxy, its egress rules.

use super::{Rules, pool_path, root};
use crate::diagnostic::{Finding, Mark, SpecPath};
use crate::model::{DEFAULT_EGRESS_PORTS, EgressRule, Fleet};

/// `aws.proxy.url` is an http(s) proxy address without a password.
pub(super) fn proxy(rules: &mut Rules, fleet: &Fleet) {
    let at = root().key("aws").key("proxy").key("url");
    rules.rule(&[&at], |out| {
        let Some(proxy) = &fleet.proxy else { return };
        if let Err((message, help)) = check_proxy_url(&proxy.url) {
            out.push(Finding::new(at.clone(), message, "here").help(help));
        }
    });
}

fn check_proxy_url(text: &str) -> Result<(), (String, String)> {
    let expected = "expected http://HOST:PORT, such as http://proxy.corp.example:3128";
    let url = url::Url::parse(text).map_err(|e| (format!("not a URL: {e}"), expected.to_owned()))?;
    if url.password().is_some() {
        return Err((
            "the proxy URL holds a password".to_owned(),
            "it would be baked into the image, the units' environment and every job's environment, readable by \
             every job: let the proxy admit the fleet's subnets (or its NAT addresses) instead, and keep at most \
             a user name in the URL"
                .to_owned(),
        ));
    }
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(("not an http(s) proxy address".to_owned(), expected.to_owned()));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(("a proxy address has no path, query or fragment".to_owned(), expected.to_owned()));
    }
    if url.port().is_none() {
        return Err(("the proxy URL has no port".to_owned(), expected.to_owned()));
    }
    Ok(())
}

/// The instances can reach the proxy: some fleet-wide egress rule (or a default one, or GitLab's
/// port, which is always open) allows its port. Which address it allows cannot be known here;
/// a port that no rule opens can never work.
pub(super) fn proxy_reachable(rules: &mut Rules, fleet: &Fleet) {
    let url = root().key("aws").key("proxy").key("url");
    let egress = root().key("aws").key("egress");
    let gitlab = root().key("gitlab").key("url");
    rules.rule(&[&url, &egress, &gitlab], |out| {
        let Some(port) = fleet.proxy.as_ref().and_then(|p| url::Url::parse(&p.url).ok()).and_then(|u| u.port()) else {
            return;
        };
        let gitlab_port = url::Url::parse(&fleet.gitlab_url).ok().and_then(|u| u.port_or_known_default());
        let open = match &fleet.egress {
            Some(rules) => rules.iter().any(|r| (r.from_port..=r.to_port).contains(&port)),
            None => DEFAULT_EGRESS_PORTS.contains(&port),
        };
        if !open && gitlab_port != Some(port) {
            let help = if fleet.egress.is_some() {
                format!("add an egress rule to `aws.egress` for the proxy's address on port {port}, such as `{{cidr: 10.0.0.0/8, ports: \"{port}\", description: proxy}}`")
            } else {
                format!(
                    "the default egress opens ports 443 and 80 only: write `aws.egress` with a rule for the proxy's \
                     address on port {port}, and the other destinations the fleet needs"
                )
            };
            out.push(
                Finding::new(url.clone(), format!("no egress rule lets the instances reach the proxy's port {port}"), "unreachable")
                    .help(help),
            );
        }
    });
}

/// `image.build_instance_profile` replaces the profile of a private bake: without one, nothing
/// would use it.
pub(super) fn build_instance_profile(rules: &mut Rules, fleet: &Fleet) {
    let at = root().key("image").key("build_instance_profile");
    rules.rule(&[&at], |out| {
        if fleet.image.build_instance_profile.is_some() && fleet.image.build_subnet_id.is_none() {
            out.push(
                Finding::new(at.clone(), "a build instance profile without a private bake", "unused")
                    .mark(Mark::Key)
                    .help(
                        "it is the profile Session Manager uses in a private bake: set image.build_subnet_id too, or \
                         remove it (a bake with a public IP connects over SSH and needs no profile)",
                    ),
            );
        }
    });
}

/// Every egress rule, the fleet's and each pool's, has one destination, a port range and a
/// CIDR block AWS takes as written.
pub(super) fn egress(rules: &mut Rules, fleet: &Fleet) {
    let fleet_rules = root().key("aws").key("egress");
    rules.rule(&[&fleet_rules], |out| {
        for (i, rule) in fleet.egress.iter().flatten().enumerate() {
            check_rule(rule, &fleet_rules.index(i), out);
        }
    });
    for (p, pool) in fleet.pools.iter().enumerate() {
        let at = pool_path(p).key("egress");
        rules.rule(&[&at], |out| {
            for (i, rule) in pool.egress.iter().enumerate() {
                check_rule(rule, &at.index(i), out);
            }
        });
    }
}

fn check_rule(rule: &EgressRule, at: &SpecPath, out: &mut Vec<Finding>) {
    match (&rule.cidr, &rule.prefix_list) {
        (Some(_), Some(_)) | (None, None) => out.push(
            Finding::new(at.clone(), "an egress rule needs exactly one destination", "this rule")
                .mark(Mark::KeyOrFirst)
                .help("set either cidr (such as 10.0.0.0/8) or prefix_list (such as pl-0123456789abcdef0)"),
        ),
        (Some(cidr), None) => {
            if let Err(why) = check_cidr(cidr) {
                out.push(
                    Finding::new(at.key("cidr"), format!("`{cidr}` is not a CIDR block AWS takes: {why}"), "here")
                        .help("expected an IPv4 network address and prefix length, such as 10.20.0.0/16"),
                );
            }
        }
        (None, Some(_)) => {}
    }
    if rule.from_port == 0 || rule.from_port > rule.to_port {
        out.push(
            Finding::new(at.key("ports"), "not a TCP port or range of ports", "here")
                .help("expected a port from 1 to 65535 such as \"443\", or a range such as \"8000-8100\""),
        );
    }
}

/// An IPv4 CIDR block in the form AWS keeps: its address is the network's (no host bits).
fn check_cidr(text: &str) -> Result<(), String> {
    let (address, length) = text.split_once('/').ok_or("no prefix length")?;
    let address: std::net::Ipv4Addr = address.parse().map_err(|_| "not an IPv4 address")?;
    let length: u32 = length.parse().ok().filter(|l| *l <= 32).ok_or("the prefix length is not 0 to 32")?;
    let mask = u32::MAX.checked_shl(32 - length).unwrap_or(0);
    let bits = u32::from(address);
    if bits & !mask != 0 {
        return Err(format!("host bits are set; the network is {}/{length}", std::net::Ipv4Addr::from(bits & mask)));
    }
    Ok(())
}

/// An egress rule to `0.0.0.0/0` other than the defaults opens a port to the whole internet.
pub(super) fn egress_anywhere(fleet: &Fleet, out: &mut Vec<Finding>) {
    let written = fleet.egress.iter().flatten().enumerate().map(|(i, r)| (root().key("aws").key("egress").index(i), r));
    let pools = fleet.pools.iter().enumerate().flat_map(|(p, pool)| {
        pool.egress.iter().enumerate().map(move |(i, r)| (pool_path(p).key("egress").index(i), r))
    });
    for (at, rule) in written.chain(pools) {
        if rule.anywhere() && !(rule.from_port == rule.to_port && DEFAULT_EGRESS_PORTS.contains(&rule.from_port)) {
            out.push(
                Finding::new(
                    at.key("cidr"),
                    format!("{} is open to the whole internet", rule.ports_text()),
                    "0.0.0.0/0",
                )
                .help(
                    "a job that is compromised can reach anything on these ports; name the networks it needs (a \
                     CIDR block or a managed prefix list), or keep the default of HTTPS and HTTP",
                ),
            );
        }
    }
}

/// `ref_protected` is a claim of GitLab's ID tokens that AWS IAM does not evaluate: it can only be
/// documented, never enforced by the trust policy.
pub(super) fn job_role_ref_protected(fleet: &Fleet, out: &mut Vec<Finding>) {
    for (p, pool) in fleet.pools.iter().enumerate() {
        let Some(job) = pool.job_role.as_ref().filter(|j| j.ref_protected) else { continue };
        let refs = if job.refs.is_empty() {
            "The role admits every ref of the listed projects: list the protected branches and tags in `refs`"
        } else {
            "The role admits the refs in `refs`, protected or not: protect each of them in GitLab"
        };
        out.push(
            Finding::new(
                pool_path(p).key("job_role").key("ref_protected"),
                "AWS cannot check that a job's ref is protected",
                "not in the trust policy",
            )
            .help(format!(
                "AWS IAM evaluates only a few claims of a GitLab ID token (`aud` and `sub`, \"Available keys for \
                 AWS OIDC federation\"); `ref_protected` is not one of them. {refs}"
            )),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls() {
        assert!(check_proxy_url("http://proxy.corp.example:3128").is_ok());
        assert!(check_proxy_url("http://svc-ci@proxy.corp.example:3128").is_ok());
        let (message, help) = check_proxy_url("http://svc:s3cret@proxy.corp.example:3128").unwrap_err();
        assert_eq!(message, "the proxy URL holds a password");
        assert!(help.contains("admit the fleet's subnets"));
        assert!(check_proxy_url("http://proxy.corp.example").unwrap_err().0.contains("no port"));
        assert!(check_proxy_url("http://proxy.corp.example:3128/pac").is_err());
        assert!(check_proxy_url("socks5://proxy:1080").is_err());
    }

    #[test]
    fn cidr_blocks() {
        assert!(check_cidr("10.0.0.0/8").is_ok());
        assert!(check_cidr("0.0.0.0/0").is_ok());
        assert!(check_cidr("10.1.2.3/32").is_ok());
        assert_eq!(check_cidr("10.1.0.0/8").unwrap_err(), "host bits are set; the network is 10.0.0.0/8");
        assert!(check_cidr("10.0.0.0/33").is_err());
        assert!(check_cidr("300.0.0.0/8").is_err());
    }
}
