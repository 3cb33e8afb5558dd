//! The instance side of a landing zone, read from the rendered files: the proxy's systemd drop-in,
//! GitLab's CA in the Packer folder and the image hash. Running the bake's and the register hook's
//! code with these values is in `landing_zone_bake.rs` (tools target).

use crate::common;
use crate::landing_zone::{
    EXAMPLE, IMDS, PROXY_URL, SPEC_NO_PROXY, dropin_environment, image_hash, landing_zone_copy, render,
};

#[test]
fn the_proxy_drop_in_sets_both_spellings_and_keeps_imds_and_the_spec_hosts_direct() {
    let files = render(&common::root().join("examples").join(EXAMPLE).join("fleet.yaml"));
    let env = dropin_environment(&files["packer/files/runnergen-proxy.conf"].contents);
    let names: Vec<&str> = env.keys().map(String::as_str).collect();
    assert_eq!(names, ["HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"]);
    for name in ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"] {
        assert_eq!(env[name], PROXY_URL, "{name}");
    }
    assert_eq!(env["no_proxy"], env["NO_PROXY"]);
    let direct: Vec<&str> = env["no_proxy"].split(',').collect();
    assert!(direct.contains(&IMDS), "{direct:?}");
    for host in SPEC_NO_PROXY {
        assert!(direct.contains(&host), "{host} is not in {direct:?}");
    }
    // vpc_endpoints: create: the endpoints' private names answer inside the VPC, never through
    // the proxy (a few of them, by their AWS names).
    for host in
        ["ssm.eu-central-1.amazonaws.com", "sts.eu-central-1.amazonaws.com", ".dkr.ecr.eu-central-1.amazonaws.com"]
    {
        assert!(direct.contains(&host), "{host} is not in {direct:?}");
    }
}

#[test]
fn without_a_no_proxy_list_or_endpoints_the_metadata_service_is_still_direct() {
    let (_dir, spec) = landing_zone_copy(|text| {
        text.replace("    no_proxy: [.corp.example, gitlab.corp.example]\n", "")
            .replace("  vpc_endpoints: create\n", "")
    });
    let files = render(&spec);
    let env = dropin_environment(&files["packer/files/runnergen-proxy.conf"].contents);
    for name in ["no_proxy", "NO_PROXY"] {
        let direct: Vec<&str> = env[name].split(',').collect();
        assert!(direct.contains(&IMDS), "{name}: {direct:?}");
        // The GitLab host only when the spec lists it.
        assert!(!direct.iter().any(|h| h.contains("corp.example")), "{name}: {direct:?}");
        assert!(!direct.iter().any(|h| h.contains("amazonaws")), "{name}: {direct:?}");
    }
    let script = &files["packer/gitlab-runner-provision.sh"].contents;
    let exported = script.lines().find(|l| l.starts_with("export no_proxy=")).expect("the bake exports no_proxy");
    assert!(exported.split(['=', ',']).any(|h| h == IMDS), "{exported}");
}

/// Proxy user names with characters that mean something to systemd, bash, TOML or HCL reach the
/// drop-in as written.
#[test]
fn odd_proxy_user_names_reach_the_drop_in_exactly() {
    for user in ["a$b", "c'd", "e%f", "g;h", "i`j`", "k$(touch pwned)", "l!m*n", "o&p=q"] {
        let url = format!("http://{user}@proxy.corp.example:3128");
        let quoted = format!("'{}'", url.replace('\'', "''"));
        let (_dir, spec) =
            landing_zone_copy(|text| text.replace(&format!("url: {PROXY_URL}"), &format!("url: {quoted}")));
        let files = render(&spec);
        let env = dropin_environment(&files["packer/files/runnergen-proxy.conf"].contents);
        assert_eq!(env["https_proxy"], url, "{user}");
        assert_eq!(env["HTTP_PROXY"], url, "{user}");
    }
}

#[test]
fn the_ca_file_is_copied_byte_for_byte_and_a_new_one_is_a_new_image() {
    let (_dir, spec) = landing_zone_copy(str::to_owned);
    let pem = std::fs::read(spec.parent().expect("a folder").join("certs/corp-ca.pem")).expect("the CA file");
    let files = render(&spec);
    assert_eq!(files["packer/files/gitlab-ca.crt"].contents.as_bytes(), pem.as_slice());
    assert!(!files["packer/files/gitlab-ca.crt"].executable);
    let before = image_hash(&files);

    // The same certificate twice (a bundle): a new file, so a new image definition.
    let mut bundle = pem.clone();
    bundle.extend_from_slice(&pem);
    std::fs::write(spec.parent().expect("a folder").join("certs/corp-ca.pem"), &bundle).expect("write");
    let files = render(&spec);
    assert_eq!(files["packer/files/gitlab-ca.crt"].contents.as_bytes(), bundle.as_slice());
    assert_ne!(image_hash(&files), before);
}

#[test]
fn without_the_keys_no_proxy_ca_or_registry_file_is_rendered() {
    for example in ["minimal", "autoscaler", "amazon-linux", "multi-pool", "gitlab-runners"] {
        let files = render(&common::root().join("examples").join(example).join("fleet.yaml"));
        assert!(!files.contains_key("packer/files/runnergen-proxy.conf"), "{example}");
        assert!(!files.contains_key("packer/files/gitlab-ca.crt"), "{example}");
        for (path, file) in &files {
            for word in ["proxy", "tls-ca-file", "registry-mirrors", "credHelpers", "trust_anchors"] {
                assert!(!file.contents.contains(word), "{example}: {path} holds {word}");
            }
        }
    }
}
